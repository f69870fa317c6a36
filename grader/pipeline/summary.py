"""The autograde summary, rendered with rich: one row per assignment, then the submissions
that need attention (grading failed, flagged, or needing a manual grade)."""

from __future__ import annotations

from grader.pipeline.autograde import AutogradeRun

#: Rows of the attention table printed before "... and N more".
MAX_ATTENTION_ROWS = 25


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
    for a in sorted({r.assignment for r in run.results}):
        rs = [r for r in run.results if r.assignment == a]
        top = max(r.max_score for r in rs)
        mean = sum(r.score for r in rs) / len(rs)
        per.add_row(
            a,
            str(len(rs)),
            str(sum(r.key in run.fresh for r in rs)),
            f"{mean:.1f}/{top:g}",
            str(sum(r.score >= r.max_score > 0 for r in rs)),
            str(sum(r.status == "failed" for r in rs)),
            str(sum(r.needs_manual_grade for r in rs)),
            str(sum(bool(r.flags) for r in rs)),
        )
    tables: list = [per]
    banner = sandbox_banner(run.results)
    if banner:  # about the run, so once here, not as a flag on every submission
        from rich.text import Text

        tables.insert(0, Text(banner, style="bold red"))
    attention = [r for r in run.results if r.status == "failed" or r.flags]
    if attention:
        t = Table(title="needs attention")
        for name in ("student", "assignment", "score", "flags", "reason"):
            t.add_column(name, overflow="fold")
        for r in attention[:MAX_ATTENTION_ROWS]:
            t.add_row(r.student, r.assignment, f"{r.score:g}/{r.max_score:g}",
                      escape(short_flags(r.flags)), escape(r.reason))  # fmt: skip
        if len(attention) > MAX_ATTENTION_ROWS:
            t.caption = f"... and {len(attention) - MAX_ATTENTION_ROWS} more (see the report)"
        tables.append(t)
    return tables
