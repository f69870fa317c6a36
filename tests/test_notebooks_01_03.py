"""Notebooks 01-03: what their demonstrations show, in a real kernel (the start-here map runs
in a learner's workspace in test_notebooks_learner.py).

Grading (full marks / zero), clean fast runs, release sync and stored outputs are checked for
every assignment in test_notebooks_common.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from notebook_tools import printed

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

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


@pytest.mark.parametrize("assignment", list(CLAIMS))
def test_demonstrations_show_what_the_prose_says(executed_source, assignment: str):
    nb, _ = executed_source(assignment)
    for cell_id, text in CLAIMS[assignment]:
        assert text in printed(nb, cell_id), f"{assignment}: {cell_id} does not print {text!r}"
    if assignment == "01_partial_derivatives":
        # The gradient check agrees to about 1e-11; forward vs central: central wins by 100x+.
        errors = re.findall(r"rel\. error (\S+)", printed(nb, "gradient-check-demo"))
        assert len(errors) == 4 and all(float(e) < 1e-7 for e in errors), errors
        best = dict(re.findall(r"(forward|central): best error (\S+)", printed(nb)))
        assert float(best["central"]) * 100 < float(best["forward"]), best
        _summary_says_what_the_plot_shows(nb)


def _summary_says_what_the_plot_shows(nb) -> None:
    """01's summary: the central error is about 1e-11 at the default eps = 1e-5 and at its
    best a few times 1e-7 (as printed under the plot); rounding takes over below about 1e-7."""
    line = re.search(r"central: best error (\S+) at eps = (\S+)", printed(nb, "plot-error-vs-eps"))
    error, at = float(line[1]), float(line[2])
    summary = next(c.source for c in nb.cells if c.get("id") == "summary")
    assert "below about $10^{-5}$" not in summary
    assert "at $\\varepsilon = 10^{-5}$" in summary and "a few times $10^{-7}$" in summary
    assert 1e-7 <= at < 1e-6 and error < 1e-11, (error, at)
    cell = next(c for c in nb.cells if c.get("id") == "plot-error-vs-eps")

    def central(g, x, eps):
        return float((g(x + eps) - g(x - eps)) / (2 * eps))

    at_default = abs(central(np.sin, 1.0, 1e-5) - np.cos(1.0))
    assert 1e-12 < at_default < 1e-10 and "np.logspace(-13, -1, 61)" in cell.source
