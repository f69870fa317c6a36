"""The instructor's command line: `backprop-grader COMMAND` (or `python -m grader COMMAND`).

A thin layer: this module builds the parser (every command, its options and help) and
imports nothing heavy, so `--help` is instant; each command is a function in a module of
its group, named by an import string and imported only when that command runs:

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

    grader.cli.materials   release, handout
    grader.cli.learner     workspace, selfcheck
    grader.cli.grading     collect, autograde, feedback, export, report, demo

The course is --course DIR, else $BACKPROP_GRADER_COURSE, else the current folder when it
holds nbgrader_config.py; the commands that write student data never use the repository
itself unless it is named that way (forgetting `cd` must not put a class into git).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from grader import course
from grader.cli.common import COURSE_ENV

__all__ = ["COURSE_ENV", "build_parser", "main"]

# The defaults of the library functions the commands call, written out so that --help
# imports none of them (tests/test_cli.py checks each against the function's signature).
#: grader.pipeline.autograde.autograde(workers=, scheduler=, timeout=)
AUTOGRADE_WORKERS: int | None = None
AUTOGRADE_SCHEDULER: str | None = None
AUTOGRADE_TIMEOUT: int | None = None
#: grader.learner.selfcheck.selfcheck(source_dir=)
SELFCHECK_SOURCE: Path = course.REPO_ROOT / "source"
#: grader.pipeline.demo.run_demo(students=, workers=, keep=)
DEMO_STUDENTS: int = 30
DEMO_WORKERS: int | None = None
DEMO_KEEP: str | None = None

#: The ASSIGNMENT argument of autograde and feedback (grader.course.match_assignment).
ASSIGNMENT_HELP = "one assignment: its id in any case, or its number (04) (default: all)"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; a parsed command's `func` is "module:function"."""
    parser = argparse.ArgumentParser(
        prog="backprop-grader",
        description="Instructor tools for backprop-course, built on nbgrader.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:  # in the order --help lists them
        add(commands)
    return parser


def _command(
    commands: argparse._SubParsersAction, name: str, func: str, help: str
) -> argparse.ArgumentParser:
    """A subcommand `name` that runs grader.cli.`func` ("module:function")."""
    sub = commands.add_parser(name, help=help, description=help)
    sub.set_defaults(func=f"grader.cli.{func}")
    return sub


def _add_db(sub: argparse.ArgumentParser) -> None:
    """--db URL: the course's gradebook database."""
    sub.add_argument(
        "--db",
        metavar="URL",
        help="the course's gradebook database from now on, e.g. "
        "postgresql+psycopg://grader:PASSWORD@host/backprop: written into the course's "
        "nbgrader_config.py once, then used by every command, nbgrader and formgrader "
        "(docs/scale.md)",
    )


def _with_course(sub: argparse.ArgumentParser) -> None:
    """--course DIR and --db URL: the commands that work in a course."""
    sub.add_argument(
        "--course",
        help=f"the nbgrader course directory (default: ${COURSE_ENV}, else the current "
        "folder if it holds nbgrader_config.py; the repository only when named here)",
    )
    _add_db(sub)


def _add_release(commands: argparse._SubParsersAction) -> None:
    """release: regenerate release/ from source/ (or into --dest, or a term's --course)."""
    release = _command(
        commands, "release", "materials:release", "regenerate release/ from source/ with nbgrader"
    )
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
    _add_db(release)


def _add_collect(commands: argparse._SubParsersAction) -> None:
    """collect: an LMS download into submitted/ (--lms, --roster)."""
    collect = _command(
        commands,
        "collect",
        "grading:collect",
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
    _with_course(collect)


def _add_autograde(commands: argparse._SubParsersAction) -> None:
    """autograde: grade every submission (--workers, --force, --scheduler, --timeout)."""
    ag = _command(
        commands,
        "autograde",
        "grading:autograde",
        "grade every submission with nbgrader, in parallel",
    )
    ag.add_argument("assignment", nargs="?", help=ASSIGNMENT_HELP)
    ag.add_argument(
        "--workers",
        type=int,
        default=AUTOGRADE_WORKERS,
        help=f"worker processes (default: the number of cores, here {os.cpu_count()})",
    )
    ag.add_argument("--force", action="store_true", help="regrade what is already graded")
    ag.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=AUTOGRADE_SCHEDULER,
        help="grade on a Dask cluster: its scheduler (tcp://host:8786), or 'local' for a "
        "LocalCluster of --workers processes on this machine (docs/scale.md)",
    )
    ag.add_argument(
        "--timeout",
        type=int,
        default=AUTOGRADE_TIMEOUT,
        help="seconds per cell (default: nbgrader_config.py)",
    )
    _with_course(ag)


def _add_feedback(commands: argparse._SubParsersAction) -> None:
    """feedback: nbgrader's HTML feedback for every graded submission."""
    fb = _command(
        commands,
        "feedback",
        "grading:feedback",
        "nbgrader's HTML feedback for every graded submission",
    )
    fb.add_argument("assignment", nargs="?", help=ASSIGNMENT_HELP)
    _with_course(fb)


def _add_export(commands: argparse._SubParsersAction) -> None:
    """export: grades.csv and the LMS's import file (--format, --allow-incomplete)."""
    ex = _command(
        commands, "export", "grading:export", "write grades.csv (a row per student) for the LMS"
    )
    ex.add_argument("--output", help="CSV path (default: COURSE/grades.csv)")
    ex.add_argument(
        "--format",
        choices=["generic", "canvas", "moodle"],
        default="generic",
        help="also write the LMS's import file beside grades.csv: grades-canvas.csv, "
        "or grades-moodle-ASSIGNMENT.csv per assignment",
    )
    ex.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="write the LMS's file even when some grades are not final (needing a manual "
        "grade, unreadable, grading failed, not graded yet), with those grades empty; "
        "without it export lists them and exits 1",
    )
    _with_course(ex)


def _add_report(commands: argparse._SubParsersAction) -> None:
    """report: the class report (--output)."""
    rp = _command(commands, "report", "grading:report", "the class report: HTML page with plots")
    rp.add_argument("--output", help="folder (default: COURSE/report/)")
    _with_course(rp)


def _add_workspace(commands: argparse._SubParsersAction) -> None:
    """workspace: the learner's own copies of the notebooks (--dir)."""
    wsp = _command(
        commands,
        "workspace",
        "learner:workspace",
        "copy the course's notebooks into your own folder, workspace/ (never overwrites)",
    )
    wsp.add_argument(
        "--dir", default=str(course.REPO_ROOT / "workspace"), help="default: workspace/"
    )


def _add_selfcheck(commands: argparse._SubParsersAction) -> None:
    """selfcheck: a learner grades their own notebook (--timeout, --source)."""
    sc = _command(
        commands,
        "selfcheck",
        "learner:selfcheck",
        "grade your own notebook with the hidden tests (read only); exits 0 at full marks, "
        "1 below them, 2 when the notebook cannot be checked",
    )
    sc.add_argument(
        "notebook",
        metavar="NOTEBOOK",
        help="your .ipynb, or an assignment id or number (04) for workspace/<id>/<id>.ipynb",
    )
    sc.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    sc.add_argument(
        "--dir",
        default=str(course.REPO_ROOT / "workspace"),
        help="the workspace an assignment id or number is looked up in (default: workspace/)",
    )
    sc.add_argument(
        "--source",
        default=str(SELFCHECK_SOURCE),
        help="the instructor notebooks (default: the course's source/)",
    )


def _add_handout(commands: argparse._SubParsersAction) -> None:
    """handout: dist/handout/ for a class (--dest)."""
    ho = _command(
        commands,
        "handout",
        "materials:handout",
        "build dist/handout/: the student wheel and one zip per assignment",
    )
    ho.add_argument(
        "--dest",
        default=str(course.REPO_ROOT / "dist" / "handout"),
        help="folder to write (default: dist/handout/)",
    )


def _add_demo(commands: argparse._SubParsersAction) -> None:
    """demo: the whole pipeline on a sample class (--students, --workers, --keep)."""
    demo = _command(
        commands,
        "demo",
        "grading:demo",
        "grade a sample class in a temporary course: collect, autograde, feedback, export, report",
    )
    demo.add_argument(
        "--students",
        type=int,
        default=DEMO_STUDENTS,
        help="class size: students with right answers, typical mistakes, untouched stubs and "
        "broken notebooks; the last one hands in nothing for the last assignment "
        f"(default: {DEMO_STUDENTS})",
    )
    demo.add_argument(
        "--workers",
        type=int,
        default=DEMO_WORKERS,
        help=f"autograde worker processes (default: the number of cores, here {os.cpu_count()})",
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        default=DEMO_KEEP,
        help="build the course in DIR (kept) instead of a temporary folder",
    )


#: Each command's parser, in the order --help lists them.
COMMANDS = (
    _add_release,
    _add_collect,
    _add_autograde,
    _add_feedback,
    _add_export,
    _add_report,
    _add_workspace,
    _add_selfcheck,
    _add_handout,
    _add_demo,
)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (2 and one line on stderr for bad input)."""
    # nbgrader starts `alembic` and `jupyter` as subprocesses: this interpreter's bin/ (the
    # venv's) comes first on PATH, however the command was started.
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    args = build_parser().parse_args(argv)
    module, _, name = args.func.partition(":")
    run = getattr(importlib.import_module(module), name)
    from grader.cli.common import use_db
    from grader.config import CourseError

    try:
        if getattr(args, "db", None):
            use_db(args)
        return run(args)
    except (CourseError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
        # bad input: one clear line that says what to do, no traceback
        print(f"backprop-grader {args.command}: {exc}", file=sys.stderr)
        return 2
