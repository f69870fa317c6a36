"""Name the mistake: compare a wrong answer with the known wrong answers on the same inputs.

Pure functions that return `Explanation`s and never assert (checks.py turns them into the
failure a test cell raises). The misconceptions are the table M1-M13 of docs/course.md; each
explanation carries the tags it matched, one sentence of what the answer equals, and one
sentence of where to look.

For a wrong array the diagnosis compares it with candidate answers: the expected answer
and each known wrong formula of the function (the sigmoid applied again to an activation,
a derivative factor left out, Z fed in for H: `Variant`s, evaluated on the case by whoever
holds them, never here), each transformed (transposed, negated, doubled, divided by n), and
reports the first that matches. This module computes no right answer of any function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop_checks import _trusted

_ndarray = _trusted.ndarray

#: What each misconception's message names (docs/course.md, M1-M13).
MISCONCEPTIONS: dict[str, str] = {
    "M1": "a missing or extra transpose",
    "M2": "wrong shape",
    "M3": "a sign flip",
    "M4": "twice the expected: the loss without the 1/2",
    "M5": "a mean where the course uses a sum",
    "M6": "the double-sigmoid mistake (as in the lecture notes): the sigmoid applied again to "
    "an activation",
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
    "Y_hat * (1 - Y_hat)); applying sigmoid to them again is the lecture notes' mistake.",
    "M7": "every layer's error signal carries the sigmoid's derivative: multiply "
    "elementwise by Y_hat * (1 - Y_hat) (output) or H * (1 - H) (hidden).",
    "M8": "Z is the pre-activation (before the sigmoid) and H / Y_hat the activation "
    "(after it): check which one each formula needs.",
    "M9": "b is added to every sample, so its gradient adds up every sample's share: "
    ".sum(axis=0) over the n rows gives shape (h,) or (o,).",
    "M10": "compute the answer from the arguments; the hidden tests use other numbers and shapes.",
    "M11": "work on new arrays (x = x + 1, or W.copy()) instead of changing the arguments in "
    "place (+=, W[i] = ...).",
    "M12": "np.where(cond, a, b) computes both a and b on every entry before choosing, so "
    "an exp in either branch still overflows where it is not chosen: compute e = "
    "np.exp(-np.abs(z)) (never above 1) and build both branches from e, or clip the input "
    "of exp (np.clip(z, -500, 500)).",
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
#: What the checks call a function with, where the general account (arrays of several
#: shapes, n = 1 included) does not fit it.
ARGUMENT_HINTS: dict[str, str] = {
    **{
        fn: "check the arguments' types in the docstring; the checks call your function with "
        "plain numbers and with numpy arrays (x and z of one shape), so use operations that "
        "work on both."
        for fn in ("df_dx", "df_dz")
    },
    "numerical_derivative": "check the arguments in the docstring: g is a function of one "
    "number, x a number and eps a small number; return a float.",
    "numerical_gradient": "check the arguments in the docstring: fn takes an array shaped like "
    "W and returns a float; W is a numpy array of any shape.",
    **{
        fn: "check the argument's type in the docstring; the checks call your function with "
        "numpy arrays of several shapes (and with plain numbers)."
        for fn in ("sigmoid", "sigmoid_prime", "sigmoid_prime_from_output")
    },
}

#: exp(x) overflows float64 for x above about 709.78.
_EXP_LIMIT = 709.0

#: The functions that return one number (a float) made from arrays.
_ONE_NUMBER = {"sse_loss"}
_BIAS = {"grad_b1": "h", "grad_b2": "o", "b1": "h", "b2": "o"}


@dataclass(frozen=True)
class Explanation:
    """A diagnosis: tags like ("M3", "M4") (empty when no misconception matched), what the
    answer is or equals (one sentence), and where to look (one sentence)."""

    tags: tuple[str, ...]
    text: str
    hint: str
    name: str = ""  # the function it is about, for a title worded for it (FUNCTION_TITLES)

    def headline(self) -> str:
        """One line for a student: "[M1] a missing or extra transpose: ..."."""
        if not self.tags:
            return self.text
        tags = "".join(f"[{t}]" for t in self.tags)
        titles = "; ".join(
            FUNCTION_TITLES.get((self.name, t), MISCONCEPTIONS[t]) for t in self.tags
        )
        return f"{tags} {titles}: {self.text}"


#: A misconception's title worded for a function that lacks what the general title names
#: (numerical_derivative has no W and no entries).
FUNCTION_TITLES: dict[tuple[str, str], str] = {
    ("numerical_derivative", "M13"): "a numerical derivative off by O(eps): a forward "
    "difference where the central one is due",
}


#: Where to look for a misconception in one function, where the general hint would talk about
#: something that function does not have (notebooks 01-02 have no Y_hat; train has no formula
#: to transpose). Looked up before TAG_HINTS.
FUNCTION_TAG_HINTS: dict[tuple[str, str], str] = {
    ("sigmoid", "M3"): "sigma(z) = 1 / (1 + exp(-z)): check the sign in the exponent.",
    ("numerical_derivative", "M3"): "the central difference is (g(x + eps) - g(x - eps)) / "
    "(2 eps): check the order of the subtraction.",
    ("numerical_gradient", "M3"): "the central difference is (fn(W + eps) - fn(W - eps)) / "
    "(2 eps) at each entry: check the order of the subtraction.",
    ("sse_loss", "M5"): "the course's loss is a sum over all samples and outputs: "
    "0.5 * np.sum((Y_hat - Y) ** 2), not np.mean and not divided by n.",
    ("train", "M3"): "gradient descent steps against the gradient: W <- W - lr * dL/dW, "
    "for all four parameters.",
    ("train", "M4"): "the course's loss is 1/2 * sum((Y_hat - Y)^2) and backprop's gradients "
    "are its gradients: no extra factor 2, neither in the losses you record nor in the step.",
    ("train", "M5"): "the loss and its gradients are sums over the samples: record sse_loss as "
    "it is and step by lr * dL/dW, with no division by n.",
    ("grad_W1", "M1"): "write the shapes under each factor: X^T (c, n) times delta1 (n, h) gives "
    "(c, h); move the .T to the factor that needs it.",
    ("hidden_delta", "M1"): "write the shapes under each factor: delta2 (n, o) times W2^T (o, h) "
    "gives (n, h), like H; move the .T to the factor that needs it.",
    ("forward", "M1"): "X (n, c) @ W1 (c, h) gives (n, h) and H (n, h) @ W2 (h, o) gives "
    "(n, o): the forward pass needs no .T.",
    ("output_delta", "M1"): "delta2 is elementwise in Y_hat and Y, so it has their shape "
    "(n, o): no .T.",
    **{
        (fn, "M1"): "the function works entry by entry: its answer has the shape of its "
        "input, no .T."
        for fn in (
            "df_dx",
            "df_dz",
            "sigmoid",
            "sigmoid_prime",
            "sigmoid_prime_from_output",
            "numerical_gradient",
        )
    },
    ("sigmoid_prime", "M6"): "sigma(z) is already an activation: take the sigmoid of z once, "
    "call it s, then s * (1 - s); do not apply sigmoid to s again.",
    ("sigmoid_prime_from_output", "M6"): "a is already sigma(z): the derivative is a * (1 - a); "
    "applying sigmoid to a again is the lecture notes' mistake.",
    ("sigmoid_prime", "M7"): "sigmoid_prime is the derivative: multiply sigma(z) by "
    "(1 - sigma(z)).",
    ("sigmoid_prime", "M8"): "z is the pre-activation and sigma(z) the activation: the "
    "derivative at z is sigma(z) * (1 - sigma(z)), not z * (1 - z).",
    ("numerical_derivative", "M13"): "use the central difference (g(x + eps) - g(x - eps)) "
    "/ (2 * eps), not the forward difference (g(x + eps) - g(x)) / eps.",
    **{
        (fn, "M6"): "Y_hat is already a sigmoid: its derivative factor is Y_hat * (1 - Y_hat); "
        "applying sigmoid to it again is the lecture notes' mistake."
        for fn in ("output_delta", "grad_W2", "grad_b2")
    },
    **{
        (fn, "M7"): "the output error signal carries the sigmoid's derivative: multiply "
        "(Y_hat - Y) elementwise by Y_hat * (1 - Y_hat)."
        for fn in ("output_delta", "grad_W2", "grad_b2")
    },
    ("grad_b2", "M9"): "b2 is added to every sample, so its gradient adds up every sample's "
    "share: delta2.sum(axis=0) over the n rows gives shape (o,).",
    ("grad_b1", "M9"): "b1 is added to every sample, so its gradient adds up every sample's "
    "share: delta1.sum(axis=0) over the n rows gives shape (h,).",
    ("backprop", "M1"): "write the shapes under each factor: H^T (h, n) delta2 (n, o) gives "
    "(h, o) like W2, X^T (c, n) delta1 (n, h) gives (c, h) like W1.",
}


def hint_for(name: str, tag: str) -> str:
    """Where to look for misconception `tag` in function `name`."""
    return FUNCTION_TAG_HINTS.get((name, tag), TAG_HINTS[tag])


def explanation(tags: tuple[str, ...], text: str, name: str) -> Explanation:
    """An Explanation whose hint is the first tag's (or the function's) where-to-look."""
    hint = hint_for(name, tags[0]) if tags else FUNCTION_HINTS.get(name, "")
    return Explanation(tuple(tags), text, hint, name)


def step_factor(factor: float, n: int, o: int) -> tuple[tuple[str, ...], str] | None:
    """The misconception of a training step that is `factor` times the right one."""
    for value, tags, what in _factor_table(n, o):
        if abs(factor - value) <= 1e-6 * abs(value):
            return tags, what
    return None


def loss_factors(n: int, o: int) -> list[tuple[float, tuple[str, ...], str]]:
    """(factor, tags, words) a recorded loss can be off by, for a batch of n samples, o outputs."""
    return [row for row in _factor_table(n, o) if row[0] > 0]


def _factor_table(n: int, o: int) -> list[tuple[float, tuple[str, ...], str]]:
    out: list[tuple[float, tuple[str, ...], str]] = [
        (-1.0, ("M3",), "minus"),
        (2.0, ("M4",), "twice"),
        (-2.0, ("M3", "M4"), "-2 times"),
    ]
    seen = {1.0, -1.0, 2.0, -2.0, 0.5}
    for count, what in ((n, "n"), (n * o, "(n*o)")):
        for num, tags in ((1, ("M5",)), (2, ("M4", "M5")), (-1, ("M3", "M5"))):
            value = num / count
            if value in seen:
                continue  # the same number as a simpler factor: not told apart here
            seen.add(value)
            out.append((value, tags, f"{num}/{count} ({num}/{what}) times"))
    out.append((0.5, (), "half"))
    return out


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


def fmt_values(a: np.ndarray | None, limit: int = 6, digits: int = 4) -> str:
    """A few entries of an array for a message: "[0.1235, -2.5, ...] (shape (5, 2))", each
    with `digits` significant digits (a 0-d array: digits + 2)."""
    if a is None:
        return "nothing usable"
    if type(a) is not _ndarray:
        return repr(a)[:80]
    flat = a.reshape(-1)
    vals = ", ".join(f"{float(v):.{digits}g}" for v in flat[:limit])
    more = ", ..." if flat.size > limit else ""
    if a.ndim == 0:
        return f"{float(a):.{digits + 2}g}"
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
    """A known wrong answer: its tags, what it is (a phrase for "your answer equals ..."),
    its value, and its key: the same on every case for the same mistake (the formula, the
    factor in symbols such as "1/n", transposed or not), so the mistake can be named from all
    the cases at once."""

    tags: tuple[str, ...]
    text: str
    value: np.ndarray
    key: tuple[str, str, bool] = ("", "", False)


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


def _scales(
    name: str, n: int | None, o: int | None
) -> list[tuple[float, tuple[str, ...], str, str]]:
    """(factor, tags, prefix, key): the factors a wrong answer can be off by, simplest first;
    key is the factor in symbols ("1/n"), the same on every case."""
    if name in ("numerical_gradient", "numerical_derivative"):
        return [
            (1.0, (), "", "1"),
            (-1.0, ("M3",), "minus ", "-1"),
            (2.0, (), "twice ", "2"),
            (0.5, (), "half ", "1/2"),
        ]
    if name not in _LOSS_FUNCTIONS:
        return [
            (1.0, (), "", "1"),
            (-1.0, (), "minus ", "-1"),
            (2.0, (), "twice ", "2"),
            (0.5, (), "half ", "1/2"),
        ]
    out = [
        (1.0, (), "", "1"),
        (-1.0, ("M3",), "minus ", "-1"),
        (2.0, ("M4",), "twice ", "2"),
        (-2.0, ("M3", "M4"), "-2 times ", "-2"),
    ]
    for count, what in ((n, "n"), ((n or 0) * (o or 0), "(n*o)")):
        if count:  # n = 1 or 2 as well: naming reads every case, where 1/n is 1 or 1/2 there
            out += [
                (1.0 / count, ("M5",), f"1/{count} (1/{what}) times ", f"1/{what}"),
                (-1.0 / count, ("M3", "M5"), f"-1/{count} (-1/{what}) times ", f"-1/{what}"),
                (2.0 / count, ("M4", "M5"), f"2/{count} (2/{what}) times ", f"2/{what}"),
                (-2.0 / count, ("M3", "M4", "M5"), f"-2/{count} (-2/{what}) times ", f"-2/{what}"),
            ]
    out.append((0.5, (), "half ", "1/2"))
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
    variants: list[Variant] = (),
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
            for factor, s_tags, prefix, s_key in _scales(name, n, o):
                value = _nd(var.value * factor)
                tags = tuple(dict.fromkeys(var.tags + s_tags))
                key = (var.formula, s_key, False)
                out.append(Candidate(tags, f"{prefix}{var.formula}{gloss}", value, key))
                if value.ndim == 2 and value.shape[0] != value.shape[1]:
                    t_tags = tuple(dict.fromkeys(("M1",) + tags))
                    text = f"{prefix}{var.formula}, transposed{gloss}"
                    out.append(Candidate(t_tags, text, value.T.copy(), (var.formula, s_key, True)))
    return out[1:]  # the expected itself is not a mistake


@dataclass
class Seen:
    """One case as the naming reads it: the call's inputs, the case's network, the expected
    answer and what the student returned for one component."""

    inputs: dict[str, Any]
    context: dict[str, Any]
    expected: np.ndarray
    got: np.ndarray
    variants: list[Variant] = field(default_factory=list)
    _values: dict | None = None

    def values(self, name: str, component: str) -> dict[tuple[str, str, bool], np.ndarray]:
        """Every candidate's value on this case, by key (computed once)."""
        if self._values is None:
            self._values = {}
            for cand in candidates(
                name, component, self.inputs, self.context, self.expected, self.variants
            ):
                self._values.setdefault(cand.key, cand.value)
        return self._values


def consistent(name: str, component: str, key: tuple[str, str, bool], others: list[Seen]) -> bool:
    """Whether the mistake `key` explains what the student returned on every other case
    (on a case where the mistake changes nothing, a right answer agrees with it)."""
    for seen in others:
        value = seen.values(name, component).get(key)
        if value is None:
            continue  # that mistake has no value there (a transpose of a square matrix)
        if value.shape != seen.got.shape or not close(seen.got, value, rtol=1e-5):
            return False
    return True


def explain_values(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    got: np.ndarray,
    others: list[Seen] | None = None,
    variants: list[Variant] = (),
) -> Explanation:
    """Why a returned array (an exact float64 ndarray) differs from the expected one.

    others: the other cases of the same check; a known mistake is named only when it also
    explains what the student returned on each of them (two mistakes that give the same
    number on one example are told apart by the others). variants: see `candidates`.
    """
    label = "" if component == "result" else f"{component}: "
    for cand in candidates(name, component, inputs, context, expected, list(variants)):
        if cand.value.shape != got.shape or close(cand.value, expected, rtol=1e-6):
            continue
        if close(got, cand.value, rtol=1e-5) and consistent(name, component, cand.key,
                                                            others or []):  # fmt: skip
            return explanation(cand.tags, f"{label}your answer equals {cand.text}.", name)
    if got.shape != expected.shape:
        squeezed = _squeezed(name, component, inputs, expected, got)
        if squeezed is not None:
            return squeezed
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


def _squeezed(
    name: str,
    component: str,
    inputs: dict[str, Any],
    expected: np.ndarray,
    got: np.ndarray,
) -> Explanation | None:
    """M2 when the values are right but length-1 axes were dropped (np.squeeze, [0], .item()
    on an axis of length 1) or added: named as such, not as a sum over the wrong axes."""
    if got.size != expected.size or not close(got.reshape(expected.shape), expected):
        return None
    label = "" if component == "result" else f"{component}: "
    base = f"{label}expected shape {expected.shape}, got {got.shape}"
    if got.ndim < expected.ndim:
        bias = _BIAS.get(name, _BIAS.get(component) if name == "backprop" else None)
        size = f" ({bias} = 1 here)" if bias else ""
        keep = f"keep the shape ({bias},)" if bias else f"keep the shape {expected.shape}"
        text = (
            f"{base}: the right numbers, but the axis of length 1{size} was squeezed away; "
            f"{keep}: no np.squeeze, [0] or .item() on the result."
        )
    else:
        text = f"{base}: the right numbers in an array with extra axes of length 1."
    return Explanation(
        ("M2",), text, "return the array with the shape the docstring promises, even when "
        "an axis has length 1.",
    )


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
    n, _ = _sizes(inputs, {})
    delta = "delta1" if bias == "h" else "delta2"
    column = "hidden unit" if bias == "h" else "output"
    axis_hint = (
        f"{delta} has one row per sample and one column per {column}: sum over the rows, "
        f"{delta}.sum(axis=0), to get ({bias},)."
    )
    if bias and len(expected_shape) == 1 and got_shape == (n,) and expected_shape != (n,):
        return Explanation(
            ("M2",),
            base + ": one entry per sample, so the sum ran over axis 1 (the columns) instead "
            "of axis 0 (the samples).",
            axis_hint,
        )
    if bias and len(expected_shape) == 1 and got_shape == ():
        text = base + ": a single number, the sum over both axes; sum over axis 0 only."
        return Explanation(("M2",), text, axis_hint)
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
    bias = _BIAS.get(name, _BIAS.get(component) if name == "backprop" else None)
    if kind == "none":
        text = f"{label}your function returned None: is a `return` statement missing?"
    elif bias and want == "array" and kind in ("float", "int"):
        delta = "delta1" if bias == "h" else "delta2"
        text = (
            f"{label}a single number ({type_name}) where an array of shape ({bias},) is due: "
            f"sum {delta} over axis 0 (the samples) only, {delta}.sum(axis=0), and return that "
            "array (no float(), .item() or np.squeeze, even when it has one entry)."
        )
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
    elif type_name == "TypeError" and name in _ONE_NUMBER and (
        "only 0-dimensional arrays" in message or "only length-1 arrays" in message
    ):
        text = (
            f"your function raised TypeError: {message}{at}: float(...) was given an array "
            "of several numbers, so the sum inside ran over one axis only; sum over all "
            "entries (np.sum(...) with no axis), then float(...)."
        )
        hint = FUNCTION_HINTS.get(name, "")
    elif type_name == "TypeError" and (
        "for ^:" in message or "bitwise_xor" in message
    ):
        text = head + " In Python ^ is bitwise XOR, not a power"
        text = f"{text}: use ** for powers (z ** 2, not z^2)."
        hint = "write powers with **: 3 * x ** 2 * z, not 3 * x^2 * z."
    elif type_name in ("IndexError", "TypeError", "AttributeError", "KeyError"):
        text = head
        hint = ARGUMENT_HINTS.get(
            name,
            "check the arguments' types and shapes in the docstring; the checks call your "
            "function with numpy arrays of several shapes (n = 1 included).",
        )
    else:
        text = head
        hint = FUNCTION_HINTS.get(name, "")
    return Explanation((), text, hint)


def explain_helper_warning(
    name: str, helper: str, message: str, largest_input: float | None = None
) -> Explanation:
    """numpy warned inside another of the student's functions that `name` calls: the helper
    is named, not the function graded (which is graded with the student's own helpers)."""
    on = f" on inputs as large as {largest_input:g}" if largest_input else ""
    return Explanation(
        (),
        f"your {name} calls your {helper}, which makes numpy warn {message!r}{on}: "
        f"fix {helper} first (its own check says how), then run this cell again.",
        f"{name} is graded with your own {helper}, as it runs in your notebook: once {helper} "
        "passes its checks, check this one again.",
    )


def explain_helper_error(
    name: str, helper: str, type_name: str, message: str, where: str = ""
) -> Explanation:
    """An exception raised inside another of the student's functions that `name` calls."""
    at = f" ({where})" if where else ""
    return Explanation(
        (),
        f"your {name} calls your {helper}, which raised {type_name}: {message}{at}: "
        f"fix {helper} first, then run this cell again.",
        f"{name} is graded with your own {helper}, as it runs in your notebook: once {helper} "
        "passes its checks, check this one again.",
    )


def explain_mutation(
    name: str, arg: str, change: float, off_by: float | None = None, eps: float | None = None
) -> Explanation:
    """An argument was changed (changes at rounding level are not recorded as changes): M11.

    For numerical_gradient's W, M13 as well when the answer is measured to be off by O(eps)
    (off_by: the largest error of the answer, None when the answer is right) and W was left
    nudged by about eps: the later entries were computed at a nudged W.
    """
    size = "its shape or type" if change == float("inf") else f"entries by up to {change:.3g}"
    if name == "numerical_gradient" and arg == "W":
        measured = off_by is not None and eps is not None and off_by > 1e-3 * eps
        if measured and 0.1 * eps <= change <= 10 * eps:
            return explanation(
                ("M13", "M11"),
                f"W was left perturbed: after your function returned, W had changed {size} "
                f"(about eps = {eps:g}), and your answer is off by {off_by:.2g}: the entries "
                "after the first were computed at a nudged W.",
                name,
            )
        return explanation(
            ("M11",),
            f"W was changed in place: after your function returned, W had changed {size}.",
            name,
        )
    return explanation(
        ("M11",),
        f"the argument {arg} was changed in place ({size}); the returned "
        f"values may be right, but the caller's {arg} is not.",
        name,
    )


def explain_precision(name: str, component: str, dtype: str) -> Explanation:
    """A returned value in a narrower float dtype (float32) that is right to its precision."""
    label = "" if component == "result" else f"{component}: "
    return Explanation(
        (),
        f"{label}your answer has dtype {dtype} where float64 is expected: right to about 7 "
        f"digits, not to the 15 the checks compare ({dtype} is a matter of precision, not of "
        "the formula).",
        f"compute in float64, numpy's default: np.asarray(z, dtype=float) (not {dtype}), and "
        "no .astype(np.float32).",
    )


def explain_warnings(
    name: str,
    caught: list[tuple[str, str]],
    largest_input: float | None = None,
    low: str = "",
    span: tuple[float, float] | None = None,
) -> Explanation | None:
    """M12 when numpy warned about overflow or invalid values during the call; else None.

    span: the smallest and largest entry of the call's arrays: an overflow in exp is named
    with the input that overflows it (exp(-z) at z = -1000, exp(z) at z = 1000).

    largest_input: the largest |entry| of the call's arrays, named in the message.
    low: the returned value's narrower float dtype ("float32") if any: an overflow in a cast
    to it is precision (no tag), not an unstable formula.
    """
    bad = [m for c, m in caught if c == "RuntimeWarning" and ("overflow" in m or "invalid" in m)]
    if not bad:
        return None
    on = f" on inputs as large as {largest_input:g}" if largest_input else ""
    if "in cast" in bad[0]:  # an inf from the narrowing cast; what follows comes from it
        dtype = low or "a narrower dtype"
        return Explanation(
            (),
            f"numpy warned {bad[0]!r}{on}: converting float64 inputs to {dtype} overflows "
            f"({dtype} holds no number beyond about 3.4e38); a matter of precision, not of "
            "the formula.",
            "compute in float64, numpy's default: np.asarray(z, dtype=float), and no "
            ".astype(np.float32).",
        )
    if "overflow" in bad[0] and "exp" in bad[0] and span is not None:
        lo, hi = span
        sides = []
        if lo < -_EXP_LIMIT:
            sides.append(f"exp(-z) at z = {lo:g}")
        if hi > _EXP_LIMIT:
            sides.append(f"exp(z) at z = {hi:g}")
        if sides:
            which = " or ".join(sides)
            text = (
                f"numpy warned {bad[0]!r} on inputs from {lo:g} to {hi:g}: exp overflows "
                f"for arguments above about 709, so your formula computes {which}."
            )
            return explanation(("M12",), text, name)
    return explanation(("M12",), f"numpy warned {bad[0]!r}{on}.", name)


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
