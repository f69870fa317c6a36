"""Notebook 01_partial_derivatives: df_dx, df_dz, numerical_derivative, numerical_gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.judge.functions.record import ENTRYWISE_M1, Example, Function, Variant, nd
from grader.judge.inputs import Poly, build_callable, quadratic_desc, rounded_normal

EPS = 1e-5  # the step of the reference-free right answers (central differences)


def _f(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    return 3.0 * x**2 * z + 2.0 * x * z**2


def _xz(case: dict) -> tuple[np.ndarray, np.ndarray]:
    return nd(case["args"]["x"]), nd(case["args"]["z"])


def _xz_visible(rng: np.random.Generator) -> list[Example]:
    return [
        Example({"x": 2.0, "z": 3.0}),
        Example({"x": np.array([-1.0, 0.0, 0.5, 2.0]), "z": np.array([3.0, -1.0, 2.0, 0.25])}),
    ]


def _xz_hidden(rng: np.random.Generator) -> list[Example]:
    out = [Example({"x": float(rng.normal()), "z": float(rng.normal())}, "scalars")]
    for shape in ((4,), (1,), (2,), (10,), (10_000,), (3, 2)):
        x = rng.normal(size=shape) * 2
        out.append(Example({"x": x, "z": rng.normal(size=shape) * 2}, f"shape {shape}"))
    return out


_XZ_ARGUMENTS = (
    "check the arguments' types in the docstring; the checks call your function with plain "
    "numbers and with numpy arrays (x and z of one shape), so use operations that work on both."
)


def _df_dx_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    x, z = nd(inputs["x"]), nd(inputs["z"])
    return [
        Variant((), "3 x^2 + 4 x z", "that is df/dz; hold z fixed", 3 * x**2 + 4 * x * z),
        Variant((), "6 x z", "the derivative of 2 x z^2 is missing", 6 * x * z),
        Variant((), "2 z^2", "the derivative of 3 x^2 z is missing", 2 * z**2),
        Variant((), "6 x z + 4 x z", "2 x z^2 differentiated by z, not x", 10 * x * z),
        Variant((), "f(x, z) itself", "not its derivative", _f(x, z)),
    ]


def _df_dz_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    x, z = nd(inputs["x"]), nd(inputs["z"])
    return [
        Variant((), "6 x z + 2 z^2", "that is df/dx; hold x fixed", 6 * x * z + 2 * z**2),
        Variant((), "3 x^2", "the derivative of 2 x z^2 is missing", 3 * x**2),
        Variant((), "4 x z", "the derivative of 3 x^2 z is missing", 4 * x * z),
        Variant((), "6 x z + 4 x z", "3 x^2 z differentiated by x, not z", 10 * x * z),
        Variant((), "f(x, z) itself", "not its derivative", _f(x, z)),
    ]


def _df_dx_expected(case: dict) -> np.ndarray:
    x, z = _xz(case)
    return (_f(x + EPS, z) - _f(x - EPS, z)) / (2 * EPS)


def _df_dz_expected(case: dict) -> np.ndarray:
    x, z = _xz(case)
    return (_f(x, z + EPS) - _f(x, z - EPS)) / (2 * EPS)


df_dx = Function(
    name="df_dx",
    args={"x": "a number or an array", "z": "a number, or an array shaped like x"},
    returns="a number for numbers, an array shaped like x for arrays",
    about="the partial derivative of f(x, z) = 3 x^2 z + 2 x z^2 with respect to x",
    result="elementwise",
    hint="differentiate f(x, z) = 3 x^2 z + 2 x z^2 treating z as a constant.",
    argument_hint=_XZ_ARGUMENTS,
    tag_hints={"M1": ENTRYWISE_M1},
    visible=_xz_visible,
    hidden=_xz_hidden,
    expected=_df_dx_expected,
    variants=_df_dx_variants,
    wrong={"wrong formula": "return 6 * x * z + 2 * z"},
)

df_dz = Function(
    name="df_dz",
    args={"x": "a number or an array", "z": "a number, or an array shaped like x"},
    returns="a number for numbers, an array shaped like x for arrays",
    about="the partial derivative of f(x, z) = 3 x^2 z + 2 x z^2 with respect to z",
    result="elementwise",
    hint="differentiate f(x, z) = 3 x^2 z + 2 x z^2 treating x as a constant.",
    argument_hint=_XZ_ARGUMENTS,
    tag_hints={"M1": ENTRYWISE_M1},
    visible=_xz_visible,
    hidden=_xz_hidden,
    expected=_df_dz_expected,
    variants=_df_dz_variants,
    wrong={"sign flip": "return -(3 * x**2 + 4 * x * z)"},
)


# --------------------------------------------------------------------------- numerical


def _derivative_visible(rng: np.random.Generator) -> list[Example]:
    return [
        Example({"g": {"callable": "poly", "coeffs": np.array([1.0, -2.0, 0.0, 1.0])}, "x": 1.5}),
        Example({"g": {"callable": "poly", "coeffs": np.array([0.0, 3.0, 0.5, -0.25])}, "x": -0.4}),
    ]


def _derivative_hidden(rng: np.random.Generator) -> list[Example]:
    out = []
    for eps in (None, None, 1e-3, 1e-4):
        while True:  # a curved cubic at x, so a forward difference shows
            coeffs, x = rng.normal(size=4), float(rng.uniform(-2, 2))
            if abs(Poly(coeffs).second_derivative(x)) > 1.0:
                break
        args: dict[str, Any] = {"g": {"callable": "poly", "coeffs": coeffs}, "x": x}
        if eps is not None:
            args["eps"] = eps
        out.append(Example(args, "a cubic" + (f", eps={eps}" if eps else "")))
    return out


def _gradient_visible(rng: np.random.Generator) -> list[Example]:
    out = []
    for shape in ((2, 3), (3,)):
        fn = quadratic_desc(rng, shape, rounded=True)
        out.append(Example({"fn": fn, "W": rounded_normal(rng, shape)}))
    return out


def _gradient_hidden(rng: np.random.Generator) -> list[Example]:
    out = []
    for shape, eps in (
        ((2, 3), None),
        ((1,), None),
        ((4,), None),
        ((3, 2), 1e-4),
        ((2, 2, 2), None),
        ((1, 1), 1e-3),
    ):
        fn = quadratic_desc(rng, shape, rounded=False)
        args: dict[str, Any] = {"fn": fn, "W": rng.normal(size=shape)}
        if eps is not None:
            args["eps"] = eps
        out.append(Example(args, f"W {shape}" + (f", eps={eps}" if eps else "")))
    return out


numerical_derivative = Function(
    name="numerical_derivative",
    args={
        "g": "a function of one number (the checks pass cubics)",
        "x": "a number",
        "eps": "a small number (default 1e-5)",
    },
    returns="a float",
    about="the central-difference slope of g at x",
    result="float",
    numerical=True,
    hint="return (g(x + eps) - g(x - eps)) / (2 * eps) as a float.",
    argument_hint="check the arguments in the docstring: g is a function of one number, x a "
    "number and eps a small number; return a float.",
    tag_hints={
        "M3": "the central difference is (g(x + eps) - g(x - eps)) / (2 eps): check the order "
        "of the subtraction.",
        "M13": "use the central difference (g(x + eps) - g(x - eps)) / (2 * eps), not the "
        "forward difference (g(x + eps) - g(x)) / eps.",
    },
    titles={
        "M13": "a numerical derivative off by O(eps): a forward difference where the central "
        "one is due",
    },
    visible=_derivative_visible,
    hidden=_derivative_hidden,
    expected=lambda case: build_callable(case["args"]["g"]).derivative(case["args"]["x"]),
    hidden_truth="expected",  # the exact derivative: stricter than any finite difference
    wrong={"M13": "return float((g(x + eps) - g(x)) / eps)"},
)

numerical_gradient = Function(
    name="numerical_gradient",
    args={
        "fn": "a function of an array shaped like W, returning a float",
        "W": "an array of any shape (unchanged afterwards)",
        "eps": "a small number (default 1e-5)",
    },
    returns="an array shaped like W",
    about="dfn/dW by central differences, one entry of W at a time",
    numerical=True,
    nudges="W",
    hint="nudge one entry of W at a time by +eps and -eps, restore it, and store the central "
    "difference at that entry.",
    argument_hint="check the arguments in the docstring: fn takes an array shaped like W and "
    "returns a float; W is a numpy array of any shape.",
    tag_hints={
        "M3": "the central difference is (fn(W + eps) - fn(W - eps)) / (2 eps) at each entry: "
        "check the order of the subtraction.",
        "M1": ENTRYWISE_M1,
    },
    visible=_gradient_visible,
    hidden=_gradient_hidden,
    expected=lambda case: build_callable(case["args"]["fn"]).gradient(case["args"]["W"]),
    hidden_truth="expected",  # the exact gradient of the quadratic
    wrong={
        "M13": """
            W = np.array(W, dtype=float)
            base = fn(W)
            grad = np.zeros_like(W)
            for i in np.ndindex(W.shape):
                old = W[i]
                W[i] = old + eps
                grad[i] = (fn(W) - base) / eps
                W[i] = old
            return grad
        """,
        "M11": """
            grad = np.zeros(np.shape(W))
            for i in np.ndindex(W.shape):
                old = W[i]
                W[i] = old + eps
                up = fn(W)
                W[i] = old - eps
                down = fn(W)
                grad[i] = (up - down) / (2 * eps)
            return grad
        """,
    },
)

RECORDS = [df_dx, df_dz, numerical_derivative, numerical_gradient]
