"""Notebooks 04-05 and the companions in notebooks/, in real kernels.

- notebook 04 shows the worked numbers of the lecture notes and the grader naming the double-sigmoid
  mistake [M6]; notebook 05 learns XOR and answers the 2, 10, 10,000 inputs question;
- the XOR settings the notebook and the hidden train check use make the reference learn XOR
  from many seeds;
- every companion in notebooks/ executes without error (00_start_here, with closer checks, in
  test_notebooks_01_03.py).

Grading (full marks / zero), clean fast runs, release sync and stored outputs are checked for
every assignment in test_notebooks_common.py.
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest
from notebook_tools import ROOT, execute, figure_count, printed, problems, source_path

from grader.judge import cases
from grader.judge import reference as ref

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

#: The companions in notebooks/: those docs/course.md names (a deleted one fails as missing)
#: and any other notebook there; 00_start_here is tested in test_notebooks_01_03.py.
DOCUMENTED = re.findall(
    r"`notebooks/([\w-]+\.ipynb)`", (ROOT / "docs" / "course.md").read_text(encoding="utf-8")
)
COMPANIONS = sorted(
    {*DOCUMENTED, *(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))} - {"00_start_here.ipynb"}
)


@pytest.fixture(scope="module")
def companion(tmp_path_factory: pytest.TempPathFactory):
    """run(name) -> the companion notebook executed once in a fresh kernel."""
    runs: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        path = ROOT / "notebooks" / name
        assert path.is_file(), f"notebooks/{name} is missing (docs/course.md names it)"
        if name not in runs:
            runs[name], _ = execute(path, cwd=tmp_path_factory.mktemp("companion"))
        return runs[name]

    return run


def test_04_works_through_seed_004_and_names_the_double_sigmoid(executed_source):
    nb, _ = executed_source("04_backprop_W2")
    right = printed(nb, "seed004-right")
    # The correct gradient of the loss without the 1/2, three ways (by hand, with the student's
    # functions, numerically): all print the same number.
    assert right.count("-0.17454075") == 3, right
    assert "-0.08727037" in right  # half of it, for the course's halved loss
    assert "0.16591155" in printed(nb, "seed004-seed-version")
    grader_says = printed(nb, "seed004-grader")
    assert "[M6]" in grader_says and "should not" not in grader_says, grader_says


def test_05_learns_xor_and_answers_the_scale_question(executed_source):
    nb, _ = executed_source("05_backprop_W1")
    assert "all four classified right: True" in printed(nb, "xor-train")
    scale = printed(nb, "scale-demo")
    for n in (2, 10, 10000):
        assert f"({n}, 4)" in scale, scale
    assert "equal: True" in printed(nb, "three-inputs")
    errors = [float(e) for e in re.findall(r"\d\.\de-\d\d", printed(nb, "gradient-check"))]
    assert len(errors) == 12 and max(errors) < 1e-6, printed(nb, "gradient-check")


def test_the_docs_name_the_companions():
    assert "gradient_descent_surface.ipynb" in DOCUMENTED, DOCUMENTED


@pytest.mark.parametrize("name", COMPANIONS)
def test_companion_notebook_executes(companion, name: str):
    nb = companion(name)
    assert problems(nb) == [], f"{name}: {problems(nb)}"


def test_gradient_descent_surface_shows_what_its_text_says(companion):
    """The bowl: below the limit 2/lambda_max every rate converges, faster the nearer the
    limit, and over it the walk diverges; the neuron: backprop's gradient is the central
    difference, and the rates shown straddle the stability limit near the minimum."""
    nb = companion("gradient_descent_surface.ipynb")
    assert figure_count(nb) == 3
    bowl = printed(nb, "bowl")
    assert "below 2 / 10 = 0.2" in bowl, bowl
    loss = {
        name: float(value)
        for name, value in re.findall(
            r"^(\w[\w ]*?) +lr = [\d.]+: loss after \d+ steps = (\S+)$", bowl, re.M
        )
    }
    assert list(loss) == ["small", "moderate", "near the limit", "over the limit"], bowl
    assert loss["small"] > loss["moderate"] > loss["near the limit"], bowl
    assert loss["over the limit"] > 1000 * loss["small"], bowl
    neuron = printed(nb, "neuron")
    grads = [
        np.array(row.split(), dtype=float)
        for row in re.findall(
            r"^(?:backprop gradient|central difference) *: \[(.*)\]$", neuron, re.M
        )
    ]
    assert len(grads) == 2 and np.allclose(*grads, atol=1e-6), neuron
    limit = float(re.search(r"learning rates below ([\d.]+)", neuron).group(1))
    runs = {
        float(lr): float(end)
        for lr, end in re.findall(r"^lr = ([\d.]+) *: loss [\d.]+ -> (\S+),", neuron, re.M)
    }
    below, above = [lr for lr in runs if lr < limit], [lr for lr in runs if lr > limit]
    assert below and above, (limit, runs)
    assert min(runs[lr] for lr in below) < 1e-6 < min(runs[lr] for lr in above), neuron


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
