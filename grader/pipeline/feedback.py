"""`feedback`: nbgrader's HTML feedback per student, checked to hold no hidden test code.

nbgrader's GenerateFeedback converter runs in-process with the course's preprocessors
(`ClearHiddenTests` among them, nbgrader_config.py) plus one of ours in front:
`ShortenHiddenTracebacks`, because a failing hidden test's traceback quotes the hidden line
that failed. Afterwards every feedback page is searched for every hidden test line; a page
that still shows one is reported as a leak (and the command fails).
"""

from __future__ import annotations

import html
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from grader.pipeline.config import assignments_of, course_config
from grader.pipeline.results import load_results

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
_TAG_RE = re.compile(r"<[^>]+>")


class ShortenHiddenTracebacks(Preprocessor):
    """In cells with hidden tests, keep only the error's last line (the message), not the
    traceback, which quotes the hidden test's code."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and BEGIN_HIDDEN in cell.source:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


@dataclass
class FeedbackReport:
    written: list[Path] = field(default_factory=list)
    missing: list[tuple[str, str, str]] = field(default_factory=list)  #: student, assignment, why
    leaks: list[tuple[Path, str]] = field(default_factory=list)  #: page, hidden line shown


def feedback_path(course: Path, student: str, assignment: str) -> Path:
    return Path(course) / "feedback" / student / assignment / f"{assignment}.html"


def hidden_lines(course: Path, assignment: str) -> list[str]:
    """Code lines of the source notebook's hidden tests that the student never sees.

    Lines that also occur outside hidden regions (e.g. `from grader import checks`) are
    left out: they are not secret.
    """
    nb = nbformat.read(Path(course) / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    hidden, visible = [], set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if BEGIN_HIDDEN in line:
                inside = True
            elif END_HIDDEN in line:
                inside = False
            elif inside:
                hidden.append(line.strip())
            else:
                visible.add(line.strip())
    return [line for line in dict.fromkeys(hidden) if len(line) >= 8 and line not in visible]


def page_text(path: Path) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(_TAG_RE.sub("", path.read_text(encoding="utf-8")))


def feedback(
    course: Path, assignment: str | None = None, *, workers: int | None = None
) -> FeedbackReport:
    """Write feedback/STUDENT/ASSIGNMENT/ASSIGNMENT.html for every autograded submission.

    Args:
        course: the nbgrader course directory.
        assignment: only this assignment (default: every assignment with autograded work).
        workers: processes, one assignment each at a time (default: the number of cores).

    Returns:
        the pages written, the submissions without feedback (and why), and any leak.
    """
    course = Path(course).resolve()
    assignments = [assignment] if assignment else assignments_of(course)
    report = FeedbackReport()
    results = load_results(course)
    todo = []
    for a in assignments:
        graded = sorted(p.parent.name for p in (course / "autograded").glob(f"*/{a}") if p.is_dir())
        submitted = sorted(p.parent.name for p in (course / "submitted").glob(f"*/{a}"))
        for student in submitted:
            if student not in graded:
                result = results.get(f"{student}/{a}")
                why = result.reason if result and result.reason else "not autograded yet"
                report.missing.append((student, a, why))
        if graded:
            todo.append((a, graded))
    workers = min(workers or os.cpu_count() or 1, len(todo) or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_feedback_one, [course] * len(todo), *zip(*todo, strict=True)))
    else:
        parts = [_feedback_one(course, a, graded) for a, graded in todo]
    for part in parts:
        report.written += part.written
        report.missing += part.missing
        report.leaks += part.leaks
    return report


def _feedback_one(course: Path, a: str, graded: list[str]) -> FeedbackReport:
    """nbgrader's GenerateFeedback for one assignment, then the leak check of its pages."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    config = course_config(course)
    configured = list(config.GenerateFeedback.get("preprocessors", []))
    if configured:
        from grader.sandbox import CapOutputBytes  # outputs capped in bytes

        config.GenerateFeedback.preprocessors = [
            ShortenHiddenTracebacks,
            CapOutputBytes,
            *configured,
        ]
    report = FeedbackReport()
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = a
    converter = GenerateFeedback(coursedir=coursedir, config=config)
    converter.force = True
    out = capture_log(converter)
    secret = hidden_lines(course, a)
    for student in graded:
        page = feedback_path(course, student, a)
        if not page.exists():
            why = "nbgrader generate_feedback failed" if not out["success"] else "not written"
            report.missing.append((student, a, why))
            continue
        report.written.append(page)
        text = page_text(page)
        report.leaks.extend((page, line) for line in secret if line in text)
    return report
