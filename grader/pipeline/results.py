"""Grading results as data: one `GradeResult` per (student, assignment), kept on disk.

The parent process of `autograde` is the only writer of the results file
(`<course>/.grader/results.json`); it rewrites it atomically after every submission, so an
interrupted run keeps what it finished. The gradebook stays the source of truth for scores;
the results file adds what nbgrader does not keep: the failure reason, flags, the first
line of each failing test's message and the misconception tags named in it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: A misconception tag in a failing test's message, e.g. "[M3]" (docs/grading.md).
TAG_RE = re.compile(r"\[M(1[0-3]|[1-9])\]")


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
    cells: list[CellResult] = field(default_factory=list)
    #: Why this grading ran without bubblewrap ("" = sandboxed). About the run, not the
    #: student: shown once per run (summary, report, export), never as a flag.
    sandbox: str = ""

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradeResult:
        cells = [CellResult(**c) for c in data.get("cells", [])]
        return cls(**{**data, "cells": cells})


def error_message(ename: str, evalue: str) -> str:
    """The line a learner reads for an error output of a test cell."""
    if ename == "NotImplementedError" and not evalue.strip():
        return "not answered yet: the function still raises NotImplementedError"
    return f"{ename}: {evalue}".strip()


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
