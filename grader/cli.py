"""The instructor's command line: `backprop-grader COMMAND` (or `python -m grader COMMAND`).

A thin layer: each command parses its arguments, calls one library function and prints
its result. Defaults come from the library functions' keyword-only arguments.

    release [--course DIR]       regenerate release/ from source/ (or a term's course)
    workspace                    copy the notebooks a learner works in into workspace/
    collect DIR_OR_ZIP           LMS download -> submitted/STUDENT/ASSIGNMENT/ (--lms, --roster)
    autograde [ASSIGNMENT]       grade, N workers at a time (--workers, --force)
    feedback [ASSIGNMENT]        HTML feedback per student (no hidden tests in it)
    export [--format F]          grades.csv, the Canvas or Moodle import file and feedback zip
    report                       report/index.html with plots: where the class goes wrong
    selfcheck NOTEBOOK           a learner grades their own notebook, hidden tests included
    handout                      dist/handout/: the student wheel and one zip per assignment
    demo                         the whole pipeline on a sample class in a temporary course

The course is --course DIR, else $BACKPROP_GRADER_COURSE, else the current folder when it
holds nbgrader_config.py; the commands that write student data never use the repository
itself unless it is named that way (forgetting `cd` must not put a class into git).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path

from grader import course

# Everything below `release` imports nbgrader lazily: `--help` stays fast.


def _default(func, name: str):
    """The default of a library function's keyword-only argument (one source of truth)."""
    return inspect.signature(func).parameters[name].default


def _workspace(args: argparse.Namespace) -> int:
    from grader.learner.workspace import populate, shown

    report = populate(Path(args.dir))
    for path in report.copied:
        print(f"copied {shown(path)}")
    if report.kept:
        print(
            f"{len(report.kept)} notebooks already in {shown(report.root)}/ left as they are "
            "(your work is never overwritten)"
        )
    return 0


#: The course directory when no --course is given (instead of the current folder).
COURSE_ENV = "BACKPROP_GRADER_COURSE"


def _chosen_course(args: argparse.Namespace) -> Path | None:
    """The course said explicitly (--course, then $BACKPROP_GRADER_COURSE), else the current
    folder when it holds nbgrader_config.py and is not the repository; else None."""
    given = getattr(args, "course", None) or os.environ.get(COURSE_ENV)
    if given:
        return Path(given).expanduser().resolve()
    here = Path.cwd().resolve()
    if (here / "nbgrader_config.py").exists() and here != course.REPO_ROOT:
        return here
    return None


def _course_dir(args: argparse.Namespace) -> Path:
    """The course a command that writes student data works in (never the repository unless
    it is named with --course or $BACKPROP_GRADER_COURSE)."""
    from grader.config import CourseError

    root = _chosen_course(args)
    if root is None:
        if Path.cwd().resolve() == course.REPO_ROOT:
            why = f"the repository is not a course unless you say --course {course.REPO_ROOT}"
        else:
            why = "make one with: backprop-grader release --course DIR"
        raise CourseError(
            "no course here: cd into your course folder or pass --course DIR (or set "
            f"{COURSE_ENV}); {why}"
        )
    return root


def _console():
    from rich.console import Console

    # Not a terminal (a log file, CI): wide enough that tables print every value in full.
    width = None if sys.stdout.isatty() else 250
    return Console(highlight=False, width=width)


def _release(args: argparse.Namespace) -> int:
    root = None if args.dest else _chosen_course(args)
    if root is not None and root != course.REPO_ROOT:
        return _release_course(root)
    dest = Path(args.dest or course.REPO_ROOT / "release").resolve()
    from grader.learner import workspace

    written = workspace.build_release(dest)
    for assignment in written:
        print(f"{dest / assignment / assignment}.ipynb regenerated from "
              f"{course.REPO_ROOT / 'source' / assignment}/")  # fmt: skip
    return 0


def _release_course(root: Path) -> int:
    """`release --course DIR`: a term's course outside the repository (created when new)."""
    from grader.config import CourseError, assignments_of

    if not (root / "nbgrader_config.py").exists():
        if root.exists() and any(root.iterdir()):
            raise CourseError(
                f"{root} is not empty and not a course directory (no nbgrader_config.py); "
                "give a new or empty folder, or the course folder made by release --course"
            )
        course.new_course(root)
        print(f"new course directory {root.resolve()}: nbgrader_config.py and source/ copied")
    root = root.resolve()
    assignments = assignments_of(root)
    course.generate_release(root, assignments)
    for assignment in assignments:
        print(f"{root / 'release' / assignment / assignment}.ipynb generated; in the gradebook")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from grader.pipeline import collect

    root = _course_dir(args)
    roster = Path(args.roster) if args.roster else None
    report = collect(Path(args.src), course=root, lms=args.lms, roster=roster)
    console = _console()
    for p in report.placed:
        who = f" ({escape(p.name)})" if p.name and p.name != p.student else ""
        note = f"  [yellow]note: {escape(p.note)}[/]" if p.note else ""
        console.print(
            f"  {escape(p.source)} -> submitted/{p.student}/{p.assignment}/{who}{note}"
        )
    for u in report.problems:
        if u.aside:
            console.print(f"  [yellow]set aside[/] {escape(u.source)} -> {escape(u.aside)}: "
                          f"{escape(u.reason)}")  # fmt: skip
        else:
            console.print(f"  [red]not placed[/] {escape(u.source)}: {escape(u.reason)}")
    if report.roster_only:
        console.print(
            f"  on the roster, nothing handed in ({len(report.roster_only)}): "
            + ", ".join(report.roster_only)
        )
    for note in report.notes:
        console.print(f"  [yellow]note[/] {escape(note)}")
    aside = sum(bool(u.aside) for u in report.problems)
    console.print(
        f"collected {len(report.placed)} notebooks ({report.lms} naming) from "
        f"{len(report.students)} students into {root / 'submitted'}; "
        f"{len(report.problems) - aside} files not placed, {aside} set aside; "
        f"students and LMS ids in {root / 'students.csv'}"
    )
    return 0


def _autograde(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from grader.pipeline import autograde
    from grader.pipeline.cluster import ClusterError, GradebookError
    from grader.pipeline.summary import short_flags, summary_tables

    root = _course_dir(args)
    console = _console()
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("autograde", total=None)

    def on_start(todo: int, skipped: int) -> None:
        if skipped:
            console.print(f"{skipped} submissions already graded: skipped (--force regrades them)")
        progress.update(task, total=todo)
        progress.start()

    def on_result(r) -> None:
        progress.advance(task)
        if r.status == "failed" or r.flags:
            flags = f" \\[{escape(short_flags(r.flags))}]" if r.flags else ""
            progress.console.print(
                f"[red]✗[/] {escape(r.key)}: {r.score:g}/{r.max_score:g}{flags} {escape(r.reason)}"
            )

    try:
        run = autograde(
            root,
            args.assignment,
            workers=args.workers,
            force=args.force,
            timeout=args.timeout,
            on_start=on_start,
            on_result=on_result,
            on_note=lambda line: console.print(f"[yellow]{escape(line)}[/]"),
            scheduler=args.scheduler,
        )
    except (ClusterError, GradebookError) as exc:  # a cluster or database lost mid-run
        progress.stop()
        console.print(f"[red]autograde stopped[/]: {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        progress.stop()
        console.print(
            "[yellow]interrupted[/]: every finished submission is saved; to grade only "
            f"the rest, run:\n  {escape(_resume_command(args, root))}",
            soft_wrap=True,
        )
        return 130
    finally:
        progress.stop()
    for table in summary_tables(run):
        console.print(table)
    return 0


def _resume_command(args: argparse.Namespace, root: Path) -> str:
    """The autograde command that grades what an interrupted run left (never --force: the
    submissions it finished are recorded, the rest are not)."""
    import shlex

    cmd = ["backprop-grader", "autograde"]
    if args.assignment:
        cmd.append(args.assignment)
    cmd += ["--course", str(root)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    if args.timeout is not None:
        cmd += ["--timeout", str(args.timeout)]
    return shlex.join(cmd)


def _feedback(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from grader.pipeline.feedback import feedback

    root = _course_dir(args)
    report = feedback(root, args.assignment)
    console = _console()
    console.print(f"{len(report.written)} feedback pages in {root / 'feedback'}")
    for student, assignment, why in report.missing:
        console.print(f"  [yellow]no feedback[/] {student}/{assignment}: {escape(why)}")
    for page, line in report.leaks:
        console.print(f"  [red]hidden test shown[/] in {page}: {escape(line)}")
    return 1 if report.leaks else 0


def _export(args: argparse.Namespace) -> int:
    from grader.pipeline.export import export, export_canvas, export_moodle

    root = _course_dir(args)
    dest = export(root, Path(args.output) if args.output else None)
    print(f"grades written to {dest}")
    left_out: list[str] = []
    if args.format == "canvas":
        notes: list[str] = []
        path, left_out = export_canvas(root, dest.parent / "grades-canvas.csv", notes=notes)
        print(f"Canvas gradebook import: {path}")
        for line in notes:
            print(f"  {line}")
    elif args.format == "moodle":
        paths, left_out = export_moodle(root, dest.parent)
        for path in paths:
            print(f"Moodle grading worksheet: {path}")
        if not paths:
            print("no Moodle grading worksheet written: no student has a Moodle participant id "
                  "(collect a Moodle download, with --roster for the students who handed in "
                  "nothing)")  # fmt: skip
    if args.format in ("canvas", "moodle"):
        from grader.pipeline.lms_feedback import feedback_zips

        upload = {"canvas": "the assignment's Re-Upload Submissions",
                  "moodle": "View all submissions > Upload multiple feedback files in a zip"}
        zips = feedback_zips(root, args.format, dest.parent)
        for path in zips.zips:
            print(f"feedback pages for {upload[args.format]}: {path}")
        if zips.left_out:
            print(f"  {len(zips.left_out)} feedback pages have no {args.format} id and are in "
                  "no zip: " + ", ".join(zips.left_out[:10])
                  + (" ..." if len(zips.left_out) > 10 else ""))  # fmt: skip
    if left_out:
        print(
            f"  {len(left_out)} students have no {args.format} id and are only in {dest.name}: "
            + ", ".join(left_out[:10])
            + (" ..." if len(left_out) > 10 else "")
        )
    return 0


def _report(args: argparse.Namespace) -> int:
    from grader.pipeline.report import build_report

    out = build_report(_course_dir(args), Path(args.output) if args.output else None)
    print(f"class report: {out.html}")
    for plot in out.plots:
        print(f"  plot: {plot}")
    return 0


def _selfcheck(args: argparse.Namespace) -> int:
    from grader.learner.selfcheck import SelfCheckError, render, selfcheck
    from grader.learner.workspace import resolve_notebook

    try:
        notebook = resolve_notebook(args.notebook)
        result = selfcheck(
            notebook,
            source_dir=Path(args.source),
            timeout=args.timeout,
            announce=lambda line: print(line, flush=True),
        )
    except SelfCheckError as exc:
        print(f"selfcheck: {exc}", file=sys.stderr)
        return 2
    render(result, _console())
    return 0


def _handout(args: argparse.Namespace) -> int:
    from grader.handout.build import HandoutError, build_handout

    try:
        out = build_handout(Path(args.dest))
    except HandoutError as exc:
        print(f"backprop-grader handout: {exc}", file=sys.stderr)
        return 2
    print(f"student wheel: {out.wheel}")
    for assignment, path in out.zips.items():
        print(f"  {path.name}: {', '.join(out.contents[assignment])}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from grader.pipeline.demo import run_demo

    return run_demo(
        students=args.students, workers=args.workers, keep=args.keep, console=_console()
    )


def _use_db(url: str) -> None:
    """`--db URL`: the gradebook for this command and the nbgrader commands it runs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from grader.config import DB_URL_ENV

    try:
        make_url(url)
    except ArgumentError as exc:
        raise ValueError(
            f"--db {url!r} is not a database URL: give e.g. "
            "postgresql+psycopg://grader:PASSWORD@host/backprop or sqlite:////path/gradebook.db"
        ) from exc
    os.environ[DB_URL_ENV] = url


def build_parser() -> argparse.ArgumentParser:
    from grader.learner.selfcheck import selfcheck
    from grader.pipeline.autograde import autograde
    from grader.pipeline.demo import run_demo

    parser = argparse.ArgumentParser(
        prog="backprop-grader",
        description="Instructor tools for backprop-course, built on nbgrader.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(func=func)
        return sub

    def with_course(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--course",
            help=f"the nbgrader course directory (default: ${COURSE_ENV}, else the current "
            "folder if it holds nbgrader_config.py; the repository only when named here)",
        )
        sub.add_argument(
            "--db",
            metavar="URL",
            help="the gradebook's database instead of nbgrader_config.py's db_url, e.g. "
            "postgresql+psycopg://grader:PASSWORD@host/backprop (docs/scale.md)",
        )

    release = command("release", _release, "regenerate release/ from source/ with nbgrader")
    release.add_argument(
        "--dest",
        help="regenerate the repository's release/ into this folder instead (default: the "
        "course's release/ when run in a course folder, else the repository's release/)",
    )
    release.add_argument(
        "--course",
        help="a course directory outside the repository (a term's students and grades): "
        "created with nbgrader_config.py and source/ when new, then its release/ generated "
        f"(default: ${COURSE_ENV}, else the current folder when it holds nbgrader_config.py "
        "and is not the repository)",
    )

    collect = command(
        "collect",
        _collect,
        "copy an LMS download (Canvas's or Moodle's 'Download all submissions' zip, or a "
        "hand-made folder of STUDENT_ASSIGNMENT.ipynb) into submitted/ and add the students",
    )
    collect.add_argument("src", metavar="DIR_OR_ZIP")
    collect.add_argument(
        "--lms",
        choices=["auto", "canvas", "moodle", "generic"],
        default="auto",
        help="whose download naming to read (default: auto, when every file follows one)",
    )
    collect.add_argument(
        "--roster",
        metavar="CSV",
        help="the LMS's class list: Canvas gradebook export, Moodle grading worksheet, "
        "or a CSV with student_id,name (names; students who handed in nothing)",
    )
    with_course(collect)

    ag = command("autograde", _autograde, "grade every submission with nbgrader, in parallel")
    ag.add_argument("assignment", nargs="?", help="one assignment id (default: all)")
    ag.add_argument(
        "--workers",
        type=int,
        default=_default(autograde, "workers"),
        help=f"worker processes (default: the number of cores, here {os.cpu_count()})",
    )
    ag.add_argument("--force", action="store_true", help="regrade what is already graded")
    ag.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=_default(autograde, "scheduler"),
        help="grade on a Dask cluster: its scheduler (tcp://host:8786), or 'local' for a "
        "LocalCluster of --workers processes on this machine (docs/scale.md)",
    )
    ag.add_argument(
        "--timeout", type=int, default=_default(autograde, "timeout"),
        help="seconds per cell (default: nbgrader_config.py)",
    )  # fmt: skip
    with_course(ag)

    fb = command("feedback", _feedback, "nbgrader's HTML feedback for every graded submission")
    fb.add_argument("assignment", nargs="?", help="one assignment id (default: all)")
    with_course(fb)

    ex = command("export", _export, "write grades.csv (a row per student) for the LMS")
    ex.add_argument("--output", help="CSV path (default: COURSE/grades.csv)")
    ex.add_argument(
        "--format",
        choices=["generic", "canvas", "moodle"],
        default="generic",
        help="also write the LMS's import file beside grades.csv: grades-canvas.csv, "
        "or grades-moodle-ASSIGNMENT.csv per assignment",
    )
    with_course(ex)

    rp = command("report", _report, "the class report: HTML page with plots")
    rp.add_argument("--output", help="folder (default: COURSE/report/)")
    with_course(rp)

    wsp = command(
        "workspace",
        _workspace,
        "copy the course's notebooks into your own folder, workspace/ (never overwrites)",
    )
    wsp.add_argument(
        "--dir", default=str(course.REPO_ROOT / "workspace"), help="default: workspace/"
    )

    sc = command(
        "selfcheck", _selfcheck, "grade your own notebook with the hidden tests (read only)"
    )
    sc.add_argument(
        "notebook",
        metavar="NOTEBOOK",
        help="your .ipynb, or an assignment id or number (04) for workspace/<id>/<id>.ipynb",
    )
    sc.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    sc.add_argument(
        "--source",
        default=str(_default(selfcheck, "source_dir")),
        help="the instructor notebooks (default: the course's source/)",
    )

    ho = command(
        "handout", _handout, "build dist/handout/: the student wheel and one zip per assignment"
    )
    ho.add_argument(
        "--dest",
        default=str(course.REPO_ROOT / "dist" / "handout"),
        help="folder to write (default: dist/handout/)",
    )

    demo = command(
        "demo",
        _demo,
        "grade a sample class in a temporary course: collect, autograde, feedback, export, report",
    )
    demo.add_argument("--students", type=int, default=_default(run_demo, "students"))
    demo.add_argument("--workers", type=int, default=_default(run_demo, "workers"))
    demo.add_argument(
        "--keep", metavar="DIR", default=_default(run_demo, "keep"),
        help="build the course in DIR (kept) instead of a temporary folder",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    # nbgrader starts `alembic` and `jupyter` as subprocesses: this interpreter's bin/ (the
    # venv's) comes first on PATH, however the command was started.
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    args = build_parser().parse_args(argv)
    from grader.config import CourseError

    try:
        if getattr(args, "db", None):
            _use_db(args.db)
        return args.func(args)
    except (CourseError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
        # bad input: one clear line that says what to do, no traceback
        print(f"backprop-grader {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
