"""Name the mistake: the misconception table M1-M13 and the explanations a check gives.

Pure functions that return `Explanation`s and never assert (the checks turn them into the
failure a test cell raises). The misconceptions are the table M1-M13 of docs/course.md; each
explanation carries the tags it matched, one sentence of what the answer equals, and one
sentence of where to look. What is said of one function (where to look, a title worded for
it) comes from its record (`backprop_checks.functions`); a wrong array is compared with the
known wrong answers in `backprop_checks.candidates`. This module computes no right answer of
any function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backprop_checks import _trusted
from backprop_checks import functions as _functions
from backprop_checks.compare import sizes

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

#: exp(x) overflows float64 for x above about 709.78.
_EXP_LIMIT = 709.0
#: The number of entries of each bias, in the course's notation.
_BIAS_SIZE = {"b1": "h", "b2": "o"}


def title(name: str, tag: str) -> str:
    """Misconception `tag`'s title, worded for function `name` where its record says so."""
    spec = _functions.find(name)
    return (spec.titles.get(tag) if spec else None) or MISCONCEPTIONS[tag]


def hint_for(name: str, tag: str) -> str:
    """Where to look for misconception `tag` in function `name`."""
    spec = _functions.find(name)
    return (spec.tag_hints.get(tag) if spec else None) or TAG_HINTS[tag]


def bias_size(name: str, component: str) -> str:
    """"h" or "o" when the answer (component) is the gradient of the bias b1 or b2, else ""."""
    spec = _functions.find(name)
    if spec is None:
        return ""
    param = spec.bias or (component if spec.result == "gradients" else "")
    return _BIAS_SIZE.get(param, "")


@dataclass(frozen=True)
class Explanation:
    """A diagnosis: tags like ("M3", "M4") (empty when no misconception matched), what the
    answer is or equals (one sentence), and where to look (one sentence)."""

    tags: tuple[str, ...]
    text: str
    hint: str
    name: str = ""  # the function it is about, for a title worded for it (`title`)
    #: what the student did, in a few words, where the tags' titles would say more than was
    #: found ("W left perturbed" for [M13][M11], not "a forward difference, or ...")
    title: str = ""

    def headline(self) -> str:
        """One line for a student: "[M1] a missing or extra transpose: ..."."""
        if not self.tags:
            return self.text
        tags = "".join(f"[{t}]" for t in self.tags)
        titles = self.title or "; ".join(title(self.name, t) for t in self.tags)
        return f"{tags} {titles}: {self.text}"


def explanation(tags: tuple[str, ...], text: str, name: str) -> Explanation:
    """An Explanation whose hint is the first tag's (or the function's) where-to-look."""
    hint = hint_for(name, tags[0]) if tags else _functions.hint(name)
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
    bias = bias_size(name, component)
    if bias and len(got_shape) == 2 and len(expected_shape) == 1:
        if got_shape[1] == expected_shape[0] and got_shape[0] > 1:
            return explanation(
                ("M9",), base + f": one row per sample where ({bias},) is due.", name
            )
        if got_shape == (1, expected_shape[0]):
            return explanation(
                ("M2",), base + ": drop keepdims=True (or index [0]) to get a 1-d array.", name
            )
    n, _ = sizes(inputs, {})
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
    elif type_name == "TypeError" and _one_number(name) and (
        "only 0-dimensional arrays" in message or "only length-1 arrays" in message
    ):
        text = (
            f"your function raised TypeError: {message}{at}: float(...) was given an array "
            "of several numbers, so the sum inside ran over one axis only; sum over all "
            "entries (np.sum(...) with no axis), then float(...)."
        )
        hint = _functions.hint(name)
    elif type_name == "TypeError" and (
        "for ^:" in message or "bitwise_xor" in message
    ):
        text = head + " In Python ^ is bitwise XOR, not a power"
        text = f"{text}: use ** for powers (z ** 2, not z^2)."
        hint = "write powers with **: 3 * x ** 2 * z, not 3 * x^2 * z."
    elif type_name in ("IndexError", "TypeError", "AttributeError", "KeyError"):
        text = head
        spec = _functions.find(name)
        hint = (spec.argument_hint if spec else "") or (
            "check the arguments' types and shapes in the docstring; the checks call your "
            "function with numpy arrays of several shapes (n = 1 included)."
        )
    else:
        text = head
        hint = _functions.hint(name)
    return Explanation((), text, hint)


def explain_globals(name: str, read: list[tuple[str, str]], params: list[str],
                    args: tuple[str, ...]) -> Explanation:
    """The function reads arrays of the course's notation (X, W1, ...) from the notebook's
    globals instead of its arguments: `read` [(name, shape)], `params` its def line's
    parameters, `args` the record's arguments in call order."""
    names = ", ".join(f"{n} {shape}" for n, shape in read)
    own = f"{name}({', '.join(params)})"
    text = (
        f"your {name} reads the notebook's global {names}, not an argument: its def line is "
        f"{own}, so {', '.join(n for n, _ in read)} inside it "
        f"{'is' if len(read) == 1 else 'are'} the notebook's example array"
        f"{'' if len(read) == 1 else 's'}, whatever the check passes."
    )
    hint = (
        f"compute from the arguments only: with the def line {name}({', '.join(args)}) the "
        "names inside the function are the arguments the caller passes (n = 1 or 10,000 "
        "samples, other shapes)."
    )
    return Explanation((), text, hint, name)


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
    name: str,
    arg: str,
    change: float,
    off_by: float | None = None,
    eps: float | None = None,
    integer: str = "",
) -> Explanation:
    """An argument was changed (changes at rounding level are not recorded as changes): M11.

    integer: the argument's integer dtype, if it has one: a nudged integer W cuts the nudges
    to whole numbers, which explains wrong values (off_by not None) too.

    For the argument a numerical gradient nudges (its record's `nudges`: W), M13 as well when
    the answer is measured to be off by O(eps) (off_by: the largest error of the answer, None
    when the answer is right) and W was left nudged by about eps: the later entries were
    computed at a nudged W.
    """
    size = "its shape or type" if change == float("inf") else f"entries by up to {change:.3g}"
    spec = _functions.find(name)
    if spec is not None and spec.nudges == arg and integer and off_by is not None:
        return Explanation(
            ("M11",),
            f"W holds integers ({integer}) here and your function nudged W itself: W[ix] + eps "
            "and W[ix] - eps were cut back to whole numbers, so the slopes are not slopes, and "
            f"W was left changed ({size}).",
            "work on a float copy, W = np.array(W, dtype=float): it takes the nudges of eps, "
            "and the caller's W stays as it was.",
            name,
        )
    if spec is not None and spec.nudges == arg:
        measured = off_by is not None and eps is not None and off_by > 1e-3 * eps
        if measured and 0.1 * eps <= change <= 10 * eps:
            return Explanation(
                ("M13", "M11"),
                f"after your function returned, W had changed {size} (about eps = {eps:g}), "
                f"and your answer is off by {off_by:.2g}: each nudged entry stayed nudged, so "
                "the entries after the first were computed at a nudged W.",
                "work on a copy, W = np.array(W, dtype=float), and put each entry back "
                "(W[ix] = old) before moving to the next.",
                name,
                title="W left perturbed",
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
    """A numerical derivative off by about eps (not by rounding, not by much more) that no
    known wrong answer explains (the forward difference is one, M13; a central difference
    with another step, another): what was measured, with no tag claimed."""
    if got.shape != expected.shape or (got != got).any():
        return None
    err = float(abs(got - expected).max())
    scale = 1.0 + float(abs(expected).max())
    if 1e-3 * eps * scale < err < 50 * eps * scale:
        return Explanation(
            (),
            f"your answer is off by {err:.2g}, far more than the central difference with "
            f"eps = {eps:g} is (its error is of the order of eps^2 = {eps * eps:.0e}): a "
            "one-sided difference, or a step other than eps?",
            _functions.hint(name),
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


def _one_number(name: str) -> bool:
    """Whether the function returns one number made from arrays (the loss)."""
    spec = _functions.find(name)
    return spec is not None and spec.result == "float" and spec.from_loss
