"""The instructor's grading commands: collect, autograde, feedback, export, report, demo.

Each one parses nothing (grader.cli did), calls one library function of grader.pipeline and
prints its result; the library is imported only when its command runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from grader.cli.common import console, course_dir

if TYPE_CHECKING:
    from grader.pipeline.export import LmsExport
    from grader.pipeline.lms_feedback import StalePage


def collect(args: argparse.Namespace) -> int:
    """`collect DIR_OR_ZIP`: an LMS download into submitted/; exit 1 when it placed no
    notebook (saying why)."""
    from rich.markup import escape

    from grader.pipeline.collect import collect

    root = course_dir(args)
    roster = Path(args.roster) if args.roster else None
    report = collect(Path(args.src), course=root, lms=args.lms, roster=roster)
    out = console()
    for p in report.placed:
        who = f" ({escape(p.name)})" if p.name and p.name != p.student else ""
        note = f"  [yellow]note: {escape(p.note)}[/]" if p.note else ""
        out.print(f"  {escape(p.source)} -> submitted/{p.student}/{p.assignment}/{who}{note}")
    for u in report.problems:
        if u.aside:
            out.print(
                f"  [yellow]set aside[/] {escape(u.source)} -> {escape(u.aside)}: "
                f"{escape(u.reason)}"
            )
        else:
            out.print(f"  [red]not placed[/] {escape(u.source)}: {escape(u.reason)}")
    if report.roster_only:
        out.print(
            f"  on the roster, nothing handed in ({len(report.roster_only)}): "
            + ", ".join(report.roster_only)
        )
    for note in report.notes:
        out.print(f"  [yellow]note[/] {escape(note)}")
    aside = sum(bool(u.aside) for u in report.problems)
    out.print(
        f"collected {len(report.placed)} notebooks ({report.lms} naming) from "
        f"{len(report.students)} students into {root / 'submitted'}; "
        f"{len(report.problems) - aside} files not placed, {aside} set aside; "
        f"students and LMS ids in {root / 'students.csv'}"
    )
    if report.nothing_placed:
        print(
            f"backprop-grader collect: placed no notebook from {args.src}: {report.nothing_placed}",
            file=sys.stderr,
        )
        return 1
    return 0


def autograde(args: argparse.Namespace) -> int:
    """`autograde [ASSIGNMENT]`: grade with a progress bar, then the summary tables."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from grader.pipeline.autograde import autograde
    from grader.pipeline.cluster import ClusterError, GradebookError
    from grader.pipeline.summary import short_flags, summary_tables

    root = course_dir(args)
    out = console()
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
    )
    task = progress.add_task("autograde", total=None)

    def on_start(todo: int, skipped: int) -> None:
        if skipped:
            out.print(f"{skipped} submissions already graded: skipped (--force regrades them)")
        progress.update(task, total=todo)
        progress.start()

    def on_result(r) -> None:
        progress.advance(task)
        if r.status == "failed" or r.flags:
            flags = f" \\[{escape(short_flags(r.flags))}]" if r.flags else ""
            progress.console.print(
                f"[red]✗[/] {escape(r.key)}: {r.score:g}/{r.max_score:g}{flags} {escape(r.reason)}"
            )
        for note in r.notes:  # for the instructor, not a flag: a score given by hand stands
            progress.console.print(f"[cyan]i[/] {escape(r.key)}: note: {escape(note)}")

    try:
        run = autograde(
            root,
            args.assignment,
            workers=args.workers,
            force=args.force,
            timeout=args.timeout,
            on_start=on_start,
            on_result=on_result,
            on_note=lambda line: out.print(f"[yellow]{escape(line)}[/]"),
            scheduler=args.scheduler,
        )
    except (ClusterError, GradebookError) as exc:  # a cluster or database lost mid-run
        progress.stop()
        out.print(f"[red]autograde stopped[/]: {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        progress.stop()
        out.print(
            "[yellow]interrupted[/]: every finished submission is saved; to grade only "
            f"the rest, run:\n  {escape(resume_command(args, root))}",
            soft_wrap=True,
        )
        return 130
    finally:
        progress.stop()
    for table in summary_tables(run):
        out.print(table)
    return _grader_errors(out, run)


def _grader_errors(out, run) -> int:
    """Name the submissions the grading machine could not grade (not the students' doing):
    exit 1 when there are any; the next run grades them again without --force."""
    from rich.markup import escape

    errors = run.grader_errors
    if not errors:
        return 0
    out.print(
        f"[red]{len(errors)} submissions were not graded[/] because of a problem of the grading "
        "machine, not the students' work (no grade was recorded for them):",
        soft_wrap=True,
    )
    for r in errors:
        out.print(f"  {escape(r.key)}: {escape(r.reason)}", soft_wrap=True)
    out.print("Fix the problem, then run the same command again: it grades them (no --force).")
    return 1


def resume_command(args: argparse.Namespace, root: Path) -> str:
    """The autograde command that grades what an interrupted run left (never --force: the
    submissions it finished are recorded, the rest are not)."""
    cmd = ["backprop-grader", "autograde"]
    if args.assignment:
        cmd.append(args.assignment)
    cmd += ["--course", str(root)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    if args.timeout is not None:
        cmd += ["--timeout", str(args.timeout)]
    return shlex.join(cmd)


def feedback(args: argparse.Namespace) -> int:
    """`feedback [ASSIGNMENT]`: exit 1 when a page shows a hidden test."""
    from rich.markup import escape

    from grader.pipeline.feedback import feedback

    root = course_dir(args)
    report = feedback(root, args.assignment)
    out = console()
    out.print(f"{len(report.written)} feedback pages in {root / 'feedback'}")
    for student, assignment, why in report.missing:
        out.print(f"  [yellow]no feedback[/] {student}/{assignment}: {escape(why)}")
    for student, assignment in report.to_review:
        out.print(
            f"  [yellow]to review[/] {student}/{assignment}: its page shows a score still to "
            "be reviewed: grade it in formgrader, then run feedback again",
            soft_wrap=True,
        )
    for page, line in report.leaks:
        out.print(f"  [red]hidden test shown[/] in {page}: {escape(line)}")
    return 1 if report.leaks else 0


def _first_ten(names: list[str]) -> str:
    return ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")


def export(args: argparse.Namespace) -> int:
    """`export [--format F] [--allow-incomplete]`: grades.csv, the LMS's import file and
    feedback zips; exit 1, listing them, when a grade for the LMS is not final."""
    from grader.pipeline.agree import wrong_gradebook
    from grader.pipeline.export import export

    root = course_dir(args)
    wrong = wrong_gradebook(root)
    if wrong:  # never a grades.csv of "not graded yet" over the real grades
        print(f"backprop-grader export: nothing written: {wrong}", file=sys.stderr)
        return 1
    dest = export(root, Path(args.output) if args.output else None)
    print(f"grades written to {dest}")
    if args.format not in ("canvas", "moodle"):
        return 0
    return _export_lms(root, dest, args.format, args.allow_incomplete)


def _export_lms(root: Path, dest: Path, lms: str, allow_incomplete: bool) -> int:
    """The import file of `lms` ("canvas" or "moodle") and its feedback zips, beside
    grades.csv (`dest`); 1, with the reason, when they are refused (stale feedback pages, or
    grades not final without `allow_incomplete`)."""
    from grader.pipeline.export import IncompleteGrades, export_canvas, export_moodle
    from grader.pipeline.lms_feedback import stale_pages

    stale = stale_pages(root, lms)
    if stale:
        return _refuse_lms(dest, lms, _stale_message(stale, lms))
    try:
        if lms == "canvas":
            out = export_canvas(
                root, dest.parent / "grades-canvas.csv", allow_incomplete=allow_incomplete
            )
            for path in out.paths:
                print(f"Canvas gradebook import: {path}")
        else:
            out = export_moodle(root, dest.parent, allow_incomplete=allow_incomplete)
            for path in out.paths:
                print(f"Moodle grading worksheet: {path}")
            if not out.paths:
                print(
                    "no Moodle grading worksheet written: no student has a Moodle "
                    "participant id (collect a Moodle download, with --roster for the "
                    "students who handed in nothing)"
                )
    except IncompleteGrades as exc:
        return _refuse_lms(dest, lms, str(exc))
    _print_export_notes(root, out, lms)
    _write_feedback_zips(root, dest, lms, out.left_out)
    return 0


def _refuse_lms(dest: Path, lms: str, message: str) -> int:
    """Say why the LMS's files were not written and set aside an earlier export's; 1."""
    from grader.pipeline.lms_feedback import set_aside

    print(f"backprop-grader export: {message}", file=sys.stderr)
    moved = set_aside(dest.parent, lms)
    if moved:
        names = ", ".join(p.name for p in moved)
        print(
            f"  the {lms.capitalize()} files of an earlier export were set "
            f"aside (renamed, so nobody uploads them): {names}",
            file=sys.stderr,
        )
    return 1


def _stale_message(stale: list[StalePage], lms: str) -> str:
    """Why the LMS's files are not written: these feedback pages are older than the
    gradebook (the first 50 listed), and what to run."""
    from grader.pipeline.lms_feedback import RUN_FEEDBACK

    listed = "\n".join(f"  {p.line()}" for p in stale[:50])
    more = f"\n  ... and {len(stale) - 50} more" if len(stale) > 50 else ""
    title = {"canvas": "Canvas", "moodle": "Moodle"}[lms]
    pages = "1 feedback page is" if len(stale) == 1 else f"{len(stale)} feedback pages are"
    return (
        f"{title} files not written: {pages} older than the gradebook (a score or comment "
        "changed since `feedback` wrote them):\n"
        f"{listed}{more}\n{RUN_FEEDBACK[0].upper()}{RUN_FEEDBACK[1:]}"
    )


def _print_export_notes(root: Path, out: LmsExport, lms: str) -> None:
    """What to know about an LMS export `out`: its notes, the grades left empty, test
    accounts."""
    from grader.pipeline.export import TEST_STUDENT_NOTE
    from grader.pipeline.lms import load_students

    for line in out.notes:
        print(f"  {line}")
    if out.blank:
        blank = [p.line() for p in out.blank]
        are = "grade is" if len(blank) == 1 else "grades are"
        print(
            f"  {len(blank)} {are} not final and left empty (--allow-incomplete; the "
            f"LMS keeps what it has for them): {_first_ten(blank)}"
        )
    names = load_students(root)
    tests = [s for s in out.test_students if s in names and names[s].lms == lms]
    if tests:  # a Canvas test account is no news in a Moodle export
        who = [f"{s} ({names[s].name})" for s in tests]
        print(f"  {', '.join(who)}: {TEST_STUDENT_NOTE}")


def _write_feedback_zips(root: Path, dest: Path, lms: str, left_out: list[str]) -> None:
    """The feedback pages zipped for the LMS's bulk upload, beside grades.csv (`dest`); the
    students without an LMS id (`left_out` of the grades file) listed."""
    from grader.pipeline.lms_feedback import feedback_zips

    upload = {
        "canvas": "the assignment's Re-Upload Submissions",
        "moodle": "View all submissions > Upload multiple feedback files in a zip",
    }
    zips = feedback_zips(root, lms, dest.parent)
    for path in zips.zips:
        print(f"feedback pages for {upload[lms]}: {path}")
    if zips.left_out:
        print(
            f"  {len(zips.left_out)} feedback pages have no {lms} id and are in "
            "no zip: " + _first_ten(zips.left_out)
        )
    if left_out:
        print(
            f"  {len(left_out)} students have no {lms} id and are only in "
            f"{dest.name}: " + _first_ten(left_out)
        )


def report(args: argparse.Namespace) -> int:
    """`report`: the class report's HTML page and plots."""
    from grader.pipeline.report import build_report

    out = build_report(course_dir(args), Path(args.output) if args.output else None)
    print(f"class report: {out.html}")
    for plot in out.plots:
        print(f"  plot: {plot}")
    return 0


def demo(args: argparse.Namespace) -> int:
    """`demo`: the whole pipeline on a sample class."""
    from grader.pipeline.demo import run_demo

    return run_demo(students=args.students, workers=args.workers, keep=args.keep, console=console())
