"""The record of one student function: everything the course knows of it, in one place.

A record is a `Function`. Its public half (the fields of `backprop_checks.catalog.Function`:
arguments, what it returns, how its answer is read, where to look) ships to students in the
student package's visible.json; the instructor half, the fields below, never does:

    visible(rng) -> [Example]      the fixed examples of its visible test cell
                                   (rng = numpy.random.default_rng(2024))
    hidden(rng) -> [Example]       the randomised cases of its hidden tests, drawn from the
                                   seed (the visible examples are checked first)
    expected(case)                 its right answer on a case, computed without the reference
                                   solution (the visible examples' answers are stored as data)
    variants(component, inputs, context) -> [Variant]
                                   its known wrong formulas evaluated on a case, each tagged
                                   with its misconception (the naming compares with them)
    hidden_truth                   where the hidden cases' right answers come from
    wrong                          the demo class's wrong answers (solution-cell bodies)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from backprop_checks import catalog as _public
from backprop_checks.catalog import MISCONCEPTIONS, Case
from backprop_checks.mistakes import Variant

from grader.judge.inputs import Example

__all__ = ["Case", "Example", "Function", "RecordError", "Variant", "no_variants", "nd"]

#: Where to look for M1 in a function that works entry by entry (shared by several records).
ENTRYWISE_M1 = "the function works entry by entry: its answer has the shape of its input, no .T."


class RecordError(ValueError):
    """A record is not usable; the message names it and says what to change."""


def no_variants(component: str, inputs: dict[str, Any], context: dict[str, Any]) -> list[Variant]:
    """A function with no known wrong formula (the naming still reads scales, transposes)."""
    return []


def nd(value: Any) -> np.ndarray:
    """A float64 copy of a value (the variants' arrays)."""
    return np.array(value, dtype=float)


@dataclass(frozen=True, kw_only=True)
class Function(_public.Function):
    """One student function's record: the public half (see `backprop_checks.catalog`) and
    the instructor half (see this module's docstring)."""

    visible: Callable[[np.random.Generator], list[Example]]
    hidden: Callable[[np.random.Generator], list[Example]]
    expected: Callable[[Case], np.ndarray | float | dict[str, np.ndarray]]
    variants: Callable[[str, dict[str, Any], dict[str, Any]], list[Variant]] = no_variants
    #: "reference": grader/judge/reference.py's function of the same name gives the hidden
    #: cases' right answers; "expected": this record's `expected` does (an answer known
    #: exactly and cheap on every shape, e.g. a derivative in closed form).
    hidden_truth: str = "reference"
    #: The demo class's wrong answers: {label or tag: the solution cell's body}; a label that
    #: is a tag (`M3`) is a misconception the grader must name.
    wrong: dict[str, str] = field(default_factory=dict)

    def answers(self, case: Case) -> dict[str, np.ndarray]:
        """`expected` on a case as {component: float64 array}."""
        found = self.expected(case)
        if not isinstance(found, dict):
            found = {"result": found}
        return {k: np.array(v, dtype=float, copy=True) for k, v in found.items()}

    def validate(self, where: str) -> None:
        """Raise RecordError when a field cannot work; `where` names the record's module."""
        say = f"{where}: record {self.name!r}"
        if not self.name.isidentifier():
            raise RecordError(f"{say}: the name must be a Python identifier (the notebook's def)")
        if not self.args or not all(a.isidentifier() for a in self.args):
            raise RecordError(f"{say}: args must name each argument, e.g. {{'z': 'any shape'}}")
        if self.result not in _public.RESULTS:
            raise RecordError(
                f"{say}: result {self.result!r} is not one of {', '.join(_public.RESULTS)}"
            )
        single = self.result in ("elementwise", "float", "array")
        if single and self.components != ("result",):
            raise RecordError(
                f"{say}: a result of kind {self.result!r} has the one component "
                "'result': leave components out"
            )
        if self.result in ("pair", "gradients") and len(self.components) < 2:
            raise RecordError(f"{say}: a {self.result} names its parts in components")
        if self.hidden_truth not in ("reference", "expected"):
            raise RecordError(f"{say}: hidden_truth is 'reference' or 'expected'")
        tags = [*self.tag_hints, *self.titles, *([self.nan_tag] if self.nan_tag else [])]
        unknown = [t for t in tags if t not in MISCONCEPTIONS]
        if unknown:
            known = f"{next(iter(MISCONCEPTIONS))}-{next(reversed(MISCONCEPTIONS))}"
            raise RecordError(
                f"{say}: {unknown} are not misconceptions ({known}; a new one is added to "
                "backprop_checks.catalog, docs/extending.md)"
            )
        if self.nudges and self.nudges not in self.args:
            raise RecordError(f"{say}: nudges names {self.nudges!r}, not an argument")
