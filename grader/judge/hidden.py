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


#: content key -> (final parameters, losses) of a reference run, per process
_DESCENTS: dict[bytes, tuple[dict[str, np.ndarray], list[float]]] = {}


def _content_key(X: np.ndarray, Y: np.ndarray, start: dict, lr: float, epochs: int) -> bytes:
    """A digest of everything a reference run depends on: X: (n, c), Y: (n, o), the start
    parameters (name -> array), the step and the number of epochs."""
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    h.update(repr((float(lr), int(epochs))).encode())
    for name, value in [("X", X), ("Y", Y), *sorted(start.items())]:
        arr = np.ascontiguousarray(value)
        h.update(f"{name}:{arr.dtype.str}:{arr.shape}:".encode())
        h.update(arr.tobytes())
    return h.digest()


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
        """The reference run from `start` (remembered by content: every student's hidden
        train case has the same data, start and step, so a grading process replays it once)."""
        a = case["args"]
        key = _content_key(a["X"], a["Y"], start, lr, a["epochs"])
        if key not in _DESCENTS:
            if len(_DESCENTS) >= 256:
                _DESCENTS.clear()
            params, losses = netmath.descent(a["X"], a["Y"], start, lr, a["epochs"])
            _DESCENTS[key] = (params[-1], losses)
        final, losses = _DESCENTS[key]
        return {k: v.copy() for k, v in final.items()}, list(losses)

    def gradients(self, case: _cases.Case, params: dict) -> dict[str, np.ndarray] | None:
        return netmath.gradients(case["args"]["X"], case["args"]["Y"], params)
