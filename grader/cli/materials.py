"""The course's materials: `release` (nbgrader's student notebooks) and `handout`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import course
from grader.cli.common import chosen_course


def release(args: argparse.Namespace) -> int:
    """`release [--dest DIR | --course DIR]`: regenerate release/ with nbgrader (the student
    package's visible.json first, whose digest the notebooks name)."""
    root = None if args.dest else chosen_course(args)
    if root is not None and root != course.REPO_ROOT:
        return release_course(root, db=args.db)
    if args.db:
        raise ValueError(
            "--db names a course's gradebook: give it with --course DIR (the repository's "
            "release/ has none)"
        )
    dest = Path(args.dest or course.REPO_ROOT / "release").resolve()
    from grader.handout.data import write_visible_data
    from grader.learner import workspace

    # The checks' version is a digest of the student package, visible.json included, and
    # every release notebook names it: the data file first, so one command brings both up.
    write_visible_data()

    written = workspace.build_release(dest)
    for assignment in written:
        print(
            f"{dest / assignment / assignment}.ipynb regenerated from "
            f"{course.REPO_ROOT / 'source' / assignment}/"
        )
    return 0


def release_course(root: Path, db: str | None = None) -> int:
    """`release --course DIR [--db URL]`: a term's course outside the repository (created
    when new); `db` becomes its gradebook (in its nbgrader_config.py) before nbgrader
    records the assignments, so no gradebook.db is made beside it.

    Raises:
        CourseError: `root` holds other files and is not a course, or `db` would leave the
            grades of its gradebook behind (grader.config.set_db_url).
    """
    from grader.config import CourseError, assignments_of, forget_db_url, set_db_url

    if not (root / "nbgrader_config.py").exists():
        if root.exists() and any(root.iterdir()):
            raise CourseError(
                f"{root} is not empty and not a course directory (no nbgrader_config.py); "
                "give a new or empty folder, or the course folder made by release --course"
            )
        course.new_course(root)
        forget_db_url(root)  # a new term starts on its own gradebook
        print(f"new course directory {root.resolve()}: nbgrader_config.py and source/ copied")
    root = root.resolve()
    if db:
        note = set_db_url(root, db)
        if note:
            print(note)
    assignments = assignments_of(root)
    course.generate_release(root, assignments)
    for assignment in assignments:
        print(f"{root / 'release' / assignment / assignment}.ipynb generated; in the gradebook")
    return 0


def handout(args: argparse.Namespace) -> int:
    """`handout`: the student wheel and one zip per assignment; exit 2 when it cannot."""
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
