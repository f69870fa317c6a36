"""The class report: where the class goes wrong, as one HTML page with PNG plots.

Reads the autograde results (`<course>/.grader/results.json`, written by
`grader.pipeline.autograde`; the gradebook for anything graded outside it, see
`grader.pipeline.results.class_results`) and writes
`<dest>/index.html` with three plots made by matplotlib:

- `scores.png`: a score histogram per assignment;
- `test_pass_rates.png`: the share of submissions that pass each test cell;
- `misconceptions.png`: how many students had a failing test that named each misconception
  (the `[M<k>]` tags of docs/grading.md, parsed from the failure messages).

Failed and flagged submissions are listed with their reason, and so are missing ones: the
roster is grades.csv's (`grader.pipeline.export.gather`: the gradebook's students, those who
handed something in and students.csv), each assignment says how many of it submitted, and
its mean and median count a missing submission as 0, as grades.csv does.
"""

from __future__ import annotations

import html
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backprop_checks.catalog import MISCONCEPTIONS  # the titles students read

from grader.config import assignments_of, require_course
from grader.pipeline import agree
from grader.pipeline.export import gather
from grader.pipeline.lms import load_students
from grader.pipeline.results import GradeResult, class_results
from grader.pipeline.summary import AssignmentStats, assignment_stats, sandbox_banner
from grader.pipeline.verified import unverified_reason


@dataclass
class ClassReport:
    """Where the report went."""

    html: Path
    plots: list[Path]


def _plot_scores(stats: list[AssignmentStats], path: Path) -> None:
    import matplotlib.pyplot as plt

    n = len(stats)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, st in zip(axes.flat, stats, strict=False):
        top = st.max_score or 1
        bins = [x - 0.5 for x in range(int(top) + 2)]
        ax.hist([r.score for r in st.results], bins=bins, color="#4878a8", edgecolor="white")
        seen = f"{st.submissions} submitted, their mean {st.mean:.1f}/{top:g}"
        ax.set_title(f"{st.assignment}\n({seen})")
        ax.set_xlabel("score (points)")
        ax.set_ylabel("students")
        ax.set_xlim(-0.5, top + 0.5)
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.suptitle("Score distribution per assignment")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _pass_rates(results: list[GradeResult]) -> list[tuple[str, str, float, int]]:
    """(assignment, grade_id, pass rate, submissions) in teaching order."""
    passed: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in results:
        if r.status == "missing":
            continue
        for c in r.cells:
            passed[(r.assignment, c.grade_id)].append(c.passed)
    return [(a, g, sum(v) / len(v), len(v)) for (a, g), v in passed.items()]


def _plot_pass_rates(rates: list[tuple[str, str, float, int]], path: Path) -> None:
    import matplotlib.pyplot as plt

    rates = sorted(rates, key=lambda x: x[0])  # stable: keeps cell order within assignment
    labels = [f"{a}: {g}" for a, g, _, _ in rates]
    values = [100 * r for _, _, r, _ in rates]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rates) + 1.4))
    colors = ["#c0504d" if v < 50 else "#e0a040" if v < 80 else "#5a9a5a" for v in values]
    ax.barh(range(len(rates)), values, color=colors)
    ax.set_yticks(range(len(rates)), labels, fontsize=8)
    ax.set_ylim(len(rates) - 0.5, -0.5)  # first cell on top, no empty margin
    ax.set_xlim(0, 100)
    ax.set_xlabel("submissions passing this test cell (%)")
    for i, v in enumerate(values):
        ax.text(min(v + 1, 92), i, f"{v:.0f}%", va="center", fontsize=7)
    ax.set_title("Pass rate per test cell (red < 50%, amber < 80%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def misconception_counts(results: list[GradeResult]) -> dict[str, tuple[int, int, str]]:
    """tag -> (students, failing test cells naming it, one example message)."""
    students: dict[str, set[str]] = defaultdict(set)
    cells: Counter[str] = Counter()
    example: dict[str, str] = {}
    for r in results:
        for c in r.cells:
            if c.passed:
                continue
            for tag in c.tags:
                students[tag].add(r.student)
                cells[tag] += 1
                example.setdefault(tag, f"{r.assignment}/{c.grade_id}: {c.message}")
    return {t: (len(students[t]), cells[t], example.get(t, "")) for t in MISCONCEPTIONS}


def _plot_misconceptions(counts: dict[str, tuple[int, int, str]], path: Path) -> None:
    import matplotlib.pyplot as plt

    tags = list(MISCONCEPTIONS)
    values = [counts[t][0] for t in tags]
    labels = [textwrap.fill(f"{t}  {MISCONCEPTIONS[t]}", 52) for t in tags]
    fig, ax = plt.subplots(figsize=(10, 7))
    ax.barh(range(len(tags)), values, color="#8064a2")
    ax.set_yticks(range(len(tags)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("students with a failing test naming it")
    ax.xaxis.get_major_locator().set_params(integer=True)
    top = max(values, default=0)
    ax.set_xlim(0, max(top * 1.15, 1))
    for i, v in enumerate(values):
        ax.text(v + max(top, 1) * 0.01, i, str(v), va="center", fontsize=8)
    ax.set_title("Misconceptions named in the class's failing tests")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_descriptions(
    stats: list[AssignmentStats],
    counts: dict[str, tuple[int, int, str]],
    hardest: list[tuple[str, str, float, int]],
) -> tuple[str, str, str]:
    """The text alternatives of the report's three plots, from the numbers they draw."""
    scores = (
        "Histograms of the submissions' scores, one per assignment: "
        + "; ".join(
            f"{st.assignment}: {len(st.results)} submissions, mean "
            f"{sum(r.score for r in st.results) / max(len(st.results), 1):.1f} "
            f"of {st.max_score:g}, "
            f"{st.full_marks} with full marks"
            for st in stats
        )
        + "."
    )
    named = sorted(((n[0], t) for t, n in counts.items() if n[0]), reverse=True)
    mistakes = (
        "Bar chart of the students whose failing tests name each misconception: "
        + "; ".join(f"{t} {MISCONCEPTIONS[t]}: {n}" for n, t in named)
        + "."
        if named
        else "Bar chart of misconceptions: no failing test named one."
    )
    rates = (
        "Bar chart of the pass rate of every test cell; the lowest: "
        + "; ".join(f"{a} {g} {100 * r:.0f}% of {n}" for a, g, r, n in hardest)
        + "."
    )
    return scores, mistakes, rates


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def grading_warnings(course: Path, results: list[GradeResult]) -> str:
    """HTML for the top of the report: grading without bubblewrap (once, about the run) and
    grades written without the course's verification (each submission named)."""
    style = "border: 2px solid #c00; background: #fee; padding: 0.5em 1em; color: #900"
    parts = []
    banner = sandbox_banner(results)
    if banner:
        parts.append(f'<p class="sandbox-off" style="{style}">{html.escape(banner)}</p>')
    unverified = [
        (r, why) for r in results if (why := unverified_reason(course, r.student, r.assignment))
    ]
    if unverified:
        items = "".join(
            f"<li>{html.escape(r.student)} / {html.escape(r.assignment)}: {html.escape(why)}</li>"
            for r, why in unverified
        )
        parts.append(
            f'<div class="unverified" style="{style}"><b>{len(unverified)} submissions have '
            f"grades that did not go through the course's verification</b><ul>{items}</ul></div>"
        )
    return "\n".join(parts)


def _left_out(grades, who) -> str:
    """The sentence naming the LMS's test accounts the report leaves out ("" when none)."""
    if not grades.test_students:
        return ""
    names = ", ".join(who(s) for s in sorted(grades.test_students))
    return (
        f" Left out of every count and mean: {html.escape(names)}, the LMS's test student "
        "(not a person; grades.csv keeps its row)."
    )


def report_title(course: Path) -> str:
    """The page's title: the course id of nbgrader_config.py and the course folder (a demo's
    `course` folder is named by its parent: "demo-class/course")."""
    from grader.config import course_config

    course_id = str(course_config(course).CourseDirectory.get("course_id", "") or "")
    where = f"{course.parent.name}/{course.name}" if course.name == "course" else course.name
    return f"{course_id or 'backprop-course'} class report: {where}"


def build_report(course: Path, dest: Path | None = None) -> ClassReport:
    """Write the class report (default: course/report/index.html) and its PNG plots.

    Raises:
        FileNotFoundError: nothing has been submitted yet (run collect and autograde first).
    """
    import matplotlib

    matplotlib.use("Agg")
    course = require_course(course)
    dest = Path(dest) if dest else course / "report"
    grades = gather(course)  # grades.csv's roster and cells: the report says the same
    # the LMS's test account is no student: out of every count, mean and list (said below)
    results = [r for r in class_results(course) if r.student not in grades.test_students]
    # totals as the gradebook has them now: a teaching assistant's manual scores included
    agree.refresh({r.key: r for r in results}, agree.in_gradebook(course, assignments_of(course)))
    if not results:
        raise FileNotFoundError(
            f"no submissions in {course / 'submitted'}; run collect and autograde first"
        )
    dest.mkdir(parents=True, exist_ok=True)
    stats = assignment_stats(results, assignments_of(course))
    plots = [dest / "scores.png", dest / "test_pass_rates.png", dest / "misconceptions.png"]
    _plot_scores(stats, plots[0])
    rates = _pass_rates(results)
    _plot_pass_rates(rates, plots[1])
    counts = misconception_counts(results)
    _plot_misconceptions(counts, plots[2])

    records = load_students(course)  # students.csv: the LMS's name and late marks
    people = {s: row for s, row in grades.rows.items() if s not in grades.test_students}
    missing = sorted(  # (assignment, student): nothing handed in, 0 in grades.csv
        (a, s) for s, row in people.items() for a, c in row.items() if c.state == "not submitted"
    )
    late = {
        (r.student, r.assignment)
        for r in results
        if r.student in records and r.assignment in records[r.student].late
    }
    hardest = sorted(rates, key=lambda x: x[2])[:8]
    names = {sid: rec.name for sid, rec in records.items()}

    def who(student: str) -> str:
        name = names.get(student, student)
        return f"{student} ({name})" if name and name != student else student

    page = _page(
        title=report_title(course),
        warnings=grading_warnings(course, results),
        counts_line=f"{len(people)} students on the roster, {len(results)} submissions graded "
        f"by nbgrader,\n{len(missing)} missing (nothing handed in).{_left_out(grades, who)}",
        summary=_summary_rows(stats, missing, late, len(people)),
        counts=counts,
        hardest=hardest,
        late_rows=[[who(s), a] for s, a in sorted(late)],
        attention=_attention_rows(results, missing, dict(grades.assignments), who),
        alt=_plot_descriptions(stats, counts, hardest),
    )
    index = dest / "index.html"
    index.write_text(page, encoding="utf-8")
    return ClassReport(index, plots)


def _summary_rows(
    stats: list[AssignmentStats],
    missing: list[tuple[str, str]],
    late: set[tuple[str, str]],
    roster: int,
) -> list[list[object]]:
    """The scores table: a row per assignment, a missing submission counted as 0.

    Args:
        missing: (assignment, student) of each submission not handed in.
        late: (student, assignment) of each submission the LMS marked late.
        roster: how many students grades.csv has.
    """
    summary = []
    for st in stats:
        absent = sum(a == st.assignment for a, _ in missing)
        scores = sorted([r.score for r in st.results] + [0.0] * absent)
        summary.append(
            [
                st.assignment,
                f"{st.submissions} of {roster}" if roster else st.submissions,
                f"{sum(scores) / len(scores):.2f}",
                f"{scores[len(scores) // 2]:g}",
                f"{st.max_score:g}",
                st.full_marks,
                st.failed,
                st.manual,
                st.flagged,
                sum((r.student, st.assignment) in late for r in st.results),
            ]
        )
    return summary


def _attention_rows(
    results: list[GradeResult],
    missing: list[tuple[str, str]],
    max_of: dict[str, float],
    who: Callable[[str], str],
) -> list[list[object]]:
    """The submissions that need attention: grading failed, flagged, a manual grade needed,
    notes, then each (assignment, student) of `missing`; `who` names a student."""
    return [
        [
            who(r.student),
            r.assignment,
            r.status,
            f"{r.score:g}/{r.max_score:g}",
            ", ".join(r.flags),
            r.reason,
            "; ".join(r.notes),
        ]
        for r in results
        if r.status == "failed" or r.flags or r.needs_manual_grade or r.notes
    ] + [
        [
            who(s),
            a,
            "not submitted",
            f"0/{max_of.get(a, 0):g}",
            "",
            "nothing handed in: 0 in grades.csv",
            "",
        ]
        for a, s in missing
    ]


#: The report page's stylesheet.
_STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f0f0f0; } img { max-width: 100%; }
</style>"""


def _page(
    *,
    title: str,
    warnings: str,
    counts_line: str,
    summary: list[list[object]],
    counts: dict[str, tuple[int, int, str]],
    hardest: list[tuple[str, str, float, int]],
    late_rows: list[list[object]],
    attention: list[list[object]],
    alt: tuple[str, str, str],
) -> str:
    """The report's HTML page: the tables and the plots' images with their alt text."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{_STYLE}</head><body>
<h1>{html.escape(title)}</h1>
{warnings}
<p>{counts_line}</p>
<h2>Scores</h2>
<p>"submitted": students who handed the assignment in, of the roster (grades.csv's students).
Mean and median count a missing submission as 0, as grades.csv does; the histograms show
the submissions only.</p>
{
        _table(
            [
                "assignment",
                "submitted",
                "mean (missing = 0)",
                "median (missing = 0)",
                "max points",
                "full marks",
                "grading failed",
                "needs manual grade",
                "flagged",
                "late",
            ],
            summary,
        )
    }
<img src="scores.png" alt="{html.escape(alt[0])}">
<h2>Where the class goes wrong</h2>
<p>Misconceptions (docs/course.md) named by the failing tests, counted once per
student.</p>
<img src="misconceptions.png" alt="{html.escape(alt[1])}">
{
        _table(
            ["tag", "misconception", "students", "failing test cells", "example message"],
            [[t, MISCONCEPTIONS[t], *counts[t]] for t in MISCONCEPTIONS if counts[t][0]],
        )
    }
<h2>Test cells</h2>
<p>The hardest test cells:</p>
{
        _table(
            ["assignment", "test cell", "pass rate", "submissions"],
            [[a, g, f"{100 * r:.0f}%", n] for a, g, r, n in hardest],
        )
    }
<img src="test_pass_rates.png" alt="{html.escape(alt[2])}">
<h2>Late submissions</h2>
<p>Handed in after the deadline, as the LMS marked them.</p>
{_table(["student", "assignment"], late_rows) if late_rows else "<p>None.</p>"}
<h2>Submissions that need attention</h2>
<p>Grading failed, flagged, needs a manual grade, or not submitted. "Notes" are for you,
not flags: where a score you gave by hand differs from the automatic verdict (yours stands).
</p>
{
        _table(["student", "assignment", "status", "score", "flags", "reason", "notes"], attention)
        if attention
        else "<p>None.</p>"
    }
</body></html>
"""
