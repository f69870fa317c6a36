"""The right answers the checks compare with, for one case.

Visible flavour: each record's `expected` (grader/judge/functions/), computed from the
definitions in docs/course.md and central finite differences of the loss, so it runs without
`grader/judge/reference.py`. Hidden flavour: the reference implementation, imported only when
asked for (or the record's `expected`, for a record whose hidden_truth says so).
"""

from __future__ import annotations

import numpy as np

from grader.judge import cases as _cases
from grader.judge import functions

#: The outputs of each function, by name ("result" for a single return value).
COMPONENTS: dict[str, tuple[str, ...]] = {r.name: r.components for r in functions.records()}


class ReferenceMissing(RuntimeError):
    """A hidden check ran where grader/judge/reference.py is absent (a student's copy)."""


def load_reference():
    """The reference module; raises ReferenceMissing with what to do when it is absent."""
    try:
        from grader.judge import reference
    except ImportError as exc:
        raise ReferenceMissing(
            "hidden checks compare with grader/judge/reference.py, which is not installed here: "
            "they run when the instructor grades the notebook (visible checks need no reference)"
        ) from exc
    return reference


def _as_array(value) -> np.ndarray:
    return np.array(value, dtype=float, copy=True)


def visible_expected(case: _cases.Case) -> dict[str, np.ndarray]:
    """The right answer(s) of a case without the reference: {component: float64 array}."""
    return functions.get(case["name"]).answers(case)


def hidden_expected(case: _cases.Case) -> dict[str, np.ndarray]:
    """The right answer(s) of a case from grader/judge/reference.py: {component: float64 array}."""
    record = functions.get(case["name"])
    if record.hidden_truth == "expected":
        return record.answers(case)
    if record.result == "run":
        raise ValueError(f"{record.name} is judged by its behaviour, not by one expected value")
    reference = load_reference()
    solution = getattr(reference, record.name, None)
    if solution is None:
        raise ReferenceMissing(
            f"grader/judge/reference.py has no {record.name}: write the reference solution "
            "there (or give its record hidden_truth='expected')"
        )
    out = solution(*_cases.build_args(case))
    if record.result == "pair":
        return {k: _as_array(v) for k, v in zip(record.components, out, strict=True)}
    if record.result == "gradients":
        return {k: _as_array(out[k]) for k in record.components}
    return {"result": _as_array(out)}


def expected(case: _cases.Case, *, hidden: bool) -> dict[str, np.ndarray]:
    """The right answer(s) of a case: reference-free when hidden is false.

    Returns:
        {component: exact float64 numpy.ndarray} (0-d for a scalar answer).
    """
    out = hidden_expected(case) if hidden else visible_expected(case)
    return {k: _as_array(v) for k, v in out.items()}
