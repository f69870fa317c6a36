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


@pytest.fixture(scope="module", params=MINE)
def executed(request, tmp_path_factory: pytest.TempPathFactory):
    """(assignment, notebook, seconds): the source notebook run once in a fresh kernel."""
    assignment = request.param
    nb, seconds = execute(source_path(assignment), cwd=tmp_path_factory.mktemp(assignment))
    return assignment, nb, seconds


def printed(nb: nbformat.NotebookNode, cell_id: str | None = None) -> str:
    """Everything the notebook (or one cell of it) printed to stdout."""
    return "".join(
        out.get("text", "")
        for c in nb.cells
        if cell_id is None or c.id == cell_id
        for out in c.get("outputs", [])
        if out.output_type == "stream"
    )


def test_source_notebook_runs_clean_and_fast(executed):
    assignment, nb, seconds = executed
    assert problems(nb) == [], f"{assignment} in a fresh kernel: {problems(nb)}"
    figures = sum(
        "image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", [])
    )
    assert figures >= 3, f"{assignment}: expected its plots, got {figures} figures"
    # "A few seconds" for the whole notebook; the bound leaves room for a busy 2-core machine.
    assert seconds < 20, f"{assignment} took {seconds:.1f} s"


#: What each notebook's demonstration cells must show, as its prose claims: (cell id, text).
CLAIMS = {
    "01_partial_derivatives": [
        ("define-f", "f(1, 2) = 14.0"),
        ("gradient-check-demo", "[[ 0.  2.  4.]\n [ 6.  8. 10.]]"),
    ],
    "02_sigmoid_derivative": [
        ("naive-overflow", "overflow encountered in exp"),
        ("naive-overflow", "[0.  0.5 nan]"),
        ("stable-check", "warnings: none"),
        ("trap-demo", "[0.22898481 0.22966396 0.22942154]"),
        ("trap-demo", "[0.24059394 0.24248548 0.24183177]"),
        ("trap-demo", "0.66591155"),
        ("trap-demo", "0.67454075"),
    ],
    "03_feedforward": [
        ("batch-demo", "[[0.56770195]"),
        ("batch-demo", "n =  10000: H (10000, 2), Y_hat (10000, 1)"),
        ("bias-folding-demo", "same H:     True"),
        ("bias-folding-demo", "same Y_hat: True"),
    ],
}


def test_demonstrations_show_what_the_prose_says(executed):
    assignment, nb, _ = executed
    for cell_id, text in CLAIMS[assignment]:
        assert text in printed(nb, cell_id), f"{assignment}: {cell_id} does not print {text!r}"
    if assignment == "01_partial_derivatives":
        # The gradient check agrees to about 1e-11; forward vs central: central wins by 100x+.
        errors = re.findall(r"rel\. error (\S+)", printed(nb, "gradient-check-demo"))
        assert len(errors) == 4 and all(float(e) < 1e-7 for e in errors), errors
        best = dict(re.findall(r"(forward|central): best error (\S+)", printed(nb)))
        assert float(best["central"]) * 100 < float(best["forward"]), best


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
