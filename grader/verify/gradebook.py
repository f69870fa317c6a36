"""The gradebook side of verification: out-of-process verdicts written into nbgrader's
gradebook, and SQLite's integrity check of the gradebook.

`apply_verdicts` makes the out-of-process verdict stand where it differs from nbgrader's
for a test cell: it becomes the cell's automatic score (`auto_score`), with an automatic
comment on the function's solution cell, and the submission is flagged (nbgrader's
`flagged`); a deleted test cell scores 0, never full. A score or comment given by hand
(`manual_score`, `manual_comment`) is never changed. `check_gradebook` runs
`PRAGMA integrity_check` on a SQLite gradebook
(after each submission and after each run).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from grader.verify.cells import HIDDEN_PREFIX, VISIBLE_PREFIX

if TYPE_CHECKING:  # pragma: no cover
    from grader.verify.launch import Verification


def check_gradebook(db_path: Path) -> str:
    """SQLite's `PRAGMA integrity_check` of the gradebook: "ok" or the problems found."""
    if not Path(db_path).exists():
        return f"no gradebook at {db_path}"
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"
    text = "; ".join(str(r[0]) for r in rows)
    return text


def gradebook_path(db_url: str) -> Path | None:
    """The SQLite file of a gradebook URL (None for other databases)."""
    if not db_url.startswith("sqlite:///"):
        return None
    return Path(db_url[len("sqlite:///") :].split("?", 1)[0])


def load_at_once(gb: Any, notebook: Any) -> list[Any]:
    """Load a submitted notebook's grades (their `max_score` too), comments and the cells
    both belong to into `gb`'s session, in three queries; return them (keep the list while
    reading: the session holds its objects weakly).

    Reading `notebook.grades` and `.comments` afterwards gives the same objects, in the
    same order (the collections' own queries), and each one's `name`, `max_score` and cell
    without a query: nbgrader's relationships load a grade's cell and its deferred
    `max_score` one query per grade (about 15 statements per notebook, per reader).
    Called before anything is changed in the session.
    """
    from nbgrader.api import BaseCell, Comment, Grade
    from sqlalchemy.orm import undefer

    db = gb.db
    grades = db.query(Grade).filter(Grade.notebook_id == notebook.id)
    loaded: list[Any] = grades.options(undefer(Grade.max_score)).all()
    loaded += db.query(Comment).filter(Comment.notebook_id == notebook.id).all()
    cell_ids = {row.cell_id for row in loaded}
    loaded += db.query(BaseCell).filter(BaseCell.id.in_(cell_ids)).all() if cell_ids else []
    return loaded


def apply_verdicts(
    db_url: str,
    student: str,
    assignment: str,
    verification: Verification,
    deleted: set[str],
    stopped: set[str] | frozenset[str] = frozenset(),
    not_run: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[str], list[str]]:
    """Make the out-of-process verdict stand in the gradebook; return (flags, notes).

    For each test cell whose score in the student's kernel (nbgrader's `auto_score`, just
    saved) differs from the out-of-process verdict (full marks when it passed, 0 when not),
    and for each deleted test cell (0): the verdict becomes the cell's `auto_score`, the
    reason is added to the function's `auto_comment`, the submission is flagged (nbgrader's
    `flagged`) and a "verdict changed" flag is returned. nbgrader rewrites both `auto_*`
    fields on every autograde, so a regrade starts again from the kernel's verdict.

    Never touched: a cell scored by hand (`manual_score` set, by formgrader's Save or the
    API) keeps its score and comment; a disagreement there is a note for the instructor,
    not a flag. Cells in `stopped` (the kernel stopped them at a limit: time, memory, a dead
    kernel; `grader.verify.cells.limit_stopped`) keep the kernel's verdict: the reason says
    which limit. Cells in `not_run` (the kernel died or the notebook's limit ran out before
    or while they ran) are scored by verification, with a flag that says so, not "verdict
    changed".
    """
    from nbgrader.api import Gradebook, MissingEntry

    flags: list[str] = []
    notes: list[str] = []
    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission_notebook(assignment, assignment, student)
        except MissingEntry:
            return flags, notes
        loaded = load_at_once(gb, submission)  # noqa: F841 - kept while the grades are read
        changed = False
        for grade in submission.grades:
            gid = grade.name
            name, flavour = _function_of(gid)
            max_score = float(grade.max_score)
            kernel = float(grade.auto_score or 0)
            if gid in stopped and gid not in deleted:
                continue
            wanted = _wanted(gid, name, flavour, kernel, max_score, verification, deleted)
            if wanted is None or abs(wanted.score - kernel) < 1e-9:
                continue
            want, why = wanted.score, wanted.why
            scored_apart = gid in not_run and gid not in deleted
            if scored_apart:
                why = (
                    f"the student's kernel stopped before this test finished; {name} "
                    f"{'passed' if want else 'failed'} when the notebook's cells were run "
                    "in a separate process"
                )
            if grade.manual_score is not None:
                notes.append(
                    f"{gid}: scored {float(grade.manual_score):g} of {max_score:g} by hand "
                    f"(kept); the automatic verdict would be {want:g}: {why}"
                )
                continue
            grade.auto_score = want
            changed = changed or not scored_apart
            if scored_apart:
                flags.append(f"scored in a separate process: {gid} {kernel:g} -> {want:g} ({why})")
            else:
                flags.append(f"verdict changed: {gid} {kernel:g} -> {want:g} ({why[:200]})")
            if name:
                text = (
                    f"[verified] {gid}: {kernel:g} -> {want:g} of {max_score:g}: {why} "
                    f"(hidden seed {verification.seed})."
                )
                _add_auto_comment(gb, name, assignment, student, text)
        if changed:
            submission.flagged = True
        gb.db.commit()
    return flags, notes


class _Wanted(NamedTuple):
    """The automatic score a test cell should have, and why."""

    score: float
    why: str


def _function_of(gid: str) -> tuple[str | None, str | None]:
    """(function name, "visible" or "hidden") a test cell's grade_id names; (None, None)
    for a cell that is not a function's test."""
    if gid.startswith(HIDDEN_PREFIX):
        return gid[len(HIDDEN_PREFIX) :], "hidden"
    if gid.startswith(VISIBLE_PREFIX):
        return gid[len(VISIBLE_PREFIX) :], "visible"
    return None, None


def _wanted(
    gid: str,
    name: str | None,
    flavour: str | None,
    kernel: float,
    max_score: float,
    verification: Verification,
    deleted: set[str],
) -> _Wanted | None:
    """The score a test cell should have: 0 when it was deleted, else the out-of-process
    verdict on its function; None when verification says nothing about it."""
    if gid in deleted:
        return _Wanted(0.0, "the test cell was deleted from the submission")
    if name not in verification.verdicts:
        return None
    v = verification.verdicts[name]
    passed = v.hidden if flavour == "hidden" else v.visible
    kernel_said = "passed" if kernel >= max_score else "failed"
    why = (
        f"the test {kernel_said} in the student's kernel; {name} "
        + ("passed" if passed else f"failed ({v.message})" if v.message else "failed")
        + " when the notebook's cells were run again in a separate process"
    )
    return _Wanted(max_score if passed else 0.0, why)


def _add_auto_comment(gb: Any, name: str, assignment: str, student: str, text: str) -> None:
    """Append `text` to the auto_comment of the function's comment cell, if it has one."""
    from nbgrader.api import MissingEntry

    try:
        comment = gb.find_comment(name, assignment, assignment, student)
    except MissingEntry:
        return
    if comment is not None:
        old = comment.auto_comment or ""
        comment.auto_comment = (old + "\n" + text).strip()
