"""What the notebook tests share: where notebooks live, running one in a fresh kernel, and
reading back what it printed."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader import course, nbcells

ROOT = course.REPO_ROOT

#: The lecture notes' name for their worked example, which nothing a learner reads may use
#: (the project never writes it out; the pattern also finds spacing and zero variants).
SEED_NAME = re.compile(r"seed\s*0*4\b", re.I)

#: The course's assignments, in course order (grader.course.ASSIGNMENTS). Tests parametrise
#: over all of them: a deleted notebook fails (test_course_files.py names it), never skips.
ASSIGNMENTS = list(course.ASSIGNMENTS)


def source_total(assignment: str) -> float:
    """The points of a source notebook: the sum over its test cells (1 visible + 2 hidden per
    function unless said otherwise, docs/grading.md); its intro must state it."""
    nb = nbformat.read(source_path(assignment), as_version=4)
    return float(sum(nbcells.points(c) for c in nb.cells if nbcells.is_graded(c)))


def source_path(assignment: str) -> Path:
    return ROOT / "source" / assignment / f"{assignment}.ipynb"


def release_path(assignment: str) -> Path:
    return ROOT / "release" / assignment / f"{assignment}.ipynb"


def missing_notebooks() -> list[str]:
    """The source and release notebooks of the course's assignments that are not there,
    as paths relative to the repository."""
    paths = [f(a) for a in ASSIGNMENTS for f in (source_path, release_path)]
    return [str(p.relative_to(ROOT)) for p in paths if not p.is_file()]


def execute(path: Path, *, cwd: Path, timeout: int = 60) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook in a fresh python3 kernel (errors recorded, not raised); (nb, seconds)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Every error output and every stderr line, as 'cell-id: what'."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"{cell.id}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                found.append(f"{cell.id}: stderr: {out.text.strip()[:300]}")
    return found


def printed(nb: nbformat.NotebookNode, cell_id: str | None = None) -> str:
    """Everything the notebook (or the one cell with this id) printed."""
    return "".join(
        out.get("text", "")
        for c in nb.cells
        if cell_id is None or c.id == cell_id
        for out in c.get("outputs", [])
        if out.output_type == "stream"
    )


def figure_count(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
