"""Finite differences and error measures shared by the course, the checks and the tests.

Pure numpy, no I/O. Only central differences: their error is O(eps^2), a forward
difference's O(eps) (misconception M13, docs/course.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_derivative(g: Callable[[float], float], x: float, eps: float = 1e-5) -> float:
    """(g(x + eps) - g(x - eps)) / (2 eps): the slope of a scalar function at x."""
    return float((g(x + eps) - g(x - eps)) / (2.0 * eps))


def central_gradient(
    fn: Callable[[np.ndarray], float], W: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function of an array by central differences.

    Each entry of a private float copy of W is nudged by +eps and -eps in turn and restored
    before the next, so fn always sees W with at most one entry moved.

    Args:
        fn: takes an array shaped like W and returns a float.
        W: any shape; never modified (the nudges happen on a copy).

    Returns:
        dfn/dW, shaped like W.
    """
    W_work = np.array(W, dtype=float, copy=True)
    grad = np.zeros_like(W_work)
    for ix in np.ndindex(W_work.shape):
        old = W_work[ix]
        W_work[ix] = old + eps
        f_plus = float(fn(W_work))
        W_work[ix] = old - eps
        f_minus = float(fn(W_work))
        W_work[ix] = old  # restore
        grad[ix] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative difference max |a - b| / max(1e-8, |a| + |b|), CS231n style.

    About 1e-7 or less means two gradients agree; 1e-2 or more means one is wrong.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
