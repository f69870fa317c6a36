"""The per-submission step after nbgrader saved its grades (`after_autograde`).

For one graded submission, in the grader's own process:

1. re-runs the submission's own cells in a fresh sandboxed process and judges its graded
   functions here (`grader.verify.launch`); where that verdict differs from nbgrader's for
   a test cell, the out-of-process verdict stands in the gradebook as its automatic score,
   and a deleted test cell scores 0 (`grader.verify.gradebook`); a score given by hand and
   a test cell a limit stopped in the kernel are left as they are;
2. flags, from an AST scan, solution and extra cells that reach into the interpreter, the
   grader or the file system, and test or locked cells that were edited, deleted or
   stripped of their metadata (`grader.verify.static`);
3. gives a broken notebook a one-line reason (a cell out of time or memory, a kernel that
   died, output that was cut, a renamed file: `grader.verify.cells`);
4. clears nbgrader's review mark on a cell scored by hand when the submission is the one
   the score was given for (`grader.verify.hand_scores`);
5. runs SQLite's integrity check of the gradebook.

`grader.pipeline.hooks` calls it from nbgrader's post_convert_hook (every route that grades).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.nbcells import is_test as is_test_cell
from grader.nbcells import nbgrader_meta
from grader.sandbox.execute import SandboxedExecute
from grader.sandbox.plan import DEFAULT_NOTEBOOK_TIMEOUT, bwrap_status
from grader.verify.cells import (
    graded_functions,
    limit_stopped,
    normal_source,
    read_notebook,
    renamed_notebooks,
    run_problems,
)
from grader.verify.gradebook import apply_verdicts, check_gradebook, gradebook_path
from grader.verify.hand_scores import review_hand_scores
from grader.verify.launch import Verification, verify_notebook
from grader.verify.static import compare_cells, scan_notebook


def sandbox_settings(config: Any) -> dict[str, Any]:
    """Limits and mode as the course configures `SandboxedExecute` (defaults otherwise)."""
    ex = SandboxedExecute(config=config)
    cell_timeout = int(ex.timeout) if ex.timeout else DEFAULT_NOTEBOOK_TIMEOUT
    return {
        "limits": ex.limits(),
        "mode": ex.mode,
        "bwrap": ex.bwrap,
        "cell_timeout": cell_timeout,
        "warm": bool(ex.warm),
    }


def _released_sources(course: Path, assignment: str) -> set[str]:
    """Normalised code of the notebook as handed out (release/, else source/)."""
    paths = [course / f / assignment / f"{assignment}.ipynb" for f in ("release", "source")]
    stamps = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in paths)
    return set(_released_sources_at(tuple(paths), stamps))


@functools.lru_cache(maxsize=64)
def _released_sources_at(paths: tuple[Path, ...], stamps: tuple[int, ...]) -> frozenset[str]:
    """_released_sources for files of these modification times (cached per process)."""
    known: set[str] = set()
    for path in paths:
        nb, _ = read_notebook(path)
        if nb is not None:
            known |= {normal_source(c.source) for c in nb.cells if c.cell_type == "code"}
    return frozenset(known)


def sandbox_off_reason(settings: dict[str, Any]) -> str:
    """Why student code runs without bubblewrap under these settings ("" when it does not)."""
    if settings["mode"] == "off":
        return "the sandbox is turned off (SandboxedExecute.mode = 'off')"
    status = bwrap_status(settings["bwrap"])
    return "" if status.usable else status.reason


@dataclass(frozen=True)
class _Submission:
    """The submission being checked, and its course's gradebook and sandbox settings."""

    course: Path
    student: str
    assignment: str
    db_url: str
    settings: dict[str, Any]  #: sandbox_settings of the course's config


@dataclass
class _Findings:
    """What the checks found, in the order they are added to the grade result."""

    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  #: for the instructor, not flags
    reasons: list[str] = field(default_factory=list)  #: why the notebook is broken


def after_autograde(
    course: Path,
    student: str,
    assignment: str,
    result: Any,
    *,
    deadline: float | None = None,
    hung: list[str] | None = None,
) -> Any:
    """The per-submission step run after nbgrader saved its grades.

    Adds flags (static findings, tampered cells, changed verdicts) and a reason for broken
    notebooks to `result` (a grader.pipeline.results.GradeResult), sets `result.sandbox`
    (why bubblewrap was not used, "" when it was), and writes changed verdicts to the
    gradebook.

    Args:
        deadline: time.time() by which the notebook's one limit runs out (grading started
            at deadline - notebook_timeout); verification gets what is left. None: a whole
            notebook_timeout.
        hung: functions the kernel stopped after they ran past the cell time limit
            (`grader.sandbox.execute.RunInfo.hung`): verification does not run them again.
    """
    from grader.config import course_config

    course = Path(course)
    config = course_config(course)
    sub = _Submission(
        course, student, assignment, str(config.CourseDirectory.db_url), sandbox_settings(config)
    )
    # Whether bubblewrap was used is about the run, not the student: it goes in
    # result.sandbox (shown once per run by the summary, report and export), never a flag.
    result.sandbox = sandbox_off_reason(sub.settings)
    found = _Findings()

    name = f"{assignment}.ipynb"
    submitted_dir = course / "submitted" / student / assignment
    submitted, unreadable = read_notebook(submitted_dir / name)
    others = renamed_notebooks(submitted_dir, name)
    if submitted is None and others:
        unreadable = f"found {', '.join(others)} instead of {name} (renamed file: 0)"
    if unreadable:
        found.reasons.append(unreadable)

    grade_ids, source_cells = _recorded_cells(sub.db_url, assignment)
    deleted: set[str] = set()
    if submitted is not None:
        deleted = _static_checks(sub, submitted, source_cells, set(grade_ids), found)

    graded_path = course / "autograded" / student / assignment / name
    graded, _ = read_notebook(graded_path, graded=True)
    if graded is not None:
        _verify_graded(sub, graded, graded_path, grade_ids, deleted, deadline, hung, found)
    elif deleted:
        found.flags += apply_verdicts(sub.db_url, student, assignment, Verification(), deleted)[0]

    _review_and_check_gradebook(sub, found)
    result.flags = list(dict.fromkeys([*getattr(result, "flags", []), *found.flags]))
    result.notes = list(dict.fromkeys([*getattr(result, "notes", []), *found.notes]))
    reasons = found.reasons
    if others and submitted is None:
        result.reason = reasons[0]  # more precise than "no notebook"
    elif reasons and not getattr(result, "reason", ""):
        result.reason = reasons[0] if len(reasons) == 1 else f"{reasons[0]} (+{len(reasons) - 1})"
    return result


def _recorded_cells(db_url: str, assignment: str) -> tuple[list[str], dict[str, str]]:
    """(grade_ids, source of each locked or graded cell) of the assignment's notebook as
    recorded in the gradebook (never the submission's); empty when it is not recorded."""
    from nbgrader.api import Gradebook, MissingEntry

    source_cells: dict[str, str] = {}
    grade_ids: list[str] = []
    with Gradebook(db_url) as gb:
        try:
            notebook = gb.find_notebook(assignment, assignment)
            grade_ids = [c.name for c in notebook.grade_cells]
            for cell in notebook.source_cells:
                if cell.locked or cell.name in grade_ids:
                    source_cells[cell.name] = cell.source or ""
        except MissingEntry:
            pass
    return grade_ids, source_cells


def _static_checks(
    sub: _Submission,
    submitted: Any,
    source_cells: dict[str, str],
    test_ids: set[str],
    found: _Findings,
) -> set[str]:
    """Flag what the submitted notebook's cells reach into and its tampered cells; the ids
    of the test cells it deleted (or stripped of their metadata)."""
    found.flags += scan_notebook(submitted, _released_sources(sub.course, sub.assignment))
    tamper = compare_cells(submitted, source_cells)
    found.flags += tamper
    return {
        f.split(":", 1)[0]
        for f in tamper
        if ("deleted" in f or "lost its nbgrader metadata" in f) and f.split(":", 1)[0] in test_ids
    }


def _verify_graded(
    sub: _Submission,
    graded: Any,
    graded_path: Path,
    grade_ids: list[str],
    deleted: set[str],
    deadline: float | None,
    hung: list[str] | None,
    found: _Findings,
) -> None:
    """The autograded notebook's broken-run reasons, then its graded functions re-run and
    re-judged out of process, the changed verdicts written to the gradebook (flagged)."""
    limited = limit_stopped(graded)
    stopped_cells = [i for i, kind in limited.items() if kind != "not run"]
    tests = {i: str(nbgrader_meta(graded.cells[i]).get("grade_id", "")) for i in limited}
    tests = {i: gid for i, gid in tests.items() if is_test_cell(graded.cells[i])}
    stopped = {gid for i, gid in tests.items() if limited[i] == "own"}
    not_run = {gid for i, gid in tests.items() if limited[i] != "own"}
    problems = run_problems(graded)
    found.reasons += problems
    found.flags += [f"broken: {p}" for p in problems]  # listed with the flagged ones
    functions = graded_functions(grade_ids)
    if not functions:
        return
    settings = sub.settings
    try:
        verification = verify_notebook(
            graded,
            graded_path.parent,
            functions,
            limits=settings["limits"],
            course=sub.course,
            mode=settings["mode"],
            bwrap=settings["bwrap"],
            cell_timeout=settings["cell_timeout"],
            wall_clock=None if deadline is None else deadline - time.time(),
            warm=settings["warm"],
            stopped_cells=stopped_cells,
            hung=list(hung or []),
        )
    except Exception as exc:  # noqa: BLE001 - never lose nbgrader's grades over it
        found.flags.append(f"NOT VERIFIED (verification failed: {type(exc).__name__}: {exc})")
        verification = Verification()
    if verification.error:
        found.flags.append(f"verification process: {verification.error}")
    changed, found.notes = apply_verdicts(
        sub.db_url, sub.student, sub.assignment, verification, deleted, stopped, not_run
    )
    found.flags += changed


def _review_and_check_gradebook(sub: _Submission, found: _Findings) -> None:
    """Review the scores given by hand (nbgrader's review mark kept only if the notebook
    changed), then run SQLite's integrity check of the gradebook."""
    try:
        review = review_hand_scores(sub.course, sub.db_url, sub.student, sub.assignment)
        found.notes += [f"{gid}: needs manual grading: {why}" for gid, why in review.items()]
    except Exception as exc:  # noqa: BLE001 - the marks stay: nothing is lost
        found.flags.append(f"scores given by hand not reviewed ({type(exc).__name__}: {exc})")
    db_path = gradebook_path(sub.db_url)
    if db_path is not None:
        status = check_gradebook(db_path)
        if status != "ok":
            found.flags.append(f"GRADEBOOK DAMAGED (SQLite integrity check): {status[:200]}")
