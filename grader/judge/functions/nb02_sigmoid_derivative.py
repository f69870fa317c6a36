"""Notebook 02_sigmoid_derivative: sigmoid, sigmoid_prime, sigmoid_prime_from_output."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.judge import netmath
from grader.judge.functions.record import ENTRYWISE_M1, Example, Function, Variant, nd

sig = netmath.sigmoid

_ARGUMENTS = (
    "check the argument's type in the docstring; the checks call your function with numpy "
    "arrays of several shapes (and with plain numbers)."
)


def _sigmoid_visible(rng: np.random.Generator) -> list[Example]:
    return [
        Example({"z": np.array([-1000.0, -20.0, -2.0, -0.5, 0.0, 0.5, 2.0, 20.0, 1000.0])}),
        Example({"z": np.array([[-1.0, 0.0, 1.0], [3.0, -3.0, 0.25]])}),
    ]


def _sigmoid_hidden(rng: np.random.Generator) -> list[Example]:
    out = []
    for shape in ((9,), (1,), (2,), (10,), (10_000,), (5, 3)):
        out.append(Example({"z": rng.normal(size=shape) * 8}, f"shape {shape}"))
    out.append(Example({"z": float(rng.normal())}, "a scalar"))
    extremes = np.array([-1e308, -745.0, -710.0, -1000.0, 710.0, 745.0, 1000.0, 1e308])
    out.append(Example({"z": extremes}, "extremes"))
    return out


def _sigmoid_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    z = nd(inputs["z"])
    return [Variant(("M3",), "1 / (1 + exp(+z))", "the sign in the exponent is flipped", sig(-z))]


sigmoid = Function(
    name="sigmoid",
    args={"z": "a number or an array of any shape"},
    returns="an array shaped like z (a number for a number)",
    about="sigma(z) = 1 / (1 + exp(-z)) entry by entry, with no overflow warning or nan at "
    "z = +-1000",
    result="elementwise",
    nan_tag="M12",
    hint="sigma(z) = 1 / (1 + exp(-z)), elementwise.",
    argument_hint=_ARGUMENTS,
    tag_hints={
        "M3": "sigma(z) = 1 / (1 + exp(-z)): check the sign in the exponent.",
        "M1": ENTRYWISE_M1,
    },
    visible=_sigmoid_visible,
    hidden=_sigmoid_hidden,
    expected=lambda case: sig(case["args"]["z"]),
    variants=_sigmoid_variants,
    wrong={"M12": "return 1 / (1 + np.exp(-z))"},
)


# --------------------------------------------------------------------------- slopes


def _prime_visible(rng: np.random.Generator) -> list[Example]:
    return [
        Example({"z": np.array([-1000.0, -4.0, -1.0, 0.0, 0.5, 3.0, 1000.0])}),
        Example({"z": np.array([[-2.0, 0.0], [1.0, 0.75]])}),
    ]


def _prime_hidden(rng: np.random.Generator) -> list[Example]:
    out = []
    for shape in ((7,), (1,), (2,), (10,), (10_000,), (4, 3)):
        out.append(Example({"z": rng.normal(size=shape) * 4}, f"shape {shape}"))
    out.append(Example({"z": np.array([-1000.0, -710.0, 710.0, 1000.0])}, "extremes"))
    return out


def _prime_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    z = nd(inputs["z"])
    s = sig(z)
    return [
        Variant(
            ("M8",),
            "z * (1 - z)",
            "the formula for an activation fed the pre-activation z; use sigma(z) * (1 - sigma(z))",
            z * (1 - z),
        ),
        Variant(
            ("M6",),
            "sigma(sigma(z)) (1 - sigma(sigma(z)))",
            "the sigmoid applied to sigma(z), which is already an activation",
            sig(s) * (1 - sig(s)),
        ),
        Variant(("M7",), "sigma(z)", "the sigmoid itself, not its derivative", s),
    ]


sigmoid_prime = Function(
    name="sigmoid_prime",
    args={"z": "a pre-activation: a number or an array of any shape"},
    returns="an array shaped like z (a number for a number)",
    about="the sigmoid's slope sigma(z) (1 - sigma(z)) at a pre-activation z",
    result="elementwise",
    derivative=True,
    nan_tag="M12",
    hint="the derivative is sigma(z) * (1 - sigma(z)), with z the pre-activation.",
    argument_hint=_ARGUMENTS,
    tag_hints={
        "M1": ENTRYWISE_M1,
        "M3": "the sigmoid rises everywhere, so its slope is positive: sigma(z) * (1 - "
        "sigma(z)), check the order of 1 - sigma(z).",
        "M6": "sigma(z) is already an activation: take the sigmoid of z once, call it s, then "
        "s * (1 - s); do not apply sigmoid to s again.",
        "M7": "sigmoid_prime is the derivative: multiply sigma(z) by (1 - sigma(z)).",
        "M8": "z is the pre-activation and sigma(z) the activation: the derivative at z is "
        "sigma(z) * (1 - sigma(z)), not z * (1 - z).",
    },
    visible=_prime_visible,
    hidden=_prime_hidden,
    expected=lambda case: netmath.elementwise_central_derivative(sig, case["args"]["z"]),
    variants=_prime_variants,
    wrong={"M8": "return z * (1 - z)"},
)


def _from_output_visible(rng: np.random.Generator) -> list[Example]:
    return [
        Example({"a": np.array([0.01, 0.1, 0.25, 0.5, 0.8, 0.99])}),
        Example({"a": np.array([[0.2, 0.5, 0.7], [0.9, 0.35, 0.05]])}),
    ]


def _from_output_hidden(rng: np.random.Generator) -> list[Example]:
    out = []
    for shape in ((6,), (1,), (2,), (10,), (10_000,), (3, 4)):
        out.append(Example({"a": rng.uniform(size=shape)}, f"shape {shape}"))
    out.append(Example({"a": np.array([0.0, 1.0, 0.5])}, "0, 1 and 1/2"))
    return out


def _from_output_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    a = nd(inputs["a"])
    return [
        Variant(
            ("M6",),
            "sigma(a) (1 - sigma(a))",
            "the sigmoid applied again to a, which is already an activation; use a * (1 - a)",
            sig(a) * (1 - sig(a)),
        )
    ]


def _from_output_expected(case: dict) -> np.ndarray:
    z = netmath.logit(case["args"]["a"])  # the slope at the z whose activation is a
    return netmath.elementwise_central_derivative(sig, z)


sigmoid_prime_from_output = Function(
    name="sigmoid_prime_from_output",
    args={"a": "an activation a = sigma(z): a number or an array of any shape"},
    returns="an array shaped like a (a number for a number)",
    about="the sigmoid's slope a (1 - a) given its output a = sigma(z) (no sigmoid computed)",
    result="elementwise",
    derivative=True,
    hint="given a = sigma(z), the derivative is a * (1 - a).",
    argument_hint=_ARGUMENTS,
    tag_hints={
        "M1": ENTRYWISE_M1,
        "M3": "the sigmoid rises everywhere, so its slope is positive: a * (1 - a), check the "
        "order of 1 - a.",
        "M6": "a is already sigma(z): the derivative is a * (1 - a); applying sigmoid to a "
        "again is the lecture notes' mistake.",
    },
    visible=_from_output_visible,
    hidden=_from_output_hidden,
    expected=_from_output_expected,
    variants=_from_output_variants,
    wrong={"M6": "s = sigmoid(a)\nreturn s * (1 - s)"},
)

RECORDS = [sigmoid, sigmoid_prime, sigmoid_prime_from_output]
