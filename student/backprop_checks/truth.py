"""Where a check's right answers come from: a `Truth`.

For the visible examples, `VisibleData`: the package's data file (computed by the
instructor's package when the handout was built); for hidden checks, the instructor's
`grader.judge.hidden.ReferenceTruth`, present only where notebooks are graded. Where it is
absent a hidden check says that it runs at grading time (`HiddenUnavailable`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop_checks import cases as _cases
from backprop_checks import data as _data
from backprop_checks.candidates import Variant, variants_from_data
from backprop_checks.compare import close

#: The network's parameters (the keys of backprop's and train's dicts).
PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")
Params = dict[str, np.ndarray]


class Truth:
    """Where the right answers of a check come from. Subclasses: `VisibleData` (this
    package's data file) and the instructor's `grader.judge.hidden.ReferenceTruth`. A method that
    returns None does not know the answer: the judge then says less, never passes more."""

    def expected(self, case: _cases.Case) -> dict[str, np.ndarray]:
        """{component: exact float64 array} of the case ({} for train)."""
        raise NotImplementedError

    def variants(self, case: _cases.Case, component: str) -> list[Variant]:
        """The known wrong formulas' values on the case, for the naming."""
        return []

    def init_params(self, case: _cases.Case, seed: int) -> Params | None:
        """train: the course's starting weights for the case's shapes and this seed."""
        return None

    def descent(
        self, case: _cases.Case, start: Params, lr: float
    ) -> tuple[Params, list[float]] | None:
        """train: gradient descent on the case's data from `start` with `lr` for the case's
        epochs: (the params after the last epoch, the loss at the start of every epoch and
        after the last: epochs + 1 floats)."""
        return None

    def gradients(self, case: _cases.Case, params: Params) -> Params | None:
        """train: the four gradients of the loss at params on the case's data."""
        return None


def params_of(data: dict) -> Params:
    """The four parameters stored in data, as float64 arrays."""
    return {k: np.array(data[k], dtype=float) for k in PARAM_NAMES}


class VisibleData(Truth):
    """The visible examples' answers, stored in the package's data file (for train: the
    runs from the course's starting weights, looked up, never computed)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._by_id = _cases.visible_truth(name)

    def _record(self, case: _cases.Case) -> dict[str, Any]:
        if case["name"] != self.name or case["id"] not in self._by_id:
            raise ValueError(f"{case['name']} {case['id']} is not a visible example")
        return self._by_id[case["id"]]

    def expected(self, case: _cases.Case) -> dict[str, np.ndarray]:
        return {k: np.array(v, dtype=float) for k, v in self._record(case)["expected"].items()}

    def variants(self, case: _cases.Case, component: str) -> list[Variant]:
        return variants_from_data(self._record(case)["variants"].get(component, []))

    def init_params(self, case: _cases.Case, seed: int) -> Params | None:
        found = self._record(case).get("train", {}).get("init", {}).get(str(seed))
        return None if found is None else params_of(found)

    def descent(
        self, case: _cases.Case, start: Params, lr: float
    ) -> tuple[Params, list[float]] | None:
        for run in self._record(case).get("train", {}).get("runs", []):
            if abs(float(run["lr"]) - lr) > 1e-12 * max(1.0, abs(lr)):
                continue
            if params_close(start, params_of(run["start"]), rtol=1e-12):
                return params_of(run["final"]), [float(x) for x in run["losses"]]
        return None

    def gradients(self, case: _cases.Case, params: Params) -> Params | None:
        for at in self._record(case).get("train", {}).get("gradients", []):
            if params_close(params, params_of(at["params"]), rtol=1e-12):
                return params_of(at["gradients"])
        return None


class HiddenUnavailable(RuntimeError):
    """A hidden check ran where the instructor's package is not installed."""


def instructor():
    """The instructor's hidden-check module `grader.judge.hidden`, or None where it is absent."""
    try:
        from grader.judge import hidden
    except ImportError:
        return None
    return hidden


def truth_for(name: str, *, hidden: bool) -> Truth:
    """The Truth a check of this flavour uses (raises HiddenUnavailable for a hidden one
    where the instructor's package is absent)."""
    if not hidden:
        return VisibleData(name)
    module = instructor()
    if module is None:
        raise HiddenUnavailable(hidden_elsewhere_message(name))
    return module.ReferenceTruth()


def hidden_elsewhere_message(name: str) -> str:
    """What a hidden check says where it cannot run: when it runs, and how the points add up."""
    assignment = _data.assignment_of(f"hidden_test_{name}")
    points = _data.points(assignment) if assignment else {}
    mine = points.get(f"hidden_test_{name}")
    text = f"{name}: the hidden tests" + (f" ({mine:g} points)" if mine is not None else "")
    text += " run when your notebook is graded, on new inputs of many shapes; not here."
    if points:
        vis = sum(p for g, p in points.items() if not g.startswith("hidden_test_"))
        hid = sum(p for g, p in points.items() if g.startswith("hidden_test_"))
        text += (
            f" This notebook: {vis:g} points from the visible tests you can run now + "
            f"{hid:g} from hidden tests at grading = {vis + hid:g}."
        )
    return text


def params_close(a: dict, b: dict, rtol: float = 1e-6) -> bool:
    """Whether two dicts of the four parameters agree entrywise (see `compare.close`)."""
    return all(close(a[k], b[k], rtol=rtol, atol=1e-12) for k in PARAM_NAMES)
