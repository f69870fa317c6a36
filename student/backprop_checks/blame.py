"""Whom an exception or a warning is blamed on: the student's function, a helper of theirs,
or the call that gave a sound function (a provided one, or the student's own helper that
passes its check) arguments it cannot use."""

from __future__ import annotations

from typing import Any

from backprop_checks import cases as _cases
from backprop_checks import data as _data
from backprop_checks import diagnose
from backprop_checks import functions as _functions
from backprop_checks.diagnose import Explanation
from backprop_checks.observe import Observation


def notebook_of(name: str) -> str | None:
    """The assignment whose student function `name` is (None for another name)."""
    spec = _functions.find(name)
    return spec.notebook if spec else None


def provided_in(name: str) -> frozenset[str]:
    """The provided functions of the notebook of student function `name`."""
    return _data.provided().get(notebook_of(name) or "", frozenset())


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
        missing not in _cases.SIGNATURES
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
    return Explanation((), text, f"{missing}: {_functions.hint(missing)}")


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
        return diagnose.explain_helper_error(name, e.helper, e.type_name, e.message, e.where)
    return diagnose.explain_error(name, e.type_name, e.message, e.where)


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
        return diagnose.explain_helper_warning(name, bad[0][1], bad[0][0], largest)
    return diagnose.explain_warnings(name, obs.warnings, largest, low, span)


def _padded(obs: Observation) -> list[str]:
    """obs.warned_in, one entry per warning (observations from elsewhere may lack it)."""
    return (list(obs.warned_in) + [""] * len(obs.warnings))[: len(obs.warnings)]
