"""What the checks know of each student function: the public half of its record.

Every student function of the course has one record, written by the instructor in
`grader/judge/functions/` (one module per notebook; docs/extending.md). Its public half, the
fields of `Function` below, says how the function is called and how its answer is read and
named; `make handout` copies it into this package's `visible.json`, next to the visible
examples. The instructor half (how its inputs are drawn, its right answers, its known wrong
formulas) stays in the instructor's package. No field here holds an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from backprop_checks import cases as _cases
from backprop_checks import data as _data

#: What a function returns, and so how its answer is read (`Function.result`):
RESULTS: dict[str, str] = {
    "elementwise": "a number for numbers, an array of the input's shape for an array",
    "float": "one Python float",
    "array": "one numpy array",
    "pair": "a tuple of arrays, one per component",
    "gradients": "a dict of arrays, one per component (its keys)",
    "run": "a training run (params, losses), judged by its behaviour",
}


@dataclass(frozen=True, kw_only=True)
class Function:
    """The public half of a student function's record (shipped in visible.json).

    name: the function's name in the notebook ("grad_W2"); its check is `check_<name>`.
    notebook: the assignment whose student writes it ("04_backprop_W2"; the record module's).
    args: each argument, in call order, with what it is: {"H": "(n, h)", "delta2": "(n, o)"}.
    returns: what it returns, for its check's help: "(h, o)".
    about: one line of what it computes, for its check's help.
    hint: one sentence of where to look when the answer is wrong in no recognised way.
    result: how its answer is read, one of RESULTS.
    components: the names of its answer's parts ("result" for a single value; ("H",
        "Y_hat") for a pair; the dict's keys for gradients; none for a run).
    from_loss: its answer is (a gradient of) the loss: minus, twice or 1/n times the right
        answer is named M3, M4, M5.
    numerical: a finite difference: compared within the central difference's own error,
        and an O(eps) error is named M13.
    derivative: a derivative in closed form (df_dx, sigmoid_prime): minus the right answer
        is named M3, a sign flip (as for a finite difference and an answer from the loss).
    nudges: the argument a numerical gradient nudges ("W"): left changed by about eps, M13.
    bias: the bias whose gradient it is ("b1" or "b2"): one row per sample is M9.
    nan_tag: the tag of an answer holding nan or inf ("M12" for a function built on exp).
    argument_hint: where to look when it raises on its arguments (a type or index error).
    tag_hints: {tag: where to look}, for a misconception worded for this function.
    titles: {tag: title}, a misconception's title worded for this function.
    """

    name: str
    notebook: str = ""
    args: dict[str, str]
    returns: str
    about: str
    hint: str
    result: str = "array"
    components: tuple[str, ...] = ("result",)
    from_loss: bool = False
    numerical: bool = False
    derivative: bool = False
    nudges: str = ""
    bias: str = ""
    nan_tag: str = ""
    argument_hint: str = ""
    tag_hints: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The public half as JSON-ready data (what `make handout` writes to visible.json)."""
        out: dict[str, Any] = {}
        for f in fields(Function):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_data(cls, raw: dict[str, Any]) -> Function:
        """The public half read back from visible.json."""
        known = {f.name for f in fields(Function)}
        kw = {k: v for k, v in raw.items() if k in known}
        kw["components"] = tuple(kw.get("components", ("result",)))
        return Function(**kw)

    def signature(self) -> str:
        """The call as the notebook writes it: "grad_W2(H, delta2)"."""
        return f"{self.name}({', '.join(self.args)})"


@cache
def _all() -> dict[str, Function]:
    return {n: Function.from_data(_data.function_data(n)) for n in _data.function_names()}


def names() -> tuple[str, ...]:
    """Every student function of the course, in teaching order."""
    return tuple(_all())


def get(name: str) -> Function:
    """The public record of student function `name` (KeyError naming the course's functions)."""
    found = _all().get(name)
    if found is None:
        raise KeyError(_cases.unknown_name_message(name))
    return found


def find(name: str) -> Function | None:
    """The public record of `name`, or None for a name that is not a student function."""
    return _all().get(name)


def hint(name: str) -> str:
    """Where to look when `name`'s answer is wrong in no recognised way ("" for another name)."""
    found = find(name)
    return found.hint if found else ""
