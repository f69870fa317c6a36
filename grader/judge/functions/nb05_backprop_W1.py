"""Notebook 05_backprop_W1: hidden_delta, grad_W1, grad_b1, backprop, train."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.judge import netmath, numeric
from grader.judge.functions.nb04_backprop_W2 import (
    DELTA_M5_TITLE,
    delta_m5_hint,
    gradient_of,
    unsummed,
)
from grader.judge.functions.record import Function, Variant, nd
from grader.judge.inputs import (
    XOR_SEEDS,
    XOR_SETTINGS,
    XOR_X,
    XOR_Y,
    Example,
    network_hidden,
    network_visible,
)

NETWORK = {"X": "(n, c)", "Y": "(n, o)", "W1": "(c, h)", "b1": "(h,)", "W2": "(h, o)", "b2": "(o,)"}


def _hidden_delta_expected(case: dict) -> np.ndarray:
    net = case["context"]
    params = {k: net[k] for k in netmath.PARAM_NAMES}
    f = netmath.layers(net["X"], **params)

    def loss_of_Z1(Z1: np.ndarray) -> float:
        H = netmath.sigmoid(Z1)
        return netmath.loss(netmath.sigmoid(H @ params["W2"] + params["b2"]), net["Y"])

    return numeric.central_gradient(loss_of_Z1, f["Z1"])


def _hidden_delta_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    back = nd(inputs["delta2"]) @ nd(inputs["W2"]).T
    H = nd(inputs["H"])
    return [
        Variant(
            ("M6",),
            "(delta2 @ W2.T) * sigma(H) (1 - sigma(H))",
            "the sigmoid applied again to H, which is already an activation",
            back * netmath.out_factor(H, None, "double"),
        ),
        Variant(("M7",), "delta2 @ W2.T", "the factor H * (1 - H) is missing", back),
    ]


hidden_delta = Function(
    name="hidden_delta",
    args={"delta2": "(n, o)", "W2": "(h, o)", "H": "(n, h)"},
    returns="delta1: (n, h)",
    about="delta1 = dL/dZ1, the hidden layer's error signal",
    from_loss=True,
    hint="delta1 = (delta2 @ W2.T) * H * (1 - H), shape (n, h).",
    tag_hints={
        "M1": "write the shapes under each factor: delta2 (n, o) times W2^T (o, h) gives "
        "(n, h), like H; move the .T to the factor that needs it.",
        "M5": delta_m5_hint("delta1 = (delta2 @ W2.T) * H * (1 - H)"),
    },
    titles={"M5": DELTA_M5_TITLE},
    visible=network_visible,
    hidden=network_hidden,
    expected=_hidden_delta_expected,
    variants=_hidden_delta_variants,
    wrong={
        "M7": "return delta2 @ W2.T",
        "M6": "s = sigmoid(H)\nreturn (delta2 @ W2.T) * s * (1 - s)",
        "M11": "d = delta2 @ W2.T\nH *= 1.0 - H\nreturn d * H",
    },
)

grad_W1 = Function(
    name="grad_W1",
    args={"X": "(n, c)", "delta1": "(n, h)"},
    returns="an array (c, h), shaped like W1",
    about="dL/dW1, the loss's gradient with respect to W1",
    from_loss=True,
    hint="dL/dW1 = X^T delta1, shape (c, h) like W1.",
    tag_hints={
        "M1": "write the shapes under each factor: X^T (c, n) times delta1 (n, h) gives (c, h); "
        "move the .T to the factor that needs it.",
    },
    visible=network_visible,
    hidden=network_hidden,
    expected=gradient_of("W1"),
    wrong={"M1": "return delta1.T @ X"},
)

grad_b1 = Function(
    name="grad_b1",
    args={"delta1": "(n, h)"},
    returns="an array (h,), shaped like b1",
    about="dL/db1, the loss's gradient with respect to b1",
    from_loss=True,
    bias="b1",
    hint="dL/db1 is the column sums of delta1, shape (h,).",
    tag_hints={
        "M9": "b1 is added to every sample, so its gradient adds up every sample's share: "
        "delta1.sum(axis=0) over the n rows gives shape (h,).",
    },
    visible=network_visible,
    hidden=network_hidden,
    expected=gradient_of("b1"),
    variants=unsummed("delta1"),
    wrong={"M9": "return delta1", "M5": "return np.mean(delta1, axis=0)"},
)


# --------------------------------------------------------------------------- backprop

_FACTOR_TEXT = {
    "double": ("M6", "the sigmoid applied again to {a}"),
    "none": ("M7", "no {a} (1 - {a}) factor"),
    "preact": ("M8", "{z} (1 - {z}) in place of {a} (1 - {a})"),
}

# The gradients of every backprop variant of the last few networks (the naming reads each
# network once per component): id(net) -> (net, {(out, hid, w2_input): gradients}).
_CACHE: dict[int, tuple[dict, dict]] = {}


def _variant_gradients(net: dict[str, np.ndarray], **how: str) -> dict[str, np.ndarray]:
    entry = _CACHE.get(id(net))
    if entry is None or entry[0] is not net:
        if len(_CACHE) >= 16:
            _CACHE.clear()
        entry = (net, {})
        _CACHE[id(net)] = entry
    key = tuple(sorted(how.items()))
    if key not in entry[1]:
        params = {k: net[k] for k in netmath.PARAM_NAMES}
        entry[1][key] = netmath.backprop_variant(net["X"], net["Y"], **params, **how)
    return entry[1][key]


def _backprop_variants(component: str, inputs: dict[str, Any], net: dict) -> list[Variant]:
    """Every combination of the output factor's, the hidden factor's and dL/dW2's known
    mistakes that reaches this component."""
    if not net:
        return []
    out: list[Variant] = []
    # the hidden factor does not reach W2 or b2, the input of dL/dW2 reaches W2 only
    hid_hows = ("right", "double", "none", "preact") if component in ("W1", "b1") else ("right",)
    w2_inputs = ("H", "Z1") if component == "W2" else ("H",)
    for o_how in ("right", "double", "none", "preact"):
        for h_how in hid_hows:
            for w2_input in w2_inputs:
                if o_how == h_how == "right" and w2_input == "H":
                    continue
                g = _variant_gradients(net, out=o_how, hid=h_how, w2_input=w2_input)
                tags: list[str] = []
                parts: list[str] = []
                if o_how != "right":
                    tag, text = _FACTOR_TEXT[o_how]
                    tags.append(tag)
                    parts.append("delta2 with " + text.format(a="Y_hat", z="Z2"))
                if h_how != "right":
                    tag, text = _FACTOR_TEXT[h_how]
                    tags.append(tag)
                    parts.append("delta1 with " + text.format(a="H", z="Z1"))
                if w2_input == "Z1":
                    tags.append("M8")
                    parts.append("Z1 in dL/dW2 where H is due")
                formula = "the gradient computed with " + "; ".join(parts)
                out.append(Variant(tuple(dict.fromkeys(tags)), formula, "", g[component]))
    other = {"W1": "W2", "W2": "W1", "b1": "b2", "b2": "b1"}[component]
    first, second = sorted((component, other))
    out.append(
        Variant(
            (),
            f"dL/d{other}",
            f'the gradients of {first} and {second} are swapped: the key "{component}" is for '
            f"dL/d{component}",
            _variant_gradients(net)[other],
        )
    )
    if component in ("b1", "b2"):
        delta = _variant_gradients(net)
        key = "delta1" if component == "b1" else "delta2"
        out.append(Variant(("M9",), f"{key} itself", "one row per sample, not summed", delta[key]))
    return out


def _backprop_expected(case: dict) -> dict[str, np.ndarray]:
    net = case["context"]
    params = {k: net[k] for k in netmath.PARAM_NAMES}
    return netmath.numerical_backprop(net["X"], net["Y"], params)


backprop = Function(
    name="backprop",
    args=NETWORK,
    returns='the dict {"W1": (c, h), "b1": (h,), "W2": (h, o), "b2": (o,)} of gradients',
    about="the four gradients of the loss, from a forward and a backward pass",
    result="gradients",
    components=netmath.PARAM_NAMES,
    from_loss=True,
    hint="forward pass, then delta2, delta1 and the four gradients, each shaped like its "
    "parameter.",
    tag_hints={
        "M1": "write the shapes under each factor: H^T (h, n) delta2 (n, o) gives (h, o) like "
        "W2, X^T (c, n) delta1 (n, h) gives (c, h) like W1.",
    },
    visible=network_visible,
    hidden=network_hidden,
    expected=_backprop_expected,
    variants=_backprop_variants,
    wrong={
        "M3": """
            H, Y_hat = forward(X, W1, b1, W2, b2)
            delta2 = (Y - Y_hat) * Y_hat * (1 - Y_hat)
            delta1 = (delta2 @ W2.T) * H * (1 - H)
            return {"W1": X.T @ delta1, "b1": delta1.sum(axis=0),
                    "W2": H.T @ delta2, "b2": delta2.sum(axis=0)}
        """,
    },
)


# --------------------------------------------------------------------------- train


def _train_visible(rng: np.random.Generator) -> list[Example]:
    X = np.round(rng.normal(size=(6, 3)), 2)
    Y = np.round(rng.uniform(size=(6, 2)), 2)
    # seed 3, not the default 0: a train that ignores its seed starts from other weights
    args = {"X": X, "Y": Y, "n_hidden": 3, "lr": 0.5, "epochs": 30, "seed": 3}
    return [Example(args, replays=True)]


def _train_hidden(rng: np.random.Generator) -> list[Example]:
    out = [
        Example({"X": XOR_X.copy(), "Y": XOR_Y.copy(), **XOR_SETTINGS, "seed": s}, f"XOR, seed={s}")
        for s in XOR_SEEDS
    ]
    X, Y = rng.normal(size=(10, 3)), rng.uniform(size=(10, 2))
    args = {"X": X, "Y": Y, "n_hidden": 3, "lr": 0.5, "epochs": 5, "seed": 7}
    out.append(Example(args, "n=10, o=2, 5 epochs"))
    X, Y = rng.normal(size=(10, 2)), rng.uniform(size=(10, 3))
    args = {"X": X, "Y": Y, "n_hidden": 1, "lr": 0.5, "epochs": 20, "seed": 3}
    out.append(Example(args, "h=1, o=3", replays=True))
    return out


def _judged_by_behaviour(case: dict) -> np.ndarray:
    raise ValueError("train is judged by its behaviour, not by one expected value")


train = Function(
    name="train",
    args={
        "X": "(n, c)",
        "Y": "(n, o)",
        "n_hidden": "the number of hidden units h",
        "lr": "the learning rate",
        "epochs": "the number of full-batch updates",
        "seed": "init_params's seed (default 0)",
    },
    returns="(params, losses): params a dict like backprop's, losses a list of one float per epoch",
    about="full-batch gradient descent from init_params(c, n_hidden, o, seed), judged by its "
    "behaviour: the start, each step and the losses it records",
    result="run",
    components=(),
    hint="each epoch: forward, record the loss, backprop, then W <- W - lr * dL/dW for all "
    "four parameters.",
    tag_hints={
        "M3": "gradient descent steps against the gradient: W <- W - lr * dL/dW, for all four "
        "parameters.",
        "M4": "the course's loss is 1/2 * sum((Y_hat - Y)^2) and backprop's gradients are its "
        "gradients: no extra factor 2, neither in the losses you record nor in the step.",
        "M5": "the loss and its gradients are sums over the samples: record sse_loss as it is "
        "and step by lr * dL/dW, with no division by n.",
    },
    visible=_train_visible,
    hidden=_train_hidden,
    expected=_judged_by_behaviour,
)

RECORDS = [hidden_delta, grad_W1, grad_b1, backprop, train]
