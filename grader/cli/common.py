"""What every command shares: which course it works in, the --db option, the console.

Light on purpose (stdlib and grader.course): the parser imports it to write its help.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from grader import course

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

#: The course directory when no --course is given (instead of the current folder).
COURSE_ENV = "BACKPROP_GRADER_COURSE"


def chosen_course(args: argparse.Namespace) -> Path | None:
    """The course said explicitly (--course, then $BACKPROP_GRADER_COURSE), else the current
    folder when it holds nbgrader_config.py and is not the repository; else None."""
    given = getattr(args, "course", None) or os.environ.get(COURSE_ENV)
    if given:
        return Path(given).expanduser().resolve()
    here = Path.cwd().resolve()
    if (here / "nbgrader_config.py").exists() and here != course.REPO_ROOT:
        return here
    return None


def course_dir(args: argparse.Namespace) -> Path:
    """The course a command that writes student data works in (never the repository unless
    it is named with --course or $BACKPROP_GRADER_COURSE).

    Raises:
        CourseError: no course was named and the current folder is none, or the folder
            named holds no nbgrader_config.py.
    """
    from grader.config import CourseError, require_course

    root = chosen_course(args)
    if root is None:
        if Path.cwd().resolve() == course.REPO_ROOT:
            why = f"the repository is not a course unless you say --course {course.REPO_ROOT}"
        else:
            why = "make one with: backprop-grader release --course DIR"
        raise CourseError(
            "no course here: cd into your course folder or pass --course DIR (or set "
            f"{COURSE_ENV}); {why}"
        )
    return require_course(root)


def console() -> Console:
    """A rich Console for the commands' output."""
    from rich.console import Console

    # Not a terminal (a log file, CI): wide enough that tables print every value in full.
    width = None if sys.stdout.isatty() else 250
    return Console(highlight=False, width=width)


def use_db(args: argparse.Namespace) -> None:
    """`--db URL`: the course's gradebook from now on, kept in its nbgrader_config.py
    (grader.config.set_db_url), so later commands, nbgrader and formgrader need no --db.

    Raises:
        ValueError: not a database URL.
        CourseError: no course, or its gradebook holds grades elsewhere (nothing changed).
    """
    from grader.config import check_db_url, set_db_url

    url = check_db_url(args.db)
    if args.command == "release":
        return  # release writes it into the course it makes (grader.cli.materials)
    note = set_db_url(course_dir(args), url)
    if note:
        print(note)
