"""Notebook 03_feedforward: forward, sse_loss."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.judge import netmath
from grader.judge.functions.record import Function, Variant
from grader.judge.inputs import network_hidden, network_visible

NETWORK_ARGS = {"X": "(n, c)", "W1": "(c, h)", "b1": "(h,)", "W2": "(h, o)", "b2": "(o,)"}


def _layers(context: dict) -> dict[str, np.ndarray]:
    return netmath.layers(context["X"], context["W1"], context["b1"], context["W2"], context["b2"])


def _forward_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    if not context:
        return []
    f = _layers(context)
    swapped = "the two outputs are swapped: return H, Y_hat in that order"
    if component == "H":
        return [
            Variant(("M8",), "Z1 = X W1 + b1", "the sigmoid is missing", f["Z1"]),
            Variant((), "Y_hat", swapped, f["Y_hat"]),
        ]
    Zw = f["Z1"] @ context["W2"] + context["b2"]
    return [
        Variant(("M8",), "Z2 = H W2 + b2", "the output sigmoid is missing", f["Z2"]),
        Variant(
            ("M8",),
            "sigmoid(Z1 W2 + b2)",
            "the output layer was fed the pre-activation Z1 instead of H",
            netmath.sigmoid(Zw),
        ),
        Variant(
            ("M6",), "sigmoid(Y_hat)", "the sigmoid applied twice", netmath.sigmoid(f["Y_hat"])
        ),
        Variant((), "H", swapped, f["H"]),
    ]


def _forward_expected(case: dict) -> dict[str, np.ndarray]:
    f = _layers(case["context"])
    return {"H": f["H"], "Y_hat": f["Y_hat"]}


forward = Function(
    name="forward",
    args=NETWORK_ARGS,
    returns="the tuple (H: (n, h), Y_hat: (n, o))",
    about="the forward pass H = sigmoid(X W1 + b1), Y_hat = sigmoid(H W2 + b2)",
    result="pair",
    components=("H", "Y_hat"),
    hint="Z1 = X @ W1 + b1, H = sigmoid(Z1), Z2 = H @ W2 + b2, Y_hat = sigmoid(Z2); "
    "return (H, Y_hat).",
    tag_hints={
        "M1": "X (n, c) @ W1 (c, h) gives (n, h) and H (n, h) @ W2 (h, o) gives (n, o): the "
        "forward pass needs no .T.",
    },
    visible=network_visible,
    hidden=network_hidden,
    expected=_forward_expected,
    variants=_forward_variants,
    wrong={"M8": "H = X @ W1 + b1\nY_hat = sigmoid(H @ W2 + b2)\nreturn H, Y_hat"},
)

sse_loss = Function(
    name="sse_loss",
    args={"Y_hat": "(n, o)", "Y": "(n, o)"},
    returns="a float",
    about="the loss 1/2 * sum((Y_hat - Y)^2), over all samples and outputs",
    result="float",
    from_loss=True,
    hint="the loss is 0.5 * the sum over all samples and outputs of (Y_hat - Y)**2.",
    tag_hints={
        "M5": "the course's loss is a sum over all samples and outputs: 0.5 * np.sum((Y_hat - "
        "Y) ** 2), not np.mean and not divided by n.",
    },
    visible=network_visible,
    hidden=network_hidden,
    expected=lambda case: netmath.loss(case["args"]["Y_hat"], case["args"]["Y"]),
    wrong={
        "M4": "return float(np.sum((Y_hat - Y) ** 2))",
        "M5": "return float(0.5 * np.sum((Y_hat - Y) ** 2) / len(Y))",
    },
)

RECORDS = [forward, sse_loss]
