"""What students read: the notebooks' claims are true, their stubs do not give the answers away,
and their figures show what a person expects (the notebooks' own code, really run)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest
from backprop_checks import checks
from notebook_tools import (
    ASSIGNMENTS,
    ROOT,
    SEED_NAME,
    execute,
    printed,
    problems,
    source_path,
)

from grader import course
from grader.learner import workspace as ws

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

#: Fragments of each answer that a stub's docstring must not state (the formula to derive).
ANSWERS_IN_DOCSTRINGS = {
    "df_dx": ["6 x z", "6xz", "2 z^2", "2 z**2"],
    "df_dz": ["3 x^2 +", "3 x^2 + 4", "4 x z", "4xz"],
    "numerical_derivative": ["g(x + eps) - g(x - eps)"],
    "sigmoid_prime": ["(1 - sigma", "(1 - sigmoid"],
    "sigmoid_prime_from_output": ["a (1 - a)", "a(1 - a)", "a * (1 - a)"],
    "output_delta": ["Y_hat * (1 - Y_hat)", "(Y_hat - Y) *"],
    "grad_W2": ["H^T", "H.T"],
    "grad_b2": ["column sum", "sum(delta2", "axis"],
    "hidden_delta": ["W2^T", "W2.T", "H * (1 - H)"],
    "grad_W1": ["X^T", "X.T"],
    "grad_b1": ["column sum", "sum(delta1", "axis"],
}


def cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    (found,) = [c for c in nb.cells if c.get("id") == cell_id]
    return found


def squash(text: str) -> str:
    return re.sub(r"\s+|np\.|\*\*|\*", "", text)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stub_docstrings_say_what_not_the_formula(assignment: str):
    nb = nbformat.read(source_path(assignment), as_version=4)
    for c in nb.cells:
        if not c.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        shown, _, solution = c.source.partition("### BEGIN SOLUTION")
        for fragment in ANSWERS_IN_DOCSTRINGS.get(c.id, []):
            assert fragment not in shown, f"{assignment}: {c.id}'s docstring states {fragment!r}"
        # The solution's returned expression never appears in what the student sees.
        for expr in re.findall(r"^\s*return (.+)$", solution, re.M):
            if len(squash(expr)) > 8:
                assert squash(expr) not in squash(shown), f"{c.id}: docstring gives {expr!r}"
        assert re.search(r"\(\w+, \w+\)|\(\w+,\)|shape|float", shown), f"{c.id}: no shapes"


def test_no_text_a_person_reads_says_seed_004(executed_source):
    companions = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in [source_path(a) for a in ASSIGNMENTS] + companions:
        for c in nbformat.read(path, as_version=4).cells:
            assert not SEED_NAME.search(c.source), f"{path.name}: {c.id}"
    nb, _ = executed_source("04_backprop_W2")
    shown = printed(nb)
    assert not SEED_NAME.search(shown) and "the lecture notes" in printed(nb, "seed004-grader")


def test_start_here_runs_in_the_workspace_and_its_links_work(tmp_path: Path):
    work = tmp_path / "workspace"
    ws.populate(work)
    start = work / "00_start_here.ipynb"
    nb, _ = execute(start, cwd=work)
    assert problems(nb) == []
    shown = printed(nb)
    for assignment in ASSIGNMENTS:
        assert assignment in shown
    assert "the checks package (backprop_checks) is installed" in shown
    text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    links = re.findall(r"\]\(([^)]+\.ipynb)\)", text)
    assert len(links) >= 5
    for link in links:
        assert (work / link).is_file(), f"broken link {link} in the workspace"
        assert Path(link).parent.name in course.ASSIGNMENTS
    # What 00 promises about warnings, order and helpers (each checked below or elsewhere).
    assert "prints a warning, will fail" not in text
    assert "[M12]" in text and "Other warnings cost no points" in text
    assert "in order" in text and "provided" in text
    assert "graded together with your own helpers" in text and "fix the helper first" in text
    assert "make selfcheck NB=01" in text and "workspace/" in text


def test_what_00_says_about_warnings_is_what_the_checks_do():
    def sigmoid_overflowing(z):  # right values, numpy warns about overflow at z = -1000
        return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))

    with pytest.raises(checks.CheckFailure, match=r"\[M12\]"):
        checks.check_sigmoid(sigmoid_overflowing)

    def sse_loss_with_a_user_warning(Y_hat, Y):  # right, and it warns: costs no points
        warnings.warn("just saying", UserWarning, stacklevel=1)
        return float(0.5 * np.sum((np.asarray(Y_hat) - np.asarray(Y)) ** 2))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes the check to be printed
        checks.check_sse_loss(sse_loss_with_a_user_warning)

    def sse_loss_with_an_overflow(Y_hat, Y):  # right values, and an overflow on the way
        np.exp(np.float64(1000.0))
        return float(0.5 * np.sum((np.asarray(Y_hat) - np.asarray(Y)) ** 2))

    with pytest.raises(checks.CheckFailure, match=r"\[M12\]"):
        checks.check_sse_loss(sse_loss_with_an_overflow)


def test_02_states_the_helper_policy_where_sigmoid_prime_uses_sigmoid():
    nb = nbformat.read(source_path("02_sigmoid_derivative"), as_version=4)
    task = cell(nb, "derivative-math").source
    assert "graded together with your own helpers" in task and "fix `sigmoid` first" in task
    assert "sigmoid(" in cell(nb, "sigmoid_prime").source.split("### BEGIN SOLUTION")[1]
    overflow = cell(nb, "overflow-md").source
    assert "[M12]" in overflow and "error stream" not in overflow


def test_03_names_the_mean_of_the_halved_loss():
    text = cell(nbformat.read(source_path("03_feedforward"), as_version=4), "loss-math").source
    total = float(re.search(r"\| sum \| \| \$([\d.]+)\$", text).group(1))
    halved_mean = f"{0.5 * total / 3:.8f}"
    said = rf"halved loss\s+averaged over the \$n = 3\$ samples.*{halved_mean}"
    assert re.search(said, text, re.S)
    assert f"{total / 3:.8f}" in text  # the unhalved mean, named as such


def run_cells(path: Path, until: str, *, skip_tests: bool = True) -> tuple[dict, dict]:
    """Run a notebook's code cells in this process (Agg backend) up to the cell `until`.

    Returns:
        the namespace, and {cell id: [figures shown by that cell]}.
    """
    nb = nbformat.read(path, as_version=4)
    shown: dict[str, list] = {}
    current = [""]

    def show(*_args, **_kwargs):
        shown.setdefault(current[0], []).append(plt.gcf())
        plt.figure()  # the next plot starts on a new figure, this one is kept

    namespace: dict = {"__name__": "__notebook__"}
    original = plt.show
    plt.show = show
    try:
        for c in nb.cells:
            if c.cell_type != "code":
                continue
            grade_id = c.metadata.get("nbgrader", {}).get("grade_id", "")
            if skip_tests and grade_id.startswith(("test_", "hidden_test_")):
                continue
            current[0] = c.id
            source = "\n".join(
                line for line in c.source.splitlines() if not line.lstrip().startswith("%")
            )
            exec(compile(source, f"{path.name}:{c.id}", "exec"), namespace)
            if c.id == until:
                break
    finally:
        plt.show = original
    return namespace, shown


def luminance(rgba) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_03_heatmap_scale_holds_every_value_and_text_reads_on_every_cell():
    _, shown = run_cells(source_path("03_feedforward"), "plot-batch")
    (fig,) = shown["plot-batch"]
    images = [(ax, ax.images[0]) for ax in fig.axes if ax.images]
    assert len(images) == 3
    for ax, image in images:
        data = np.asarray(image.get_array())
        assert image.norm.vmin <= data.min() and data.max() <= image.norm.vmax, ax.get_title()
        assert len(ax.texts) == data.size
        for text in ax.texts:
            x, y = text.get_position()
            value = data[int(round(y)), int(round(x))]
            assert text.get_text() == f"{value:.2f}"
            dark = luminance(image.cmap(image.norm(value))) < 0.5
            want = (1.0, 1.0, 1.0) if dark else (0.0, 0.0, 0.0)
            assert matplotlib.colors.to_rgb(text.get_color()) == want, (ax.get_title(), value)
    plt.close("all")


def test_01_contour_lines_are_visible_where_the_arrows_are():
    _, shown = run_cells(source_path("01_partial_derivatives"), "plot-gradient")
    (fig,) = shown["plot-gradient"]
    ax = fig.axes[0]
    contour_sets = [c for c in ax.collections if isinstance(c, matplotlib.contour.ContourSet)]
    lines = [c for c in contour_sets if not c.filled]
    assert len(lines) == 1
    assert min(lines[0].get_linewidths()) >= 0.6
    assert luminance(matplotlib.colors.to_rgba(lines[0].get_edgecolor()[0])) < 0.3
    # Arrows sit all over [-2.25, 2.25]^2, where f is mostly small: lines must be there too.
    inner = [v for v in lines[0].levels if -10 < v < 10]
    assert len(inner) >= 8, lines[0].levels
    plt.close("all")


@pytest.fixture(scope="module")
def notebook_05():
    namespace, shown = run_cells(source_path("05_backprop_W1"), "scale-plot")
    yield namespace, shown
    plt.close("all")


def test_05_proportional_line_is_anchored_to_a_measurement(notebook_05):
    _, shown = notebook_05
    (fig,) = shown["scale-plot"]
    ax = fig.axes[0]
    by_label = {line.get_label(): line for line in ax.get_lines()}
    measured = by_label["measured"]
    mx, my = measured.get_xdata(), measured.get_ydata()
    (ref,) = [line for label, line in by_label.items() if label.startswith("proportional to")]
    rx, ry = ref.get_xdata(), ref.get_ydata()
    anchored = [i for i, x in enumerate(rx) if np.isclose(ry[i], my[list(mx).index(x)])]
    assert anchored, "the line passes through no measured point"
    # It is proportional to n: y / n is the same along it.
    assert np.allclose(ry / rx, ry[0] / rx[0])
    # It is drawn only where n is at least 1000 (below that, the fixed cost dominates).
    assert min(rx) >= 1_000


def test_05_colorbar_names_what_it_shows(notebook_05):
    _, shown = notebook_05
    (fig,) = shown["decision-boundary"]
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any(r"\hat y" in label for label in labels), labels
    assert "activation" not in labels


def test_05_states_the_train_contract_and_its_solution_keeps_it(notebook_05):
    nb = nbformat.read(source_path("05_backprop_W1"), as_version=4)
    text = " ".join(cell(nb, "train-md").source.split())
    assert "init_params(c, n_hidden, o, seed)" in text
    assert "`losses[t]` is `sse_loss` of the parameters at the **start** of epoch `t`" in text
    assert "before that epoch's update" in cell(nb, "train").source
    namespace, _ = notebook_05
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(6, 3)), rng.uniform(size=(6, 2))
    params, losses = namespace["train"](X, Y, n_hidden=4, lr=0.5, epochs=5, seed=11)
    p = namespace["init_params"](3, 4, 2, 11)
    for t in range(5):
        _, Y_hat = namespace["forward"](X, **p)
        assert losses[t] == namespace["sse_loss"](Y_hat, Y)
        grads = namespace["backprop"](X, Y, **p)
        p = {k: v - 0.5 * grads[k] for k, v in p.items()}
    for k in p:
        np.testing.assert_array_equal(params[k], p[k])
