"""Notebook 04_backprop_W2: output_delta, grad_W2, grad_b2."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.judge import netmath
from grader.judge.functions.record import Function, Variant, nd
from grader.judge.inputs import network_hidden, network_visible

#: Where to look for M6 and M7 in the output layer's functions.
OUTPUT_M6 = (
    "Y_hat is already a sigmoid: its derivative factor is Y_hat * (1 - Y_hat); applying "
    "sigmoid to it again is the lecture notes' mistake."
)
OUTPUT_M7 = (
    "the output error signal carries the sigmoid's derivative: multiply (Y_hat - Y) "
    "elementwise by Y_hat * (1 - Y_hat)."
)
#: An error signal (delta2, delta1) divided by n: named as that, not as a mean over a sum
#: (a delta has one row per sample and sums nothing).
DELTA_M5_TITLE = "divided by the number of samples: the loss is a sum over the samples, not a mean"


def delta_m5_hint(formula: str) -> str:
    """Where to look when an error signal (`formula`) is divided by n."""
    return (
        f"{formula} is computed sample by sample: one row per sample, nothing summed and "
        "nothing divided; the course's loss sums over the samples, so no 1/n appears anywhere."
    )


def gradient_of(param: str):
    """The reference-free right answer of dL/d<param>: central differences of the loss."""

    def expected(case: dict) -> np.ndarray:
        net = case["context"]
        params = {k: net[k] for k in netmath.PARAM_NAMES}
        return netmath.numerical_backprop(net["X"], net["Y"], params)[param]

    return expected


def _output_delta_expected(case: dict) -> np.ndarray:
    net = case["context"]
    f = netmath.layers(net["X"], net["W1"], net["b1"], net["W2"], net["b2"])
    Y = net["Y"]

    def out_loss(Z2: np.ndarray) -> np.ndarray:  # elementwise share of the loss
        return 0.5 * (netmath.sigmoid(Z2) - Y) ** 2

    return netmath.elementwise_central_derivative(out_loss, f["Z2"])


def _output_delta_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    Y_hat, Y = nd(inputs["Y_hat"]), nd(inputs["Y"])
    return [
        Variant(
            ("M6",),
            "(Y_hat - Y) * sigma(Y_hat) (1 - sigma(Y_hat))",
            "the sigmoid applied again to Y_hat, which is already an activation",
            (Y_hat - Y) * netmath.out_factor(Y_hat, None, "double"),
        ),
        Variant(("M7",), "Y_hat - Y", "the factor Y_hat * (1 - Y_hat) is missing", Y_hat - Y),
    ]


def unsummed(delta: str):
    """The variants of a bias gradient: the delta itself, one row per sample (M9)."""

    def variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
        return [
            Variant(("M9",), f"{delta} itself", "one row per sample, not summed", nd(inputs[delta]))
        ]

    return variants


output_delta = Function(
    name="output_delta",
    args={"Y_hat": "(n, o)", "Y": "(n, o)"},
    returns="delta2: (n, o)",
    about="delta2 = dL/dZ2, the output layer's error signal",
    from_loss=True,
    hint="delta2 = (Y_hat - Y) * Y_hat * (1 - Y_hat), elementwise, shape (n, o).",
    tag_hints={
        "M1": "delta2 is elementwise in Y_hat and Y, so it has their shape (n, o): no .T.",
        "M5": delta_m5_hint("delta2 = (Y_hat - Y) * Y_hat * (1 - Y_hat)"),
        "M6": OUTPUT_M6,
        "M7": OUTPUT_M7,
    },
    titles={"M5": DELTA_M5_TITLE},
    visible=network_visible,
    hidden=network_hidden,
    expected=_output_delta_expected,
    variants=_output_delta_variants,
    wrong={
        "M3": "return (Y - Y_hat) * Y_hat * (1 - Y_hat)",
        "M7": "return Y_hat - Y",
        "M6": "return (Y_hat - Y) * sigmoid(Y_hat) * (1 - sigmoid(Y_hat))",
        "M4": "return 2 * (Y_hat - Y) * Y_hat * (1 - Y_hat)",
    },
)

grad_W2 = Function(
    name="grad_W2",
    args={"H": "(n, h)", "delta2": "(n, o)"},
    returns="an array (h, o), shaped like W2",
    about="dL/dW2, the loss's gradient with respect to W2",
    from_loss=True,
    hint="dL/dW2 = H^T delta2, shape (h, o) like W2.",
    tag_hints={"M6": OUTPUT_M6, "M7": OUTPUT_M7},
    visible=network_visible,
    hidden=network_hidden,
    expected=gradient_of("W2"),
    wrong={"M1": "return delta2.T @ H", "M5": "return H.T @ delta2 / len(H)"},
)

grad_b2 = Function(
    name="grad_b2",
    args={"delta2": "(n, o)"},
    returns="an array (o,), shaped like b2",
    about="dL/db2, the loss's gradient with respect to b2",
    from_loss=True,
    bias="b2",
    hint="dL/db2 is the column sums of delta2, shape (o,).",
    tag_hints={
        "M6": OUTPUT_M6,
        "M7": OUTPUT_M7,
        "M9": "b2 is added to every sample, so its gradient adds up every sample's share: "
        "delta2.sum(axis=0) over the n rows gives shape (o,).",
    },
    visible=network_visible,
    hidden=network_hidden,
    expected=gradient_of("b2"),
    variants=unsummed("delta2"),
    wrong={
        "M9": "return delta2",
        "M2": "return np.sum(delta2, axis=1)",
        "M5": "return np.mean(delta2, axis=0)",
    },
)

RECORDS = [output_delta, grad_W2, grad_b2]
