"""Name the mistake, the instructor's half: each function's known wrong formulas, on any case.

The naming itself (`Explanation`, `candidates`, the `explain_*` functions, and the
misconception table it reads from `backprop_checks.catalog`) lives in the student
package (`backprop_checks.mistakes`) and is re-exported here. What stays here computes
answers and never ships to students: each function's record (grader/judge/functions/)
evaluates the formulas with one known mistake in them (the sigmoid applied again to an
activation, a derivative factor left out, Z fed in for H) on a case (`compute_variants`).
The handout stores their values on the visible examples as data; the hidden checks compute
them on every randomised case. This module never imports
`grader.judge.reference`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from backprop_checks import mistakes as _naming
from backprop_checks.mistakes import *  # noqa: F403 - the naming API, re-exported
from backprop_checks.mistakes import Candidate, Explanation, Seen, Variant

from grader.judge import functions


def compute_variants(
    name: str, component: str, inputs: dict[str, Any], context: dict[str, Any], expected: np.ndarray
) -> list[Variant]:
    """The known wrong formulas of `name` evaluated on one case (the expected answer not
    included), as the student package's `Variant`s."""
    return list(functions.get(name).variants(component, inputs, context))


def candidates(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    variants: list[Variant] | None = None,
) -> list[Candidate]:
    """`backprop_checks.mistakes.candidates`, with the variants computed here by default."""
    if variants is None:
        variants = compute_variants(name, component, inputs, context, expected)
    return _naming.candidates(name, component, inputs, context, expected, variants)


def explain_values(
    name: str,
    component: str,
    inputs: dict[str, Any],
    context: dict[str, Any],
    expected: np.ndarray,
    got: np.ndarray,
    others: list[Seen] | None = None,
    variants: list[Variant] | None = None,
) -> Explanation:
    """`backprop_checks.mistakes.explain_values`, with the variants computed here by default."""
    if variants is None:
        variants = compute_variants(name, component, inputs, context, expected)
    return _naming.explain_values(name, component, inputs, context, expected, got, others, variants)
