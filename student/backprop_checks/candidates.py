"""The known wrong answers a returned array is compared with, and the naming that reads them.

For a wrong array the diagnosis compares it with candidate answers: the expected answer
and each known wrong formula of the function (the sigmoid applied again to an activation,
a derivative factor left out, Z fed in for H: `Variant`s, evaluated on the case by whoever
holds them, never here: the data file for the visible examples, the instructor's package
for hidden ones), each transformed (transposed, negated, doubled, divided by n), and reports
the first that matches on every case of the check. This module computes no right answer of
any function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop_checks import _trusted
from backprop_checks import functions as _functions
from backprop_checks.compare import close, largest_difference, sizes
from backprop_checks.diagnose import Explanation, bias_size, explain_shape, explanation

_ndarray = _trusted.ndarray


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
    key is the factor in symbols ("1/n"), the same on every case. Tagged for a finite
    difference or a derivative in closed form (minus: M3; its record's `numerical`,
    `derivative`) and for an answer from the loss (M3, M4, M5: its record's `from_loss`);
    untagged otherwise."""
    spec = _functions.find(name)
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
        spec = _functions.find(name)
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
    """"your answer equals <a known wrong answer>" when one explains the returned array on
    this case and on every other (see `explain_values`), else None."""
    label = "" if component == "result" else f"{component}: "
    for cand in candidates(name, component, inputs, context, expected, list(variants)):
        if cand.value.shape != got.shape or close(cand.value, expected, rtol=1e-6):
            continue
        if close(got, cand.value, rtol=1e-5) and consistent(name, component, cand.key,
                                                            others or []):  # fmt: skip
            return explanation(cand.tags, f"{label}your answer equals {cand.text}.", name)
    return None


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
        ("M2",), text, "return the array with the shape the docstring promises, even when "
        "an axis has length 1.",
    )

