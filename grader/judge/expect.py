"""The right answers the checks compare with, for one case.

Visible flavour: computed from the definitions in docs/course.md and central finite differences
of the loss (`grader.judge.netmath`), so it runs without `grader/judge/reference.py`.
Hidden flavour:
the reference implementation, imported only when asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.judge import cases as _cases
from grader.judge import netmath, numeric

#: The outputs of each function, by name ("result" for a single return value).
COMPONENTS: dict[str, tuple[str, ...]] = {
    **{name: ("result",) for name in _cases.FUNCTIONS},
    "forward": ("H", "Y_hat"),
    "backprop": netmath.PARAM_NAMES,
    "train": (),
}


class ReferenceMissing(RuntimeError):
    """A hidden check ran where grader/judge/reference.py is absent (a student's copy)."""


def load_reference():
    """The reference module; raises ReferenceMissing with what to do when it is absent."""
    try:
        from grader.judge import reference
    except ImportError as exc:
        raise ReferenceMissing(
            "hidden checks compare with grader/judge/reference.py, which is not installed here: "
            "they run when the instructor grades the notebook (visible checks need no reference)"
        ) from exc
    return reference


def _f(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    return 3.0 * x**2 * z + 2.0 * x * z**2


def _as_array(value: Any) -> np.ndarray:
    return np.array(value, dtype=float, copy=True)


def visible_expected(case: _cases.Case) -> dict[str, np.ndarray]:
    """The right answer(s) of a case without the reference: {component: float64 array}."""
    name, args, net = case["name"], case["args"], case["context"]
    eps = 1e-5
    if name in ("df_dx", "df_dz"):
        x, z = _as_array(args["x"]), _as_array(args["z"])
        if name == "df_dx":
            value = (_f(x + eps, z) - _f(x - eps, z)) / (2 * eps)
        else:
            value = (_f(x, z + eps) - _f(x, z - eps)) / (2 * eps)
        return {"result": value}
    if name == "numerical_derivative":
        g = _cases.build_callable(args["g"])
        return {"result": _as_array(g.derivative(args["x"]))}
    if name == "numerical_gradient":
        fn = _cases.build_callable(args["fn"])
        return {"result": fn.gradient(args["W"])}
    if name == "sigmoid":
        return {"result": netmath.sigmoid(args["z"])}
    if name == "sigmoid_prime":
        return {"result": netmath.elementwise_central_derivative(netmath.sigmoid, args["z"])}
    if name == "sigmoid_prime_from_output":
        z = netmath.logit(args["a"])
        return {"result": netmath.elementwise_central_derivative(netmath.sigmoid, z)}
    params = {k: net[k] for k in netmath.PARAM_NAMES}
    X, Y = net["X"], net["Y"]
    f = netmath.layers(X, **params)
    if name == "forward":
        return {"H": f["H"], "Y_hat": f["Y_hat"]}
    if name == "sse_loss":
        return {"result": _as_array(netmath.loss(args["Y_hat"], args["Y"]))}
    if name == "output_delta":

        def out_loss(Z2: np.ndarray) -> np.ndarray:  # elementwise share of the loss
            return 0.5 * (netmath.sigmoid(Z2) - Y) ** 2

        return {"result": netmath.elementwise_central_derivative(out_loss, f["Z2"])}
    if name == "hidden_delta":

        def loss_of_Z1(Z1: np.ndarray) -> float:
            H = netmath.sigmoid(Z1)
            return netmath.loss(netmath.sigmoid(H @ params["W2"] + params["b2"]), Y)

        return {"result": numeric.central_gradient(loss_of_Z1, f["Z1"])}
    grads = netmath.numerical_backprop(X, Y, params)
    if name == "backprop":
        return grads
    key = {"grad_W2": "W2", "grad_b2": "b2", "grad_W1": "W1", "grad_b1": "b1"}[name]
    return {"result": grads[key]}


def hidden_expected(case: _cases.Case) -> dict[str, np.ndarray]:
    """The right answer(s) of a case from grader/judge/reference.py: {component: float64 array}."""
    name, args = case["name"], case["args"]
    if name == "numerical_derivative":  # exact derivative: stricter than any finite difference
        return visible_expected(case)
    if name == "numerical_gradient":
        return visible_expected(case)
    ref = load_reference()
    out = getattr(ref, name)(*_cases.build_args(case))
    if name == "forward":
        return {"H": _as_array(out[0]), "Y_hat": _as_array(out[1])}
    if name == "backprop":
        return {k: _as_array(out[k]) for k in netmath.PARAM_NAMES}
    if name == "train":
        raise ValueError("train is judged by its behaviour, not by one expected value")
    del args
    return {"result": _as_array(out)}


def expected(case: _cases.Case, *, hidden: bool) -> dict[str, np.ndarray]:
    """The right answer(s) of a case: reference-free when hidden is false.

    Returns:
        {component: exact float64 numpy.ndarray} (0-d for a scalar answer).
    """
    out = hidden_expected(case) if hidden else visible_expected(case)
    return {k: _as_array(v) for k, v in out.items()}
