"""The reference implementation of every function students write (docs/course.md).

Pure numpy, no I/O. Every function is vectorised over the n samples, works for any
n >= 1, and never mutates its arguments. Hidden tests and the instructor's verification
compare students' answers with these; visible tests never import this module.

Notation (one network throughout the course)::

    X: (n, c)   Y: (n, o)   W1: (c, h)   b1: (h,)   W2: (h, o)   b2: (o,)
    Z1 = X W1 + b1        H = sigmoid(Z1)          (n, h)
    Z2 = H W2 + b2        Y_hat = sigmoid(Z2)      (n, o)
    loss = 1/2 * sum((Y_hat - Y) ** 2)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grader.judge.numeric import central_derivative, central_gradient

Params = dict[str, np.ndarray]

# --------------------------------------------------------------------------- 01


def df_dx(x: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
    """Partial derivative of f(x, z) = 3 x^2 z + 2 x z^2 with respect to x.

    Args:
        x, z: scalars or arrays of one shape.

    Returns:
        6 x z + 2 z^2, with the shape of x and z.
    """
    x = np.asarray(x, dtype=float)
    z = np.asarray(z, dtype=float)
    return 6.0 * x * z + 2.0 * z**2


def df_dz(x: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
    """Partial derivative of f(x, z) = 3 x^2 z + 2 x z^2 with respect to z.

    Args:
        x, z: scalars or arrays of one shape.

    Returns:
        3 x^2 + 4 x z, with the shape of x and z.
    """
    x = np.asarray(x, dtype=float)
    z = np.asarray(z, dtype=float)
    return 3.0 * x**2 + 4.0 * x * z


def numerical_derivative(g: Callable[[float], float], x: float, eps: float = 1e-5) -> float:
    """Central difference (g(x + eps) - g(x - eps)) / (2 eps) of a scalar function at x."""
    return central_derivative(g, x, eps)


def numerical_gradient(
    fn: Callable[[np.ndarray], float], W: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function of an array, by central differences.

    Args:
        fn: takes an array shaped like W, returns a float.
        W: any shape; unchanged afterwards.

    Returns:
        dfn/dW, shaped like W.
    """
    return central_gradient(fn, W, eps)


# --------------------------------------------------------------------------- 02


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-z)), elementwise and without overflow.

    exp is only ever taken of -|z| <= 0, so no input overflows (z = +-1000 included).

    Args:
        z: any shape.

    Returns:
        sigma(z), shaped like z, each entry in [0, 1].
    """
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_prime(z: np.ndarray | float) -> np.ndarray:
    """Derivative of the sigmoid with respect to its input: sigma(z) (1 - sigma(z)).

    Args:
        z: any shape (a pre-activation such as Z1 or Z2).

    Returns:
        shaped like z, each entry in [0, 1/4].
    """
    s = sigmoid(z)
    return s * (1.0 - s)


def sigmoid_prime_from_output(a: np.ndarray | float) -> np.ndarray:
    """The sigmoid's derivative when the activation a = sigma(z) is already known: a (1 - a).

    Applying the sigmoid to a again (the lecture notes' mistake) would differentiate at the
    wrong point.

    Args:
        a: any shape (an activation such as H or Y_hat), entries in [0, 1].

    Returns:
        shaped like a.
    """
    a = np.asarray(a, dtype=float)
    return a * (1.0 - a)


# --------------------------------------------------------------------------- 03


def forward(
    X: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Feedforward pass of the two-layer sigmoid network.

    Args:
        X: (n, c) inputs, one sample per row.
        W1: (c, h), b1: (h,), W2: (h, o), b2: (o,).

    Returns:
        H: (n, h) hidden activations sigma(X W1 + b1).
        Y_hat: (n, o) predictions sigma(H W2 + b2).
    """
    H = sigmoid(X @ W1 + b1)
    Y_hat = sigmoid(H @ W2 + b2)
    return H, Y_hat


def sse_loss(Y_hat: np.ndarray, Y: np.ndarray) -> float:
    """Halved sum of squared errors over the batch: 1/2 * sum((Y_hat - Y)^2).

    Args:
        Y_hat: (n, o) predictions. Y: (n, o) targets.

    Returns:
        the loss, a Python float.
    """
    return float(0.5 * np.sum((np.asarray(Y_hat) - np.asarray(Y)) ** 2))


# --------------------------------------------------------------------------- 04


def output_delta(Y_hat: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Output error signal delta2 = dL/dZ2 = (Y_hat - Y) * Y_hat * (1 - Y_hat).

    Args:
        Y_hat: (n, o) predictions (already sigmoids). Y: (n, o) targets.

    Returns:
        delta2: (n, o).
    """
    return (Y_hat - Y) * sigmoid_prime_from_output(Y_hat)


def grad_W2(H: np.ndarray, delta2: np.ndarray) -> np.ndarray:
    """dL/dW2 = H^T delta2, summed over the n samples by the matrix product.

    Args:
        H: (n, h) hidden activations. delta2: (n, o).

    Returns:
        (h, o), shaped like W2.
    """
    return H.T @ delta2


def grad_b2(delta2: np.ndarray) -> np.ndarray:
    """dL/db2 = the column sums of delta2 (b2 is added to every sample).

    Args:
        delta2: (n, o).

    Returns:
        (o,), shaped like b2.
    """
    return delta2.sum(axis=0)


# --------------------------------------------------------------------------- 05


def hidden_delta(delta2: np.ndarray, W2: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Hidden error signal delta1 = dL/dZ1 = (delta2 W2^T) * H * (1 - H).

    Args:
        delta2: (n, o). W2: (h, o). H: (n, h) hidden activations.

    Returns:
        delta1: (n, h).
    """
    return (delta2 @ W2.T) * sigmoid_prime_from_output(H)


def grad_W1(X: np.ndarray, delta1: np.ndarray) -> np.ndarray:
    """dL/dW1 = X^T delta1.

    Args:
        X: (n, c). delta1: (n, h).

    Returns:
        (c, h), shaped like W1.
    """
    return X.T @ delta1


def grad_b1(delta1: np.ndarray) -> np.ndarray:
    """dL/db1 = the column sums of delta1.

    Args:
        delta1: (n, h).

    Returns:
        (h,), shaped like b1.
    """
    return delta1.sum(axis=0)


def backprop(
    X: np.ndarray, Y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> Params:
    """Gradients of the halved SSE loss with respect to every parameter.

    Args:
        X: (n, c). Y: (n, o). W1: (c, h), b1: (h,), W2: (h, o), b2: (o,).

    Returns:
        {"W1": (c, h), "b1": (h,), "W2": (h, o), "b2": (o,)}.
    """
    H, Y_hat = forward(X, W1, b1, W2, b2)
    delta2 = output_delta(Y_hat, Y)
    delta1 = hidden_delta(delta2, W2, H)
    return {
        "W1": grad_W1(X, delta1),
        "b1": grad_b1(delta1),
        "W2": grad_W2(H, delta2),
        "b2": grad_b2(delta2),
    }


def init_params(c: int, n_hidden: int, o: int, seed: int = 0) -> Params:
    """Random starting weights (standard normal) and zero biases.

    Returns:
        {"W1": (c, h), "b1": (h,), "W2": (h, o), "b2": (o,)} with h = n_hidden.
    """
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0.0, 1.0, size=(c, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, 1.0, size=(n_hidden, o)),
        "b2": np.zeros(o),
    }


def train(
    X: np.ndarray, Y: np.ndarray, n_hidden: int, lr: float, epochs: int, seed: int = 0
) -> tuple[Params, list[float]]:
    """Full-batch gradient descent on the halved SSE loss.

    Args:
        X: (n, c) inputs. Y: (n, o) targets in [0, 1].
        n_hidden: h, the number of hidden units. lr: learning rate. epochs: number of steps.
        seed: seeds the starting weights (see init_params).

    Returns:
        params: {"W1": (c, h), "b1": (h,), "W2": (h, o), "b2": (o,)} after training.
        losses: one float per epoch, the loss before that epoch's update.
    """
    params = init_params(X.shape[1], n_hidden, Y.shape[1], seed)
    losses: list[float] = []
    for _ in range(epochs):
        _, Y_hat = forward(X, **params)
        losses.append(sse_loss(Y_hat, Y))
        grads = backprop(X, Y, **params)
        params = {name: value - lr * grads[name] for name, value in params.items()}
    return params, losses
