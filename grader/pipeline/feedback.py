"""`feedback`: nbgrader's HTML feedback per student, checked to hold no hidden test code.

nbgrader's GenerateFeedback converter runs with `FEEDBACK_PREPROCESSORS` (defined with the
course's other nbgrader registrations in grader.pipeline.hooks), the list
nbgrader_config.py registers as `c.GenerateFeedback.preprocessors` (so plain
`nbgrader generate_feedback` and the formgrader make the same pages):

- `ShortenHiddenTracebacks` first: a failing hidden test's traceback quotes the hidden line
  that failed (nbgrader's `ClearHiddenTests` clears the cell's source, not its outputs);
- `HideGraderPaths`: tracebacks keep the student's own frames, not the grader's or the
  libraries', and no output shows a path of the grading machine;
- `CapOutputBytes`, then nbgrader's `GetGrades` and `ClearHiddenTests`;
- `FeedbackSummary` (grader/pipeline/feedback_summary.py): the page opens with one line per
  function (its points, the named mistake in plain words, a link to its test) and each
  function's answer gets a heading;
- `RenderMath`: the prose's `$...$` math becomes MathML, which browsers draw without
  MathJax, so a page opened offline shows formulas, not raw LaTeX;
- nbconvert's `CSSHTMLHeaderPreprocessor` (the page's inlined CSS), then `ReadablePageCSS`,
  which adds to it: outputs wrap instead of running past their box, and markdown tables get
  cell padding and borders; `AccessiblePageCSS`: links and code colours with the contrast
  WCAG 2.1 AA asks (axe-core checks them, docs/accessibility.md). Each written page gets
  `<html lang="en">`.

Afterwards every feedback page is searched for every hidden test line; a page that still
shows one is reported as a leak (and the command fails).
"""

from __future__ import annotations

import html
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from grader.config import assignments_of, course_config, require_course
from grader.course import BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, resolve_assignment
from grader.pipeline.failures import ANSI_RE
from grader.pipeline.feedback_summary import declare_language
from grader.pipeline.hooks import FEEDBACK_PREPROCESSORS
from grader.pipeline.results import load_results
from grader.sandbox.output import ENAMES_TIMEOUT

_TAG_RE = re.compile(r"<[^>]+>")


class ShortenHiddenTracebacks(Preprocessor):
    """In cells with hidden tests, keep only the error's last line (the message), not the
    traceback, which quotes the hidden test's code."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and BEGIN_HIDDEN_TESTS in cell.source:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class HideGraderPaths(Preprocessor):
    """Tracebacks with only the student's own frames (the notebook's cells), and no output
    showing a path of the grading machine (the grader and checks packages, the Python
    installation, the course). A cell stopped by a limit says so in one line instead of a
    raw KeyboardInterrupt (what the kernel's interrupt raises)."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        self._paths = _machine_paths(resources)
        timeout = self.config.Execute.get("timeout") if "Execute" in self.config else None
        self._limit = f"{timeout:g} s " if isinstance(timeout, (int, float)) else ""
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":  # the interrupt and nbgrader's note: said once
            timed_out = [o for o in cell.outputs if o.get("ename") in ENAMES_TIMEOUT]
            cell.outputs = [o for o in cell.outputs if o not in timed_out[1:]]
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.output_type == "error" and output.get("ename") in ENAMES_TIMEOUT:
                output.evalue = (
                    f"this cell ran longer than the {self._limit}time limit and was stopped "
                    "(an endless loop, or far too much work?)"
                )
                output.traceback = [f"{output.ename}: {output.evalue}"]
            elif output.output_type == "error":
                frames = [str(f) for f in output.get("traceback", [])]
                kept = [f for f in frames[1:-1] if _students_frame(f, self._paths)]
                if len(kept) < len(frames) - 2:
                    gone = len(frames) - 2 - len(kept)
                    kept.append(f"({gone} frame{'s' * (gone > 1)} of the grader left out)")
                if len(frames) > 1:
                    frames = [frames[0], *kept, frames[-1]]
                output.traceback = [scrub_paths(f, self._paths) for f in frames]
                output.evalue = scrub_paths(str(output.get("evalue", "")), self._paths)
            elif output.output_type == "stream":
                output.text = scrub_paths(str(output.get("text", "")), self._paths)
            elif "text/plain" in output.get("data", {}):
                output.data["text/plain"] = scrub_paths(str(output.data["text/plain"]), self._paths)
        return cell, resources


#: A traceback frame in a file (IPython: "File /path/x.py:12, in f"), not a notebook cell.
_FILE_FRAME = re.compile(r"^\s*File\s")
#: IPython's note for frames it hid ("[... skipping hidden 2 frame]").
_SKIPPED_FRAME = re.compile(r"^\s*\[\.\.\. skipping hidden \d+ frames?\]\s*$")


def _students_frame(frame: str, paths: list[tuple[str, str]]) -> bool:
    """A traceback frame of the student's notebook: not in a file of the grader, the
    packages or the Python installation (every file frame is one of theirs: a notebook's
    code runs in cells), nor IPython's note of hidden frames."""
    text = ANSI_RE.sub("", frame)
    if _FILE_FRAME.match(text) or _SKIPPED_FRAME.match(text):
        return False
    return not any(p in text for p, label in paths if label in ("grader", "python"))


_SANDBOX_BOX = re.compile(r"/tmp/backprop-sandbox-[^/\s]+/k-[0-9a-f]+/(?:work/)?")


def _machine_paths(resources: dict | None = None) -> list[tuple[str, str]]:
    """(path, what to show instead) for the grading machine's folders, longest first."""
    import backprop_checks

    import grader

    pairs = {
        str(Path(grader.__file__).resolve().parent): "grader",
        str(Path(backprop_checks.__file__).resolve().parent): "grader",
        str(Path(sys.prefix).resolve()): "python",
        str(Path(sys.base_prefix).resolve()): "python",
        sys.prefix: "python",
        sys.base_prefix: "python",
    }
    root = (resources or {}).get("nbgrader", {}).get("course_root") or os.getcwd()
    pairs.setdefault(str(Path(root).resolve()), "course")
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def scrub_paths(text: str, paths: list[tuple[str, str]] | None = None) -> str:
    """`text` with the grading machine's paths replaced by a short name."""
    text = _SANDBOX_BOX.sub("", text)
    for path, label in paths or _machine_paths():
        text = text.replace(path + "/", f"<{label}>/").replace(path, f"<{label}>")
    return text


_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.S)
_MATH = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<![\\$])\$(?![\s$])([^$\n]+?)(?<![\s\\])\$(?!\d)", re.S
)


def math_to_mathml(markdown: str) -> str:
    """Markdown with its `$...$` and `$$...$$` math turned into MathML (code left alone).

    Math latex2mathml cannot read stays as it was.
    """
    from latex2mathml.converter import convert

    def one(m: re.Match) -> str:
        block = m.group(1) is not None
        tex = (m.group(1) if block else m.group(2)).strip()
        try:
            mathml = convert(tex, display="block" if block else "inline")
        except Exception:  # noqa: BLE001 - unreadable LaTeX is left for MathJax
            return m.group(0)
        return mathml.replace("\n", " ")

    parts = _CODE.split(markdown)
    return "".join(p if i % 2 else _MATH.sub(one, p) for i, p in enumerate(parts))


class RenderMath(Preprocessor):
    """The markdown cells' LaTeX math as MathML: formulas show without network access."""

    enabled = Bool(True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown" and "$" in cell.source:
            cell.source = math_to_mathml(cell.source)
        return cell, resources


#: Added to a feedback page's inlined CSS. The classic template shows an output's text in a
#: `pre` that never wraps (a long CheckFailure line runs out of its box) and markdown tables
#: without padding ("visible testhidden test").
READABLE_CSS = """
div.output_area pre, div.output_subarea pre, div.output_text pre {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
.rendered_html table, .text_cell_render table {
  border-collapse: collapse;
  margin: 0.6em 0;
}
.rendered_html th, .rendered_html td, .text_cell_render th, .text_cell_render td {
  border: 1px solid #bbb;
  padding: 0.3em 0.8em;
}
.rendered_html th, .text_cell_render th {
  background: #f3f3f3;
}
"""


class ReadablePageCSS(Preprocessor):
    """Wrapping outputs and padded, bordered tables: `READABLE_CSS` appended to the CSS the
    HTML template inlines (`resources["inlining"]["css"]`). Runs after nbconvert's
    `CSSHTMLHeaderPreprocessor`, which replaces that list."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        inlining = resources.setdefault("inlining", {})
        inlining["css"] = [*inlining.get("css", []), READABLE_CSS]
        return nb, resources


@dataclass
class FeedbackReport:
    written: list[Path] = field(default_factory=list)
    missing: list[tuple[str, str, str]] = field(default_factory=list)  #: student, assignment, why
    leaks: list[tuple[Path, str]] = field(default_factory=list)  #: page, hidden line shown
    #: (student, assignment) written while the gradebook says it needs manual grading: the
    #: page shows a score a person has still to give (grade in formgrader, run feedback again)
    to_review: list[tuple[str, str]] = field(default_factory=list)


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
            if BEGIN_HIDDEN_TESTS in line:
                inside = True
            elif END_HIDDEN_TESTS in line:
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
        assignment: only this assignment, its id in any case or its number ("04") (default:
            every assignment with autograded work).
        workers: processes, one assignment each at a time (default: the number of cores).

    Returns:
        the pages written, the submissions without feedback (and why), and any leak.
    """
    course = require_course(course)
    assignments = assignments_of(course)
    if assignment:  # its id in any case, or its number
        assignments = [resolve_assignment(assignment, assignments, str(course / "source"))]
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
    report.to_review = _to_review(course, report.written)
    return report


def _why_no_page(out: dict, course: Path, student: str, a: str) -> str:
    """Why nbgrader's GenerateFeedback wrote no page for one submission (`out`: nbgrader's
    `capture_log` result): its log about that notebook, else what is missing."""
    from grader.pipeline.failures import reason_from_log as read_log

    def reason_from_log(text: str) -> str:  # autograde's words, less "could not grade it"
        why = read_log(text)
        return "" if "(see its log" in why else why.replace("nbgrader could not grade it: ", "")

    log = ANSI_RE.sub("", (out.get("log") or "") + "\n" + (out.get("error") or ""))
    lines = log.splitlines()
    mine = [i for i, line in enumerate(lines) if f"{student}/{a}" in line]
    if mine:  # from its first mention to the next notebook nbgrader turned to
        rest = lines[mine[0] :]
        end = next(
            (
                i
                for i, line in enumerate(rest[1:], 1)
                if "Converting notebook" in line and f"{student}/{a}" not in line
            ),
            len(rest),
        )
        why = reason_from_log("\n".join(rest[:end]))
        if why:
            return f"nbgrader generate_feedback failed: {why}"
    if not out.get("success"):
        return "nbgrader generate_feedback failed: " + (reason_from_log(log) or "see its log")
    graded = Path(course) / "autograded" / student / a / f"{a}.ipynb"
    if not graded.exists():
        return f"no autograded {a}.ipynb for it (autograde it again)"
    return (
        f"nbgrader wrote no page and logged no reason: run `nbgrader generate_feedback {a} "
        f"--student {student} --force` in the course folder to see its log"
    )


def _to_review(course: Path, pages: list[Path]) -> list[tuple[str, str]]:
    """(student, assignment) of the pages whose submission needs manual grading (not the
    LMS's test account's)."""
    from nbgrader.api import Gradebook, MissingEntry

    from grader.pipeline.lms import is_test_student, load_students

    records = load_students(course)
    out = []
    with Gradebook(str(course_config(course).CourseDirectory.db_url)) as gb:
        for page in sorted(pages):
            student, assignment = page.parent.parent.name, page.parent.name
            if is_test_student(records.get(student)):  # the LMS's test account: no one waits
                continue
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            if sub.needs_manual_grade:
                out.append((student, assignment))
    return out


def _feedback_one(course: Path, a: str, graded: list[str]) -> FeedbackReport:
    """nbgrader's GenerateFeedback for one assignment, then the leak check of its pages."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    config = course_config(course)
    config.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)
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
            report.missing.append((student, a, _why_no_page(out, course, student, a)))
            continue
        report.written.append(page)
        declare_language(page)
        text = page_text(page)
        report.leaks.extend((page, line) for line in secret if line in text)
    return report
