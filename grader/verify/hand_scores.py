"""Scores given by hand, through a regrade: nbgrader's review mark only when the notebook changed.

nbgrader's `SaveAutoGrades` sets `needs_manual_grade` on every cell that has a manual score
whenever autograde runs (the notebook may have changed since the score was given), so a
regrade of an unchanged class sends every score a teaching assistant gave back to "needs
manual grading", and `export --format canvas|moodle` refuses. The course keeps what each
score by hand was given for, and clears that mark only when it is unchanged:

1. `RememberHandScores`, a preprocessor right before `SaveAutoGrades`
   (`Autograde.autograde_preprocessors`), notes each cell's `manual_score` and
   `needs_manual_grade` before nbgrader overwrites the mark (`BEFORE`, in this process).
   A manual score without the mark is a person's score that stands (formgrader's Save
   clears the mark; so does a score set with the API on a cell without one).
2. `review_hand_scores`, from the post-autograde hook (`grader.pipeline.hooks`), pairs such a
   score with the digest of the submission that was graded when it was given (the notebook
   formgrader showed), and clears nbgrader's mark on the cell when the submission graded
   now has the same digest and the score is the same. Otherwise the mark stays and the
   record says why (`RESUBMITTED`), which `export` shows.

A comment given by hand (`manual_comment`) has no review mark in nbgrader, and formgrader
shows it unchanged after a resubmission it may no longer fit. The record pairs it too with
the digest of the notebook it was written for; when the notebook graded now differs, the
record's `comment_review` names it (`RESUBMITTED_COMMENT`) and `export` counts the
submission as not final until someone edits the comment in formgrader (a comment that
differs from the recorded one was written after the resubmission).

The record, per submission: `.grader/hand_scores/STUDENT/ASSIGNMENT.json` =
`{"graded": digest, "scores": {grade_id: {"score": x, "for": digest}}, "review": {grade_id:
why}, "comments": {comment_id: {"comment": text, "for": digest}}, "comment_review":
{comment_id: why}}`. The digest is of the submitted notebook's cells (type and source, not outputs):
any change of the student's code or answers counts, re-running it does not.
`manual_score` and `manual_comment` are never written here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor

from grader.verify.gradebook import load_at_once

#: Why the review mark stays on a cell scored by hand (the record's `review`, export's words).
RESUBMITTED = "resubmitted after a score given by hand"
UNKNOWN = "regraded; what the score given by hand was for is not recorded"
RESUBMITTED_COMMENT = "resubmitted after a comment given by hand"

#: (student, assignment) -> {grade_id: (manual_score, needs_manual_grade)} before
#: SaveAutoGrades ran in this process (popped by `review_hand_scores`).
BEFORE: dict[tuple[str, str], dict[str, tuple[float | None, bool]]] = {}
#: (student, assignment) -> {comment_id: manual_comment} before SaveAutoGrades ran.
BEFORE_COMMENTS: dict[tuple[str, str], dict[str, str]] = {}


class RememberHandScores(NbGraderPreprocessor):
    """Before `SaveAutoGrades`: each graded cell's manual score and review mark, as they are."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        from nbgrader.api import Gradebook, MissingEntry

        ids = resources["nbgrader"]
        student, assignment = str(ids["student"]), str(ids["assignment"])
        seen: dict[str, tuple[float | None, bool]] = {}
        with Gradebook(ids["db_url"]) as gb:
            try:
                sub = gb.find_submission_notebook(ids["notebook"], assignment, student)
            except MissingEntry:
                sub = None
            loaded = load_at_once(gb, sub) if sub is not None else []  # noqa: F841 - kept
            for g in sub.grades if sub is not None else []:
                score = None if g.manual_score is None else float(g.manual_score)
                seen[g.name] = (score, bool(g.needs_manual_grade))
            said = {c.name: c.manual_comment for c in sub.comments if c.manual_comment}
        BEFORE[(student, assignment)] = seen
        BEFORE_COMMENTS[(student, assignment)] = said
        return nb, resources


def record_path(course: Path, student: str, assignment: str) -> Path:
    return Path(course) / ".grader" / "hand_scores" / student / f"{assignment}.json"


def read_record(course: Path, student: str, assignment: str) -> dict:
    """The submission's record (empty fields when there is none or it cannot be read)."""
    empty: dict = {"graded": "", "scores": {}, "review": {}, "comments": {}, "comment_review": {}}
    try:
        data = json.loads(record_path(course, student, assignment).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty
    return {**empty, **data} if isinstance(data, dict) else empty


def notebook_digest(path: Path) -> str:
    """SHA-256 of a notebook's cells (type and source; "" when it cannot be read)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook matches nothing
        return ""
    cells = [[c.get("cell_type", ""), c.get("source", "")] for c in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode("utf-8")).hexdigest()


def review_hand_scores(course: Path, db_url: str, student: str, assignment: str) -> dict[str, str]:
    """After a regrade: clear nbgrader's review mark on each cell scored by hand whose score
    was given for the submission graded now; return {grade_id: why} for the marks left,
    and {"COMMENT_ID (comment)": why} for comments given by hand for another notebook.

    Writes the record (module docstring). Never changes `manual_score` or a comment.
    """
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    record = read_record(course, student, assignment)
    before = BEFORE.pop((student, assignment), {})
    said_before = BEFORE_COMMENTS.pop((student, assignment), {})
    submitted = course / "submitted" / student / assignment / f"{assignment}.ipynb"
    now = notebook_digest(submitted)
    scores: dict[str, dict] = dict(record["scores"])
    review: dict[str, str] = {}
    comments: dict[str, dict] = dict(record["comments"])
    comment_review: dict[str, str] = {}
    with Gradebook(db_url) as gb:
        try:
            sub = gb.find_submission_notebook(assignment, assignment, student)
        except MissingEntry:
            return review
        loaded = load_at_once(gb, sub)  # noqa: F841 - kept while the grades are read
        for grade in sub.grades:
            gid = grade.name
            if grade.manual_score is None:
                scores.pop(gid, None)
                continue
            score = float(grade.manual_score)
            was = before.get(gid)
            if was is not None and was[0] == score and not was[1]:
                # a person's score that stood for the notebook graded before this run
                scores[gid] = {"score": score, "for": record["graded"]}
            entry = scores.get(gid)
            if entry and entry["for"] and entry["for"] == now and entry["score"] == score:
                grade.needs_manual_grade = False
            elif grade.needs_manual_grade:
                review[gid] = RESUBMITTED if entry and entry["for"] else UNKNOWN
        for comment in sub.comments:
            cid, text = comment.name, comment.manual_comment
            if not text:
                comments.pop(cid, None)
                continue
            entry = comments.get(cid)
            if entry is None or entry["comment"] != text or not entry["for"]:  # new, edited
                given_for = record["graded"] if said_before.get(cid) == text else now
                entry = comments[cid] = {"comment": text, "for": given_for}
            if entry["for"] and entry["for"] != now:
                comment_review[cid] = RESUBMITTED_COMMENT
        gb.db.commit()
    path = record_path(course, student, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    data = {
        "graded": now,
        "scores": scores,
        "review": review,
        "comments": comments,
        "comment_review": comment_review,
    }
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return {**review, **{f"{cid} (comment)": why for cid, why in comment_review.items()}}
