"""Verdicts and names the checks give students' actual answers: each test feeds a student's
answer (right or wrong) and asserts the exact verdict (pass/fail) and the exact tags.

The classes of bug held here: a train whose losses are not the losses (false pass), a change
at rounding level called a mutation (false fail), float32 called unstable, candidate wrong
answers that coincide on the examples used to name them, hints that talk about what a
function does not have, and messages that misname a factor, a shape or an axis.
"""

from __future__ import annotations

import contextlib
import io

import nbformat
import numpy as np
import pytest
from backprop_checks import checks
from backprop_checks.mistakes import inputs_of
from corpus import wrong
from corpus.right import RIGHT

from grader.judge import cases, reference


def _verdict(name, fn, hidden=False):
    result = checks.run_check(name, fn, hidden=hidden)
    return result.passed, result.misconceptions, result.message


# --------------------------------------------------------------------------- train (05)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(
    ("fn", "tags", "needle"),
    [
        (wrong.train_loss_after_update, [], "is the loss after the update of epoch t"),
        (wrong.train_made_up_losses, [], "losses[0] = 1 is not the loss of the parameters"),
        (wrong.train_seed_ignored, [], "seed=0), not from init_params(3, 3, 2, seed=3): the seed"),
        (wrong.train_seed_plus_one, [], "seed=4), not from init_params(3, 3, 2, seed=3): seed + 1"),
        (
            wrong.train_uniform_init,
            [],
            "your train(..., epochs=0) returned other parameters than init_params(3, 3, 2, "
            "seed=3).",
        ),
        (wrong.train_step_over_n, ["M5"], "step is 1/6 (1/n) times the gradient-descent step"),
        (wrong.train_uphill, ["M3"], "step is minus the gradient-descent step"),
    ],
    ids=["after-update", "made-up", "seed-ignored", "seed+1", "other-init", "lr*g/n", "uphill"],
)
def test_train_losses_must_be_the_losses_of_the_contract_run(fn, tags, needle, hidden):
    passed, got_tags, message = _verdict("train", fn, hidden)
    assert not passed, message
    assert got_tags == tags, message
    assert needle in message, message


def test_train_made_up_losses_fail_whatever_the_initialisation():
    """Losses made up on top of a run from other weights: both the start and the losses are
    named (the losses are read against the student's own starting weights)."""

    def train(X, Y, n_hidden, lr, epochs, seed=0):
        p, _ = wrong.train_uniform_init(X, Y, n_hidden, lr, epochs, seed)
        return p, [float(v) for v in np.linspace(1.0, 0.1, epochs)]

    passed, tags, message = _verdict("train", train, hidden=True)
    assert not passed and tags == []
    assert "your train(..., epochs=0) returned other parameters than init_params(" in message
    assert "losses[0] = 1 is not the loss of the parameters at the start of epoch 0" in message


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("fn", [*RIGHT["train"], reference.train], ids=lambda f: f.__name__)
def test_train_right_answers_pass(fn, hidden):
    passed, tags, message = _verdict("train", fn, hidden)
    assert passed and tags == [], message


def test_train_losses_twice_the_loss_name_m4_and_one_over_n_names_m5():
    def no_half(X, Y, n_hidden, lr, epochs, seed=0):
        params, losses = reference.train(X, Y, n_hidden, lr, epochs, seed)
        return params, [2 * v for v in losses]

    def mean(X, Y, n_hidden, lr, epochs, seed=0):
        params, losses = reference.train(X, Y, n_hidden, lr, epochs, seed)
        return params, [v / (X.shape[0] * Y.shape[1]) for v in losses]

    passed, tags, message = _verdict("train", no_half)
    assert (passed, tags) == (False, ["M4"]) and "twice the loss" in message
    passed, tags, message = _verdict("train", mean)
    assert (passed, tags) == (False, ["M5"]) and "1/12 (1/(n*o)) times the loss" in message


# ------------------------------------------------------------------- numerical_gradient (01)


def numerical_gradient_nudge_back(fn, W, eps=1e-5):
    """The common in-place nudge: +eps, -2 eps, +eps leaves W changed by a few ulps (an
    integer W is made float first: its own entries cannot take a nudge of eps)."""
    W = np.asarray(W, dtype=float)
    grad = np.zeros(W.shape)
    for ix in np.ndindex(W.shape):
        W[ix] += eps
        plus = fn(W)
        W[ix] -= 2 * eps
        minus = fn(W)
        W[ix] += eps
        grad[ix] = (plus - minus) / (2 * eps)
    return grad


def numerical_gradient_left_at_end(fn, W, eps=1e-5):
    """Right values, computed on a copy; then W itself is nudged and never put back."""
    grad = numerical_gradient_nudge_back(fn, W.copy(), eps)
    W.reshape(-1)[-1] += eps
    return grad


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_numerical_gradient_restored_to_rounding_level_passes(hidden):
    W = np.array([0.1, 0.7, -1.3, 2.9])
    W_before = W.copy()
    numerical_gradient_nudge_back(lambda w: float((w**2).sum()), W)
    assert (W != W_before).any(), "the nudge-back changes W by rounding: the case this holds"
    passed, tags, message = _verdict("numerical_gradient", numerical_gradient_nudge_back, hidden)
    assert passed and tags == [], message


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_numerical_gradient_m13_only_when_measured(hidden):
    passed, tags, message = _verdict(
        "numerical_gradient", wrong.numerical_gradient_unrestored, hidden
    )
    assert (passed, tags) == (False, ["M13", "M11"]), message
    assert "your answer is off by" in message and "(about eps = 1e-05)" in message
    passed, tags, message = _verdict("numerical_gradient", numerical_gradient_left_at_end, hidden)
    assert (passed, tags) == (False, ["M11"]), message  # right values: no O(eps) claimed
    assert "off by" not in message.splitlines()[0]
    passed, tags, message = _verdict("numerical_gradient", wrong.numerical_gradient_forward, hidden)
    assert (passed, tags) == (False, ["M13"]), message


# --------------------------------------------------------------------------- float32 (02)


def sigmoid_float32(z):
    z = np.asarray(z, dtype=np.float32)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_prime_float32(z):
    s = sigmoid_float32(z)
    return s * (1 - s)


def test_float32_is_called_precision_not_instability():
    passed, tags, message = _verdict("sigmoid", sigmoid_float32, hidden=True)
    assert (passed, tags) == (False, []), message
    assert "float32" in message and "precision" in message and "unstable" not in message
    passed, tags, message = _verdict("sigmoid_prime", sigmoid_prime_float32, hidden=True)
    assert (passed, tags) == (False, []), message
    assert "dtype float32 where float64 is expected" in message
    assert "values differ" not in message


# --------------------------------------------------------------------------- naming (D)


def _signature(value: np.ndarray) -> tuple:
    """A value rounded to 9 significant digits (equal numbers give equal signatures)."""
    flat = np.asarray(value, dtype=float).reshape(-1)
    with np.errstate(all="ignore"):
        rounded = (
            np.array([float(f"{v:.9g}") for v in flat]) if flat.size < 50 else np.round(flat, 9)
        )
    return (value.shape, rounded.tobytes())


def _coinciding(name: str, case_list: list) -> list[str]:
    """Pairs of candidate mistakes (or a mistake and the right answer) that give the same value
    on every case of the set used to name them."""

    from grader.judge import diagnose, expect

    found = []
    for comp in expect.COMPONENTS[name]:
        rows: dict[tuple, list] = {}
        for case in case_list:
            exp = expect.expected(case, hidden=True)[comp]
            values = {("the expected answer", "1", False): exp}
            inputs = inputs_of(case)
            for cand in diagnose.candidates(name, comp, inputs, case["context"], exp):
                if cand.noise:  # rounding noise around the slope: named by its bound, last
                    continue
                values.setdefault(cand.key, cand.value)
            for key, value in values.items():
                rows.setdefault(key, []).append(_signature(value))
        groups: dict[tuple, list] = {}
        for key, sigs in rows.items():
            if len(sigs) == len(case_list):  # defined on every case
                groups.setdefault(tuple(sigs), []).append(key)
        found += [f"{name}/{comp}: {keys}" for keys in groups.values() if len(keys) > 1]
    return found


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("name", [n for n in cases.FUNCTIONS if n != "train"])
def test_no_two_candidate_mistakes_coincide_on_the_cases_that_name_them(name, hidden):
    case_list = cases.hidden_cases(name) if hidden else cases.visible_cases(name)
    assert _coinciding(name, case_list) == []


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(
    ("fn", "needle"),
    [
        (lambda x, z: 6 * x * z, "your answer equals 6 x z (the derivative of 2 x z^2 is missing)"),
        (lambda x, z: 3 * x * z + 2 * z**2, "the values differ"),
        (lambda x, z: 3 * x**2 * z + 2 * x * z**2, "your answer equals f(x, z) itself"),
        (lambda x, z: 3 * x**2 + 4 * x * z, "your answer equals 3 x^2 + 4 x z (that is df/dz"),
    ],
    ids=["6xz", "3xz+2z^2", "f", "df_dz"],
)
def test_df_dx_mistakes_are_named_from_every_case(fn, needle, hidden):
    passed, tags, message = _verdict("df_dx", fn, hidden)
    assert (passed, tags) == (False, []), message
    assert needle in message.splitlines()[0], message
    assert "df/dz" not in message or "3 x^2 + 4 x z" in message


def test_m5_names_the_factor_measured():
    def grad_W2_over_n_o_twice(H, delta2):
        return 2 * H.T @ delta2 / (H.shape[0] * delta2.shape[1])

    passed, tags, message = _verdict("grad_W2", grad_W2_over_n_o_twice)
    assert (passed, tags) == (False, ["M4", "M5"]), message
    assert "2/10 (2/(n*o)) times" in message and "(1/n)" not in message


# --------------------------------------------------------------------------- hints (D)

EARLY = (
    "df_dx",
    "df_dz",
    "numerical_derivative",
    "numerical_gradient",
    "sigmoid",
    "sigmoid_prime",
    "sigmoid_prime_from_output",
)
NETWORK_WORDS = ("Y_hat", "Y - ", "delta", "H * (1 - H)", "(n, h)", "(h, o)", "the loss")


def _possible_tags(name: str) -> set[str]:
    from grader.judge import diagnose, expect

    tags = {"M10", "M11"}
    if name in ("sigmoid", "sigmoid_prime"):
        tags.add("M12")
    if name in ("numerical_derivative", "numerical_gradient"):
        tags.add("M13")
    for case in cases.hidden_cases(name):
        for comp in expect.COMPONENTS[name]:
            exp = expect.expected(case, hidden=True)[comp]
            inputs = inputs_of(case)
            for cand in diagnose.candidates(name, comp, inputs, case["context"], exp):
                tags.update(cand.tags)
    return tags


@pytest.mark.parametrize("name", EARLY)
def test_hints_of_notebooks_01_02_talk_about_their_own_function(name):
    from grader.judge import diagnose

    tags = sorted(_possible_tags(name))
    assert len(tags) > 2, tags  # more than the M10, M11 every function has
    for tag in tags:
        hint = diagnose.hint_for(name, tag)
        assert not [w for w in NETWORK_WORDS if w in hint], (name, tag, hint)


def test_train_ascent_gets_a_step_hint_and_grad_w1_its_own_shapes():
    result = checks.run_check("train", wrong.train_uphill)
    assert result.misconceptions == ["M3"]
    assert result.hint.startswith("gradient descent steps against the gradient")
    result = checks.run_check("grad_W1", lambda X, delta1: delta1.T @ X)
    assert (result.passed, result.misconceptions) == (False, ["M1"])
    assert "X^T (c, n) times delta1 (n, h) gives (c, h)" in result.message
    assert "(h, o)" not in result.message


@pytest.mark.parametrize("name", ["grad_b2", "grad_b1"])
def test_bias_summed_over_the_wrong_axis_is_told_the_axis(name):
    passed, tags, message = _verdict(name, lambda delta: delta.sum(axis=1))
    assert (passed, tags) == (False, ["M2"]), message
    assert "the sum ran over axis 1 (the columns) instead of axis 0 (the samples)" in message
    assert ".sum(axis=0)" in message and "check the product" not in message


# --------------------------------------------------------------------------- a real kernel (E)


@pytest.mark.slow
def test_in_a_real_kernel_prints_show_and_failures_show_no_grader_frames():
    """A test cell as nbgrader runs it: the student's print() inside the graded function shows
    in the cell's stdout (also when the check fails), nothing goes to stderr, and the error's
    traceback is the test cell's line and the message, without the grader's frames."""
    import re
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    tests = Path(__file__).resolve().parent
    setup = f"import sys\nsys.path.insert(0, {str(tests)!r})\nimport numpy as np"
    student = (
        "def grad_b2(delta2):\n"
        "    print('shape of delta2:', delta2.shape)\n"
        "    return delta2.sum(axis=1)\n"
    )
    right = "def grad_b1(delta1):\n    print('summing', delta1.shape)\n    return delta1.sum(0)\n"
    cells = [
        setup,
        student,
        "from backprop_checks import checks\n\nchecks.check_grad_b2(grad_b2)",
        right,
        "checks.check_grad_b1(grad_b1)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    failing, passing = nb.cells[2].outputs, nb.cells[4].outputs
    for out in (failing, passing):
        assert not [o for o in out if o.get("name") == "stderr"], out
    assert [o.output_type for o in failing] == ["stream", "error"], failing
    assert "shape of delta2: (5, 2)" in failing[0].text
    error = failing[1]
    assert error.ename == "CheckFailure" and "[M2]" in error.evalue
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
    assert "checks.check_grad_b2(grad_b2)" in shown  # the student's frame: the test cell
    assert "grader" + "/checks.py" not in shown and "in check(" not in shown, shown
    assert "raise CheckFailure" not in shown, shown
    assert "the sum ran over axis 1" in shown
    assert [o.output_type for o in passing] == ["stream"]
    assert passing[0].text.splitlines() == [
        "summing (5, 4)",
        "summing (2, 2)",
        "grad_b1: right on all 2 visible examples.",
    ]


# --------------------------------------------------------------------------- own helpers


def _sigmoid_overflowing(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_prime_own_helper(z):
    """Right, written with the student's own sigmoid (which overflows)."""
    s = _sigmoid_overflowing(z)
    return s * (1 - s)


def _sigmoid_typo(z):
    return 1 / (1 + np.exp(-zz))  # noqa: F821 - the student's typo


def sigmoid_prime_broken_helper(z):
    s = _sigmoid_typo(z)
    return s * (1 - s)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_a_failing_helper_is_named_not_the_function(hidden):
    passed, tags, message = _verdict("sigmoid_prime", sigmoid_prime_own_helper, hidden)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "sigmoid_prime: your sigmoid_prime calls your _sigmoid_overflowing, which makes numpy "
        "warn 'overflow encountered in exp' on inputs as large as 1000: fix "
        "_sigmoid_overflowing first (its own check says how), then run this cell again."
    )
    passed, tags, message = _verdict("sigmoid_prime", sigmoid_prime_broken_helper, hidden)
    assert (passed, tags) == (False, []), message
    assert "calls your _sigmoid_typo, which raised NameError" in message
    assert "fix _sigmoid_typo first" in message


def test_the_same_formula_inline_is_the_functions_own_m12():
    passed, tags, message = _verdict("sigmoid_prime", wrong.sigmoid_prime_naive)
    assert (passed, tags) == (False, ["M12"]), message


def _across_the_process_boundary(name: str, obs: list, tmp_path) -> list:
    """Observations as the verification process sends them: pickled into its results file
    and read back by grader.verify's restricted unpickler."""
    import pickle

    from grader.verify import launch as verify

    path = tmp_path / "results.pkl"
    with path.open("wb") as f:
        pickle.dump((name, {"visible": obs}), f, protocol=4)
    return verify.read_results(path)[name]["visible"]


def test_helper_names_survive_the_process_boundary(tmp_path):
    """The verification process sends observations as data: the helper goes with them."""
    from backprop_checks.observe import observe_cases

    case_list = cases.visible_cases("sigmoid_prime")
    obs = observe_cases(sigmoid_prime_own_helper, case_list)
    shipped = _across_the_process_boundary("sigmoid_prime", obs, tmp_path)
    assert shipped[0].warned_in and set(shipped[0].warned_in) == {"_sigmoid_overflowing"}
    result = checks.judge("sigmoid_prime", case_list, shipped, hidden=False)
    assert "calls your _sigmoid_overflowing" in result.message


# --------------------------------------------------------------------------- composites (05)
# A composite function (backprop, train) is graded with the student's own helpers: when one
# fails its own check, that helper is named; when the helpers pass, an exception raised in
# one of them (or in a provided function) is blamed on the call that gave it its arguments.

_TRAIN_HEAD = (
    "def train(X, Y, n_hidden, lr, epochs, seed=0):\n"
    "    p = init_params(X.shape[1], n_hidden, Y.shape[1], seed)\n"
)
_TRAIN_LOOP = (
    "    losses = []\n"
    "    for _ in range(epochs):\n"
    "        _, Y_hat = forward(X, **p)\n"
    "        losses.append(sse_loss(Y_hat, Y))\n"
    "        g = backprop(X, Y, **p)\n"
    "        p = {k: v - lr * g[k] for k, v in p.items()}\n"
    "    return p, losses\n"
)


def _backprop_source(forward_call: str, hidden_delta_call: str) -> str:
    return (
        "def backprop(X, Y, W1, b1, W2, b2):\n"
        f"    H, Y_hat = {forward_call}\n"
        "    d2 = output_delta(Y_hat, Y)\n"
        f"    delta1 = {hidden_delta_call}\n"
        '    return {"W1": grad_W1(X, delta1), "b1": grad_b1(delta1),\n'
        '            "W2": grad_W2(H, d2), "b2": grad_b2(d2)}\n'
    )


_HD_DOUBLE_SIGMOID = (
    "def hidden_delta(delta2, W2, H):\n    return (delta2 @ W2.T) * sigmoid(H) * (1 - sigmoid(H))\n"
)
_M6_SAID = (
    "[M6] the double-sigmoid mistake (as in the lecture notes): the sigmoid applied again to "
    "an activation: your answer equals (delta2 @ W2.T) * sigma(H) (1 - sigma(H)) (the "
    "sigmoid applied again to H, which is already an activation)"
)


@pytest.mark.parametrize(
    ("cells", "fn", "head"),
    [
        (
            {"hidden_delta": _HD_DOUBLE_SIGMOID},
            "backprop",
            f"backprop: your backprop calls your hidden_delta, which fails its own check "
            f"({_M6_SAID}): fix hidden_delta first, then run this cell again.",
        ),
        (
            {"hidden_delta": _HD_DOUBLE_SIGMOID},
            "train",
            f"train: your train calls your hidden_delta (through your backprop), which fails "
            f"its own check ({_M6_SAID}): fix hidden_delta first, then run this cell again.",
        ),
        (
            {"grad_W1": "def grad_W1(X, delta1):\n    return X.T @ delta1 / len(X)\n"},
            "backprop",
            "backprop: your backprop calls your grad_W1, which fails its own check ([M5] a mean "
            "where the course uses a sum: your answer equals 1/5 (1/n) times the expected "
            "answer): fix grad_W1 first, then run this cell again.",
        ),
        (
            {"grad_b1": "def grad_b1(delta1):\n    return delta1.sum(axis=1)\n"},
            "train",
            "train: your train calls your grad_b1 (through your backprop), which fails its own "
            "check ([M2] wrong shape: expected shape (4,), got (5,) (inputs: delta1 (5, 4)): "
            "one entry per sample, so the sum ran over axis 1 (the columns) instead of axis 0 "
            "(the samples)): fix grad_b1 first, then run this cell again.",
        ),
    ],
    ids=["hidden_delta-backprop", "hidden_delta-train", "grad_W1-backprop", "grad_b1-train"],
)
def test_a_composite_names_the_helper_that_fails_its_own_check(cells, fn, head):
    from notebook05_ns import student_05

    passed, tags, message = _verdict(fn, student_05(**cells)[fn])
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == head


@pytest.mark.parametrize(
    ("cells", "fn", "head"),
    [
        (
            {
                "train": _TRAIN_HEAD.replace("n_hidden, Y.shape[1]", "Y.shape[1], n_hidden")
                + _TRAIN_LOOP
            },
            "train",
            'train: your train(..., epochs=0) returns params["W1"]: expected shape (3, 3), got '
            "(3, 2) (inputs: X (6, 3), Y (6, 2)): the starting weights have the wrong shapes; "
            "they are init_params(c, n_hidden, o, seed) = init_params(3, 3, 2, seed), in that "
            "order.",
        ),
        (
            {"backprop": _backprop_source("forward(X, W1, W2, b1, b2)", "hidden_delta(d2, W2, H)")},
            "backprop",
            "backprop: your backprop calls the notebook's provided forward(X (5, 3), W1 (3, 4), "
            "b1 (4, 2), W2 (4,), b2 (2,)), which raised ValueError: operands could not be "
            "broadcast together with shapes (5,4) (4,2) (line 17, in forward). forward is given "
            "by the notebook, so the call in your backprop gives it arguments it cannot use: "
            "check their order and shapes against forward's docstring.",
        ),
        (
            {"backprop": _backprop_source("forward(X, W1, b1, W2, b2)", "hidden_delta(d2, H, W2)")},
            "backprop",
            "backprop: your backprop calls your hidden_delta(delta2 (5, 2), W2 (5, 4), "
            "H (4, 2)), which raised ValueError: matmul: Input operand 1 has a mismatch in its "
            "core dimension 0, with gufunc signature (n?,k),(k,m?)->(n?,m?) (size 4 is "
            "different from 2) (line 2, in hidden_delta). hidden_delta passes its own check, "
            "so the call in your backprop gives it arguments it cannot use: check their order "
            "and shapes against hidden_delta's docstring.",
        ),
        (
            {
                "train": _TRAIN_HEAD
                + _TRAIN_LOOP.replace(
                    "backprop(X, Y, **p)", 'backprop(X, p["W1"], p["b1"], p["W2"], p["b2"], Y)'
                )
            },
            "train",
            "train: your train calls your backprop(X (6, 3), Y (3, 3), W1 (3,), b1 (3, 2), "
            "W2 (2,), b2 (6, 2)), which raised ValueError: operands could not be broadcast "
            "together with shapes (6,) (3,2) (line 17, in forward). backprop passes its own "
            "check, so the call in your train gives it arguments it cannot use: check their "
            "order and shapes against backprop's docstring.",
        ),
    ],
    ids=["init_params-swapped", "forward-swapped", "hidden_delta-swapped", "backprop-swapped"],
)
def test_bad_arguments_are_blamed_on_the_call_not_the_callee(cells, fn, head):
    from notebook05_ns import student_05

    passed, tags, message = _verdict(fn, student_05(**cells)[fn])
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == head
    assert "first" not in message


def test_provided_functions_are_the_notebooks_provided_cells():
    """checks.PROVIDED (never called "your ...") is what the locked provided cells define."""
    import re

    from notebook05_ns import provided_source

    from grader.course import ASSIGNMENTS

    assert set(checks.PROVIDED) <= set(ASSIGNMENTS), checks.PROVIDED
    for assignment in ASSIGNMENTS:
        src = provided_source(assignment)
        defined = frozenset(re.findall(r"^def (\w+)", src, re.M))
        assert checks.PROVIDED.get(assignment, frozenset()) == defined, assignment


# --------------------------------------------------------------------------- axes and shapes


def _grad_b2_squeezed(delta2):
    return np.squeeze(np.sum(delta2, axis=0))


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_a_squeezed_length_1_axis_is_named_not_a_sum_over_both_axes(hidden):
    passed, tags, message = _verdict("grad_b2", _grad_b2_squeezed, hidden)
    assert (passed, tags) == (False, ["M2"]), message
    assert message.splitlines()[0] == (
        "grad_b2: [M2] wrong shape: expected shape (1,), got (): the right numbers, but the "
        "axis of length 1 (o = 1 here) was squeezed away; keep the shape (o,): no np.squeeze, "
        "[0] or .item() on the result."
    )
    assert "both axes" not in message


def test_a_single_number_for_a_bias_does_not_claim_which_sum_it_was():
    passed, tags, message = _verdict("grad_b1", lambda delta1: float(np.sum(delta1)))
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "grad_b1: a single number (float) where an array of shape (h,) is due: sum delta1 "
        "over axis 0 (the samples) only, delta1.sum(axis=0), and return that array (no "
        "float(), .item() or np.squeeze, even when it has one entry)."
    )


def _sse_loss_axis0(Y_hat, Y):
    return 0.5 * np.sum((Y_hat - Y) ** 2, axis=0)


def _sse_loss_axis0_float(Y_hat, Y):
    return float(0.5 * np.sum((Y_hat - Y) ** 2, axis=0))


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_a_loss_summed_over_one_axis_says_so(hidden):
    passed, tags, message = _verdict("sse_loss", _sse_loss_axis0, hidden)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "sse_loss: expected a float, got a numpy.ndarray of shape (2,): the sum ran over axis 0 "
        "(the samples) only: one number per output, shape (o,); the loss is one number, the "
        "sum over all samples and outputs: np.sum(...) with no axis, then float(...)."
    )
    passed, tags, message = _verdict("sse_loss", _sse_loss_axis0_float, hidden)
    assert (passed, tags) == (False, []), message
    head = message.splitlines()[0]
    assert head.startswith("sse_loss: your function raised TypeError: only 0-dimensional")
    assert head.endswith(
        ": float(...) was given an array of several numbers, so the sum inside ran over one "
        "axis only; sum over all entries (np.sum(...) with no axis), then float(...)."
    )
    assert "n = 1 included" not in message


# --------------------------------------------------------------------------- what a notebook has


def _df_dz_xor(x, z):
    return 3 * x ^ 2 + 4 * x * z


def test_caret_for_a_power_is_told_to_use_double_star():
    passed, tags, message = _verdict("df_dz", _df_dz_xor)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0].endswith(
        "In Python ^ is bitwise XOR, not a power: use ** for powers (z ** 2, not z^2)."
    )
    assert message.splitlines()[-1] == (
        "Where to look: write powers with **: 3 * x ** 2 * z, not 3 * x^2 * z."
    )


def test_notebook_01_type_errors_talk_about_numbers_not_n():
    passed, tags, message = _verdict("df_dx", lambda x, z: x.shape)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[-1] == (
        "Where to look: check the arguments' types in the docstring; the checks call your "
        "function with plain numbers and with numpy arrays (x and z of one shape), so use "
        "operations that work on both."
    )


def _numerical_derivative_forward(g, x, eps=1e-5):
    return (g(x + eps) - g(x)) / eps


def test_numerical_derivative_m13_talks_about_x_not_w():
    passed, tags, message = _verdict("numerical_derivative", _numerical_derivative_forward)
    assert (passed, tags) == (False, ["M13"]), message
    assert message.splitlines()[0] == (
        "numerical_derivative: [M13] a numerical derivative off by O(eps): a forward "
        "difference where the central one is due: your answer equals the forward difference "
        "(g(x + eps) - g(x)) / eps."
    )
    assert message.splitlines()[-1] == (
        "Where to look: use the central difference (g(x + eps) - g(x - eps)) / (2 * eps), not "
        "the forward difference (g(x + eps) - g(x)) / eps."
    )
    assert " W" not in message and "entry" not in message and "entries" not in message


@pytest.mark.parametrize(
    ("name", "fn", "tags", "hint"),
    [
        (
            "output_delta",
            lambda Y_hat, Y: Y_hat - Y,
            ["M7"],
            "the output error signal carries the sigmoid's derivative: multiply (Y_hat - Y) "
            "elementwise by Y_hat * (1 - Y_hat).",
        ),
        (
            "grad_b2",
            lambda delta2: delta2,
            ["M9"],
            "b2 is added to every sample, so its gradient adds up every sample's share: "
            "delta2.sum(axis=0) over the n rows gives shape (o,).",
        ),
    ],
    ids=["output_delta-M7", "grad_b2-M9"],
)
def test_notebook_04_hints_name_only_what_notebook_04_has(name, fn, tags, hint):
    passed, got_tags, message = _verdict(name, fn)
    assert (passed, got_tags) == (False, tags), message
    assert message.splitlines()[-1] == f"Where to look: {hint}"
    assert "H * (1 - H)" not in message and "(h,)" not in message


def _output_delta_earlier_notebook(Y_hat, Y):
    return (Y_hat - Y) * sigmoid_prime_from_output(Y_hat)  # noqa: F821 - as in notebook 04


def test_a_function_of_an_earlier_notebook_is_not_available_here():
    passed, tags, message = _verdict("output_delta", _output_delta_earlier_notebook)
    assert (passed, tags) == (False, []), message
    head = message.splitlines()[0]
    assert head.endswith(
        "sigmoid_prime_from_output is a function of notebook 02_sigmoid_derivative, not "
        "available in this notebook (04_backprop_W2): use the notebook's provided functions "
        "(forward, numerical_gradient, rel_error, sigmoid, sse_loss) or write what it "
        "computes inline."
    )
    assert "run the cells" not in message
    assert message.splitlines()[-1] == (
        "Where to look: sigmoid_prime_from_output: given a = sigma(z), the derivative is "
        "a * (1 - a)."
    )


# --------------------------------------------------------------------------- [M12] wording

_M12_HINT = (
    "Where to look: np.where(cond, a, b) computes both a and b on every entry before "
    "choosing, so an exp in either branch still overflows where it is not chosen: compute "
    "e = np.exp(-np.abs(z)) (never above 1) and build both branches from e, or clip the "
    "input of exp (np.clip(z, -500, 500))."
)


def _sigmoid_where_both_branches(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))


def _sigmoid_prime_through_inf(z):
    return np.exp(-z) / (1 + np.exp(-z)) ** 2


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_m12_names_the_overflowing_inputs_and_np_where_evaluating_both_branches(hidden):
    passed, tags, message = _verdict("sigmoid", _sigmoid_where_both_branches, hidden)
    assert (passed, tags) == (False, ["M12"]), message
    assert message.splitlines()[0] == (
        "sigmoid: [M12] a numerically unstable sigmoid: numpy warned 'overflow encountered "
        "in exp' on inputs from -1000 to 1000: exp overflows for arguments above about 709, "
        "so your formula computes exp(-z) at z = -1000 or exp(z) at z = 1000."
    )
    assert message.splitlines()[-1] == _M12_HINT
    assert "stderr" not in message and "nbgrader" not in message


def test_one_m12_line_for_a_nan_and_its_warning():
    passed, tags, message = _verdict("sigmoid_prime", _sigmoid_prime_through_inf)
    assert (passed, tags) == (False, ["M12"]), message
    assert message.count("[M12]") == 1, message
    assert message.splitlines()[0] == (
        "sigmoid_prime: [M12] a numerically unstable sigmoid: your answer contains nan or inf "
        "(first at index (0,), where the input is -1000); numpy warned 'overflow encountered "
        "in exp' on inputs from -1000 to 1000: exp overflows for arguments above about 709, "
        "so your formula computes exp(-z) at z = -1000 or exp(z) at z = 1000."
    )


# --------------------------------------------------------------------------- minor wording


def _numerical_gradient_left_nudged(fn, W, eps=1e-5):
    grad = np.zeros_like(W)
    for ix in np.ndindex(W.shape):
        W[ix] += eps
        f_plus = fn(W)
        W[ix] -= 2 * eps
        f_minus = fn(W)
        grad[ix] = (f_plus - f_minus) / (2 * eps)
    return grad


def test_expected_and_got_rows_show_enough_digits_to_differ():
    passed, tags, message = _verdict("numerical_gradient", _numerical_gradient_left_nudged)
    assert (passed, tags) == (False, ["M13", "M11"]), message
    lines = message.splitlines()
    expected = next(line for line in lines if line.startswith("  expected "))
    got = next(line for line in lines if line.startswith("  got      "))
    assert expected.removeprefix("  expected ") != got.removeprefix("  got      "), message


def _train_w1_step_doubled(X, Y, n_hidden, lr, epochs, seed=0):
    p = reference.init_params(X.shape[1], n_hidden, Y.shape[1], seed)
    losses = []
    for _ in range(epochs):
        _, Y_hat = reference.forward(X, **p)
        losses.append(reference.sse_loss(Y_hat, Y))
        g = reference.backprop(X, Y, **p)
        p = {k: v - (2 if k == "W1" else 1) * lr * g[k] for k, v in p.items()}
    return p, losses


def test_train_step_message_says_largest_difference_once():
    passed, tags, message = _verdict("train", _train_w1_step_doubled)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0].startswith(
        "train: one epoch does not move the parameters by -lr * dL/dW (largest difference in "
        "W1 at index ("
    ), message
    assert message.count("largest difference") == 1, message


def _sigmoid_silenced(z):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_notebook_02_prose_says_what_the_sigmoid_check_enforces(hidden):
    """The checks see warnings and values, not an inf silenced inside the function: notebook
    02 says so rather than promising [M12] for it."""
    import json

    from notebook05_ns import ROOT

    passed, tags, message = _verdict("sigmoid", _sigmoid_silenced, hidden)
    assert (passed, tags) == (True, []), message
    nb = json.loads(
        (ROOT / "source" / "02_sigmoid_derivative" / "02_sigmoid_derivative.ipynb").read_text()
    )
    prose = " ".join("".join(c["source"]) for c in nb["cells"] if c.get("id") == "overflow-md")
    prose = " ".join(prose.split())
    assert 'a warning you silence yourself (`with np.errstate(over="ignore"):`) never reaches' in (
        prose
    )
    assert "a formula that still computes $e^{1000}$ passes when it silences the warning" in prose


def test_notebook_02_sigmoid_prime_names_the_students_own_failing_sigmoid():
    ns = {"np": np}
    exec(  # noqa: S102 - the notebook's two cells, in one namespace as in the kernel
        "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n\n"
        "def sigmoid_prime(z):\n    s = sigmoid(z)\n    return s * (1 - s)\n",
        ns,
    )
    passed, tags, message = _verdict("sigmoid_prime", ns["sigmoid_prime"])
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "sigmoid_prime: your sigmoid_prime calls your sigmoid, which fails its own check ([M12] "
        "a numerically unstable sigmoid: numpy warned 'overflow encountered in exp' on inputs "
        "from -1000 to 1000: exp overflows for arguments above about 709, so your formula "
        "computes exp(-z) at z = -1000 or exp(z) at z = 1000): fix sigmoid first, then run "
        "this cell again."
    )


def test_the_call_chain_survives_the_process_boundary(tmp_path):
    """Out of process there is no student code to read: a provided callee is still blamed on
    the call, from the chain the observation carries."""
    from backprop_checks.observe import observe_cases
    from notebook05_ns import student_05

    ns = student_05(
        backprop=_backprop_source("forward(X, W1, W2, b1, b2)", "hidden_delta(d2, W2, H)")
    )
    case_list = cases.visible_cases("backprop")
    obs = observe_cases(ns["backprop"], case_list)
    shipped = _across_the_process_boundary("backprop", obs, tmp_path)
    assert shipped[0].error.chain == obs[0].error.chain
    assert [f for f, _ in shipped[0].error.chain] == ["backprop", "forward"]
    result = checks.judge("backprop", case_list, shipped, hidden=False)
    assert result.message.splitlines()[0].startswith(
        "backprop: your backprop calls the notebook's provided forward(X (5, 3), W1 (3, 4), "
        "b1 (4, 2), W2 (4,), b2 (2,)), which raised ValueError"
    )


# ------------------------------------------------ messages that misled (issue 21, item 7)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_no_copy_no_restore_is_named_only_as_w_left_perturbed(hidden):
    passed, tags, message = _verdict(
        "numerical_gradient", wrong.numerical_gradient_no_copy_no_restore, hidden
    )
    assert (passed, tags) == (False, ["M13", "M11"]), message
    head = message.splitlines()[0]
    assert head.startswith(
        "numerical_gradient: [M13][M11] W left perturbed: after your function returned, W had "
        "changed entries by up to 1e-05 (about eps = 1e-05)"
    ), head
    assert "forward difference" not in message and "changed its inputs" not in message
    assert message.count("perturbed") == 1 and message.splitlines()[1].startswith("  on ")
    assert message.splitlines()[-1] == (
        "Where to look: work on a copy, W = np.array(W, dtype=float), and put each entry back "
        "to its old value before moving to the next."
    )


def test_train_that_changes_x_is_told_that_first_and_alone():
    passed, tags, message = _verdict("train", wrong.train_centres_X_in_place)
    assert (passed, tags) == (False, ["M11"]), message
    lines = message.splitlines()
    assert lines[0].startswith(
        "train: [M11] your function changed its inputs: X was changed in place (entries by up "
        "to 0.318): the caller's X is changed, and the run trained on other data"
    ), lines[0]
    assert lines[1].startswith("  on visible example 1") and len(lines) == 3, message
    assert "shape (1,)" not in message and "losses[0]" not in message


def _train_w1_step_and_losses_off(X, Y, n_hidden, lr, epochs, seed=0):
    params, losses = reference.init_params(X.shape[1], n_hidden, Y.shape[1], seed), []
    for _ in range(epochs):
        _, Y_hat = reference.forward(X, **params)
        losses.append(1.5 * reference.sse_loss(Y_hat, Y))
        g = reference.backprop(X, Y, **params)
        g["W1"] = 2 * g["W1"]
        params = {k: v - lr * g[k] for k, v in params.items()}
    return params, losses


def test_train_shows_one_loss_as_losses_0_not_an_array_of_shape_1():
    passed, _, message = _verdict("train", _train_w1_step_and_losses_off)
    assert not passed and "epochs = 30" in message
    assert "shape (1,)" not in message, message
    assert "  expected losses[0] 0.793786" in message.splitlines()


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_a_delta_divided_by_n_is_named_so_not_sum_versus_mean(hidden):
    passed, tags, message = _verdict("output_delta", wrong.output_delta_over_n, hidden)
    assert (passed, tags) == (False, ["M5"]), message
    assert message.splitlines()[0].startswith(
        "output_delta: [M5] divided by the number of samples: the loss is a sum over the "
        "samples, not a mean: your answer equals 1/5 (1/n) times the expected answer."
    )
    assert ".sum" not in message and ".mean" not in message
    assert "delta2 = (Y_hat - Y) * Y_hat * (1 - Y_hat) is computed sample by sample" in message

    def hidden_delta_over_n(delta2, W2, H):
        return (delta2 @ W2.T) * H * (1 - H) / len(H)

    passed, tags, message = _verdict("hidden_delta", hidden_delta_over_n, hidden)
    assert (passed, tags) == (False, ["M5"]), message
    assert "divided by the number of samples" in message and ".sum" not in message


def test_a_list_from_df_dz_is_told_to_return_an_array():
    passed, tags, message = _verdict("df_dz", wrong.df_dz_list)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "df_dz: expected an array, got a list: return a numpy array of shape (4,)."
    )
    assert message.splitlines()[-1].startswith(
        "Where to look: return a numpy array of shape (4,), not a list"
    )
    assert "differentiate" not in message


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_backprop_with_the_bias_gradients_swapped_is_called_a_swap(hidden):
    passed, tags, message = _verdict("backprop", wrong.backprop_biases_swapped, hidden)
    assert (passed, tags) == (False, []), message
    lines = message.splitlines()
    assert lines[0] == (
        "backprop: b1: your answer equals dL/db2 (the gradients of b1 and b2 are swapped: the "
        'key "b1" is for dL/db1).'
    )
    assert lines[1].startswith("b2: your answer equals dL/db1 (the gradients of b1 and b2")
    assert "wrong shape" not in message and "[M2]" not in message


def test_a_forward_that_reads_the_notebooks_globals_is_told_about_its_arguments():
    passed, tags, message = _verdict("forward", wrong.forward_reads_globals)
    assert (passed, tags) == (False, []), message  # no [M2]: the shapes are the globals'
    assert "wrong shape" not in message and message.splitlines()[1].startswith("  on ")
    assert message.splitlines()[0] == (
        "forward: your forward reads the notebook's global X (2, 4), W1 (4, 2), b1 (2,), W2 "
        "(2, 1), b2 (1,), not an argument: its def line is forward(x, w1, bias1, w2, bias2), "
        "so X, W1, b1, W2, b2 inside it are the notebook's example arrays, whatever the "
        "check passes."
    )
    hint = (
        "Where to look: compute from the arguments only: with the def line forward(X, W1, b1, "
        "W2, b2) the names inside the function are the arguments the caller passes"
    )
    assert message.splitlines()[-1].startswith(hint)
    passed, _, message = _verdict("forward", wrong.forward_reads_global_weights)
    assert not passed and "raised ValueError" in message
    assert message.splitlines()[0].startswith(
        "forward: your forward reads the notebook's global W1 (4, 2), b1 (2,), W2 (2, 1), b2 "
        "(1,), not an argument: its def line is forward(X_in, W1_in, b1_in, W2_in, b2_in)"
    )
    assert message.splitlines()[-1].startswith(hint)


# ---------------------------------------------- an integer W (issue 21, item 4)


def test_the_visible_and_hidden_checks_have_an_integer_w():
    from backprop_checks.catalog import visible_cases

    student = [c["args"]["W"].dtype.kind for c in visible_cases("numerical_gradient")]
    # the third, before the large eps's example (appended after it, so no case moved)
    assert student == ["f", "f", "i", "f"]
    hidden = [c for c in cases.hidden_cases("numerical_gradient") if c["kind"] == "hidden"]
    assert [c["args"]["W"].dtype.kind for c in hidden].count("i") == 1
    W = next(c["args"]["W"] for c in hidden if c["args"]["W"].dtype.kind == "i")
    assert W[0] == 0 and W[1] > 0 and W[2] < 0  # every way a cast cuts a nudge


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_a_copy_that_keeps_an_integer_dtype_fails_and_is_named(hidden):
    passed, tags, message = _verdict(
        "numerical_gradient", wrong.numerical_gradient_integer_copy, hidden
    )
    assert (passed, tags) == (False, []), message
    lines = message.splitlines()
    assert lines[0].startswith(
        "numerical_gradient: your answer equals the central differences taken on an integer "
        "copy of W, stored in an integer array (W holds integers (int64), and W.copy() (or "
        "nudging W itself) keeps that dtype, as does np.zeros_like(W)"
    ), lines[0]
    assert "np.array(W, dtype=float)" in lines[0] and "np.zeros(W.shape)" in lines[0]
    assert lines[1] == (
        "  on visible example 3 (W of integers); inputs: fn = a function of W with square and "
        "cube terms, W (2, 2) of integers (int64)."
    )
    passed, tags, message = _verdict(
        "numerical_gradient", wrong.numerical_gradient_integer_result, hidden
    )
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0].startswith(
        "numerical_gradient: your answer equals the slopes cut to whole numbers (W holds "
        "integers (int64), and np.zeros_like(W) keeps that dtype"
    )


def test_nudging_an_integer_w_itself_is_named_as_that_first_and_alone():
    passed, tags, message = _verdict(
        "numerical_gradient", wrong.numerical_gradient_nudges_integer_w
    )
    assert (passed, tags) == (False, ["M11"]), message
    assert message.splitlines()[0] == (
        "numerical_gradient: [M11] your function changed its inputs: W holds integers (int64) "
        "here and your function nudged W itself: W[ix] + eps and W[ix] - eps were cut back to "
        "whole numbers, so the slopes are not slopes, and W was left changed (entries by up "
        "to 1)."
    )
    assert "values differ" not in message


# ---------------------------------------------- a bad step (issue 21, item 5)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(
    "fn",
    wrong.numerical_derivative_bad_steps + wrong.numerical_gradient_bad_steps,
    ids=lambda fn: fn.__name__,
)
def test_a_central_difference_with_a_bad_step_is_named_as_a_bad_step(fn, hidden):
    name = fn.__name__.split("_step_")[0]
    h = float(fn.__name__.split("_step_")[1])
    passed, tags, message = _verdict(name, fn, hidden)
    assert (passed, tags) == (False, []), message
    head = message.splitlines()[0]
    plural = "s" if name == "numerical_gradient" else ""
    # a step far below eps gives rounding noise: its decade cannot be read from the answer
    step = f"with step h = {h:g}" if h > 1e-5 else "with a step h far below eps"
    assert head.startswith(
        f"{name}: your answer equals the central difference{plural} {step} (a step "
        f"{'larger' if h > 1e-5 else 'smaller'} than the eps it is given (1e-05)"
    ), head
    assert "forward" not in message and "[M13]" not in message
    assert head.endswith("use eps as the step).")


def _another_cpu(fn, seed: int, *, structure: str):
    """A numerical_gradient / numerical_derivative with step 1e-13 as another CPU or another
    loop would compute it: each value of the function it is given is off by a few units in
    the last place (numpy's SIMD paths, another BLAS kernel, another summation order), and
    the loop nudges W in another way ("copies": a fresh copy per nudge, W + h * unit)."""
    rng = np.random.default_rng(seed)
    h = 1e-13

    def jitter(value: float) -> float:
        return float(value) * (1.0 + float(rng.integers(-3, 4)) * 2.2e-16)

    if fn == "numerical_derivative":

        def numerical_derivative(g, x, eps=1e-5):
            return (jitter(g(x + h)) - jitter(g(x - h))) / (2 * h)

        return numerical_derivative

    def numerical_gradient(fn, W, eps=1e-5):
        W = np.array(W, dtype=float)
        grad = np.zeros(W.shape)
        for ix in np.ndindex(W.shape):
            if structure == "copies":
                unit = np.zeros(W.shape)
                unit[ix] = 1.0
                grad[ix] = (jitter(fn(W + h * unit)) - jitter(fn(W - h * unit))) / (2 * h)
            else:
                old = W[ix]
                W[ix] = old + h
                plus = jitter(fn(W))
                W[ix] = old - h
                minus = jitter(fn(W))
                W[ix] = old
                grad[ix] = (plus - minus) / (2 * h)
        return grad

    return numerical_gradient


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(
    ("name", "structure"),
    [
        ("numerical_derivative", "plain"),
        ("numerical_gradient", "in-place"),
        ("numerical_gradient", "copies"),
    ],
)
def test_a_too_small_step_is_named_on_any_cpu_and_for_any_loop(name, structure, hidden):
    """Issue 26: with h = 1e-13 the central difference is rounding noise whose digits depend
    on the CPU and the loop; the mistake is named from the noise's bound, not from digits
    stored on the machine that built visible.json. Another CPU is simulated by last-bit
    errors in every value of the function (five draws), and another loop by other nudges."""
    for seed in range(5):
        fn = _another_cpu(name, seed, structure=structure)
        passed, tags, message = _verdict(name, fn, hidden)
        assert (passed, tags) == (False, []), message
        head = message.splitlines()[0]
        assert "with a step h far below eps (a step smaller than the eps it is given" in head, head


# ------------------------------- a step of its own, eps ignored (a learner trial)


def _eps_of(case) -> float:
    return float(case["args"].get("eps", 1e-5))


@pytest.mark.parametrize("name", ["numerical_derivative", "numerical_gradient"])
def test_the_checks_pass_a_large_eps_in_both_flavours(name):
    """A function that ignores its eps is told only where the central difference at eps is
    off the exact slope by more than the allowance: a large eps, a curved function."""
    from grader.judge import expect

    for kind, case_list in (
        ("visible", cases.visible_cases(name)),
        ("hidden", [c for c in cases.hidden_cases(name) if c["kind"] == "hidden"]),
    ):
        large = [c for c in case_list if 0.1 <= _eps_of(c) <= 0.5]
        assert large, kind
        for case in large:
            right = expect.expected(case, hidden=True)["result"]
            if name == "numerical_derivative":
                exact = cases.build_callable(case["args"]["g"]).derivative(case["args"]["x"])
            else:
                exact = cases.build_callable(case["args"]["fn"]).gradient(case["args"]["W"])
            gap = float(np.max(np.abs(right - exact)))
            assert gap > 1e-3 * (1 + float(np.max(np.abs(right)))), (kind, case["label"], gap)


@pytest.mark.parametrize("h", [0.25, 0.5, 1e-5])
def test_the_right_answer_is_the_central_difference_in_closed_form(h):
    """The expected answers (`Poly.central`, `Quadratic.central`) are the central
    differences at the step itself, computed free of rounding."""
    from grader.judge.inputs import Poly, build_callable, quadratic_desc

    g = Poly(np.array([0.5, -1.0, 0.3, 2.0, -0.7]))  # a quartic: its g''' is not constant
    for x in (-1.3, 0.0, 0.5, 2.0):
        numeric = (g(x + h) - g(x - h)) / (2 * h)
        assert g.central(x, h) == pytest.approx(numeric, rel=1e-9, abs=1e-9)
    fn = build_callable(quadratic_desc(np.random.default_rng(3), (2, 3), rounded=False))
    W = np.random.default_rng(4).normal(size=(2, 3))
    assert np.allclose(fn.central(W, h), reference.numerical_gradient(fn, W, h), atol=1e-9)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(
    "fn",
    [
        *wrong.numerical_derivative_ignores_eps,
        wrong.numerical_derivative_default_eps,
        *wrong.numerical_gradient_ignores_eps,
    ],
    ids=lambda fn: fn.__name__,
)
def test_a_function_that_ignores_eps_is_named(fn, hidden):
    """A step of its own (1e-7, 1e-6, or the default 1e-5 hard-coded) passed every check,
    visible and hidden, when every case's eps was small: the exact slope was within the
    allowance of the central difference at eps. At eps = 0.25 (0.5 for the gradient) it is
    not, and the message says the function ignores its eps."""
    name = fn.__name__.split("_step_")[0].removesuffix("_default_eps")
    passed, tags, message = _verdict(name, fn, hidden)
    assert (passed, tags) == (False, []), message
    head, where = message.splitlines()[:2]
    if name == "numerical_derivative":
        assert head == (
            "numerical_derivative: your answer equals the exact slope, the same whatever eps is "
            "(your function ignores its eps argument and takes a small step of its own: called "
            "with eps = 0.25 it must return the central difference (g(x + eps) - g(x - eps)) / "
            "(2 eps), which differs from the exact slope by 0.125 here (about g'''(x) eps^2 / 6); "
            "use eps as the step)."
        ), head
        assert (
            where == "  on visible example 3; inputs: g = a cubic polynomial, x = 0.5, eps = 0.25."
        )
    else:
        assert head == (
            "numerical_gradient: your answer equals the exact slopes, the same whatever eps is "
            "(your function ignores its eps argument and takes a small step of its own: called "
            "with eps = 0.5 it must return the central differences (fn(W + eps) - fn(W - eps)) "
            "/ (2 eps), which differ from the exact slopes by up to 0.05 here (the third "
            "derivative times eps^2 / 6); use eps as the step)."
        ), head
        assert where.startswith("  on visible example 4; inputs: "), where
        assert where.endswith(", eps = 0.5."), where


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(
    "fn",
    [wrong.numerical_derivative_half_step, wrong.numerical_gradient_half_step],
    ids=lambda fn: fn.__name__,
)
def test_half_the_step_is_named_as_half_the_step(fn, hidden):
    """(g(x + eps/2) - g(x - eps/2)) / eps passes where eps is small and is named where it is
    large: not as an answer that ignores eps, nor as rounding."""
    name = fn.__name__.removesuffix("_half_step")
    passed, tags, message = _verdict(name, fn, hidden)
    assert (passed, tags) == (False, []), message
    s = "s" if name == "numerical_gradient" else ""
    assert message.splitlines()[0].startswith(
        f"{name}: your answer equals the central difference{s} with step h = eps/2 ("
    ), message


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("name", ["numerical_derivative", "numerical_gradient"])
def test_a_right_answer_passes_at_every_eps_it_is_given(name, hidden):
    """The corpus's right answers (loops, np.nditer, basis arrays, copies, a flat view) and
    the reference pass, the large-eps cases among those judged."""
    ran = cases.hidden_cases(name) if hidden else cases.visible_cases(name)
    assert any(_eps_of(c) >= 0.25 for c in ran)
    for fn in [*RIGHT[name], getattr(reference, name)]:
        result = checks.run_check(name, fn, hidden=hidden)
        assert result.passed, (fn.__name__, result.message)
        assert result.n_cases == len(ran)


# --------------------------------- what the prose says is checked (issue 21, item 6)


def _prose(assignment: str, cell_id: str) -> str:
    import nbformat

    from grader import course

    path = course.REPO_ROOT / "source" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    return " ".join(next(c.source for c in nb.cells if c.get("id") == cell_id).split())


def _numerical_derivative_four_calls(g, x, eps=1e-5):
    first = (g(x + eps) - g(x - eps)) / (2 * eps)
    again = (g(x + eps) - g(x - eps)) / (2 * eps)
    return float((first + again) / 2)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_numerical_derivative_prose_promises_only_what_is_checked(hidden):
    """The task asks for the central difference's value; how often g is called is not graded
    (four calls give the same number), and the prose says so instead of 'exactly twice'."""
    passed, _, message = _verdict("numerical_derivative", _numerical_derivative_four_calls, hidden)
    assert passed, message
    prose = _prose("01_partial_derivatives", "numerical-derivative-task")
    assert "exactly twice" not in prose
    assert "compare the number you return with the central difference at that step" in prose
    assert "a large one (`eps = 0.25`) included" in prose
    assert "use the `eps` you are given as the step, never a step of your own" in prose


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_train_prose_says_which_losses_the_tests_read(hidden):
    """losses: a list of floats, a tuple or a 1-d numpy array of them (each entry checked),
    as the contract in notebook 05 now says; anything else fails."""

    def as_(kind):
        def train(X, Y, n_hidden, lr, epochs, seed=0):
            params, losses = reference.train(X, Y, n_hidden, lr, epochs, seed)
            return params, kind(losses)

        return train

    for kind in (list, tuple, np.array):
        passed, _, message = _verdict("train", as_(kind), hidden)
        assert passed, (kind, message)
    passed, _, message = _verdict("train", as_(lambda v: {t: x for t, x in enumerate(v)}), hidden)
    assert not passed and "losses: expected a list, got a dict" in message, message
    prose = _prose("05_backprop_W1", "train-md")
    assert "one Python `float` per epoch" not in prose
    assert (
        "`losses` has one number per epoch: a list of floats (the tests read a tuple or a 1-d "
        "numpy array of floats the same way, and check every entry)"
    ) in prose


def _numerical_gradient_forward_in_place(fn, W, eps=1e-5):
    f0 = fn(W)
    grad = np.zeros(W.shape)
    for ix in np.ndindex(W.shape):
        W[ix] += eps
        grad[ix] = (fn(W) - f0) / eps
        W[ix] -= eps
    return grad


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_a_mistake_is_named_from_the_float_cases_though_an_integer_w_fails_too(hidden):
    """A forward difference nudging W itself is also nonsense on the integer W: the forward
    difference is still named on the float cases (cases are read with those alike)."""
    passed, tags, message = _verdict(
        "numerical_gradient", _numerical_gradient_forward_in_place, hidden
    )
    assert (passed, tags) == (False, ["M13"]), message
    assert "your answer equals the forward differences (fn(W + eps) - fn(W)) / eps." in message


# ------------------------------- a fresh student's class path (issue 21, second try)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_numerical_derivative_in_an_array_is_told_to_return_a_number_not_about_a_sum(hidden):
    passed, tags, message = _verdict(
        "numerical_derivative", wrong.numerical_derivative_in_an_array, hidden
    )
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "numerical_derivative: expected a float, got a numpy.ndarray of shape (1,): the slope "
        "is one number; return float(...) of the difference quotient, not an array holding it "
        "(no np.array([...]) around it)."
    )
    assert "sum" not in message and "loss" not in message and "axis" not in message


def test_a_loss_in_an_array_is_still_told_about_its_sum():
    def sse_loss(Y_hat, Y):
        return np.array([0.5 * np.sum((Y_hat - Y) ** 2)])

    passed, tags, message = _verdict("sse_loss", sse_loss)
    assert not passed and "the loss is one number" in message, message


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_a_list_from_numerical_gradient_is_told_to_fill_an_array_of_ws_shape(hidden):
    passed, tags, message = _verdict("numerical_gradient", wrong.numerical_gradient_list, hidden)
    assert (passed, tags) == (False, []), message
    first, hint = message.splitlines()[0], message.splitlines()[-1]
    assert (
        first
        == (
            "numerical_gradient: expected an array, got a list: "
            "return a numpy array of shape (2, 3)."
        )
        or hidden
    ), message
    assert hint.startswith("Where to look: return an array of W's shape, ("), hint
    assert "np.zeros_like(W, dtype=float)" in hint and "fill it in the loop" in hint
    assert "no loop" not in message and "wrap your" not in message


def test_a_list_from_grad_w2_keeps_the_no_loop_hint_and_names_the_shape():
    passed, tags, message = _verdict("grad_W2", wrong.grad_W2_list)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "grad_W2: expected an array, got a list: return a numpy array of shape (4, 2)."
    )
    assert message.splitlines()[-1].startswith(
        "Where to look: return a numpy array of shape (4, 2), not a list: numpy's operators "
        "work entry by entry on whole arrays, so the formula needs no loop"
    )


def test_a_list_from_df_dz_for_numbers_is_told_a_number_is_due():
    passed, tags, message = _verdict("df_dz", wrong.df_dz_list_for_numbers)
    assert (passed, tags) == (False, []), message
    assert message.splitlines()[0] == (
        "df_dz: expected a number (a float) for numbers, got a list: df_dz returns a number "
        "for numbers, an array shaped like x for arrays."
    )
    assert "x = 2.0, z = 3.0" in message and "return a numpy array" not in message


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("name", ["df_dx", "df_dz", "sigmoid_prime", "sigmoid_prime_from_output"])
def test_a_negated_derivative_of_01_02_is_a_sign_flip_m3_as_in_04_05(name, hidden):
    def negated(*args):
        return -getattr(reference, name)(*args)

    passed, tags, message = _verdict(name, negated, hidden)
    assert (passed, tags) == (False, ["M3"]), message
    assert message.startswith(f"{name}: [M3] a sign flip: your answer equals minus the expected")
    assert "the loss" not in message and "Y_hat" not in message  # its own M3 hint


def _xor_cell_output(**cells: str) -> str:
    """What 05's XOR training cell prints, run after the student's cells (`cells`)."""
    from notebook05_ns import ROOT, student_05

    nb = nbformat.read(ROOT / "source" / "05_backprop_W1" / "05_backprop_W1.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.get("id") == "xor-train")
    ns = student_05(**cells)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<cell xor-train>", "exec"), ns)  # noqa: S102
    return out.getvalue()


def test_the_xor_cell_does_not_hide_a_bias_gradient_broadcast_to_n_by_h():
    """n = h = 4 in the XOR run: an unsummed grad_b1 gives b1 of shape (4, 4), which
    broadcasts, trains and once printed "all four classified right: True"."""
    wrong_out = _xor_cell_output(grad_b1="def grad_b1(delta1):\n    return delta1\n")
    assert wrong_out.startswith(
        "WRONG SHAPES after training: {'b1': (4, 4)}, where {'W1': "
        "(2, 4), 'b1': (4,), 'W2': (4, 1), 'b2': (1,)} are due"
    )
    assert wrong_out.splitlines()[-1] == "all four classified right: False"
    right_out = _xor_cell_output()
    assert "WRONG" not in right_out
    assert right_out.splitlines()[-1] == "all four classified right: True"


def _numerical_derivative_without_the_two(g, x, eps=1e-5):
    return (g(x + eps) - g(x - eps)) / eps


def test_one_number_is_shown_once():
    """A single number: the expected and got rows say it all, no "largest difference" row
    repeating them."""
    passed, _, message = _verdict("numerical_derivative", _numerical_derivative_without_the_two)
    assert not passed, message
    assert "\n  expected 4.75\n  got      9.5\n" in message, message
    assert "largest difference" not in message, message
