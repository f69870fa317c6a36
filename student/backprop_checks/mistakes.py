"""Naming what went wrong: the explanations a failing check gives, and how they are found.

Pure functions that return `Explanation`s and never assert (the checks turn them into the
failure a test cell raises). This module computes no right answer of any function. Sections:

- comparing arrays and showing them in a message (`close`, `fmt_values`,
  `largest_difference`, `sizes`, `inputs_of`): plain arithmetic on exact float64 arrays.
- the explanations (`Explanation`, `explanation`, the `explain_*` functions): one per kind of
  mistake, worded with the misconception table (`backprop_checks.catalog.MISCONCEPTIONS`)
  and the function's record.
- the known wrong answers (`Variant`, `Candidate`, `Seen`, `candidates`, `explain_values`,
  `known_mistake`): a wrong array compared with each known wrong formula's value.
- blaming an exception or a warning (`error_explanation`, `warned`, `notebook_of`,
  `provided_in`): on the student's function, a helper of theirs, or the call that gave a
  sound function arguments it cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop_checks import _trusted, catalog
from backprop_checks.catalog import MISCONCEPTIONS, TAG_HINTS
from backprop_checks.observe import Observation

# ------------------------------------------------------------ comparing arrays, showing them
# Array comparisons and how arrays are shown in a message (plain arithmetic only).
#
# Every function here takes exact float64 numpy arrays (`backprop_checks._trusted.ndarray`)
# and uses only the arrays' own operators and methods, so a student who rebinds a numpy
# function changes nothing here.

_ndarray = _trusted.ndarray


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


def sizes(inputs: dict[str, Any], context: dict[str, Any]) -> tuple[int | None, int | None]:
    """(n, o) of a network case, or (None, None)."""
    for key in ("X", "Y_hat", "delta2", "H", "delta1"):
        src = context[key] if key in context else inputs.get(key)
        if type(src) is _ndarray and src.ndim == 2:
            n = src.shape[0]
            Y = context.get("Y", inputs.get("Y", inputs.get("delta2")))
            o = Y.shape[1] if type(Y) is _ndarray and Y.ndim == 2 else None
            return n, o
    return None, None


def inputs_of(case: dict[str, Any]) -> dict[str, np.ndarray]:
    """The call's numeric arguments as arrays, for the diagnosis (eps is a setting, not data)."""
    return {
        k: (v if type(v) is _ndarray else np.array(v, dtype=float))
        for k, v in case["args"].items()
        if k != "eps" and isinstance(v, (float, int, _ndarray))
    }


# ------------------------------------------------------------ the explanations
# Name the mistake: the explanations a check gives.
#
# Pure functions that return `Explanation`s and never assert (the checks turn them into the
# failure a test cell raises). The misconceptions are the table of mistakes of docs/course.md
# (`backprop_checks.catalog.MISCONCEPTIONS`); each
# explanation carries the tags it matched, one sentence of what the answer equals, and one
# sentence of where to look. What is said of one function (where to look, a title worded for
# it) comes from its record (`backprop_checks.catalog`); a wrong array is compared with the
# known wrong answers (the section below). This module computes no right answer of
# any function.


#: exp(x) overflows float64 for x above about 709.78.
_EXP_LIMIT = 709.0
#: The number of entries of each bias, in the course's notation.
_BIAS_SIZE = {"b1": "h", "b2": "o"}


def title(name: str, tag: str) -> str:
    """Misconception `tag`'s title, worded for function `name` where its record says so."""
    spec = catalog.find(name)
    return (spec.titles.get(tag) if spec else None) or MISCONCEPTIONS[tag]


def hint_for(name: str, tag: str) -> str:
    """Where to look for misconception `tag` in function `name`."""
    spec = catalog.find(name)
    return (spec.tag_hints.get(tag) if spec else None) or TAG_HINTS[tag]


def bias_size(name: str, component: str) -> str:
    """ "h" or "o" when the answer (component) is the gradient of the bias b1 or b2, else ""."""
    spec = catalog.find(name)
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
    hint = hint_for(name, tags[0]) if tags else catalog.hint(name)
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
    elif (
        type_name == "TypeError"
        and _one_number(name)
        and ("only 0-dimensional arrays" in message or "only length-1 arrays" in message)
    ):
        text = (
            f"your function raised TypeError: {message}{at}: float(...) was given an array "
            "of several numbers, so the sum inside ran over one axis only; sum over all "
            "entries (np.sum(...) with no axis), then float(...)."
        )
        hint = catalog.hint(name)
    elif type_name == "TypeError" and ("for ^:" in message or "bitwise_xor" in message):
        text = head + " In Python ^ is bitwise XOR, not a power"
        text = f"{text}: use ** for powers (z ** 2, not z^2)."
        hint = "write powers with **: 3 * x ** 2 * z, not 3 * x^2 * z."
    elif type_name in ("IndexError", "TypeError", "AttributeError", "KeyError"):
        text = head
        spec = catalog.find(name)
        hint = (spec.argument_hint if spec else "") or (
            "check the arguments' types and shapes in the docstring; the checks call your "
            "function with numpy arrays of several shapes (n = 1 included)."
        )
    else:
        text = head
        hint = catalog.hint(name)
    return Explanation((), text, hint)


def explain_globals(
    name: str, read: list[tuple[str, str]], params: list[str], args: tuple[str, ...]
) -> Explanation:
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
    spec = catalog.find(name)
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
                "work on a copy, W = np.array(W, dtype=float), and put each entry back to "
                "its old value before moving to the next.",
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
    if max(1e-3 * eps, 10 * eps * eps) * scale < err < 50 * eps * scale:
        return Explanation(
            (),
            f"your answer is off by {err:.2g} from the central difference with eps = {eps:g}, "
            "far more than that is from the exact slope (its error is of the order of "
            f"eps^2 = {eps * eps:.0e}): a one-sided difference, or a step other than eps?",
            catalog.hint(name),
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
    spec = catalog.find(name)
    return spec is not None and spec.result == "float" and spec.from_loss


# ------------------------------------------------------------ the known wrong answers (candidates)
# The known wrong answers a returned array is compared with, and the naming that reads them.
#
# For a wrong array the diagnosis compares it with candidate answers: the expected answer
# and each known wrong formula of the function (the sigmoid applied again to an activation,
# a derivative factor left out, Z fed in for H: `Variant`s, evaluated on the case by whoever
# holds them, never here: the data file for the visible examples, the instructor's package
# for hidden ones), each transformed (transposed, negated, doubled, divided by n), and reports
# the first that matches on every case of the check. This module computes no right answer of
# any function.


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
    noise: float = 0.0  # > 0: a rounding-noise value, matched within this (see `Variant`)


@dataclass(frozen=True)
class Variant:
    """A known wrong formula's value on one case: tags, the formula (a noun phrase: what was
    computed), what is wrong with it ("" when the formula says it) and its value.

    noise > 0 marks a value that is rounding noise around `value` (a central difference with
    a step far below eps): its digits depend on the CPU and on how the loop is written, so it
    is matched entrywise within `noise` (an absolute bound from the function's rounding
    model, `grader.judge.functions.nb01_partial_derivatives.rounding_bound`), and only after
    every exact variant failed (`known_mistake`)."""

    tags: tuple[str, ...]
    formula: str
    gloss: str
    value: np.ndarray
    noise: float = 0.0


def variants_from_data(records: list[dict[str, Any]]) -> list[Variant]:
    """Variants stored as data ({tags, formula, gloss, value}, and noise for a rounding-noise
    value: `Variant`) by the handout build."""
    return [
        Variant(
            tuple(r["tags"]),
            str(r["formula"]),
            str(r["gloss"]),
            _nd(r["value"]),
            float(r.get("noise", 0.0)),
        )
        for r in records
    ]


def _nd(value: Any) -> np.ndarray:
    return np.array(value, dtype=float)


def _scales(
    name: str, n: int | None, o: int | None
) -> list[tuple[float, tuple[str, ...], str, str]]:
    """(factor, tags, prefix, key): the factors a wrong answer can be off by, simplest first;
    key is the factor in symbols ("1/n"), the same on every case. Tagged for a finite
    difference or a derivative in closed form (minus: M3; its record's `numerical`,
    `derivative`) and for an answer from the loss (M3, M4, M5: its record's `from_loss`);
    untagged otherwise."""
    spec = catalog.find(name)
    if spec is not None and (spec.numerical or spec.derivative):
        return [
            (1.0, (), "", "1"),
            (-1.0, ("M3",), "minus ", "-1"),
            (2.0, (), "twice ", "2"),
            (0.5, (), "half ", "1/2"),
        ]
    if spec is None or not spec.from_loss:
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
    n, o = sizes(inputs, context)
    out: list[Candidate] = []
    right = Variant((), "the expected answer", "", expected)
    with np.errstate(all="ignore"):
        for var in [right, *variants]:
            gloss = f" ({var.gloss})" if var.gloss else ""
            for factor, s_tags, prefix, s_key in _scales(name, n, o):
                value = _nd(var.value * factor)
                tags = tuple(dict.fromkeys(var.tags + s_tags))
                key = (var.formula, s_key, False)
                noise = var.noise * abs(factor)
                out.append(Candidate(tags, f"{prefix}{var.formula}{gloss}", value, key, noise))
                if value.ndim == 2 and value.shape[0] != value.shape[1]:
                    t_tags = tuple(dict.fromkeys(("M1",) + tags))
                    text = f"{prefix}{var.formula}, transposed{gloss}"
                    t_key = (var.formula, s_key, True)
                    out.append(Candidate(t_tags, text, value.T.copy(), t_key, noise))
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

    def values(self, name: str, component: str) -> dict[tuple[str, str, bool], Candidate]:
        """Every candidate on this case, by key (computed once)."""
        if self._values is None:
            self._values = {}
            for cand in candidates(
                name, component, self.inputs, self.context, self.expected, self.variants
            ):
                self._values.setdefault(cand.key, cand)
        return self._values


def matches(got: np.ndarray, cand: Candidate) -> bool:
    """Whether a returned array is this known wrong answer: to 1e-5 relative, or for a
    rounding-noise value (`Variant.noise`) within its noise bound entrywise."""
    if cand.value.shape != got.shape:
        return False
    if cand.noise > 0.0:
        return close(got, cand.value, rtol=0.0, atol=cand.noise)
    return close(got, cand.value, rtol=1e-5)


def consistent(name: str, component: str, key: tuple[str, str, bool], others: list[Seen]) -> bool:
    """Whether the mistake `key` explains what the student returned on every other case
    (on a case where the mistake changes nothing, a right answer agrees with it)."""
    for seen in others:
        cand = seen.values(name, component).get(key)
        if cand is None:
            continue  # that mistake has no value there (a transpose of a square matrix)
        if not matches(seen.got, cand):
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
    known = known_mistake(name, component, inputs, context, expected, got, others, variants)
    if known is not None:
        return known
    if got.shape != expected.shape:
        squeezed = _squeezed(name, component, inputs, expected, got)
        if squeezed is not None:
            return squeezed
        return explain_shape(name, component, inputs, expected.shape, got.shape)
    bad = (got != got) | (abs(got) == float("inf"))
    if bad.any():
        spec = catalog.find(name)
        tags: tuple[str, ...] = (spec.nan_tag,) if spec and spec.nan_tag else ()
        where = ""
        first = next(iter(inputs.values()), None)
        if type(first) is _ndarray and first.shape == got.shape and got.ndim:
            ix = tuple(int(i) for i in np.argwhere(bad)[0])
            where = f" (first at index {ix}, where the input is {float(first[ix]):g})"
        elif got.ndim == 0 and len(inputs) == 1 and type(first) is _ndarray:
            where = f" (for the input {float(first):g})"
        return explanation(tags, f"{label}your answer contains nan or inf{where}.", name)
    return explanation((), f"{label}the values differ ({largest_difference(expected, got)}).", name)


def known_mistake(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    got: np.ndarray,
    others: list[Seen] | None = None,
    variants: list[Variant] = (),
) -> Explanation | None:
    """ "your answer equals <a known wrong answer>" when one explains the returned array on
    this case and on every other (see `explain_values`), else None.

    The exact candidates are tried first, simplest first (for a finite difference the
    nearest: the forward difference and a central one with another step can both lie
    within 1e-5 of an answer); then the rounding-noise ones (`Variant.noise`), smallest
    bound first: a noise bound is wide, so it names a mistake only when no exact one
    explains the answer, and the largest step whose rounding explains it.
    """
    label = "" if component == "result" else f"{component}: "
    found = candidates(name, component, inputs, context, expected, list(variants))
    spec = catalog.find(name)
    numerical = spec is not None and spec.numerical
    exact = [
        c
        for c in found
        if c.noise == 0.0
        and c.value.shape == got.shape
        and not _as_expected(c.value, expected, numerical)
    ]
    if numerical:
        exact.sort(key=lambda c: _distance(got, c.value))  # stable: simplest first on a tie
    noisy = sorted((c for c in found if c.noise > 0.0), key=lambda c: c.noise)
    for cand in exact + noisy:
        if matches(got, cand) and consistent(name, component, cand.key, others or []):
            return explanation(cand.tags, f"{label}your answer equals {cand.text}.", name)
    return None


def numeric_limit(expected: np.ndarray) -> float:
    """The allowance of a finite difference (a record's `numerical`): its right answer is
    the central difference at the case's eps itself, so only rounding is allowed, 1e-7 of
    the answer's size."""
    return 1e-7 * (1.0 + float(abs(expected).max()) if expected.size else 1.0)


def _as_expected(value: np.ndarray, expected: np.ndarray, numerical: bool) -> bool:
    """Whether a candidate cannot be told from the right answer (then it names nothing)."""
    if numerical:
        return _distance(value, expected) <= numeric_limit(expected)
    return close(value, expected, rtol=1e-6)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """The largest entrywise difference of two same-shape arrays (inf where nan)."""
    if a.size == 0:
        return 0.0
    d = abs(a - b).max()
    return float(d) if d == d else float("inf")


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
        bias = bias_size(name, component)
        size = f" ({bias} = 1 here)" if bias else ""
        keep = f"keep the shape ({bias},)" if bias else f"keep the shape {expected.shape}"
        text = (
            f"{base}: the right numbers, but the axis of length 1{size} was squeezed away; "
            f"{keep}: no np.squeeze, [0] or .item() on the result."
        )
    else:
        text = f"{base}: the right numbers in an array with extra axes of length 1."
    return Explanation(
        ("M2",),
        text,
        "return the array with the shape the docstring promises, even when an axis has length 1.",
    )


# ------------------------------------------------------------ blaming an exception or a warning
# Whom an exception or a warning is blamed on: the student's function, a helper of theirs,
# or the call that gave a sound function (a provided one, or the student's own helper that
# passes its check) arguments it cannot use.


def notebook_of(name: str) -> str | None:
    """The assignment whose student function `name` is (None for another name)."""
    spec = catalog.find(name)
    return spec.notebook if spec else None


def provided_in(name: str) -> frozenset[str]:
    """The provided functions of the notebook of student function `name`."""
    return catalog.provided().get(notebook_of(name) or "", frozenset())


def _call_site(name: str, e: Any, sound: frozenset[str]) -> Explanation | None:
    """When the exception was raised inside a function that is not at fault (a provided one,
    or the student's own helper that passes its own check: `sound`), the call that gave it
    its arguments is: named with the function that made it and what it passed."""
    chain = list(getattr(e, "chain", None) or [])
    provided = provided_in(name)
    for i in range(1, len(chain)):
        callee, args = chain[i]
        if callee not in sound and callee not in provided:
            continue
        caller = chain[i - 1][0]
        if callee in provided:
            whose, why = f"the notebook's provided {callee}", "is given by the notebook"
        else:
            whose, why = f"your {callee}", "passes its own check"
        at = f" ({e.where})" if e.where else ""
        text = (
            f"your {caller} calls {whose}({args}), which raised {e.type_name}: "
            f"{e.message.strip()}{at}. "
            f"{callee} {why}, so the call in your {caller} gives it arguments it cannot use: "
            f"check their order and shapes against {callee}'s docstring."
        )
        hint = (
            f"compare the call {callee}(...) in your {caller} with the def line of {callee}: "
            "the arguments are taken by position, in the order of the def line."
        )
        return Explanation((), text, hint)
    return None


def _unavailable(name: str, e: Any) -> Explanation | None:
    """A NameError for a course function of another notebook that this notebook neither
    has the student write nor provides: it is not available here, so say what to use."""
    if e.type_name != "NameError":
        return None
    missing = e.message.split("'")[1] if e.message.count("'") >= 2 else ""
    notebook = notebook_of(name)
    if (
        missing not in catalog.SIGNATURES
        or notebook_of(missing) == notebook
        or missing in provided_in(name)
    ):
        return None
    at = f" ({e.where})" if e.where else ""
    given = sorted(provided_in(name))
    use = f"the notebook's provided functions ({', '.join(given)}) or " if given else ""
    text = (
        f"your function raised NameError: {e.message}{at}. {missing} is a function of "
        f"notebook {notebook_of(missing)}, not available in this notebook ({notebook}): "
        f"use {use}write what it computes inline."
    )
    return Explanation((), text, f"{missing}: {catalog.hint(missing)}")


def error_explanation(
    name: str, obs: Observation, sound: frozenset[str] = frozenset()
) -> Explanation:
    """The exception the student's function raised, blamed on the helper it came from, or on
    the call that gave a sound helper (see `_call_site`) arguments it cannot use."""
    e = obs.error
    assert e is not None
    if e.type_name != "NotImplementedError":
        site = _call_site(name, e, sound)
        if site is not None:
            return site
    unavailable = _unavailable(name, e)
    if unavailable is not None:
        return unavailable
    if e.helper and e.type_name != "NotImplementedError":
        return explain_helper_error(name, e.helper, e.type_name, e.message, e.where)
    return explain_error(name, e.type_name, e.message, e.where)


def warned(
    name: str,
    obs: Observation,
    largest: float | None = None,
    low: str = "",
    span: tuple[float, float] | None = None,
) -> Explanation | None:
    """The warnings raised during the call, explained (None when there were none).

    low: the returned value's narrower float dtype ("float32"), if any: an overflow in a
    cast to it is a matter of precision, not of an unstable formula.
    """
    bad = [
        (message, helper)
        for (category, message), helper in zip(obs.warnings, _padded(obs), strict=True)
        if category == "RuntimeWarning" and ("overflow" in message or "invalid" in message)
    ]
    if bad and bad[0][1]:  # raised inside another function of the student's
        return explain_helper_warning(name, bad[0][1], bad[0][0], largest)
    return explain_warnings(name, obs.warnings, largest, low, span)


def _padded(obs: Observation) -> list[str]:
    """obs.warned_in, one entry per warning (observations from elsewhere may lack it)."""
    return (list(obs.warned_in) + [""] * len(obs.warnings))[: len(obs.warnings)]
