"""The autograde summary, rendered with rich: one row per assignment, then the submissions
that need attention (grading failed, flagged, or waiting for a manual grade: named with
what to do).

`assignment_stats` is the one definition of the per-assignment numbers; the class report
(grader.pipeline.report) shows the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grader.pipeline.results import GradeResult

if TYPE_CHECKING:  # pragma: no cover
    from grader.pipeline.autograde import AutogradeRun

#: Rows of the attention table printed before "... and N more".
MAX_ATTENTION_ROWS = 25


@dataclass
class AssignmentStats:
    """One assignment's submissions in numbers."""

    assignment: str
    results: list[GradeResult]  #: its submissions' results
    mean: float
    median: float  #: the upper middle score when there are two
    max_score: float
    full_marks: int
    failed: int  #: grading failed (status "failed")
    manual: int  #: needs a manual grade
    flagged: int

    @property
    def submissions(self) -> int:
        return len(self.results)


def assignment_stats(
    results: list[GradeResult], assignments: Iterable[str] | None = None
) -> list[AssignmentStats]:
    """The numbers of each assignment (default: every one with a result, sorted); an
    assignment without a result is left out."""
    order = sorted({r.assignment for r in results}) if assignments is None else assignments
    out = []
    for a in order:
        rs = [r for r in results if r.assignment == a]
        if not rs:
            continue
        scores = sorted(r.score for r in rs)
        out.append(
            AssignmentStats(
                assignment=a,
                results=rs,
                mean=sum(scores) / len(scores),
                median=scores[len(scores) // 2],
                max_score=max(r.max_score for r in rs),
                full_marks=sum(r.score >= r.max_score > 0 for r in rs),
                failed=sum(r.status == "failed" for r in rs),
                manual=sum(r.needs_manual_grade for r in rs),
                flagged=sum(bool(r.flags) for r in rs),
            )
        )
    return out


def short_flags(flags: list[str], width: int = 60) -> str:
    """The first flag, cut to `width`, and how many more there are (the report lists all)."""
    if not flags:
        return ""
    first = flags[0] if len(flags[0]) <= width else flags[0][: width - 1] + "…"
    return first + (f" (+{len(flags) - 1} more)" if len(flags) > 1 else "")


def sandbox_banner(results: list) -> str:
    """One notice when any of these submissions was graded without bubblewrap ("" if none)."""
    off = [r for r in results if getattr(r, "sandbox", "")]
    if not off:
        return ""
    from grader.sandbox.plan import loud_warning

    reasons = sorted({r.sandbox for r in off})
    return f"{loud_warning('; '.join(reasons))} [{len(off)} of {len(results)} submissions]"


#: The attention table's reason for a submission that waits for a person's grade.
MANUAL_REASON = "needs manual grading: grade it in formgrader, then run feedback again"


def _why(r: GradeResult) -> str:
    """The attention table's reason: the result's, else why a person has to look at it."""
    if r.reason:
        return r.reason
    return MANUAL_REASON if r.needs_manual_grade and r.status != "failed" else ""


def summary_tables(run: AutogradeRun) -> list:
    """rich Tables for the terminal: per assignment, then the submissions to look at."""
    from rich.markup import escape
    from rich.table import Table

    per = Table(
        title=f"autograde: {run.graded} graded now, {run.skipped} skipped, "
        f"{run.workers} workers, {run.seconds:.1f} s"
        + (f", gradebook check: {run.gradebook_check}" if run.gradebook_check else "")
    )
    per.add_column("assignment", no_wrap=True)
    for name in ("submitted", "graded now", "mean", "full marks", "failed", "manual", "flagged"):
        per.add_column(name, justify="right", overflow="fold")  # never "9.0/…"
    for st in assignment_stats(run.results):
        per.add_row(
            st.assignment,
            str(st.submissions),
            str(sum(r.key in run.fresh for r in st.results)),
            f"{st.mean:.1f}/{st.max_score:g}",
            str(st.full_marks),
            str(st.failed),
            str(st.manual),
            str(st.flagged),
        )
    tables: list = [per]
    banner = sandbox_banner(run.results)
    if banner:  # about the run, so once here, not as a flag on every submission
        from rich.text import Text

        tables.insert(0, Text(banner, style="bold red"))
    attention = [r for r in run.results if r.status == "failed" or r.flags or r.needs_manual_grade]
    if attention:
        t = Table(title="needs attention")
        for name in ("student", "assignment", "score", "flags", "reason"):
            t.add_column(name, overflow="fold")
        for r in attention[:MAX_ATTENTION_ROWS]:
            t.add_row(
                r.student,
                r.assignment,
                f"{r.score:g}/{r.max_score:g}",
                escape(short_flags(r.flags)),
                escape(_why(r)),
            )
        if len(attention) > MAX_ATTENTION_ROWS:
            t.caption = f"... and {len(attention) - MAX_ATTENTION_ROWS} more (see the report)"
        tables.append(t)
    return tables
