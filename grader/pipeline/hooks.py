"""The one grading route: how student code is executed and what happens after grading.

Every route into the gradebook runs nbgrader's `Autograde` converter, so the course's steps
are registered through nbgrader's own configuration (nbgrader_config.py, which imports the
lists below: their one definition), not in code:

- `Autograde.autograde_preprocessors` = `AUTOGRADE_PREPROCESSORS`: nbgrader's own list with
  its `Execute` replaced by the sandboxed one (`grader.sandbox.execute.SandboxedExecute`:
  bubblewrap, resource limits, the notebook's time limit) and the byte cap on outputs right
  after it, and `grader.verify.hand_scores.RememberHandScores` before `SaveAutoGrades` (the
  scores given by hand as they were, so a regrade of an unchanged notebook keeps them
  confirmed);
- `GenerateFeedback.preprocessors` = `FEEDBACK_PREPROCESSORS` (grader.pipeline.feedback);
- `Autograde.post_convert_hook` = `POST_CONVERT_HOOK` (`post_convert` below): verification
  outside the student's process, static flags, reasons, the gradebook's integrity check
  (`grader.verify.submission.after_autograde`), and a verification record
  (`grader.pipeline.verified`).

So plain `nbgrader autograde`, the formgrader's Autograde button (the same converter) and
`backprop-grader autograde` (the converter in parallel workers, `execution_config`) grade
the same way. `tests/test_safety.py` checks that nbgrader_config.py registers exactly these.

What nbgrader cannot express stays in the pipeline: a pre-check of unreadable notebooks,
parallel workers, and the per-run summary. nbgrader calls the hook only for a submission it
graded without an error, and logs (at INFO) instead of raising when a hook fails, so
`post_convert` never raises: it records its own failure, and `export` and `report` flag
any autograded notebook without a matching record (`verified.unverified_reason`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets.config import Config

from grader.sandbox import VERIFIES_GRADES

if TYPE_CHECKING:  # pragma: no cover
    from grader.pipeline.results import GradeResult
    from grader.pipeline.verified import VerifyRecord

#: What the course registers with nbgrader (nbgrader_config.py imports these, their one
#: definition, and `backprop-grader` applies them even over an older nbgrader_config.py):
#: dotted names, as nbgrader's configuration takes them, so a missing `grader` package fails
#: loudly, never silently. tests/test_layout.py resolves each name and checks its layer.
#: nbgrader's default autograde preprocessors, with the course's execution:
AUTOGRADE_PREPROCESSORS = [
    "grader.sandbox.execute.SandboxedExecute",
    "grader.sandbox.execute.CapOutputBytes",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "grader.verify.hand_scores.RememberHandScores",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
#: nbgrader's `Autograde.post_convert_hook`: verification after each graded submission.
POST_CONVERT_HOOK = f"{__name__}.post_convert"
#: The notebook exporter of `backprop-grader autograde`'s Autograde (execution_config):
#: nbconvert's, validating the notebook after the steps where it can fail, not after every
#: one (grader.pipeline.exporter; the grades are the same).
EXPORTER = "grader.pipeline.exporter.ValidateWhereItMatters"
#: nbgrader's sanitizing pass in `backprop-grader autograde`'s Autograde (execution_config):
#: nbgrader's own steps, its OverwriteCells reading the released cells at once
#: (grader.pipeline.speedups; the same cells restored, the same changes).
SANITIZE_PREPROCESSORS = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "grader.pipeline.speedups.OverwriteCellsAtOnce",
    "nbgrader.preprocessors.CheckCellMetadata",
]
#: nbgrader's GenerateFeedback preprocessors (grader.pipeline.feedback): no hidden test code,
#: no grader paths, the byte cap, math as MathML, readable and accessible pages.
FEEDBACK_PREPROCESSORS = [
    "grader.pipeline.feedback.ShortenHiddenTracebacks",
    "grader.pipeline.feedback.HideGraderPaths",
    "grader.sandbox.execute.CapOutputBytes",
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "grader.pipeline.feedback_summary.FeedbackSummary",
    "grader.pipeline.feedback.RenderMath",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "grader.pipeline.feedback.ReadablePageCSS",
    "grader.pipeline.feedback_summary.AccessiblePageCSS",
]


def execution_env() -> dict[str, str]:
    """Environment variables set in every process that starts grading kernels (autograde
    workers, selfcheck); the sandbox sets the kernel's own environment."""
    return {"PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg"}


def fast_grading_env() -> dict[str, str]:
    """Set in `backprop-grader autograde`'s workers: kernels and verification processes are
    forked from warm zygotes, figures are noted instead of drawn, and cells after the last
    graded one are not run (grader.sandbox.execute.WARM_ENV; docs/performance.md). Plain
    `nbgrader autograde` and selfcheck start a cold sandboxed kernel per notebook."""
    return {"BACKPROP_GRADER_WARM": "1"}


def execute_preprocessor() -> type:
    """The preprocessor class that runs a notebook in a kernel (selfcheck uses it too)."""
    from grader.sandbox.execute import SandboxedExecute

    return SandboxedExecute


def post_execute_preprocessors() -> list[type]:
    """Preprocessors run right after the kernel: the byte cap on outputs."""
    from grader.sandbox.execute import CapOutputBytes

    return [CapOutputBytes]


def execution_config(course: Path, *, timeout: int | None = None) -> Config:
    """The course's grading route as a Config, merged over the course's nbgrader_config.py.

    The same preprocessors and hook nbgrader_config.py registers (so a course folder with an
    older nbgrader_config.py is still graded the safe way by `backprop-grader autograde`),
    an exporter that validates the notebook where it matters (`EXPORTER`), and nbgrader's
    sanitizing steps with its OverwriteCells reading the released cells at once
    (`SANITIZE_PREPROCESSORS`).

    Grading starts here, so this is also where a package layout the verification process
    cannot run in stops it (see `grader.verify.closure`).

    Args:
        course: the nbgrader course directory (unused: the sandbox reads CourseDirectory.root).
        timeout: seconds per cell; None keeps the course's `c.Execute.timeout`.

    Raises:
        grader.verify.closure.ClosureError: the verification runner's imports reach the
            checks, the naming of mistakes or grader.judge (the message names the import).
    """
    from grader.verify.closure import runner_closure

    runner_closure()
    c = Config()
    if timeout is not None:
        c.Execute.timeout = timeout
    c.Execute.interrupt_on_timeout = True
    c.Autograde.autograde_preprocessors = list(AUTOGRADE_PREPROCESSORS)
    c.Autograde.post_convert_hook = POST_CONVERT_HOOK
    c.Autograde.exporter_class = EXPORTER
    c.Autograde.sanitize_preprocessors = list(SANITIZE_PREPROCESSORS)
    return c


def post_convert(assignment: str, student: str, notebooks: list[str]) -> None:
    """nbgrader's `Autograde.post_convert_hook`: verify each notebook nbgrader just graded.

    nbgrader passes its command-line ids (`*` for every student), so the submission is read
    from each notebook's path: COURSE/submitted/STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb. Never
    raises (nbgrader would only log it); problems are printed and recorded.
    """
    for name in notebooks:
        path = Path(name).resolve()
        if len(path.parts) < 5 or path.stem != path.parent.name:
            print(
                f"[backprop-course] not verified (not a course notebook): {path}",
                file=sys.stderr,
            )
            continue
        course, student_id, assignment_id = path.parents[3], path.parts[-3], path.parts[-2]
        try:
            record = verify_submission(course, student_id, assignment_id)
        except Exception as exc:  # noqa: BLE001 - nbgrader swallows hook errors: say it here
            print(
                f"[backprop-course] !!! {student_id}/{assignment_id} NOT VERIFIED: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            continue
        for flag in [f for f in dict.fromkeys([record.error, *record.flags]) if f]:
            print(f"[backprop-course] {student_id}/{assignment_id}: {flag}", file=sys.stderr)
        for note in record.notes:
            print(f"[backprop-course] {student_id}/{assignment_id}: note: {note}", file=sys.stderr)


setattr(post_convert, VERIFIES_GRADES, True)  # SandboxedExecute checks for it


def verify_submission(
    course: Path, student: str, assignment: str, result: GradeResult | None = None
) -> VerifyRecord:
    """The post-grading step for one submission; writes and returns its verification record.

    Runs in the process that graded it, right after nbgrader saved its grades. The kernel's
    run (`grader.sandbox.execute.RUNS`) gives the notebook's deadline: verification gets what is
    left of the one limit. `result` (the pipeline's, when it has one) gets the flags and
    reason; a fresh one is used otherwise.
    """
    from grader.pipeline.results import GradeResult, autograded_path
    from grader.pipeline.verified import VerifyRecord, write_record
    from grader.sandbox.execute import RUNS
    from grader.verify.submission import after_autograde as verify_after_autograde

    start = time.time()
    course = Path(course)
    run = RUNS.pop((student, assignment, assignment), None)
    result = result if result is not None else GradeResult(student, assignment, "graded")
    record = VerifyRecord(student, assignment)
    if autograded_path(course, student, assignment).is_file() and run is None:
        record.kernel = (
            "the notebook ran in a kernel outside the course's sandbox "
            "(grader.sandbox.execute.SandboxedExecute is not in Autograde.autograde_preprocessors)"
        )
    verify_after_autograde(
        course,
        student,
        assignment,
        result,
        deadline=run.deadline if run else None,
        hung=run.hung if run else None,
    )
    if record.kernel:
        result.flags.append(f"NOT SANDBOXED: {record.kernel}")
    if run is not None:
        result.sandbox = "" if run.sandboxed else run.warning or result.sandbox
        record.limit = run.limit
        start = run.started
    record.flags = list(result.flags)
    record.notes = list(result.notes)
    record.reason = result.reason
    record.sandbox = result.sandbox
    record.error = next((f for f in result.flags if f.startswith("NOT VERIFIED")), "")
    record.seconds = time.time() - start
    write_record(course, record)
    return record


def after_autograde(
    course: Path, student: str, assignment: str, result: GradeResult
) -> GradeResult:
    """The pipeline's post-grading step for one submission (in the worker).

    Reads the record `post_convert` wrote when nbgrader ran it; runs the same step now when
    it did not (nbgrader failed on the notebook, or the course's config lacks the hook).

    Returns:
        the result with the record's flags, notes, reason and sandbox status.
    """
    from grader.pipeline.verified import current_record

    record = current_record(course, student, assignment)
    if record is None:
        verify_submission(course, student, assignment, result)
        return result
    result.flags = list(dict.fromkeys([*result.flags, *record.flags]))
    result.notes = list(dict.fromkeys([*result.notes, *record.notes]))
    if record.reason and not result.reason:
        result.reason = record.reason
    result.sandbox = record.sandbox
    return result


def after_run(course: Path) -> str:
    """After every autograde run: SQLite's integrity check of the gradebook ("ok").

    Raises:
        RuntimeError: the gradebook is damaged (the message says what SQLite found).
    """
    from grader.config import course_config
    from grader.verify.gradebook import check_gradebook, gradebook_path

    path = gradebook_path(str(course_config(course).CourseDirectory.db_url))
    if path is None:
        return "ok"
    status = check_gradebook(path)
    if status != "ok":
        raise RuntimeError(f"the gradebook {path} failed SQLite's integrity check: {status}")
    return status
