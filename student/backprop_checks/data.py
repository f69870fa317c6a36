"""The package's data file, `visible.json`: what the checks know without any solution.

`visible.json` is written by the instructor's `backprop-grader handout` (`make handout`)
from the functions' records (`grader/judge/functions/`); this module only reads it::

    {"format": 2,
     "functions": {NAME: {the public half of its record (backprop_checks.functions),
                          "cases": [its visible examples: inputs, right answers, the
                                    known wrong answers on them]}},
     "provided": {ASSIGNMENT: [the functions its locked cells provide]},
     "points": {ASSIGNMENT: {grade_id: points}},
     "notebooks": {ASSIGNMENT: {"title": ..., "write": [the functions the student writes]}}}

Arrays come back as exact float64 `numpy.ndarray`s (a 0-d array for a stored shape of []).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

FORMAT = 2


class DataError(RuntimeError):
    """visible.json is missing or from another version of the package."""


def decode(value: Any) -> Any:
    """The inverse of the handout's encoding: tagged arrays back to float64 ndarrays."""
    if isinstance(value, dict):
        if set(value) == {"ndarray"}:
            spec = value["ndarray"]
            arr = np.array(spec["data"], dtype=np.float64)
            return arr.reshape(tuple(int(s) for s in spec["shape"]))
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    try:
        text = resources.files("backprop_checks").joinpath("visible.json").read_text("utf-8")
    except FileNotFoundError as exc:
        raise DataError(
            "backprop_checks/visible.json is missing: reinstall the backprop-course-checks "
            "wheel your course handed out"
        ) from exc
    raw = json.loads(text)
    if raw.get("format") != FORMAT:
        raise DataError(
            f"visible.json has format {raw.get('format')!r}, this package reads {FORMAT}: "
            "reinstall the backprop-course-checks wheel your course handed out"
        )
    return raw


def function_names() -> list[str]:
    """The course's student functions, in teaching order."""
    return list(_raw()["functions"])


def function_data(name: str) -> dict[str, Any]:
    """The public half of one function's record, as stored (KeyError for another name)."""
    return {k: v for k, v in _raw()["functions"][name].items() if k != "cases"}


def visible_records(name: str) -> list[dict[str, Any]]:
    """The decoded records of one function's visible examples, in order: each a dict with
    id, kind, label, args, context, expected {component: array} and variants {component:
    [{tags, formula, gloss, value}]}. Fresh objects on every call (callers may modify them).
    """
    functions = _raw()["functions"]
    if name not in functions:
        raise KeyError(name)
    out = []
    for rec in functions[name]["cases"]:
        rec = decode(rec)
        for comp_variants in rec["variants"].values():
            for v in comp_variants:
                v["tags"] = tuple(v["tags"])
        out.append(rec)
    return out


def provided() -> dict[str, frozenset[str]]:
    """{assignment: the functions its locked setup and provided cells define}: given by the
    notebook, not the student's there."""
    return {a: frozenset(names) for a, names in _raw()["provided"].items()}


def points(assignment: str) -> dict[str, float]:
    """{grade_id: points} of the assignment's graded cells ({} for an unknown one)."""
    return dict(_raw()["points"].get(assignment, {}))


def assignment_of(grade_id: str) -> str | None:
    """The assignment whose notebook has a graded cell grade_id, or None."""
    for assignment, cells in _raw()["points"].items():
        if grade_id in cells:
            return assignment
    return None


def notebooks() -> dict[str, dict[str, Any]]:
    """{assignment: {"title", "write": [functions], "points": the sum of its test cells'}},
    in course order: the course table of the class start-here (`backprop_checks.course`)."""
    raw = _raw()
    return {
        a: {**info, "points": sum(raw["points"].get(a, {}).values())}
        for a, info in raw.get("notebooks", {}).items()
    }
