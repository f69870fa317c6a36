"""The instructor's command line: `backprop-grader COMMAND` (or `python -m grader COMMAND`).

A thin layer: each command parses its arguments and calls one library function.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import course


def _release(args: argparse.Namespace) -> int:
    written = course.build_release(Path(args.dest))
    for assignment in written:
        print(f"release/{assignment}/{assignment}.ipynb regenerated from source/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backprop-grader",
        description="Instructor tools for backprop-course, built on nbgrader.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    release = commands.add_parser("release", help="regenerate release/ from source/ with nbgrader")
    release.add_argument(
        "--dest",
        default=str(course.REPO_ROOT / "release"),
        help="folder to write (default: release/)",
    )
    release.set_defaults(func=_release)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
