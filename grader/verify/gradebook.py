"""The gradebook side of verification: out-of-process verdicts written into nbgrader's
gradebook, and SQLite's integrity check of the gradebook.

`apply_verdicts` makes the out-of-process verdict stand where it differs from nbgrader's
for a test cell: it becomes the cell's manual score, with a comment on the function's
solution cell, and the submission is flagged (nbgrader's `flagged`); a deleted test cell
scores 0, never full. `check_gradebook` runs `PRAGMA integrity_check` on a SQLite gradebook
(after each submission and after each run).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

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


def apply_verdicts(
    db_url: str,
    student: str,
    assignment: str,
    verification: Verification,
    deleted: set[str],
) -> list[str]:
    """Make the out-of-process verdict stand in the gradebook; return flags for the changes.

    For each test cell whose nbgrader score differs from the out-of-process verdict (full
    marks when it passed, 0 when not), and for each deleted test cell (0), set the manual
    score, comment on the function's solution cell, and flag the submission.
    """
    from nbgrader.api import Gradebook, MissingEntry

    flags: list[str] = []
    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission_notebook(assignment, assignment, student)
        except MissingEntry:
            return flags
        changed = False
        for grade in submission.grades:
            gid = grade.name
            name = None
            if gid.startswith(HIDDEN_PREFIX):
                name, flavour = gid[len(HIDDEN_PREFIX) :], "hidden"
            elif gid.startswith(VISIBLE_PREFIX):
                name, flavour = gid[len(VISIBLE_PREFIX) :], "visible"
            max_score = float(grade.max_score)
            current = float(grade.score or 0)
            why = ""
            if gid in deleted:
                want = 0.0
                why = "the test cell was deleted from the submission"
            elif name in verification.verdicts:
                v = verification.verdicts[name]
                passed = v.hidden if flavour == "hidden" else v.visible
                want = max_score if passed else 0.0
                why = (
                    "passed when re-run in a separate process"
                    if passed
                    else f"failed when re-run in a separate process: {v.message}"
                )
            else:
                continue
            if abs(want - current) < 1e-9:
                continue
            grade.manual_score = want
            grade.needs_manual_grade = False
            changed = True
            text = (
                f"[verified] {gid}: {current:g} -> {want:g} of {max_score:g}: {why} "
                f"(hidden seed {verification.seed})."
            )
            flags.append(f"verdict changed: {gid} {current:g} -> {want:g} ({why[:120]})")
            if name:
                try:
                    comment = gb.find_comment(name, assignment, assignment, student)
                except MissingEntry:
                    comment = None
                if comment is not None:
                    old = comment.manual_comment or ""
                    comment.manual_comment = (old + "\n" + text).strip()
        if changed:
            submission.flagged = True
        gb.db.commit()
    return flags
