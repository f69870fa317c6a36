"""This release of the checks, as the notebooks see it: its version and the course it holds.

Sections:

- the version (`VERSION`, `released_with`): derived from the package's files; each
  notebook's setup cell calls `released_with` with the version it was released with.
- the course table (`show`, `table`, `tags`): what a class student's start-here notebook
  prints, from the data file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from backprop_checks import catalog

# ------------------------------------------------------------ the version
# The package's version, derived from its content, and the notebooks' one-line version check.
#
#     VERSION = f"{BASE}+h{the first 12 hex digits of content_hash(the package folder)}"
#
# `content_hash` reads every `*.py` and `*.json` file of the package folder (no `__pycache__`),
# so any change to a check, a message or the data file gives a new version: pip installs a
# newer wheel over an older one (`pip install --upgrade backprop_course_checks-VERSION-....whl`)
# instead of keeping the old checks ("already installed with the same version"). The same
# computation runs when the wheel is built (`pyproject.toml` takes the version from
# `VERSION`) and when the package is imported, so an installed wheel and a source checkout
# (`pip install -e student`) both report the version of the files they hold.
#
# `released_with(VERSION)` is called by each notebook's setup cell: `nbgrader
# generate_assignment` writes into it the version the notebook was released with
# (`grader.handout.checks_version.StampChecksVersion`); the source notebooks say "source".
# BASE is raised by hand only for a change the hash cannot see (the dependencies).

#: The hand-kept part of the version (PEP 440 public version).
BASE = "0.2.0"
#: The distribution name (pip's) and what a source notebook passes to `released_with`.
DISTRIBUTION = "backprop-course-checks"
SOURCE = "source"

_PACKAGE = Path(__file__).resolve().parent


def package_files(folder: Path = _PACKAGE) -> list[Path]:
    """The files the version is computed from: `*.py` and `*.json` directly in `folder`, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".json"))


def content_hash(folder: Path = _PACKAGE) -> str:
    """sha256 (hex) of the package's files: each file's name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in package_files(folder):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def version_of(folder: Path = _PACKAGE) -> str:
    """The version of the package held in `folder`: BASE, then `+h` and 12 hex digits."""
    return f"{BASE}+h{content_hash(folder)[:12]}"


def wheel_name(version: str) -> str:
    """The file name of the course's wheel of that version."""
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-py3-none-any.whl"


def is_source_checkout(folder: Path = _PACKAGE) -> bool:
    """Whether the package runs from the course repository's student/ folder (`pip install
    -e student`, the self-study path): then it is the course's current checks by definition."""
    project = folder.parent / "pyproject.toml"
    return project.is_file() and f'name = "{DISTRIBUTION}"' in project.read_text("utf-8")


VERSION = version_of()


def version_note(version: str) -> str:
    """The line a notebook released with `version` prints about the installed checks.

    Args:
        version: the version written into the notebook's setup cell when it was released
            (SOURCE in the instructor's source notebooks: nothing to compare).

    Returns:
        "" when they are the same, when there is nothing to compare, or when the checks run
        from the course repository (always its current checks); else one line: the version
        installed, the one the notebook came with, and the pip command that installs it.
    """
    if version in (SOURCE, VERSION) or is_source_checkout():
        return ""
    return (
        f"backprop_checks {VERSION} is installed, but this notebook came with {version}: in a "
        f"terminal, in this notebook's folder, with your course environment active, run "
        f"`python -m pip install --upgrade {wheel_name(version)}` and restart the kernel "
        "(unless you installed a later assignment's wheel; on a course JupyterHub, tell your "
        "instructor)."
    )


def released_with(version: str) -> None:
    """Called by a notebook's setup cell: print `version_note(version)` when there is one."""
    note = version_note(version)
    if note:
        print(note)


# ------------------------------------------------------------ the course table
# The course at a glance, for a class student's start-here notebook (`release.show()`).
#
# Everything comes from the installed checks' data file (`backprop_checks.catalog.notebooks`,
# written from the source notebooks when the handout is built): each notebook's title, the
# functions to write and its points, so the table is right before the later assignments have
# arrived. Whether each notebook is already in the student's course folder is looked up next
# to the start-here: `ID.ipynb` in the same folder (the first assignment's folder, where the
# start-here comes), `../ID/ID.ipynb` (an assignment unzipped or fetched next to that folder)
# or `ID/ID.ipynb` (the start-here kept in the course folder itself, as on a JupyterHub).

@dataclass(frozen=True)
class Row:
    """One notebook of the course: id, title, points, functions to write, where it is."""

    assignment: str
    title: str
    points: float
    write: tuple[str, ...]
    found: Path | None  #: the notebook's path relative to the folder looked in, or None


def find(assignment: str, folder: Path) -> Path | None:
    """Where the assignment's notebook is, relative to `folder`, or None when not there yet."""
    here = Path(f"{assignment}.ipynb")
    for rel in (here, Path("..") / assignment / here, Path(assignment) / here):
        if (folder / rel).is_file():
            return rel
    return None


def rows(folder: Path | str = ".") -> list[Row]:
    """The course's notebooks in teaching order, each with where it is in `folder`."""
    folder = Path(folder)
    return [
        Row(a, info["title"], float(info["points"]), tuple(info["write"]), find(a, folder))
        for a, info in catalog.notebooks().items()
    ]


def table(folder: Path | str = ".") -> str:
    """The course table as text, at most about 80 characters wide: per notebook a line (id,
    points, where it is), then its title and the functions to write, indented; the total."""
    found = rows(folder)
    if not found:
        return "this version of the checks holds no course table: upgrade them (see README.md)"
    width = max(len(r.assignment) for r in found) + 2
    lines = [f"{'notebook':<{width}}{'points':>6}   in your course folder"]
    for r in found:
        where = r.found.as_posix() if r.found else "not yet (comes with its assignment)"
        lines.append(f"{r.assignment:<{width}}{r.points:>6g}   {where}")
        lines.append(f"    {r.title}")
        lines.append(f"    you write: {', '.join(r.write)}")
    lines.append(f"{'total':<{width}}{sum(r.points for r in found):>6g}")
    return "\n".join(lines)


def show(folder: Path | str = ".") -> None:
    """Print the course table and the version of the checks installed."""
    print(table(folder))
    print(f"\nthe checks (backprop_checks {VERSION}) are installed: the test cells will run")


def tags() -> str:
    """The tags a failing test cell may carry, `[M1]` ... `[M13]`, each with the mistake it
    names (`backprop_checks.catalog.MISCONCEPTIONS`), one per line."""
    table = catalog.MISCONCEPTIONS
    width = max(len(t) for t in table) + 2
    return "\n".join(f"{f'[{t}]':<{width + 1}} {text}" for t, text in table.items())
