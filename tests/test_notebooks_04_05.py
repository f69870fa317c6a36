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
from pathlib import Path

import nbformat
import numpy as np
import pytest
from notebook_tools import ROOT, execute, printed, problems, source_path

from grader.judge import cases
from grader.judge import reference as ref

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

COMPANIONS = sorted(
    p for p in (ROOT / "notebooks").glob("*.ipynb") if p.name != "00_start_here.ipynb"
)


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


@pytest.mark.parametrize("path", COMPANIONS, ids=lambda p: p.name)
def test_companion_notebook_executes(path: Path):
    nb, _ = execute(path, cwd=path.parent)
    assert problems(nb) == [], f"{path.name}: {problems(nb)}"


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
