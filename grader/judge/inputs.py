"""What the records' cases are drawn from: networks of given shapes, the course's callables
(with their derivatives), XOR.

A record's `visible` and `hidden` builders (grader/judge/functions/) return `Example`s made
with these helpers; `grader.judge.cases` numbers and labels them. This module never imports
`grader.judge.reference`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from backprop_checks import catalog as _student

from grader.judge import netmath

# (n, c, h, o) of the visible examples: all sizes differ in the first, so a transposed or
# misshapen answer shows which dimension is wrong; the second is the lecture notes' 2 inputs, 4
# columns, 2 hidden units.
VISIBLE_SHAPES: tuple[tuple[int, int, int, int], ...] = ((5, 3, 4, 2), (2, 4, 2, 1))
# The hidden flavour: n = 1, 2, 10, 10,000; o > 1; h = 1.
HIDDEN_SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (5, 3, 4, 2),  # the visible example's shapes with new numbers (catches hard-coding)
    (1, 3, 2, 2),
    (2, 4, 2, 1),
    (10, 3, 5, 2),
    (10, 2, 1, 3),
    (10_000, 3, 2, 2),
)

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
#: XOR training settings of the hidden train check (the reference learns XOR from 50 of 50 seeds).
XOR_SETTINGS = {"n_hidden": 4, "lr": 2.0, "epochs": 3000}
XOR_SEEDS = (0, 1)


@dataclass
class Example:
    """One call of a student function, as a record's builder draws it.

    args: the call's arguments by name (a record keeps those of its `args`, in call order;
        eps may be left out for its default). label: what tells it apart, for a message
        ("shape (4,)", "n=5, c=3, h=4, o=2"; a visible example may have none).
    context: data the judge needs and the call does not get (a network case: the network).
    replays: train only: also call it with 0 epochs and with 1 (`cases.replay_cases`).
    """

    args: dict[str, Any]
    label: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    replays: bool = False


# --------------------------------------------------------------------------- callables


class Poly(_student.Poly):
    """The student package's g(x), which also knows its derivatives (for the right answers)."""

    def derivative(self, x: float) -> float:
        return float(sum(k * c * x ** (k - 1) for k, c in enumerate(self.coeffs) if k))

    def second_derivative(self, x: float) -> float:
        return float(
            sum(k * (k - 1) * c * x ** (k - 2) for k, c in enumerate(self.coeffs) if k > 1)
        )

    def magnitude(self, x: float) -> float:
        """The sum of the absolute values of g(x)'s terms: what its rounding scales with."""
        return float(sum(abs(c) * abs(x) ** k for k, c in enumerate(self.coeffs)))

    def central(self, x: float, h: float) -> float:
        """The central difference (g(x + h) - g(x - h)) / (2 h) in closed form, free of the
        rounding of its two evaluations: the sum over odd j of C(k, j) x^(k-j) h^(j-1) for
        each term c_k x^k (a cubic's: g'(x) + c_3 h^2)."""
        return float(
            sum(
                c * math.comb(k, j) * x ** (k - j) * h ** (j - 1)
                for k, c in enumerate(self.coeffs)
                for j in range(1, k + 1, 2)
            )
        )


class Quadratic(_student.Quadratic):
    """The student package's fn(W), which also knows its gradient (for the right answers)."""

    def gradient(self, W: np.ndarray) -> np.ndarray:
        w = np.asarray(W, dtype=float).reshape(-1)
        return (self.A @ w + self.b + 3.0 * self.k * w**2).reshape(self.shape)

    def magnitude(self, W: np.ndarray) -> float:
        """The sum of the absolute values of fn(W)'s terms: what its rounding scales with."""
        w = np.abs(np.asarray(W, dtype=float).reshape(-1))
        return float(
            0.5 * w @ (np.abs(self.A) @ w) + np.abs(self.b) @ w + abs(self.k) * (w**3).sum()
        )

    def central(self, W: np.ndarray, h: float) -> np.ndarray:
        """The central differences of fn at W with step h, entry by entry, in closed form: the
        quadratic part's are its gradient exactly, and k w^3's are 3 k w^2 + k h^2."""
        return self.gradient(W) + self.k * h * h


def build_callable(desc: dict[str, Any]):
    """The function a description stands for, with its derivative or gradient."""
    return _student.build_callable(desc, poly=Poly, quadratic=Quadratic)


def rounded_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal numbers of `shape`, rounded to 2 decimals (readable examples)."""
    return np.round(rng.normal(size=shape), 2)


def quadratic_desc(rng: np.random.Generator, shape: tuple[int, ...], *, rounded: bool) -> dict:
    """A `Quadratic` fn(W) for W of `shape`, as data: {"callable": "quadratic", ...}."""
    size = int(np.prod(shape))
    M = rng.normal(size=(size, size))
    A = M @ M.T / size + np.eye(size)  # symmetric, diagonal >= 1 (so forward differences show)
    b = rng.normal(size=size)
    if rounded:
        A, b = np.round(A, 2), np.round(b, 2)
        A = (A + A.T) / 2
    return {"callable": "quadratic", "A": A, "b": b, "k": 0.2, "shape": tuple(shape)}


# --------------------------------------------------------------------------- networks


def _network(rng: np.random.Generator, n: int, c: int, h: int, o: int, *, rounded: bool) -> dict:
    net = {
        "X": rng.normal(size=(n, c)),
        "Y": rng.uniform(size=(n, o)),
        "W1": rng.normal(size=(c, h)),
        "b1": rng.normal(scale=0.5, size=h),
        "W2": rng.normal(size=(h, o)),
        "b2": rng.normal(scale=0.5, size=o),
    }
    if rounded:  # readable numbers in the visible examples
        net = {k: np.round(v, 2) for k, v in net.items()}
    return net


def network_examples(
    rng: np.random.Generator, shapes: tuple[tuple[int, int, int, int], ...], *, rounded: bool
) -> list[Example]:
    """One random network per (n, c, h, o), and every array of its forward and backward pass
    as arguments (X, Y, W1, b1, W2, b2, Z1, H, Z2, Y_hat, delta2, delta1): a record keeps those
    it takes. The network is the example's context."""
    out = []
    for n, c, h, o in shapes:
        net = _network(rng, n, c, h, o, rounded=rounded)
        f = netmath.layers(net["X"], net["W1"], net["b1"], net["W2"], net["b2"])
        g = netmath.backprop_variant(**net)
        pool = {**net, **f, "delta2": g["delta2"], "delta1": g["delta1"]}
        out.append(Example(pool, f"n={n}, c={c}, h={h}, o={o}", context=net))
    return out


def network_visible(rng: np.random.Generator) -> list[Example]:
    """The visible examples of a network function: the VISIBLE_SHAPES, rounded numbers."""
    return network_examples(rng, VISIBLE_SHAPES, rounded=True)


def network_hidden(rng: np.random.Generator) -> list[Example]:
    """The hidden cases of a network function: the HIDDEN_SHAPES (n = 1 ... 10,000)."""
    return network_examples(rng, HIDDEN_SHAPES, rounded=False)
