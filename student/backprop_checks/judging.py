"""Judging: observations of a student's function on a check's cases -> a `CheckResult`.

Sections, in the order a check runs through them:

- the right answers (`Truth`, `VisibleData`, `truth_for`): the data file for the visible
  examples, the instructor's `grader.judge.hidden` for hidden checks (imported inside
  `instructor()`, the package's one way into grader: tests/test_layout.py).
- reading what the function returned (`extract`, `read_one`, `explain_type`): float64 arrays,
  one per component of its answer, or explanations of why there are none.
- judging a function's answers (`judge`): each case compared with the Truth's answer (exact
  float64 arrays, the arrays' own operators, so a student who rebinds `numpy.allclose`
  changes nothing), a wrong answer named from all the check's cases at once
  (`backprop_checks.mistakes`).
- the training check (`judge_train`): train judged by its behaviour, replayed from the data.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from backprop_checks import _trusted, catalog, mistakes
from backprop_checks.mistakes import (
    Explanation,
    Seen,
    Variant,
    close,
    error_explanation,
    explain_values,
    inputs_of,
    known_mistake,
    largest_difference,
    variants_from_data,
    warned,
)
from backprop_checks.observe import Observation, Returned
from backprop_checks.verdict import CheckResult, Verdict, result_of

# ------------------------------------------------------------ the right answers (Truth)
# Where a check's right answers come from: a `Truth`.
#
# For the visible examples, `VisibleData`: the package's data file (computed by the
# instructor's package when the handout was built); for hidden checks, the instructor's
# `grader.judge.hidden.ReferenceTruth`, present only where notebooks are graded. Where it is
# absent a hidden check says that it runs at grading time (`HiddenUnavailable`).

#: The network's parameters (the keys of backprop's and train's dicts).
PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")
Params = dict[str, np.ndarray]


class Truth:
    """Where the right answers of a check come from. Subclasses: `VisibleData` (this
    package's data file) and the instructor's `grader.judge.hidden.ReferenceTruth`. A method that
    returns None does not know the answer: the judge then says less, never passes more."""

    def expected(self, case: catalog.Case) -> dict[str, np.ndarray]:
        """{component: exact float64 array} of the case ({} for train)."""
        raise NotImplementedError

    def variants(self, case: catalog.Case, component: str) -> list[Variant]:
        """The known wrong formulas' values on the case, for the naming."""
        return []

    def init_params(self, case: catalog.Case, seed: int) -> Params | None:
        """train: the course's starting weights for the case's shapes and this seed."""
        return None

    def descent(
        self, case: catalog.Case, start: Params, lr: float
    ) -> tuple[Params, list[float]] | None:
        """train: gradient descent on the case's data from `start` with `lr` for the case's
        epochs: (the params after the last epoch, the loss at the start of every epoch and
        after the last: epochs + 1 floats)."""
        return None

    def gradients(self, case: catalog.Case, params: Params) -> Params | None:
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
        self._by_id = catalog.visible_truth(name)

    def _record(self, case: catalog.Case) -> dict[str, Any]:
        if case["name"] != self.name or case["id"] not in self._by_id:
            raise ValueError(f"{case['name']} {case['id']} is not a visible example")
        return self._by_id[case["id"]]

    def expected(self, case: catalog.Case) -> dict[str, np.ndarray]:
        return {k: np.array(v, dtype=float) for k, v in self._record(case)["expected"].items()}

    def variants(self, case: catalog.Case, component: str) -> list[Variant]:
        return variants_from_data(self._record(case)["variants"].get(component, []))

    def init_params(self, case: catalog.Case, seed: int) -> Params | None:
        found = self._record(case).get("train", {}).get("init", {}).get(str(seed))
        return None if found is None else params_of(found)

    def descent(
        self, case: catalog.Case, start: Params, lr: float
    ) -> tuple[Params, list[float]] | None:
        for run in self._record(case).get("train", {}).get("runs", []):
            if abs(float(run["lr"]) - lr) > 1e-12 * max(1.0, abs(lr)):
                continue
            if params_close(start, params_of(run["start"]), rtol=1e-12):
                return params_of(run["final"]), [float(x) for x in run["losses"]]
        return None

    def gradients(self, case: catalog.Case, params: Params) -> Params | None:
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
    assignment = catalog.assignment_of(f"hidden_test_{name}")
    points = catalog.points(assignment) if assignment else {}
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
    """Whether two dicts of the four parameters agree entrywise (see `mistakes.close`)."""
    return all(close(a[k], b[k], rtol=rtol, atol=1e-12) for k in PARAM_NAMES)


# ------------------------------------------------------------ reading what was returned
# What a student's function returned, read as float64 arrays: one per component of its
# answer (its record's `result` and `components`), or explanations of why there are none.

_ndarray = _trusted.ndarray
_float64 = _trusted.float64


def explain_type(
    name: str,
    component: str,
    kind: str,
    type_name: str,
    want: str,
    shape: tuple[int, ...] | None = None,
) -> Explanation:
    """A value of the wrong type: want is "array", "float", "scalar" (a number, from an
    elementwise function called with numbers), "tuple", "dict" or "list"; shape: the right
    answer's, when known (a list is told which shape of array to return)."""
    label = "" if component == "result" else f"{component}: "
    spec = catalog.find(name)
    if want == "scalar":
        returns = f": {name} returns {spec.returns}" if spec else ""
        return Explanation(
            (),
            (f"{label}expected a number (a float) for numbers, got a {type_name}{returns}."),
            (
                "return the formula's value as it is, with no list or loop around it: numpy's "
                "operators give a number for numbers and an array for arrays."
            ),
        )
    advice = {
        "array": "return a numpy array (np.ndarray), e.g. built with numpy operations or "
        "np.array(...)",
        "float": "return a Python float, e.g. float(total)",
        "tuple": "return a tuple, e.g. return H, Y_hat",
        "dict": 'return a dict with the keys "W1", "b1", "W2", "b2"',
        "list": "return a list with one float per epoch",
    }[want]
    bias = mistakes.bias_size(name, component)
    if kind == "none":
        text = f"{label}your function returned None: is a `return` statement missing?"
    elif bias and want == "array" and kind in ("float", "int"):
        delta = "delta1" if bias == "h" else "delta2"
        text = (
            f"{label}a single number ({type_name}) where an array of shape ({bias},) is due: "
            f"sum {delta} over axis 0 (the samples) only, {delta}.sum(axis=0), and return that "
            "array (no float(), .item() or np.squeeze, even when it has one entry)."
        )
    elif want == "array" and kind in ("list", "tuple"):  # its hint says how, per function
        of = f" of shape {shape}" if shape is not None else ""
        text = f"{label}expected an array, got a {type_name}: return a numpy array{of}."
    else:
        article = "an" if want == "array" else "a"
        text = f"{label}expected {article} {want}, got a {type_name}: {advice}."
    if want == "array" and kind in ("list", "tuple"):  # the numbers may be right: the type is not
        return Explanation((), text, _list_hint(name, component, kind, shape))
    return Explanation((), text, catalog.hint(name))


def _list_hint(name: str, component: str, kind: str, shape: tuple[int, ...] | None) -> str:
    """Where to look when a list (or tuple) comes back where an array of `shape` is due: a
    function that fills its answer in a loop (its record's `nudges`: numerical_gradient) is
    told to fill an array of that shape; a formula is told it needs no loop."""
    spec = catalog.find(name)
    of = f" of shape {shape}" if shape is not None else ""
    if spec is not None and spec.nudges and component == "result":
        shape_text = f", {shape}" if shape is not None else ""
        w = spec.nudges
        return (
            f"return an array of {w}'s shape{shape_text}: start from grad = np.zeros_like({w}, "
            "dtype=float) and fill it in the loop (grad[ix] = ...); a list of the slopes is "
            f"flat, and np.array(...) of it does not have {w}'s shape."
        )
    return (
        f"return a numpy array{of}, not a {kind}: numpy's operators work entry by entry on "
        "whole arrays, so the formula needs no loop over the entries (np.array(...) of a "
        f"{kind} has that shape only if the {kind} is nested the same way)."
    )


def array_of(r: Returned | None) -> np.ndarray | None:
    """The returned value's float64 data, only if it is a genuine float64 ndarray."""
    if r is None or type(r.array) is not _ndarray or r.array.dtype != _float64:
        return None
    return r.array


def _want(name: str, case: catalog.Case) -> str:
    """ "float", "scalar" (an elementwise function called with a number: a float or a 0-d
    array) or "array": what one returned value must be."""
    result = catalog.get(name).result
    if result == "float":
        return "float"
    if result == "elementwise" and not isinstance(next(iter(case["args"].values())), _ndarray):
        return "scalar"
    return "array"


def read_one(
    name: str, component: str, r: Returned | None, want: str, shape: tuple[int, ...] | None = None
) -> tuple[np.ndarray | None, Explanation | None]:
    """One returned value as a float64 array of the kind `want` ("array", "float",
    "scalar"), or why it is not one; shape: the right answer's, when known (for the message)."""
    if r is None:
        return None, explain_type(name, component, "none", "None", "array")
    ok_kinds = {"array": ("ndarray",), "float": ("float",), "scalar": ("ndarray", "float")}[want]
    arr = array_of(r)
    if r.kind in ok_kinds and arr is None:
        label = "" if component == "result" else f"{component}: "
        text = (
            f"{label}the returned {r.type_name} holds no numbers ({r.note or 'dtype ' + r.dtype})."
        )
        return None, Explanation((), text, catalog.hint(name))
    if r.kind not in ok_kinds or arr is None:
        shown_want = want if want != "scalar" or r.kind in ("list", "tuple") else "array"
        extra = f" ({r.note})" if r.note else ""
        expl = explain_type(name, component, r.kind, r.type_name + extra, shown_want, shape)
        return None, expl
    return arr, None


def extract(
    name: str,
    case: catalog.Case,
    r: Returned | None,
    shapes: dict[str, tuple[int, ...]] | None = None,
) -> tuple[dict[str, np.ndarray], list[Explanation]]:
    """The returned value's components as float64 arrays, or explanations of why it has none;
    shapes: the right answer's shape per component, when known (for the messages)."""
    shapes = shapes or {}
    spec = catalog.get(name)
    want = _want(name, case)
    if spec.result == "pair":
        parts = len(spec.components)
        if r is None or r.kind not in ("tuple", "list") or len(r.items or []) != parts:
            kind, tname = (r.kind, r.type_name) if r else ("none", "None")
            if r is not None and r.items is not None:
                tname = f"{tname} of length {len(r.items)}"
            return {}, [explain_type(name, "result", kind, tname, "tuple")]
        out, errs = {}, []
        for comp, item in zip(spec.components, r.items, strict=True):
            arr, err = read_one(name, comp, item, "array", shapes.get(comp))
            if err:
                errs.append(err)
            else:
                out[comp] = arr
        return out, errs
    if spec.result == "gradients":
        if r is None or r.kind != "dict":
            kind, tname = (r.kind, r.type_name) if r else ("none", "None")
            return {}, [explain_type(name, "result", kind, tname, "dict")]
        items = dict(zip(r.keys or [], r.items or [], strict=True))
        missing = [k for k in spec.components if k not in items]
        if missing:
            text = f"the dict has keys {list(items)}; missing {missing}."
            return {}, [Explanation((), text, catalog.hint(name))]
        out, errs = {}, []
        for comp in spec.components:
            arr, err = read_one(name, comp, items[comp], "array", shapes.get(comp))
            if err:
                errs.append(err)
            else:
                out[comp] = arr
        return out, errs
    arr, err = read_one(name, "result", r, want, shapes.get("result"))
    if err is not None and want == "float":
        err = _partial_sum(name, case, r) or err
    return ({"result": arr}, []) if err is None else ({}, [err])


def _partial_sum(name: str, case: catalog.Case, r: Returned | None) -> Explanation | None:
    """An array of numbers where one number is due. For a loss (its record's `from_loss`)
    the sum ran over one axis only (sse_loss: shape (o,) summed over the samples, (n,) over
    the outputs); for another function (numerical_derivative) the number was wrapped in an
    array (np.array([...]))."""
    if r is None or r.kind != "ndarray" or r.array is None or r.array.ndim == 0:
        return None
    shape = r.array.shape
    spec = catalog.get(name)
    if not spec.from_loss:
        what = "the slope is one number" if spec.numerical else "the answer is one number"
        quotient = " of the difference quotient" if spec.numerical else ""
        text = (
            f"expected a float, got a numpy.ndarray of shape {shape}: {what}; return "
            f"float(...){quotient}, not an array holding it (no np.array([...]) around it)."
        )
        return Explanation((), text, catalog.hint(name))
    Y = case["args"].get("Y")
    axes = ""
    if type(Y) is _ndarray and Y.ndim == 2 and len(shape) == 1:
        n, o = Y.shape
        if shape == (o,) and o != n:
            axes = " over axis 0 (the samples) only: one number per output, shape (o,)"
        elif shape == (n,) and o != n:
            axes = " over axis 1 (the outputs) only: one number per sample, shape (n,)"
    if not axes:
        axes = " over some axes only"
    text = (
        f"expected a float, got a numpy.ndarray of shape {shape}: the sum ran{axes}; the "
        "loss is one number, the sum over all samples and outputs: np.sum(...) with no axis, "
        "then float(...)."
    )
    return Explanation((), text, catalog.hint(name))


# ------------------------------------------------------------ judging a function's answers
# `judge`: observations of a student's function on a check's cases -> a CheckResult.
#
# Each case is compared with the Truth's right answer (exact float64 arrays, the arrays' own
# operators, so a student who rebinds `numpy.allclose` changes nothing), and a wrong answer is
# named from all the check's cases at once (`backprop_checks.mistakes`).

_errstate = np.errstate


def _compare(name: str, case: catalog.Case, comp: str, exp: np.ndarray, got: np.ndarray) -> bool:
    if catalog.get(name).numerical:
        # exp is the central difference at the case's eps itself, its own O(eps^2) error
        # included: only rounding is allowed (`mistakes.numeric_limit`), so an answer that
        # ignores eps (the exact slope, or a step of its own) fails where eps is large
        # (0.25: off by about g'''(x) eps^2 / 6)
        if got.shape != exp.shape:
            return False
        return bool((abs(got - exp) <= mistakes.numeric_limit(exp)).all())
    return close(got, exp, rtol=1e-6)


def _judge_case(
    name: str,
    case: catalog.Case,
    obs: Observation,
    expected: dict[str, np.ndarray],
    others: dict[str, list[Seen]] | None = None,
    truth: Truth | None = None,
    sound: frozenset[str] = frozenset(),
) -> Verdict:
    """others: per component, the check's other cases as the naming reads them; truth: where
    the variants come from."""
    inputs = inputs_of(case)
    verdict = _judge_returned(name, case, obs, expected, inputs, others, truth, sound)
    read = _globals_of_the_course(name, obs)
    if not verdict.ok and read:  # the root cause: named first, with its hint; a mistake
        # named by comparing values made from other arrays than the check's is no finding
        args = catalog.SIGNATURES[name]
        rest = [e for e in verdict.explanations if not e.tags]
        verdict.explanations = [mistakes.explain_globals(name, read, obs.params, args), *rest]
    return verdict


def _globals_of_the_course(name: str, obs: Observation) -> list[tuple[str, str]]:
    """The arrays of the course's notation (an argument name of a course function) that the
    function read from the notebook's globals rather than from its own parameters."""
    order = list(catalog.SIGNATURES[name])
    notation = {a for args in catalog.SIGNATURES.values() for a in args}
    found = [
        (n, shape)
        for n, shape in getattr(obs, "globals_read", []) or []
        if n in notation and n not in (getattr(obs, "params", []) or [])
    ]
    return sorted(found, key=lambda f: order.index(f[0]) if f[0] in order else len(order))


def _judge_returned(
    name: str,
    case: catalog.Case,
    obs: Observation,
    expected: dict[str, np.ndarray],
    inputs: dict[str, Any],
    others: dict[str, list[Seen]] | None,
    truth: Truth | None,
    sound: frozenset[str],
) -> Verdict:
    """The verdict on what the call returned (or raised), mutations and warnings included."""
    if obs.error is not None:
        return Verdict(False, [error_explanation(name, obs, sound)])
    verdict = Verdict(True)
    low = _low_precision(obs.returned)
    shapes = {comp: exp.shape for comp, exp in expected.items()}
    got, errs = extract(name, case, obs.returned, shapes)
    verdict.got = got
    if errs:
        verdict.ok = False
        verdict.explanations += errs
    for comp, arr in got.items():
        exp = expected[comp]
        if _compare(name, case, comp, exp, arr):
            continue
        verdict.ok = False
        if low and arr.shape == exp.shape and close(arr, exp, rtol=1e-4):
            verdict.explanations.append(mistakes.explain_precision(name, comp, low))
            verdict.shown.append((comp, exp, arr))
            continue
        variants = truth.variants(case, comp) if truth is not None else []
        seen = (others or {}).get(comp, [])
        known = known_mistake(name, comp, inputs, case["context"], exp, arr, seen, variants)
        expl = known or explain_values(
            name, comp, inputs, case["context"], exp, arr, seen, variants
        )
        if known is None and catalog.get(name).numerical:
            eps = float(case["args"].get("eps", 1e-5))
            expl = mistakes.explain_eps(name, exp, arr, eps) or expl
        verdict.explanations.append(expl)
        verdict.shown.append((comp, exp, arr))
    off_by = None
    if catalog.get(name).numerical and "result" in got and verdict.shown:
        exp, arr = expected["result"], got["result"]
        if arr.shape == exp.shape and exp.size:
            off_by = float(abs(arr - exp).max())
    eps = float(case["args"].get("eps", 1e-5))
    for arg, change in obs.mutated.items():
        verdict.ok = False
        value = case["args"].get(arg)
        integer = str(value.dtype) if type(value) is _ndarray and value.dtype.kind in "iu" else ""
        expl = mistakes.explain_mutation(name, arg, change, off_by, eps, integer)
        if "M13" in expl.tags or integer and off_by is not None:  # the cause of the values
            verdict.explanations = [expl]  # being off: named alone, not also what they equal
        else:
            verdict.explanations.append(expl)
    warning = warned(name, obs, _largest(inputs), low, _span(inputs))
    if warning is not None:
        verdict.ok = False
        verdict.explanations.append(warning)
    if not verdict.ok and not verdict.explanations:  # cannot happen; never pass silently
        verdict.explanations.append(Explanation((), "the answer is wrong.", ""))
    return verdict


_LOW_DTYPES = {"float32", "float16"}


def _low_precision(r: Returned | None) -> str:
    """The narrower float dtype ("float32", "float16") of a returned value or of one of its
    items, or "" when it is float64 (or not a float at all)."""
    if r is None:
        return ""
    if r.kind == "ndarray" and r.dtype in _LOW_DTYPES:
        return r.dtype
    if r.kind == "float" and r.type_name.removeprefix("numpy.") in _LOW_DTYPES:
        return r.type_name.removeprefix("numpy.")
    for item in r.items or []:
        found = _low_precision(item)
        if found:
            return found
    return ""


def _span(inputs: dict[str, Any]) -> tuple[float, float] | None:
    """The smallest and largest finite entry of the call's arrays (None when there are none)."""
    found = [v[abs(v) < float("inf")] for v in inputs.values() if type(v) is _ndarray]
    found = [v for v in found if v.size]
    if not found:
        return None
    return min(float(v.min()) for v in found), max(float(v.max()) for v in found)


def _largest(inputs: dict[str, Any]) -> float | None:
    sizes = [float(abs(v).max()) for v in inputs.values() if type(v) is _ndarray and v.size]
    return max(sizes) if sizes else None


def judge(
    name: str,
    cases: list[catalog.Case],
    observations: list[Observation],
    *,
    hidden: bool,
    truth: Truth | None = None,
    sound: frozenset[str] = frozenset(),
) -> CheckResult:
    """Judge observations of a student's function on the given cases; never raises for a
    wrong answer.

    Args:
        name: the student function, e.g. "grad_W2" (see backprop_checks.catalog.FUNCTIONS).
        cases: from backprop_checks.catalog.visible_cases(name) or the instructor's
            grader.judge.hidden.hidden_cases(name, seed).
        observations: one backprop_checks.observe.Observation per case, in the same order,
            made in this process or another (the verification process pickles them;
            after an untouched stub's NotImplementedError the rest may be missing).
        hidden: which flavour: a hidden result's message says "hidden tests".
        truth: where the right answers come from (default: `truth_for(name, hidden=...)`:
            the data file, or the instructor's package for hidden).
        sound: the student's helpers known to pass their own checks: an exception raised
            inside one is blamed on the call that gave it its arguments.

    Returns:
        a CheckResult; its message is what the student reads.
    """
    if name not in catalog.SIGNATURES:
        raise KeyError(catalog.unknown_name_message(name))
    if truth is None:
        truth = truth_for(name, hidden=hidden)
    last = observations[-1] if observations else None
    if (
        last is not None
        and last.error is not None
        and last.error.type_name == "NotImplementedError"
    ):
        cases = cases[: len(observations)]  # an untouched stub is observed only once
    if len(cases) != len(observations):
        raise ValueError(f"{len(cases)} cases but {len(observations)} observations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _errstate(all="ignore"):
            for case, obs in zip(cases, observations, strict=True):
                if type(obs) is not Observation:
                    raise TypeError(f"expected an Observation, got {type(obs).__name__}")
                if obs.case_id and obs.case_id != case["id"]:
                    raise ValueError(
                        f"observation of case {obs.case_id!r} given for {case['id']!r}"
                    )
            if catalog.get(name).result == "run":
                return judge_train(
                    name, cases, observations, hidden=hidden, truth=truth, sound=sound
                )
            expected = [truth.expected(c) for c in cases]
            seen = _seen(name, cases, observations, expected, truth)
            verdicts = []
            for i, (case, obs) in enumerate(zip(cases, observations, strict=True)):
                others = {
                    comp: [s for j, s in rows if j != i and _alike(cases[j], case)]
                    for comp, rows in seen.items()
                }
                verdicts.append(_judge_case(name, case, obs, expected[i], others, truth, sound))
            return result_of(name, cases, verdicts, hidden)


def _alike(a: catalog.Case, b: catalog.Case) -> bool:
    """Whether two cases' arguments have the same dtypes (float64 unless the context names
    another, an integer W): a mistake is named from the cases alike, since an integer W makes
    its own mistakes (a copy that keeps its dtype) on top of any other."""
    return a["context"].get("dtypes", {}) == b["context"].get("dtypes", {})


def _seen(
    name: str,
    cases: list[catalog.Case],
    observations: list[Observation],
    expected: list[dict[str, np.ndarray]],
    truth: Truth,
) -> dict[str, list[tuple[int, Seen]]]:
    """Per component, every case where the student returned a usable array, for naming a
    mistake from all cases at once."""
    out: dict[str, list[tuple[int, Seen]]] = {}
    for i, (case, obs) in enumerate(zip(cases, observations, strict=True)):
        if obs.error is not None:
            continue
        got, _ = extract(name, case, obs.returned)
        for comp, arr in got.items():
            row = Seen(
                inputs_of(case), case["context"], expected[i][comp], arr, truth.variants(case, comp)
            )
            out.setdefault(comp, []).append((i, row))
    return out


# ------------------------------------------------------------ the training check
# The training run's check (a record whose result is "run": train), judged by behaviour.
#
# train is held to its contract: it starts from init_params(c, n_hidden, o, seed), each epoch
# moves every parameter by -lr * dL/dW, and losses[t] is the loss of the parameters at the
# start of epoch t. The expected run is replayed (from the data file, or by the instructor's
# package), so every entry of losses and the final parameters are compared; the replay cases
# (0 and 1 epochs) name what differs: the start, the step, or what was recorded.


def _train_returned(
    case: catalog.Case, r: Returned | None
) -> tuple[dict | None, np.ndarray | None, Explanation | None]:
    name = case["name"]
    hint = catalog.hint(name)
    if r is None or r.kind not in ("tuple", "list") or len(r.items or []) != 2:
        kind, tname = (r.kind, r.type_name) if r else ("none", "None")
        return None, None, explain_type(name, "result", kind, tname, "tuple")
    pr, lr_ = r.items
    if pr.kind != "dict" or any(k not in (pr.keys or []) for k in PARAM_NAMES):
        text = f"params: expected a dict with keys W1, b1, W2, b2, got a {pr.type_name}" + (
            f" with keys {pr.keys}." if pr.keys is not None else "."
        )
        return None, None, Explanation((), text, hint)
    X, Y, h = case["args"]["X"], case["args"]["Y"], case["args"]["n_hidden"]
    c, o = X.shape[1], Y.shape[1]
    shapes = {"W1": (c, h), "b1": (h,), "W2": (h, o), "b2": (o,)}
    items = dict(zip(pr.keys, pr.items, strict=True))
    params = {}
    for key in PARAM_NAMES:
        arr, err = read_one(name, f'params["{key}"]', items[key], "array")
        if err:
            return None, None, err
        if arr.shape != shapes[key]:
            expl = mistakes.explain_shape(
                name, f'params["{key}"]', {"X": X, "Y": Y}, shapes[key], arr.shape
            )
            return None, None, expl
        params[key] = arr
    epochs = case["args"]["epochs"]
    if lr_.kind == "ndarray" and array_of(lr_) is not None and array_of(lr_).ndim == 1:
        losses = array_of(lr_)
    elif lr_.kind in ("list", "tuple") and all(it.kind == "float" for it in lr_.items or []):
        losses = array_of(lr_)
    else:
        return None, None, explain_type(name, "losses", lr_.kind, lr_.type_name, "list")
    if losses is None or losses.shape != (epochs,):
        got = "?" if losses is None else len(losses)
        text = f"losses: expected one float per epoch ({epochs}), got {got}."
        return None, None, Explanation((), text, hint)
    if (losses != losses).any() or (abs(losses) == float("inf")).any():
        return None, None, _diverged(name)
    return params, losses, None


def _diverged(name: str) -> Explanation:
    return Explanation(
        (),
        "losses: some are nan or inf (the training diverged: check that each function "
        "above passes its own check).",
        catalog.hint(name),
    )


def _losses_close(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and bool((abs(got - want) <= 1e-6 * abs(want) + 1e-12).all())


def _same_start(start: dict, known: Params | None) -> bool:
    return known is not None and params_close(start, known, rtol=1e-9)


def _start_explanation(case: catalog.Case, start: dict, truth: Truth) -> Explanation | None:
    """None when `start` is init_params(c, n_hidden, o, seed); else which weights it is."""
    a = case["args"]
    c, o, h, seed = a["X"].shape[1], a["Y"].shape[1], a["n_hidden"], a["seed"]
    if _same_start(start, truth.init_params(case, seed)):
        return None
    call = f"init_params({c}, {h}, {o}, seed={seed})"
    if seed != 0 and _same_start(start, truth.init_params(case, 0)):
        what, why = f"init_params({c}, {h}, {o}, seed=0)", ": the seed argument is ignored"
    elif _same_start(start, truth.init_params(case, seed + 1)):
        what, why = f"init_params({c}, {h}, {o}, seed={seed + 1})", ": seed + 1"
    else:
        what, why = "", ""
    if what:
        text = f"your training starts from {what}, not from {call}{why}."
    else:
        text = f"your train(..., epochs=0) returned other parameters than {call}."
    hint = (
        "start from the weights init_params gives for (number of inputs, n_hidden, number "
        "of outputs, seed), the weights "
        "the notebook provides, so your run can be compared epoch by epoch."
    )
    return Explanation((), text, hint)


def _step_explanation(
    case: catalog.Case, start: dict, after: dict, truth: Truth
) -> tuple[Explanation | None, float | None]:
    """(None, 1.0) when `after` is one gradient-descent step from `start`; else what the step
    is, and the factor it is of the right step when it is one (else None). (None, None) when
    the gradients at `start` are unknown here."""
    name, a = case["name"], case["args"]
    X, Y, lr = a["X"], a["Y"], a["lr"]
    g = truth.gradients(case, start)
    if g is None:
        return None, None
    want = {k: start[k] - lr * g[k] for k in PARAM_NAMES}
    if params_close(after, want, rtol=1e-6):
        return None, 1.0
    moved = {k: after[k] - start[k] for k in PARAM_NAMES}
    still = [k for k in PARAM_NAMES if not abs(moved[k]).max() > 0]
    if still:
        text = (
            f"one epoch leaves {', '.join(still)} unchanged: the update must change all four "
            "parameters."
        )
        return Explanation((), text, catalog.hint(name)), None
    num = sum(float((moved[k] * (-lr * g[k])).sum()) for k in PARAM_NAMES)
    den = sum(float(((lr * g[k]) ** 2).sum()) for k in PARAM_NAMES)
    factor = num / den if den > 0 else 0.0
    exact = all(close(moved[k], -factor * lr * g[k], rtol=1e-5, atol=1e-12) for k in PARAM_NAMES)
    n, o = X.shape[0], Y.shape[1]
    if exact:
        named = mistakes.step_factor(factor, n, o)
        if named is not None:
            tags, what = named
            text = f"one epoch's step is {what} the gradient-descent step -lr * dL/dW."
            return mistakes.explanation(tags, text, name), factor
    text = f"one epoch does not move the parameters by -lr * dL/dW ({_worst_param(after, want)})."
    return Explanation((), text, catalog.hint(name)), None


def _worst_param(got: dict, want: dict) -> str:
    """ "largest difference in W1 at index (0, 1): expected ..., got ..."."""
    k = max(PARAM_NAMES, key=lambda k: float(abs(got[k] - want[k]).max()))
    where = largest_difference(want[k], got[k]).removeprefix("largest difference")
    return f"largest difference in {k}{where}"


def _record_explanation(
    case: catalog.Case, losses: np.ndarray, own: list[float]
) -> tuple[Explanation | None, np.ndarray]:
    """None when every losses[t] is the loss of the parameters at the start of epoch t of
    the trajectory `own` (epochs + 1 losses); else what the recorded losses are."""
    m = len(losses)
    before, after = np.array(own[:m]), np.array(own[1 : m + 1])
    if _losses_close(losses, before):
        return None, before
    name = case["name"]
    hint = catalog.hint(name)
    if _losses_close(losses, after):
        text = (
            "losses[t] is the loss after the update of epoch t; it must be the loss before it "
            f"(losses[0] = {before[0]:.6g}, the loss of the starting weights)."
        )
        return Explanation((), text, hint), before
    n, o = case["args"]["X"].shape[0], case["args"]["Y"].shape[1]
    for ref in (before, after):
        for factor, tags, what in mistakes.loss_factors(n, o):
            if _losses_close(losses, factor * ref):
                text = f"your recorded losses are {what} the loss of the parameters."
                return mistakes.explanation(tags, text, name), before
    k = next(i for i in range(m) if not _losses_close(losses[i : i + 1], before[i : i + 1]))
    text = (
        f"losses[{k}] = {losses[k]:.6g} is not the loss of the parameters at the start of "
        f"epoch {k} ({before[k]:.6g}): record sse_loss of the current parameters, every epoch."
    )
    return Explanation((), text, hint), before


def judge_train(
    name: str,
    cases: list[catalog.Case],
    observations: list[Observation],
    *,
    hidden: bool,
    truth: Truth,
    sound: frozenset[str] = frozenset(),
) -> CheckResult:
    """train is held to its contract: it starts from init_params(c, n_hidden, o, seed), each
    epoch moves every parameter by -lr * dL/dW, and losses[t] is the loss of the parameters
    at the start of epoch t. The expected run is replayed here (reference-free), so every
    entry of losses and the final parameters are compared; the replay cases (0 and 1 epochs)
    name what differs: the start, the step, or what was recorded (`_train_verdict`, then
    `_what_differs`)."""
    by_id = {c["id"]: (c, o) for c, o in zip(cases, observations, strict=True)}
    verdicts = [
        Verdict(True)
        if catalog.is_replay(case)  # read together with the case it replays
        else _train_verdict(name, case, obs, by_id, truth, sound)
        for case, obs in zip(cases, observations, strict=True)
    ]
    return result_of(name, cases, verdicts, hidden)


def _train_verdict(
    name: str,
    case: catalog.Case,
    obs: Observation,
    by_id: dict,
    truth: Truth,
    sound: frozenset[str],
) -> Verdict:
    """One (not replayed) case of train: an exception, changed data, a warning or a return
    value that is no run are named as such; else the run is compared with the expected one
    and, when it differs, `_what_differs` says how."""
    v = Verdict(True)
    if obs.error is not None:
        v.ok = False
        start_shapes = _start_shapes(case, by_id)
        if start_shapes is not None:
            v.explanations.append(start_shapes)
        v.explanations.append(error_explanation(name, obs, sound))
        return v
    params, losses, err = _train_returned(case, obs.returned)
    if obs.mutated:  # the root cause of whatever else differs: named first and alone
        v.ok = False
        v.explanations = [_changed_data(name, obs.mutated)]
        return v
    warning = warned(name, obs)
    if warning is not None:
        v.ok = False
        v.explanations.append(warning)
    if err is not None:
        v.ok = False
        v.explanations.insert(0, err)
        return v
    a = case["args"]
    contract = truth.init_params(case, a["seed"])
    run = truth.descent(case, contract, a["lr"]) if contract is not None else None
    if run is None:  # cannot happen with either Truth; never pass silently
        v.ok = False
        v.explanations.append(Explanation((), "no expected run for this case.", ""))
        return v
    final, own = run
    if _losses_close(losses, np.array(own[:-1])) and params_close(params, final, 1e-5):
        return v
    v.ok = False
    v.explanations[:0] = _what_differs(name, case, by_id, truth, params, losses, final, own, v)
    return v


def _what_differs(
    name: str,
    case: catalog.Case,
    by_id: dict,
    truth: Truth,
    params: dict,
    losses: np.ndarray,
    final: Params | None,
    own: list[float] | None,
    v: Verdict,
) -> list[Explanation]:
    """Why a run differs from the expected one: the start, the step (both read from the
    replays of 0 and 1 epochs), or what was recorded; the losses shown are added to `v`."""
    a = case["args"]
    start = _replayed(case, 0, by_id)
    after = _replayed(case, 1, by_id)
    found: list[Explanation] = []
    first_only = False
    if start is not None:
        expl = _start_explanation(case, start, truth)
        if expl is not None:
            found.append(expl)
            final, own = truth.descent(case, start, a["lr"]) or (None, None)
        if after is not None:
            expl, factor = _step_explanation(case, start, after, truth)
            if expl is not None:
                found.append(expl)
                # read the losses along the student's own steps when they are known ones
                lr = a["lr"] * factor if factor is not None else a["lr"]
                final, own = truth.descent(case, start, lr) or (None, None)
                if factor is None and own is not None:
                    losses, own = losses[:1], own[:2]  # only the first is known
                    first_only = True
    if own is None:  # a run this package does not hold: named at grading time
        found.append(
            Explanation(
                (),
                "your run differs from the expected one, and from other starting weights than "
                "the course's its losses cannot be checked here (the hidden tests name it).",
                catalog.hint(name),
            )
        )
    else:
        recorded, shown = _record_explanation(case, losses, own)
        if recorded is not None:
            found.append(recorded)
            if first_only:  # one number compared, whatever the epochs: shown as one
                v.shown.append(("losses[0]", shown[:1].reshape(()), losses[:1].reshape(())))
            else:
                v.shown.append(("losses", shown, losses))
    if not found:
        if losses[-1] > losses[0]:
            found.append(
                mistakes.explanation(
                    ("M3",),
                    f"the loss went up, from {losses[0]:.4g} to {losses[-1]:.4g}: the update "
                    "climbs the loss (W <- W + lr * dL/dW?).",
                    name,
                )
            )
        else:
            found.append(
                Explanation(
                    (),
                    "the losses are the losses of your parameters, but the returned parameters "
                    f"are not those after {a['epochs']} epochs "
                    f"({_worst_param(params, final)}).",
                    catalog.hint(name),
                )
            )
    return found


def _changed_data(name: str, mutated: dict[str, float]) -> Explanation:
    """M11 for a train that changes its arguments (X, Y): the run is then made on other data
    than the caller's, so nothing else about it can be read."""
    changed = " and ".join(mutated)
    size = max(mutated.values())
    by = "its shape or type" if size == float("inf") else f"entries by up to {size:.3g}"
    text = (
        f"{changed} {'was' if len(mutated) == 1 else 'were'} changed in place ({by}): the "
        f"caller's {changed} is changed, and the run trained on other data than it was "
        "given, so its losses and parameters are not compared until this is fixed."
    )
    return mistakes.explanation(("M11",), text, name)


def _start_shapes(case: catalog.Case, by_id: dict) -> Explanation | None:
    """When train raised and its epochs=0 replay returned parameters of the wrong shapes: the
    starting weights are misshapen (init_params called with its arguments out of order?),
    which is what the error later in the run comes from."""
    found = by_id.get(f"{case['id']}-epochs0")
    if found is None or found[1].error is not None:
        return None
    _, _, err = _train_returned(found[0], found[1].returned)
    if err is None or "expected shape" not in err.text:
        return None
    a = case["args"]
    c, o, h = a["X"].shape[1], a["Y"].shape[1], a["n_hidden"]
    text = (
        f"your train(..., epochs=0) returns {err.text.rstrip('.')}: the starting weights "
        f"have the wrong shapes; they are init_params(c, n_hidden, o, seed) = "
        f"init_params({c}, {h}, {o}, seed), in that order."
    )
    hint = (
        "compare your call of init_params with its def line, init_params(c, n_hidden, o, "
        "seed=0): the arguments are taken by position."
    )
    return Explanation((), text, hint)


def _replayed(case: catalog.Case, epochs: int, by_id: dict) -> dict | None:
    """The params a replay case of `case` returned (0 or 1 epochs), or None."""
    found = by_id.get(f"{case['id']}-epochs{epochs}")
    if found is None or found[1].error is not None:
        return None
    params, _, err = _train_returned(found[0], found[1].returned)
    return None if err is not None else params
