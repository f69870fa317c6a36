"""The course at a glance, for a class student's start-here notebook (`course.show()`).

Everything comes from the installed checks' data file (`backprop_checks.data.notebooks`,
written from the source notebooks when the handout is built): each notebook's title, the
functions to write and its points, so the table is right before the later assignments have
arrived. Whether each notebook is already in the student's course folder is looked up next
to the start-here: `ID.ipynb` in the same folder (the first assignment's folder, where the
start-here comes), `../ID/ID.ipynb` (an assignment unzipped or fetched next to that folder)
or `ID/ID.ipynb` (the start-here kept in the course folder itself, as on a JupyterHub).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backprop_checks import data
from backprop_checks.version import VERSION


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
        for a, info in data.notebooks().items()
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
    names (`backprop_checks.diagnose.MISCONCEPTIONS`), one per line."""
    from backprop_checks.diagnose import MISCONCEPTIONS

    width = max(len(t) for t in MISCONCEPTIONS) + 2
    return "\n".join(f"{f'[{t}]':<{width + 1}} {text}" for t, text in MISCONCEPTIONS.items())
