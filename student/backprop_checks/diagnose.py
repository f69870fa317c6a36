"""Name the mistake: compare a wrong answer with the known wrong answers on the same inputs.

Pure functions that return `Explanation`s and never assert (checks.py turns them into the
failure a test cell raises). The misconceptions are the spec's table M1-M13; each
explanation carries the tags it matched, one sentence of what the answer equals, and one
sentence of where to look.

For a wrong array the diagnosis compares it with candidate answers: the expected answer
and each known wrong formula of the function (the sigmoid applied again to an activation,
a derivative factor left out, Z fed in for H: `Variant`s, evaluated on the case by whoever
holds them, never here), each transformed (transposed, negated, doubled, divided by n), and
reports the first that matches. This module computes no right answer of any function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backprop_checks import _trusted

_ndarray = _trusted.ndarray

#: What each misconception's message names (COURSE_SPEC.md, "Misconceptions the grader names").
MISCONCEPTIONS: dict[str, str] = {
    "M1": "a missing or extra transpose",
    "M2": "wrong shape",
    "M3": "a sign flip, (Y - Y_hat) instead of (Y_hat - Y)",
    "M4": "twice the expected: the loss without the 1/2",
    "M5": "a mean where the course uses a sum",
    "M6": "the double-sigmoid mistake (seed 004): the sigmoid applied again to an activation",
    "M7": "a forgotten activation derivative",
    "M8": "a pre-activation vs activation mix-up (Z where H or Y_hat is due, or the reverse)",
    "M9": "the bias gradient is not summed over the samples",
    "M10": "a hard-coded answer: right on the visible example, wrong on randomised inputs",
    "M11": "your function changed its inputs",
    "M12": "a numerically unstable sigmoid",
    "M13": "a numerical gradient off by O(eps): a forward difference, or W left perturbed",
}

#: One sentence of where to look, per misconception.
TAG_HINTS: dict[str, str] = {
    "M1": "write the shapes under each factor: (n, h)^T (n, o) gives (h, o); move the .T to "
    "the factor that needs it.",
    "M2": "write the shape of every factor under the formula and check the product gives the "
    "shape the docstring promises.",
    "M3": "the loss is 1/2 (Y_hat - Y)^2, so its derivative is +(Y_hat - Y): check the order "
    "of the subtraction.",
    "M4": "the course's loss is 1/2 * sum((Y_hat - Y)^2); the 1/2 cancels the 2 from the "
    "square, so no factor 2 is left.",
    "M5": "the loss sums over the samples, so its gradient sums too: use .sum(...), not "
    ".mean(...), and do not divide by n.",
    "M6": "H and Y_hat are already sigmoids: their derivative factor is H * (1 - H) (or "
    "Y_hat * (1 - Y_hat)); applying sigmoid to them again is seed 004's mistake.",
    "M7": "every layer's error signal carries the sigmoid's derivative: multiply "
    "elementwise by Y_hat * (1 - Y_hat) (output) or H * (1 - H) (hidden).",
    "M8": "Z is the pre-activation (before the sigmoid) and H / Y_hat the activation "
    "(after it): check which one each formula needs.",
    "M9": "b is added to every sample, so its gradient adds up every sample's share: "
    ".sum(axis=0) over the n rows gives shape (h,) or (o,).",
    "M10": "compute the answer from the arguments; the hidden tests use other numbers and shapes.",
    "M11": "work on new arrays (x = x + 1, or W.copy()) instead of changing the arguments in "
    "place (+=, W[i] = ...).",
    "M12": "exp(-z) overflows for z below about -709: compute exp only of -|z| (it is "
    "never above 1), e.g. with np.where(z >= 0, ...).",
    "M13": "use the central difference (f(W + eps) - f(W - eps)) / (2 eps), and put each "
    "entry back (W[ix] = old) before moving to the next.",
}

#: Where to look when the answer is wrong in no recognised way.
FUNCTION_HINTS: dict[str, str] = {
    "df_dx": "differentiate f(x, z) = 3 x^2 z + 2 x z^2 treating z as a constant.",
    "df_dz": "differentiate f(x, z) = 3 x^2 z + 2 x z^2 treating x as a constant.",
    "numerical_derivative": "return (g(x + eps) - g(x - eps)) / (2 * eps) as a float.",
    "numerical_gradient": "nudge one entry of W at a time by +eps and -eps, restore it, and "
    "store the central difference at that entry.",
    "sigmoid": "sigma(z) = 1 / (1 + exp(-z)), elementwise.",
    "sigmoid_prime": "the derivative is sigma(z) * (1 - sigma(z)), with z the pre-activation.",
    "sigmoid_prime_from_output": "given a = sigma(z), the derivative is a * (1 - a).",
    "forward": "Z1 = X @ W1 + b1, H = sigmoid(Z1), Z2 = H @ W2 + b2, Y_hat = sigmoid(Z2); "
    "return (H, Y_hat).",
    "sse_loss": "the loss is 0.5 * the sum over all samples and outputs of (Y_hat - Y)**2.",
    "output_delta": "delta2 = (Y_hat - Y) * Y_hat * (1 - Y_hat), elementwise, shape (n, o).",
    "grad_W2": "dL/dW2 = H^T delta2, shape (h, o) like W2.",
    "grad_b2": "dL/db2 is the column sums of delta2, shape (o,).",
    "hidden_delta": "delta1 = (delta2 @ W2.T) * H * (1 - H), shape (n, h).",
    "grad_W1": "dL/dW1 = X^T delta1, shape (c, h) like W1.",
    "grad_b1": "dL/db1 is the column sums of delta1, shape (h,).",
    "backprop": "forward pass, then delta2, delta1 and the four gradients, each shaped like "
    "its parameter.",
    "train": "each epoch: forward, record the loss, backprop, then W <- W - lr * dL/dW for "
    "all four parameters.",
}

# The functions whose answers come from the loss, where the scale tags M3, M4, M5 apply.
_LOSS_FUNCTIONS = {
    "sse_loss",
    "output_delta",
    "grad_W2",
    "grad_b2",
    "hidden_delta",
    "grad_W1",
    "grad_b1",
    "backprop",
}
_BIAS = {"grad_b1": "h", "grad_b2": "o", "b1": "h", "b2": "o"}


@dataclass(frozen=True)
class Explanation:
    """A diagnosis: tags like ("M3", "M4") (empty when no misconception matched), what the
    answer is or equals (one sentence), and where to look (one sentence)."""

    tags: tuple[str, ...]
    text: str
    hint: str

    def headline(self) -> str:
        """One line for a student: "[M1] a missing or extra transpose: ..."."""
        if not self.tags:
            return self.text
        tags = "".join(f"[{t}]" for t in self.tags)
        titles = "; ".join(MISCONCEPTIONS[t] for t in self.tags)
        return f"{tags} {titles}: {self.text}"


def explanation(tags: tuple[str, ...], text: str, name: str) -> Explanation:
    """An Explanation whose hint is the first tag's (or the function's) where-to-look."""
    hint = TAG_HINTS[tags[0]] if tags else FUNCTION_HINTS.get(name, "")
    return Explanation(tuple(tags), text, hint)


# --------------------------------------------------------------------------- comparisons


def close(got: np.ndarray, expected: np.ndarray, *, rtol: float = 1e-6, atol: float = 0.0) -> bool:
    """Whether two float arrays have one shape and agree entrywise (plain arithmetic only).

    |got - expected| <= atol + rtol * (|expected| + max|expected| * 1e-3 + 1e-12) everywhere;
    nan or inf anywhere in got never agrees.
    """
    if type(got) is not _ndarray or type(expected) is not _ndarray:
        return False
    if got.shape != expected.shape:
        return False
    if got.size == 0:
        return True
    scale = abs(expected).max()
    limit = abs(expected) * rtol + (scale * 1e-3 + 1e-12) * rtol + atol
    ok = abs(got - expected) <= limit
    return bool(ok.all())


def fmt_values(a: np.ndarray | None, limit: int = 6) -> str:
    """A few entries of an array for a message: "[0.1235, -2.5, ...] (shape (5, 2))"."""
    if a is None:
        return "nothing usable"
    if type(a) is not _ndarray:
        return repr(a)[:80]
    flat = a.reshape(-1)
    vals = ", ".join(f"{float(v):.4g}" for v in flat[:limit])
    more = ", ..." if flat.size > limit else ""
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return f"[{vals}{more}] (shape {a.shape})"


def largest_difference(expected: np.ndarray, got: np.ndarray) -> str:
    """Where two same-shape arrays differ most: "at index (2, 1): expected 0.25, got 0.5"."""
    if expected.size == 0:
        return ""
    diff = _ndarray(expected.shape, dtype=float)
    diff[...] = abs(got - expected)
    diff[diff != diff] = float("inf")
    flat = int(diff.reshape(-1).argmax())
    ix = np.unravel_index(flat, expected.shape) if expected.ndim else ()
    ix_text = f" at index {tuple(int(i) for i in ix)}" if expected.ndim else ""
    e, g = float(expected[ix]), float(got[ix])
    return f"largest difference{ix_text}: expected {e:.10g}, got {g:.10g}"


# --------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Candidate:
    """A known wrong answer: its tags, what it is (a phrase for "your answer equals ...")
    and its value."""

    tags: tuple[str, ...]
    text: str
    value: np.ndarray


@dataclass(frozen=True)
class Variant:
    """A known wrong formula's value on one case: tags, the formula (a noun phrase: what was
    computed), what is wrong with it ("" when the formula says it) and its value."""

    tags: tuple[str, ...]
    formula: str
    gloss: str
    value: np.ndarray


def variants_from_data(records: list[dict[str, Any]]) -> list[Variant]:
    """Variants stored as data ({tags, formula, gloss, value}) by the handout build."""
    return [
        Variant(tuple(r["tags"]), str(r["formula"]), str(r["gloss"]), _nd(r["value"]))
        for r in records
    ]


def _nd(value: Any) -> np.ndarray:
    return np.array(value, dtype=float)


def _scales(name: str, n: int | None, o: int | None) -> list[tuple[float, tuple[str, ...], str]]:
    """(factor, tags, prefix): the factors a wrong answer can be off by, simplest first."""
    if name in ("numerical_gradient", "numerical_derivative"):
        return [(1.0, (), ""), (-1.0, ("M3",), "minus "), (2.0, (), "twice "), (0.5, (), "half ")]
    if name not in _LOSS_FUNCTIONS:
        return [(1.0, (), ""), (-1.0, (), "minus "), (2.0, (), "twice "), (0.5, (), "half ")]
    out = [
        (1.0, (), ""),
        (-1.0, ("M3",), "minus "),
        (2.0, ("M4",), "twice "),
        (-2.0, ("M3", "M4"), "-2 times "),
    ]
    for count, what in ((n, "n"), ((n or 0) * (o or 0), "(n*o)")):
        if count and count > 2:
            out += [
                (1.0 / count, ("M5",), f"1/{count} (1/{what}) times "),
                (-1.0 / count, ("M3", "M5"), f"-1/{count} (-1/{what}) times "),
                (2.0 / count, ("M4", "M5"), f"2/{count} (2/{what}) times "),
                (-2.0 / count, ("M3", "M4", "M5"), f"-2/{count} (-2/{what}) times "),
            ]
    out.append((0.5, (), "half "))
    return out


def _sizes(inputs: dict[str, Any], context: dict[str, Any]) -> tuple[int | None, int | None]:
    """(n, o) of a network case, or (None, None)."""
    for key in ("X", "Y_hat", "delta2", "H", "delta1"):
        src = context[key] if key in context else inputs.get(key)
        if type(src) is _ndarray and src.ndim == 2:
            n = src.shape[0]
            Y = context.get("Y", inputs.get("Y", inputs.get("delta2")))
            o = Y.shape[1] if type(Y) is _ndarray and Y.ndim == 2 else None
            return n, o
    return None, None


def candidates(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    variants: list[Variant],
) -> list[Candidate]:
    """Every known wrong answer for this function and output on these inputs, simplest first.

    Args:
        name: the student function. component: which output ("result", "H", "W1", ...).
        inputs: the call's arguments by name (arrays). context: the case's network, if any.
        expected: the right answer for this component.
        variants: the function's known wrong formulas evaluated on this case (from the
            data file for the visible examples, from the instructor's package for hidden ones).
    """
    n, o = _sizes(inputs, context)
    out: list[Candidate] = []
    right = Variant((), "the expected answer", "", expected)
    with np.errstate(all="ignore"):
        for var in [right, *variants]:
            gloss = f" ({var.gloss})" if var.gloss else ""
            for factor, s_tags, prefix in _scales(name, n, o):
                value = _nd(var.value * factor)
                tags = tuple(dict.fromkeys(var.tags + s_tags))
                out.append(Candidate(tags, f"{prefix}{var.formula}{gloss}", value))
                if value.ndim == 2 and value.shape[0] != value.shape[1]:
                    t_tags = tuple(dict.fromkeys(("M1",) + tags))
                    text = f"{prefix}{var.formula}, transposed{gloss}"
                    out.append(Candidate(t_tags, text, value.T.copy()))
    return out[1:]  # the expected itself is not a mistake


def explain_values(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    got: np.ndarray,
    variants: list[Variant] = (),
) -> Explanation:
    """Why a returned array (an exact float64 ndarray) differs from the expected one
    (variants: see `candidates`)."""
    label = "" if component == "result" else f"{component}: "
    for cand in candidates(name, component, inputs, context, expected, list(variants)):
        if cand.value.shape != got.shape or close(cand.value, expected, rtol=1e-6):
            continue
        if close(got, cand.value, rtol=1e-5):
            return explanation(cand.tags, f"{label}your answer equals {cand.text}.", name)
    if got.shape != expected.shape:
        return explain_shape(name, component, inputs, expected.shape, got.shape)
    bad = (got != got) | (abs(got) == float("inf"))
    if bad.any():
        tags: tuple[str, ...] = ("M12",) if name in ("sigmoid", "sigmoid_prime") else ()
        where = ""
        first = next(iter(inputs.values()), None)
        if type(first) is _ndarray and first.shape == got.shape and got.ndim:
            ix = tuple(int(i) for i in np.argwhere(bad)[0])
            where = f" (first at index {ix}, where the input is {float(first[ix]):g})"
        elif got.ndim == 0 and len(inputs) == 1 and type(first) is _ndarray:
            where = f" (for the input {float(first):g})"
        return explanation(tags, f"{label}your answer contains nan or inf{where}.", name)
    return explanation((), f"{label}the values differ ({largest_difference(expected, got)}).", name)


def explain_shape(
    name: str,
    component: str,
    inputs: dict[str, Any],
    expected_shape: tuple[int, ...],
    got_shape: tuple[int, ...],
) -> Explanation:
    """A wrong shape: M1 (transposed shape), M9 (unsummed bias) or M2, with the input shapes."""
    label = "" if component == "result" else f"{component}: "
    shapes = ", ".join(f"{k} {v.shape}" for k, v in inputs.items() if type(v) is _ndarray)
    base = f"{label}expected shape {expected_shape}, got {got_shape} (inputs: {shapes})"
    bias = _BIAS.get(name, _BIAS.get(component) if name == "backprop" else None)
    if bias and len(got_shape) == 2 and len(expected_shape) == 1:
        if got_shape[1] == expected_shape[0] and got_shape[0] > 1:
            return explanation(
                ("M9",), base + f": one row per sample where ({bias},) is due.", name
            )
        if got_shape == (1, expected_shape[0]):
            return explanation(
                ("M2",), base + ": drop keepdims=True (or index [0]) to get a 1-d array.", name
            )
    if len(got_shape) == 2 and got_shape == expected_shape[::-1] and got_shape[0] != got_shape[1]:
        return explanation(("M1",), base + ": the shape of the transpose.", name)
    return explanation(("M2",), base + ".", name)


def explain_type(name: str, component: str, kind: str, type_name: str, want: str) -> Explanation:
    """A value of the wrong type: want is "array", "float", "tuple", "dict" or "list"."""
    label = "" if component == "result" else f"{component}: "
    advice = {
        "array": "return a numpy array (np.ndarray), e.g. built with numpy operations or "
        "np.array(...)",
        "float": "return a Python float, e.g. float(total)",
        "tuple": "return a tuple, e.g. return H, Y_hat",
        "dict": 'return a dict with the keys "W1", "b1", "W2", "b2"',
        "list": "return a list with one float per epoch",
    }[want]
    if kind == "none":
        text = f"{label}your function returned None: is a `return` statement missing?"
    else:
        article = "an" if want == "array" else "a"
        text = f"{label}expected {article} {want}, got a {type_name}: {advice}."
    return Explanation((), text, FUNCTION_HINTS.get(name, ""))


def explain_error(name: str, type_name: str, message: str, where: str = "") -> Explanation:
    """A friendly account of an exception the student's function raised."""
    at = f" ({where})" if where else ""
    head = f"your function raised {type_name}: {message}{at}."
    if type_name == "NotImplementedError":
        text = f"your function is still the stub: it raised NotImplementedError{at}."
        hint = "replace `raise NotImplementedError()` with your code, then run the cell again."
    elif type_name == "NameError":
        text = head
        hint = (
            "a name is used that is not defined: check its spelling and run the cells that "
            "define it (earlier functions, imports) first."
        )
    elif type_name == "ValueError" and (
        "broadcast" in message or "matmul" in message or "aligned" in message
    ):
        text = head
        hint = (
            "two arrays' shapes do not fit: write the shape of every factor under the "
            "formula; @ needs (a, b) @ (b, d), and elementwise * needs equal shapes."
        )
    elif type_name in ("IndexError", "TypeError", "AttributeError", "KeyError"):
        text = head
        hint = (
            "check the arguments' types and shapes in the docstring; the checks call your "
            "function with numpy arrays of several shapes (n = 1 included)."
        )
    else:
        text = head
        hint = FUNCTION_HINTS.get(name, "")
    return Explanation((), text, hint)


def explain_mutation(name: str, arg: str, change: float) -> Explanation:
    """An argument was changed: M11, or M13 when numerical_gradient left W nudged by about eps."""
    size = "its shape or type" if change == float("inf") else f"entries by up to {change:.3g}"
    if name == "numerical_gradient" and arg == "W":
        return explanation(
            ("M13", "M11"),
            f"W was left perturbed: after your function returned, W had changed {size}.",
            name,
        )
    return explanation(
        ("M11",),
        f"the argument {arg} was changed in place ({size}); the returned "
        f"values may be right, but the caller's {arg} is not.",
        name,
    )


def explain_warnings(
    name: str, caught: list[tuple[str, str]], largest_input: float | None = None
) -> Explanation | None:
    """M12 when numpy warned about overflow or invalid values during the call; else None.

    largest_input: the largest |entry| of the call's arrays, named in the message.
    """
    bad = [m for c, m in caught if c == "RuntimeWarning" and ("overflow" in m or "invalid" in m)]
    if not bad:
        return None
    on = f" on inputs as large as {largest_input:g}" if largest_input else ""
    return explanation(
        ("M12",),
        f"numpy warned {bad[0]!r}{on} (in a test cell that warning goes "
        "to stderr, which nbgrader scores as a failure).",
        name,
    )


def explain_eps(name: str, expected: np.ndarray, got: np.ndarray, eps: float) -> Explanation | None:
    """M13 when a numerical derivative is off by about eps (not by rounding, not by much more)."""
    if got.shape != expected.shape or (got != got).any():
        return None
    err = float(abs(got - expected).max())
    scale = 1.0 + float(abs(expected).max())
    if 1e-3 * eps * scale < err < 50 * eps * scale:
        return explanation(
            ("M13",),
            f"your answer is off by {err:.2g}, about eps = {eps:g}: "
            "more than the central difference's error.",
            name,
        )
    return None


def explain_hardcoded(name: str, component: str) -> Explanation:
    """M10: the answer on randomised inputs equals the visible example's answer."""
    label = "" if component == "result" else f"{component}: "
    return explanation(
        ("M10",),
        f"{label}on new inputs of the visible example's shapes your "
        "function returned the visible example's answer.",
        name,
    )
