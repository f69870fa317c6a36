"""Grading results as data: one `GradeResult` per (student, assignment), kept on disk, and
read back from the gradebook.

The parent process of `autograde` is the only writer of the results file
(`<course>/.grader/results.json`); it rewrites it atomically after every submission, so an
interrupted run keeps what it finished. The gradebook stays the source of truth for scores;
the results file adds what nbgrader does not keep: the failure reason, flags, the first
line of each failing test's message and the misconception tags named in it.

`read_result` builds a result from the gradebook and the autograded notebook (what a worker
does after grading); `result_from_gradebook` adds the verification record, for submissions
graded some other way (plain `nbgrader autograde`, the formgrader); `class_results` is every
submission's result, what the class report counts.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader.config import assignments_of, course_config
from grader.nbcells import grade_id, grade_ids
from grader.pipeline.failures import cell_message, cell_timeout, definition_errors

#: A misconception tag in a failing test's message, e.g. "[M3]" (docs/grading.md).
TAG_RE = re.compile(r"\[M(1[0-3]|[1-9])\]")


def tags_in(message: str) -> list[str]:
    """The misconception tags a message names, in order: "... [M3] ... [M1]" -> ["M1", "M3"]."""
    return [f"M{t}" for t in sorted(set(TAG_RE.findall(message)), key=int)]


@dataclass
class CellResult:
    """One graded test cell of one submission."""

    grade_id: str
    score: float
    max_score: float
    message: str = ""  #: first line of the failure (empty when passed)
    tags: list[str] = field(default_factory=list)  #: misconception tags, e.g. ["M3"]

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


@dataclass
class GradeResult:
    """The outcome of autograding one student's notebook for one assignment.

    status is "graded" (nbgrader finished), "failed" (it could not: see reason; the
    gradebook holds 0 for every cell that has no score) or "missing" (nothing submitted).
    """

    student: str
    assignment: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    needs_manual_grade: bool = False
    seconds: float = 0.0
    reason: str = ""
    flags: list[str] = field(default_factory=list)
    #: information for the instructor, not flags: where the automatic verdict disagrees
    #: with a score given by hand (the hand's score stands)
    notes: list[str] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    #: Why this grading ran without bubblewrap ("" = sandboxed). About the run, not the
    #: student: shown once per run (summary, report, export), never as a flag.
    sandbox: str = ""
    #: Not graded for a reason that is not the student's (the grading machine's environment,
    #: the gradebook, the sandbox, a grader bug; see failures.not_the_students): `autograde`
    #: exits 1 naming it, and the next run grades it again without --force.
    grader_error: bool = False

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradeResult:
        cells = [CellResult(**c) for c in data.get("cells", [])]
        return cls(**{**data, "cells": cells})


def not_graded(student: str, assignment: str, why: str) -> GradeResult:
    """The result of a submission the grading machine could not grade (its environment, the
    gradebook, the sandbox: not the student's doing); `autograde` records no grade for it
    and grades it again on its next run."""
    reason = f"not graded, a problem of the grading machine (not the student's): {why}"
    return GradeResult(student, assignment, "failed", reason=reason, grader_error=True)


# ---------------------------------------------------------------- where things are


def submitted_path(course: Path, student: str, assignment: str) -> Path:
    return Path(course) / "submitted" / student / assignment / f"{assignment}.ipynb"


def autograded_path(course: Path, student: str, assignment: str) -> Path:
    return Path(course) / "autograded" / student / assignment / f"{assignment}.ipynb"


def submissions(course: Path, assignments: list[str]) -> list[tuple[str, str]]:
    """Every (student, assignment) with a submitted/STUDENT/ASSIGNMENT/ folder, sorted."""
    out = []
    root = Path(course) / "submitted"
    if root.is_dir():
        for student_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for a in assignments:
                if (student_dir / a).is_dir():
                    out.append((student_dir.name, a))
    return out


# ---------------------------------------------------------------- the results file


def results_path(course: Path) -> Path:
    return Path(course) / ".grader" / "results.json"


def load_results(course: Path) -> dict[str, GradeResult]:
    """The stored results of `course`, keyed by "student/assignment" (empty if none)."""
    path = results_path(course)
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {key: GradeResult.from_dict(value) for key, value in data.items()}


def save_results(course: Path, results: dict[str, GradeResult]) -> None:
    """Write the results file atomically (a temporary file renamed over the old one)."""
    path = results_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    payload = {key: results[key].to_dict() for key in sorted(results)}
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- from the gradebook


def read_result(course: Path, config: Any, student: str, assignment: str) -> GradeResult:
    """The gradebook's scores for one submission, with each failing test's message and tags.

    Args:
        course: the course directory.
        config: its nbgrader Config (the gradebook's URL, the per-cell time limit).
    """
    from nbgrader.api import Gradebook, MissingEntry

    from grader.verify.gradebook import load_at_once

    result = GradeResult(student, assignment, "graded")
    messages = failure_messages(autograded_path(course, student, assignment), config)
    with Gradebook(str(config.CourseDirectory.db_url)) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            result.status = "missing"
            result.max_score = gb.find_assignment(assignment).max_score
            return result
        order = cell_order(course, assignment)
        for notebook in submission.notebooks:
            loaded = load_at_once(gb, notebook)  # noqa: F841 - kept while the grades are read
            for grade in sorted(notebook.grades, key=lambda g: order.get(g.name, len(order))):
                message = messages.get(grade.name, "")
                result.cells.append(
                    CellResult(
                        grade.name,
                        float(grade.score or 0),
                        float(grade.max_score),
                        message.splitlines()[0][:300] if message else "",
                        tags_in(message),
                    )
                )
        result.score = float(submission.score)
        result.max_score = float(submission.max_score)
        result.needs_manual_grade = bool(submission.needs_manual_grade)
    return result


def result_from_gradebook(course: Path, student: str, assignment: str) -> GradeResult:
    """A result rebuilt from the gradebook and autograded notebook (for skipped submissions),
    with what verification recorded (plain `nbgrader autograde` leaves no other result)."""
    from grader.pipeline import verified  # it reads this module's paths

    result = read_result(Path(course), course_config(course), student, assignment)
    record = verified.current_record(Path(course), student, assignment)
    if record is not None:
        result.flags, result.sandbox = list(record.flags), record.sandbox
        result.notes = list(record.notes)
        result.reason = result.reason or record.reason
    return result


def class_results(course: Path) -> list[GradeResult]:
    """One result per submitted (student, assignment): stored ones, else from the gradebook.

    Scores always come from the gradebook as it is now: a score given by hand after grading
    (formgrader's Save, nbgrader's API) counts in every total (`current_scores`).
    """
    course = Path(course).resolve()
    stored = load_results(course)
    out = []
    for student, assignment in submissions(course, assignments_of(course)):
        result = stored.get(f"{student}/{assignment}")
        if result is None:
            result = result_from_gradebook(course, student, assignment)
        out.append(result)
    current_scores(course, out)
    return out


def current_scores(course: Path, results: list[GradeResult]) -> None:
    """Set each graded result's score, per-cell scores and needs-manual-grade from the
    gradebook (nbgrader's `score`: the manual score where one was given, else the automatic
    one); results without a submission in the gradebook are left as they are."""
    from nbgrader.api import Gradebook, MissingEntry

    from grader.verify.gradebook import load_at_once

    graded = [r for r in results if r.status == "graded"]
    if not graded:
        return
    with Gradebook(str(course_config(course).CourseDirectory.db_url)) as gb:
        for result in graded:
            try:
                submission = gb.find_submission(result.assignment, result.student)
            except MissingEntry:
                continue
            result.score = float(submission.score)
            result.needs_manual_grade = bool(submission.needs_manual_grade)
            loaded = [load_at_once(gb, nb) for nb in submission.notebooks]  # noqa: F841 - kept
            scores = {g.name: float(g.score or 0) for nb in submission.notebooks for g in nb.grades}
            for cell in result.cells:
                cell.score = scores.get(cell.grade_id, cell.score)


@functools.lru_cache(maxsize=64)
def cell_order(course: Path, assignment: str) -> dict[str, int]:
    """grade_id -> position in the source notebook (for tables in teaching order)."""
    import nbformat

    path = Path(course) / "source" / assignment / f"{assignment}.ipynb"
    if not path.exists():
        return {}
    ids = grade_ids(nbformat.read(path, as_version=4).cells)
    return {gid: i for i, gid in enumerate(ids)}


def failure_messages(path: Path, config: Any = None) -> dict[str, str]:
    """grade_id -> what each code cell of an autograded notebook says went wrong
    (grader.pipeline.failures.cell_message; cells without an error are left out)."""
    from grader.verify.cells import read_graded

    if not path.exists():
        return {}
    nb = read_graded(path)
    timeout = cell_timeout(config) if config is not None else None
    broken = definition_errors(nb.cells)
    out = {}
    for cell in nb.cells:
        gid = grade_id(cell)
        if not gid or cell.cell_type != "code":
            continue
        message = cell_message(cell, timeout=timeout, broken=broken)
        if message:
            out[gid] = message
    return out
