"""Notebooks 01-03 and the start-here map, graded and run with real nbgrader and real kernels.

- each source notebook (solutions in) scores full marks under `nbgrader autograde`;
- each release notebook as handed out (stubs untouched) scores 0, and grading does not crash;
- each source notebook runs top to bottom in a fresh kernel without an error or a stderr line
  (the teaching cells and plots included) in a few seconds;
- notebooks/00_start_here.ipynb executes without error.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader import course

ROOT = course.REPO_ROOT

#: Points per notebook: 1 visible + 2 hidden per function (docs/grading.md).
TOTALS = {
    "01_partial_derivatives": 12.0,
    "02_sigmoid_derivative": 9.0,
    "03_feedforward": 6.0,
}
MINE = list(TOTALS)


def source_path(assignment: str) -> Path:
    return ROOT / "source" / assignment / f"{assignment}.ipynb"


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


@pytest.mark.parametrize("assignment", MINE)
def test_source_notebook_scores_full_marks(graded, assignment: str):
    total = TOTALS[assignment]
    cells = graded.cell_scores("solution", assignment)
    lost = {name: s for name, s in cells.items() if s[0] != s[1]}
    assert not lost, f"{assignment}: the solutions lose points in {lost}"
    assert graded.score("solution", assignment) == (total, total)


@pytest.mark.parametrize("assignment", MINE)
def test_release_notebook_as_handed_out_scores_zero(graded, assignment: str):
    assert graded.autograded_notebook("stub", assignment).is_file(), "autograde made no notebook"
    cells = graded.cell_scores("stub", assignment)
    assert len(cells) == 2 * len([c for c in cells if c.startswith("test_")])
    assert all(score == 0 for score, _ in cells.values()), f"stubs earned points: {cells}"
    assert graded.score("stub", assignment) == (0.0, TOTALS[assignment])


@pytest.mark.parametrize("assignment", MINE)
def test_intro_states_the_total(assignment: str):
    nb = nbformat.read(source_path(assignment), as_version=4)
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and intro.id == "intro"
    stated = re.search(r"\*\*Total: (\d+) points\.\*\*", intro.source)
    assert stated, f"{assignment}: the intro must state the total as **Total: N points.**"
    points = sum(
        c.metadata["nbgrader"].get("points", 0)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    )
    assert float(stated.group(1)) == points == TOTALS[assignment]


@pytest.mark.parametrize("assignment", MINE)
def test_source_notebook_runs_clean_and_fast(assignment: str, tmp_path: Path):
    nb, seconds = execute(source_path(assignment), cwd=tmp_path)
    assert problems(nb) == [], f"{assignment} in a fresh kernel: {problems(nb)}"
    figures = sum(
        "image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", [])
    )
    assert figures >= 2, f"{assignment}: expected its plots, got {figures} figures"
    # "A few seconds" for the whole notebook; the bound leaves room for a busy 2-core machine.
    assert seconds < 20, f"{assignment} took {seconds:.1f} s"


def test_start_here_executes_and_lists_the_course():
    path = ROOT / "notebooks" / "00_start_here.ipynb"
    nb, _ = execute(path, cwd=path.parent)
    assert problems(nb) == []
    printed = "".join(out.get("text", "") for c in nb.cells for out in c.get("outputs", []))
    for assignment in course.ASSIGNMENTS:
        if (ROOT / "release" / assignment).is_dir():
            assert assignment in printed
    assert "the grader package is installed" in printed
    # Every link to a release notebook points at a file that exists.
    links = re.findall(r"\]\((\.\./release/[^)]+\.ipynb)\)", "".join(c.source for c in nb.cells))
    assert len(links) >= 5
    for link in links:
        target = (path.parent / link).resolve()
        assignment = target.parent.name
        assert assignment in course.ASSIGNMENTS, link
        if assignment in MINE or (ROOT / "release" / assignment).is_dir():
            assert target.is_file(), f"broken link {link}"
