"""nbgrader's cell metadata, read in one place: `cell.metadata["nbgrader"]`.

nbgrader marks the cells it grades in each cell's metadata (its `nbgrader.utils` reads
the same keys): `grade_id` (the cell's name in the gradebook), `grade` (a graded cell,
worth `points`), `solution` (the student writes in it) and `locked` (restored from the
source at grading time). Every grader module reads them through these functions, which
take an nbformat NotebookNode or the plain dict of a notebook's JSON and never raise on a
damaged cell (a student's notebook may hold anything).

A base module: it imports the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def nbgrader_meta(cell: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's nbgrader metadata ({} when it has none or it is not a dict)."""
    metadata = cell.get("metadata") if isinstance(cell, Mapping) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, Mapping) else None
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: Mapping[str, Any]) -> str | None:
    """The cell's nbgrader name (None when it has none)."""
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def is_graded(cell: Mapping[str, Any]) -> bool:
    """A cell nbgrader scores (`grade`: a test cell, or a manually graded answer)."""
    return bool(nbgrader_meta(cell).get("grade"))


def is_solution(cell: Mapping[str, Any]) -> bool:
    """A cell the student writes their answer in."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_locked(cell: Mapping[str, Any]) -> bool:
    """A read-only cell nbgrader restores from the source when it grades."""
    return bool(nbgrader_meta(cell).get("locked"))


def is_test(cell: Mapping[str, Any]) -> bool:
    """An autograder test cell: graded, and not the student's answer."""
    return is_graded(cell) and not is_solution(cell)


def points(cell: Mapping[str, Any]) -> float:
    """What the cell is worth (0 when it says nothing or nonsense)."""
    try:
        return float(nbgrader_meta(cell).get("points") or 0)
    except (TypeError, ValueError):
        return 0.0


def grade_ids(cells: Iterable[Mapping[str, Any]]) -> list[str]:
    """The grade_ids of these cells, in order (cells without one left out)."""
    return [gid for gid in map(grade_id, cells) if gid]
