"""The one place that decides how student code is executed, and what happens after grading.

Every step that runs a student's notebook in a kernel (the autograde workers and
`selfcheck`) takes its configuration from `execution_config` and its environment from
`execution_env`; nothing else in the pipeline sets `Execute.*` options. A sandbox (a
bubblewrap-wrapped kernelspec, `JUPYTER_PATH`, resource limits, an output-size cap) plugs in
here and applies to both.

`after_autograde` runs once per graded submission, in the worker, after nbgrader has saved
its grades: the place for out-of-process verification. It may override a score through
nbgrader's Gradebook API (a manual score and a comment) and add flags to the result; the
pipeline re-reads the gradebook afterwards, so the summary, export and report see the
final score.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from traitlets.config import Config

if TYPE_CHECKING:  # pragma: no cover
    from grader.pipeline.results import GradeResult

def execution_env() -> dict[str, str]:
    """Environment variables set in every process that starts grading kernels.

    Applied to the autograde worker processes (before any kernel starts) and around
    `selfcheck`'s execution. A sandbox adds e.g. `JUPYTER_PATH` here so a wrapped
    kernelspec is found.
    """
    return {"PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg"}


def execute_preprocessor() -> type:
    """The preprocessor class that runs a notebook in a kernel (nbgrader's `Execute`).

    A sandbox returns its own subclass here (e.g. one with a wrapped kernel manager);
    autograde and selfcheck both use what this returns.
    """
    from grader.sandbox import SandboxedExecute  # bubblewrap, limits, output cap

    return SandboxedExecute


def post_execute_preprocessors() -> list[type]:
    """nbconvert preprocessors run right after `Execute`, in autograde and in selfcheck.

    The output-size cap (bytes, with a "[output cut: N bytes]" note) runs before grades are
    saved; nbgrader's LimitOutput only counts lines.
    """
    from grader.sandbox import CapOutputBytes

    return [CapOutputBytes]


def execution_config(course: Path, *, timeout: int | None = None) -> Config:
    """The traitlets configuration for executing student notebooks in `course`.

    Args:
        course: the nbgrader course directory (only used by sandboxes that need its path).
        timeout: seconds per cell; None keeps the course's nbgrader_config.py value
            (`c.Execute.timeout`, 60 s in this course).

    Returns:
        a Config with `Execute.*` options and the ordered `Autograde.autograde_preprocessors`;
        merge it over the course's own configuration (it wins).
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    c = Config()
    if timeout is not None:
        c.Execute.timeout = timeout
    c.Execute.interrupt_on_timeout = True
    # No history file per kernel; ipykernel's start-up warnings (TCP without encryption)
    # would otherwise land on the instructor's terminal.
    c.Execute.extra_arguments = [
        "--HistoryManager.hist_file=:memory:",
        "--IPKernelApp.log_level=ERROR",
    ]
    # A sandbox sets c.Execute.kernel_name to its wrapped kernelspec here.
    # nbgrader's default order, with the post-execute hook right after Execute.
    c.Autograde.autograde_preprocessors = [
        execute_preprocessor(),
        *post_execute_preprocessors(),
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    return c


def after_autograde(
    course: Path, student: str, assignment: str, result: GradeResult
) -> GradeResult:
    """Post-grading step for one submission (runs in the worker, after nbgrader saved grades).

    A no-op for now. Verification outside the student's process goes here: it may set a
    manual score with a comment via `nbgrader.api.Gradebook` (the pipeline re-reads the
    gradebook after this returns) and append to `result.flags` / set `result.reason`.

    Returns:
        the result, possibly with flags added.
    """
    from grader import verify  # out-of-process verification, static flags

    return verify.after_autograde(course, student, assignment, result)


def after_run(course: Path) -> str:
    """After every autograde run: SQLite's integrity check of the gradebook ("ok").

    Raises:
        RuntimeError: the gradebook is damaged (the message says what SQLite found).
    """
    from grader import verify
    from grader.pipeline.config import course_config

    path = verify.gradebook_path(str(course_config(course).CourseDirectory.db_url))
    if path is None:
        return "ok"
    status = verify.check_gradebook(path)
    if status != "ok":
        raise RuntimeError(f"the gradebook {path} failed SQLite's integrity check: {status}")
    return status
