"""nbgrader configuration for backprop-course: a standard nbgrader course directory.

Folders (relative to this file): source/ (instructor notebooks), release/ (student notebooks,
generated), submitted/, autograded/, feedback/; gradebook: gradebook.db (SQLite).
Run nbgrader from this folder with the course's .venv/bin on PATH (nbgrader calls alembic).
"""

import os

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "backprop-course"
c.CourseDirectory.root = here
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
# A gradebook on PostgreSQL (a class graded on a cluster; docs/scale.md): give
# `backprop-grader release --course DIR --db URL` (or --db URL to any command) once; it writes
# c.CourseDirectory.db_url = "postgresql+psycopg://grader:PASSWORD@dbhost/backprop"
# at the end of this file, which every command, nbgrader and formgrader then read.

# The exchange (nbgrader's release/fetch between accounts): on the course's hub
# (jupyterhub_config.py) the one every user's server is handed in BACKPROP_EXCHANGE; elsewhere
# unused, with a writable home so nbgrader does not warn about /srv/nbgrader/exchange.
c.Exchange.root = os.environ.get("BACKPROP_EXCHANGE") or os.path.join(here, ".exchange")

# Releasing: nbgrader's own steps, after one that writes into each setup cell's
# `released_with("...")` the version of the student checks (backprop_checks) the notebook is
# released with, so a notebook says so when a student's installed checks are not those
# (grader/handout/checks_version.py). It runs first: the checksums and the gradebook see it.
c.GenerateAssignment.preprocessors = [
    "grader.handout.checks_version.StampChecksVersion",
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Autograding: each cell may run this long (seconds); a hanging cell is stopped and scored 0.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# The course's grading route, for every way of grading: plain `nbgrader autograde`, the
# formgrader's Autograde button and `backprop-grader autograde` (docs/sandbox.md). The lists
# are defined once, in grader/pipeline/hooks.py (which `backprop-grader` applies too):
# - autograding: nbgrader's own steps, with its Execute replaced by the sandboxed kernel and a
#   byte cap on outputs after it, and, before SaveAutoGrades, a note of the scores given by
#   hand (a regrade of an unchanged notebook leaves them confirmed);
# - after each graded submission: verification outside the student's process, flags, and a
#   record that export and report check;
# - feedback pages: no hidden test code (not even in tracebacks), no paths of the grading
#   machine, math that shows without network access, and outputs that wrap (tables padded).
try:
    from grader.pipeline.hooks import (
        AUTOGRADE_PREPROCESSORS,
        FEEDBACK_PREPROCESSORS,
        POST_CONVERT_HOOK,
    )
except ImportError:
    # nbgrader run from a Python without the `grader` package (use the course's .venv): a
    # step nbgrader cannot import, so it fails on every submission ("No module named
    # 'grader'") instead of grading unsandboxed and unverified.
    AUTOGRADE_PREPROCESSORS = FEEDBACK_PREPROCESSORS = ["grader"]
    POST_CONVERT_HOOK = "grader"
c.Autograde.autograde_preprocessors = list(AUTOGRADE_PREPROCESSORS)
c.Autograde.post_convert_hook = POST_CONVERT_HOOK
c.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)

# Student code runs in a sandbox (bubblewrap; grader/sandbox/execute.py). Limits per notebook, with
# their defaults; see docs/sandbox.md:
# c.SandboxedExecute.notebook_timeout = 600       # wall clock per notebook, verification included
# c.SandboxedExecute.verify_reserve = 120         # of which kept for verification (at most half)
# c.SandboxedExecute.cpu_time_limit = 600         # CPU seconds per notebook
# c.SandboxedExecute.memory_limit = "2G"          # address space per kernel
# c.SandboxedExecute.max_output_bytes = 100_000   # output kept per cell (images: 10x)
# c.SandboxedExecute.mode = "auto"                # "auto" (warn without bwrap) | "require" | "off"
