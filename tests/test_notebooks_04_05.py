"""Notebooks 04-05 and the companions in notebooks/, with real nbgrader and real kernels.

- each source notebook (solutions in) scores full marks under `nbgrader autograde`;
- each release notebook as handed out (stubs untouched) scores 0, and grading does not crash;
- each source notebook runs top to bottom in a fresh kernel without an error or a stderr line,
  in a few seconds, with its plots, and shows the worked numbers of seed 004 and the grader
  naming the double-sigmoid mistake [M6];
- the XOR settings the notebook and the hidden train check use make the reference learn XOR
  from many seeds;
- every notebook in notebooks/ executes without error.

Release sync and no stored outputs are checked for every assignment in
test_notebooks_common.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from grader import cases, course
from grader import reference as ref

ROOT = course.REPO_ROOT

#: Points per notebook: 1 visible + 2 hidden per function (docs/grading.md).
TOTALS = {"04_backprop_W2": 9.0, "05_backprop_W1": 15.0}
MINE = list(TOTALS)
FUNCTIONS = {"04_backprop_W2": 3, "05_backprop_W1": 5}
COMPANIONS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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


def printed(nb: nbformat.NotebookNode, cell_id: str) -> str:
    """All stdout of one cell."""
    cell = next(c for c in nb.cells if c.id == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def figure_count(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


# --------------------------------------------------------------------------- graded by nbgrader


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
    visible = [c for c in cells if c.startswith("test_")]
    assert len(visible) == FUNCTIONS[assignment] and len(cells) == 2 * len(visible), cells
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


# --------------------------------------------------------------------------- run in a kernel


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Each of the two source notebooks run once in a fresh kernel: {id: (nb, seconds)}."""
    runs = {}
    for assignment in MINE:
        runs[assignment] = execute(source_path(assignment), cwd=tmp_path_factory.mktemp("run"))
    return runs


@pytest.mark.parametrize("assignment", MINE)
def test_source_notebook_runs_clean_and_fast(executed, assignment: str):
    nb, seconds = executed[assignment]
    assert problems(nb) == [], f"{assignment} in a fresh kernel: {problems(nb)}"
    assert figure_count(nb) >= 3, f"{assignment}: expected its plots"
    # "A few seconds" for the whole notebook; the bound leaves room for a busy 2-core machine.
    assert seconds < 20, f"{assignment} took {seconds:.1f} s"


def test_04_works_through_seed_004_and_names_the_double_sigmoid(executed):
    nb, _ = executed["04_backprop_W2"]
    right = printed(nb, "seed004-right")
    # The correct gradient of the loss without the 1/2, three ways (by hand, with the student's
    # functions, numerically): all print the same number.
    assert right.count("-0.17454075") == 3, right
    assert "-0.08727037" in right  # half of it, for the course's halved loss
    assert "0.16591155" in printed(nb, "seed004-seed-version")
    grader_says = printed(nb, "seed004-grader")
    assert "[M6]" in grader_says and "should not" not in grader_says, grader_says


def test_05_learns_xor_and_answers_the_scale_question(executed):
    nb, _ = executed["05_backprop_W1"]
    assert "all four classified right: True" in printed(nb, "xor-train")
    scale = printed(nb, "scale-demo")
    for n in (2, 10, 10000):
        assert f"({n}, 4)" in scale, scale
    assert "equal: True" in printed(nb, "three-inputs")
    errors = [float(e) for e in re.findall(r"\d\.\de-\d\d", printed(nb, "gradient-check"))]
    assert len(errors) == 12 and max(errors) < 1e-6, printed(nb, "gradient-check")


@pytest.mark.parametrize("path", COMPANIONS, ids=lambda p: p.name)
def test_companion_notebook_executes(path: Path):
    nb, seconds = execute(path, cwd=path.parent)
    assert problems(nb) == [], f"{path.name}: {problems(nb)}"
    assert seconds < 60, f"{path.name} took {seconds:.1f} s"


def test_the_companions_include_gradient_descent_on_a_surface():
    assert (ROOT / "notebooks" / "gradient_descent_surface.ipynb") in COMPANIONS


# --------------------------------------------------------------------------- XOR settings


def test_notebook_trains_xor_with_the_settings_of_the_hidden_check():
    """Notebook 05 shows the same XOR run the hidden `train` check grades."""
    nb = nbformat.read(source_path("05_backprop_W1"), as_version=4)
    cell = next(c for c in nb.cells if c.id == "xor-train")
    s = cases.XOR_SETTINGS
    call = f"n_hidden={s['n_hidden']}, lr={s['lr']}, epochs={s['epochs']}"
    assert call in cell.source, f"xor-train should call train(..., {call}, ...)"


@pytest.mark.parametrize("seed", range(20))
def test_reference_learns_xor_from_many_seeds(seed: int):
    """With the course's XOR settings, full-batch gradient descent learns XOR from 20 seeds."""
    params, losses = ref.train(cases.XOR_X, cases.XOR_Y, seed=seed, **cases.XOR_SETTINGS)
    assert len(losses) == cases.XOR_SETTINGS["epochs"]
    assert losses[-1] < 0.05 * losses[0], f"seed {seed}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    _, Y_hat = ref.forward(cases.XOR_X, **params)
    assert np.array_equal(Y_hat > 0.5, cases.XOR_Y > 0.5), f"seed {seed}: {Y_hat.ravel()}"
    assert np.max(np.abs(Y_hat - cases.XOR_Y)) < 0.25, f"seed {seed}: {Y_hat.ravel()}"
