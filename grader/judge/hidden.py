"""The hidden checks: what only the instructor's package has.

`backprop_checks` (the student package) runs a hidden check by importing this module: its
cases (`hidden_cases`, randomised inputs of many shapes from a seed) and its `ReferenceTruth`
(the right answers from `grader/judge/reference.py`, the misconception variants computed on each
case by `grader.judge.diagnose`, and what the train check needs). Where this module is absent (a
student's environment) a hidden check prints that it runs at grading time.
"""

from __future__ import annotations

import numpy as np
from backprop_checks.judging import Truth
from backprop_checks.mistakes import Variant, inputs_of

from grader.judge import cases as _cases
from grader.judge import diagnose, expect, netmath


def hidden_cases(name: str, seed: int = _cases.DEFAULT_SEED) -> list[_cases.Case]:
    """The visible examples first, then randomised inputs of many shapes (`grader.judge.cases`)."""
    return _cases.hidden_cases(name, seed)


class ReferenceTruth(Truth):
    """Right answers from the reference implementation, variants computed on the case."""

    def __init__(self) -> None:
        self._expected: dict[int, dict[str, np.ndarray]] = {}

    def expected(self, case: _cases.Case) -> dict[str, np.ndarray]:
        key = id(case)
        if key not in self._expected:
            self._expected[key] = expect.expected(case, hidden=True)
        return self._expected[key]

    def variants(self, case: _cases.Case, component: str) -> list[Variant]:
        exp = self.expected(case)[component]
        return diagnose.compute_variants(
            case["name"], component, inputs_of(case), case["context"], exp
        )

    def init_params(self, case: _cases.Case, seed: int) -> dict[str, np.ndarray] | None:
        a = case["args"]
        ref = expect.load_reference()  # the course's starting weights
        return ref.init_params(a["X"].shape[1], a["n_hidden"], a["Y"].shape[1], seed)

    def descent(self, case: _cases.Case, start: dict, lr: float) -> tuple[dict, list] | None:
        a = case["args"]
        params, losses = netmath.descent(a["X"], a["Y"], start, lr, a["epochs"])
        return params[-1], losses

    def gradients(self, case: _cases.Case, params: dict) -> dict[str, np.ndarray] | None:
        return netmath.gradients(case["args"]["X"], case["args"]["Y"], params)
