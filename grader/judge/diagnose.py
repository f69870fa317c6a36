"""Name the mistake, the instructor's half: the known wrong formulas, computed on any case.

The naming itself (the misconception table M1-M13, `Explanation`, `candidates`, the
`explain_*` functions) lives in the student package, `backprop_checks.diagnose`, and is
re-exported here. What stays here computes answers and never ships to students: for each
function, the formula with one known mistake in it (the sigmoid applied again to an
activation, a derivative factor left out, Z fed in for H), evaluated on a case
(`compute_variants`). The handout stores their values on the visible examples as data; the
hidden checks compute them on every randomised case. This module never imports
`grader.judge.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from backprop_checks import diagnose as _naming
from backprop_checks.diagnose import *  # noqa: F403 - the naming API, re-exported
from backprop_checks.diagnose import Candidate, Explanation, Seen, Variant

from grader.judge import netmath


@dataclass(frozen=True)
class _Variant:
    tags: tuple[str, ...]
    formula: str  # a noun phrase: what was computed
    gloss: str  # what is wrong with it ("" for the expected answer)
    value: np.ndarray


def _variants(
    name: str, component: str, inputs: dict[str, Any], context: dict[str, Any], expected: np.ndarray
) -> list[_Variant]:
    """The expected answer and the formula with one known mistake, for this function."""
    out = [_Variant((), "the expected answer", "", expected)]
    sig = netmath.sigmoid
    V = _Variant
    if name in ("df_dx", "df_dz"):
        x, z = _nd(inputs["x"]), _nd(inputs["z"])
        f = V((), "f(x, z) itself", "not its derivative", 3 * x**2 * z + 2 * x * z**2)
        if name == "df_dx":
            out.append(V((), "3 x^2 + 4 x z", "that is df/dz; hold z fixed", 3 * x**2 + 4 * x * z))
            out.append(V((), "6 x z", "the derivative of 2 x z^2 is missing", 6 * x * z))
            out.append(V((), "2 z^2", "the derivative of 3 x^2 z is missing", 2 * z**2))
            out.append(V((), "6 x z + 4 x z", "2 x z^2 differentiated by z, not x", 10 * x * z))
        else:
            out.append(V((), "6 x z + 2 z^2", "that is df/dx; hold x fixed", 6 * x * z + 2 * z**2))
            out.append(V((), "3 x^2", "the derivative of 2 x z^2 is missing", 3 * x**2))
            out.append(V((), "4 x z", "the derivative of 3 x^2 z is missing", 4 * x * z))
            out.append(V((), "6 x z + 4 x z", "3 x^2 z differentiated by x, not z", 10 * x * z))
        out.append(f)
    elif name == "sigmoid":
        z = _nd(inputs["z"])
        out.append(V(("M3",), "1 / (1 + exp(+z))", "the sign in the exponent is flipped", sig(-z)))
    elif name == "sigmoid_prime":
        z = _nd(inputs["z"])
        s = sig(z)
        out.append(
            V(
                ("M8",),
                "z * (1 - z)",
                "the formula for an activation fed the "
                "pre-activation z; use sigma(z) * (1 - sigma(z))",
                z * (1 - z),
            )
        )
        out.append(
            V(
                ("M6",),
                "sigma(sigma(z)) (1 - sigma(sigma(z)))",
                "the sigmoid applied to sigma(z), which is already an activation",
                sig(s) * (1 - sig(s)),
            )
        )
        out.append(V(("M7",), "sigma(z)", "the sigmoid itself, not its derivative", s))
    elif name == "sigmoid_prime_from_output":
        a = _nd(inputs["a"])
        out.append(
            V(
                ("M6",),
                "sigma(a) (1 - sigma(a))",
                "the sigmoid applied again to a, which is already an activation; use a * (1 - a)",
                sig(a) * (1 - sig(a)),
            )
        )
    elif name == "forward" and context:
        f = netmath.layers(context["X"], context["W1"], context["b1"], context["W2"], context["b2"])
        swapped = "the two outputs are swapped: return H, Y_hat in that order"
        if component == "H":
            out.append(V(("M8",), "Z1 = X W1 + b1", "the sigmoid is missing", f["Z1"]))
            out.append(V((), "Y_hat", swapped, f["Y_hat"]))
        else:
            Zw = f["Z1"] @ context["W2"] + context["b2"]
            out.append(V(("M8",), "Z2 = H W2 + b2", "the output sigmoid is missing", f["Z2"]))
            out.append(
                V(
                    ("M8",),
                    "sigmoid(Z1 W2 + b2)",
                    "the output layer was fed the pre-activation Z1 instead of H",
                    sig(Zw),
                )
            )
            out.append(V(("M6",), "sigmoid(Y_hat)", "the sigmoid applied twice", sig(f["Y_hat"])))
            out.append(V((), "H", swapped, f["H"]))
    elif name == "output_delta":
        Y_hat, Y = _nd(inputs["Y_hat"]), _nd(inputs["Y"])
        out.append(
            V(
                ("M6",),
                "(Y_hat - Y) * sigma(Y_hat) (1 - sigma(Y_hat))",
                "the sigmoid applied again to Y_hat, which is already an activation",
                (Y_hat - Y) * netmath.out_factor(Y_hat, None, "double"),
            )
        )
        out.append(V(("M7",), "Y_hat - Y", "the factor Y_hat * (1 - Y_hat) is missing", Y_hat - Y))
    elif name == "hidden_delta":
        back = _nd(inputs["delta2"]) @ _nd(inputs["W2"]).T
        H = _nd(inputs["H"])
        out.append(
            V(
                ("M6",),
                "(delta2 @ W2.T) * sigma(H) (1 - sigma(H))",
                "the sigmoid applied again to H, which is already an activation",
                back * netmath.out_factor(H, None, "double"),
            )
        )
        out.append(V(("M7",), "delta2 @ W2.T", "the factor H * (1 - H) is missing", back))
    elif name in ("grad_b1", "grad_b2"):
        key = "delta1" if name == "grad_b1" else "delta2"
        out.append(V(("M9",), f"{key} itself", "one row per sample, not summed", _nd(inputs[key])))
    elif name == "backprop" and context:
        out.extend(_backprop_variants(component, context))
    return out


def _nd(value: Any) -> np.ndarray:
    return np.array(value, dtype=float)


_FACTOR_TEXT = {
    "double": ("M6", "the sigmoid applied again to {a}"),
    "none": ("M7", "no {a} (1 - {a}) factor"),
    "preact": ("M8", "{z} (1 - {z}) in place of {a} (1 - {a})"),
}


# The gradients of every backprop variant of the last few networks (the naming reads each
# network once per component): id(net) -> (net, {(out, hid, w2_input): gradients}).
_BACKPROP_CACHE: dict[int, tuple[dict, dict]] = {}


def _backprop_variant_cached(net: dict[str, np.ndarray], **how: str) -> dict[str, np.ndarray]:
    entry = _BACKPROP_CACHE.get(id(net))
    if entry is None or entry[0] is not net:
        if len(_BACKPROP_CACHE) >= 16:
            _BACKPROP_CACHE.clear()
        entry = (net, {})
        _BACKPROP_CACHE[id(net)] = entry
    key = tuple(sorted(how.items()))
    if key not in entry[1]:
        params = {k: net[k] for k in netmath.PARAM_NAMES}
        entry[1][key] = netmath.backprop_variant(net["X"], net["Y"], **params, **how)
    return entry[1][key]


def _backprop_variants(component: str, net: dict[str, np.ndarray]) -> list[_Variant]:
    out: list[_Variant] = []
    # Only the mistakes that reach this component: the hidden factor does not reach W2 or b2,
    # the input of dL/dW2 reaches W2 only.
    hid_hows = ("right", "double", "none", "preact") if component in ("W1", "b1") else ("right",)
    w2_inputs = ("H", "Z1") if component == "W2" else ("H",)
    for o_how in ("right", "double", "none", "preact"):
        for h_how in hid_hows:
            for w2_input in w2_inputs:
                if o_how == h_how == "right" and w2_input == "H":
                    continue
                g = _backprop_variant_cached(net, out=o_how, hid=h_how, w2_input=w2_input)
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
                gloss = "; ".join(parts)
                out.append(
                    _Variant(
                        tuple(dict.fromkeys(tags)),
                        "the gradient computed with " + gloss,
                        "",
                        g[component],
                    )
                )
    if component in ("b1", "b2"):
        delta = _backprop_variant_cached(net)
        key = "delta1" if component == "b1" else "delta2"
        out.append(_Variant(("M9",), f"{key} itself", "one row per sample, not summed", delta[key]))
    return out


def compute_variants(
    name: str, component: str, inputs: dict[str, Any], context: dict[str, Any], expected: np.ndarray
) -> list[Variant]:
    """The known wrong formulas of `name` evaluated on one case (the expected answer not
    included), as the student package's `Variant`s."""
    found = _variants(name, component, inputs, context, expected)[1:]
    return [Variant(v.tags, v.formula, v.gloss, v.value) for v in found]


def candidates(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    variants: list[Variant] | None = None,
) -> list[Candidate]:
    """`backprop_checks.diagnose.candidates`, with the variants computed here by default."""
    if variants is None:
        variants = compute_variants(name, component, inputs, context, expected)
    return _naming.candidates(name, component, inputs, context, expected, variants)


def explain_values(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    got: np.ndarray,
    others: list[Seen] | None = None,
    variants: list[Variant] | None = None,
) -> Explanation:
    """`backprop_checks.diagnose.explain_values`, with the variants computed here by default."""
    if variants is None:
        variants = compute_variants(name, component, inputs, context, expected)
    return _naming.explain_values(
        name, component, inputs, context, expected, got, others, variants
    )
