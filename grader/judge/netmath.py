"""The network's definitions, kept private to the checks (never the student-facing reference).

The checks need the forward pass and the loss to build consistent inputs (an `H` that is the
sigmoid of something, a `delta2` that belongs to a network) and, in the visible flavour, to
compute expected answers by central finite differences of the loss. The diagnosis needs the
same pieces with one thing changed (the sigmoid applied twice, a derivative factor left out)
to recognise a student's mistake. This module never imports `grader.judge.reference`, so visible
checks run where `reference.py` is absent.

Notation::

    X: (n, c)  Y: (n, o)  W1: (c, h)  b1: (h,)  W2: (h, o)  b2: (o,)
    Z1 = X W1 + b1, H = sigma(Z1): (n, h);  Z2 = H W2 + b2, Y_hat = sigma(Z2): (n, o)
"""

from __future__ import annotations

import numpy as np

from grader.judge.numeric import central_gradient

Params = dict[str, np.ndarray]
PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """The logistic function, computed without overflow for any float64 input; shaped like z."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(a: np.ndarray) -> np.ndarray:
    """The inverse of the sigmoid for a in (0, 1); shaped like a."""
    a = np.asarray(a, dtype=float)
    return np.log(a) - np.log1p(-a)


def layers(X: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> Params:
    """Every intermediate of the forward pass: {"Z1", "H": (n, h), "Z2", "Y_hat": (n, o)}."""
    Z1 = X @ W1 + b1
    H = sigmoid(Z1)
    Z2 = H @ W2 + b2
    return {"Z1": Z1, "H": H, "Z2": Z2, "Y_hat": sigmoid(Z2)}


def loss(Y_hat: np.ndarray, Y: np.ndarray) -> float:
    """1/2 * sum((Y_hat - Y)^2) over the batch."""
    return float(0.5 * ((Y_hat - Y) ** 2).sum())


def loss_of_params(X: np.ndarray, Y: np.ndarray, params: Params) -> float:
    """The loss of the network with the given parameters on (X, Y)."""
    return loss(layers(X, **params)["Y_hat"], Y)


def elementwise_central_derivative(fn, z: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """d fn(z) / dz for an elementwise fn, by one vectorised central difference; shaped like z."""
    z = np.asarray(z, dtype=float)
    return (fn(z + eps) - fn(z - eps)) / (2.0 * eps)


# The variants below differ from the course's formulas in exactly one named way; the
# diagnosis compares a student's answer with each of them on the same inputs.


def out_factor(Y_hat: np.ndarray, Z2: np.ndarray | None, how: str) -> np.ndarray:
    """The output derivative factor dY_hat/dZ2, computed the right way or a known wrong way.

    how: "right" Y_hat (1 - Y_hat); "double" sigma(Y_hat)(1 - sigma(Y_hat)) (the lecture
    notes' mistake); "none" 1 (the factor forgotten); "preact" Z2 (1 - Z2) (the
    pre-activation fed in).
    """
    if how == "right":
        return Y_hat * (1.0 - Y_hat)
    if how == "double":
        s = sigmoid(Y_hat)
        return s * (1.0 - s)
    if how == "none":
        return np.ones_like(Y_hat)
    if how == "preact":
        return Z2 * (1.0 - Z2)
    raise ValueError(f"unknown variant {how!r}")


def backprop_variant(
    X: np.ndarray,
    Y: np.ndarray,
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    b2: np.ndarray,
    *,
    out: str = "right",
    hid: str = "right",
    w2_input: str = "H",
) -> Params:
    """The four gradients, with the output factor, the hidden factor and the input of dL/dW2
    chosen among the right and the known wrong ways (see `out_factor`; w2_input "H" or "Z1").

    Returns:
        {"W1": (c, h), "b1": (h,), "W2": (h, o), "b2": (o,), "delta1": (n, h), "delta2": (n, o)}.
    """
    f = layers(X, W1, b1, W2, b2)
    delta2 = (f["Y_hat"] - Y) * out_factor(f["Y_hat"], f["Z2"], out)
    delta1 = (delta2 @ W2.T) * out_factor(f["H"], f["Z1"], hid)
    A = f["H"] if w2_input == "H" else f["Z1"]
    return {
        "W1": X.T @ delta1,
        "b1": delta1.sum(axis=0),
        "W2": A.T @ delta2,
        "b2": delta2.sum(axis=0),
        "delta1": delta1,
        "delta2": delta2,
    }


def numerical_backprop(X: np.ndarray, Y: np.ndarray, params: Params) -> Params:
    """The four gradients of the loss by central differences (small networks only)."""
    grads = {}
    for name in PARAM_NAMES:

        def fn(value: np.ndarray, name: str = name) -> float:
            return loss_of_params(X, Y, {**params, name: value})

        grads[name] = central_gradient(fn, params[name])
    return grads


def gradients(X: np.ndarray, Y: np.ndarray, params: Params) -> Params:
    """The four gradients of the loss at params (analytic): {"W1": (c, h), ..., "b2": (o,)}."""
    g = backprop_variant(X, Y, **params)
    return {k: g[k] for k in PARAM_NAMES}


def descent(
    X: np.ndarray, Y: np.ndarray, start: Params, lr: float, epochs: int
) -> tuple[list[Params], list[float]]:
    """Full-batch gradient descent from `start`: the parameters at the start of every epoch
    and after the last (epochs + 1 dicts) and their losses (epochs + 1 floats).

    X: (n, c), Y: (n, o); losses[t] is the loss of params[t], before epoch t's update.
    """
    params = [dict(start)]
    losses: list[float] = []
    for t in range(epochs + 1):
        p = params[-1]
        Z1 = X @ p["W1"] + p["b1"]
        H = sigmoid(Z1)
        Y_hat = sigmoid(H @ p["W2"] + p["b2"])
        losses.append(loss(Y_hat, Y))
        if t == epochs:
            break
        delta2 = (Y_hat - Y) * Y_hat * (1.0 - Y_hat)
        delta1 = (delta2 @ p["W2"].T) * H * (1.0 - H)
        g = {
            "W1": X.T @ delta1,
            "b1": delta1.sum(axis=0),
            "W2": H.T @ delta2,
            "b2": delta2.sum(axis=0),
        }
        params.append({k: p[k] - lr * g[k] for k in PARAM_NAMES})
    return params, losses
