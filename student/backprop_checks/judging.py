"""`judge`: observations of a student's function on a check's cases -> a CheckResult.

Each case is compared with the Truth's right answer (exact float64 arrays, the arrays' own
operators, so a student who rebinds `numpy.allclose` changes nothing), and a wrong answer is
named from all the check's cases at once (`backprop_checks.candidates`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from backprop_checks import _trusted, diagnose
from backprop_checks import cases as _cases
from backprop_checks import functions as _functions
from backprop_checks.blame import error_explanation, warned
from backprop_checks.candidates import Seen, explain_values, known_mistake
from backprop_checks.compare import close, inputs_of
from backprop_checks.diagnose import Explanation
from backprop_checks.extract import extract
from backprop_checks.observe import Observation, Returned
from backprop_checks.train import judge_train
from backprop_checks.truth import Truth, truth_for
from backprop_checks.verdict import CheckResult, Verdict, result_of

_ndarray = _trusted.ndarray
_errstate = np.errstate


def _numeric_limit(case: _cases.Case, expected: np.ndarray) -> float:
    """Absolute tolerance of a numerical derivative: rounding plus the central difference's
    own O(eps^2) error, far below a forward difference's O(eps)."""
    eps = float(case["args"].get("eps", 1e-5))
    scale = 1.0 + float(abs(expected).max()) if expected.size else 1.0
    return 1e-7 * scale + 4.0 * eps * eps


def _compare(name: str, case: _cases.Case, comp: str, exp: np.ndarray, got: np.ndarray) -> bool:
    if _functions.get(name).numerical:
        if got.shape != exp.shape:
            return False
        return bool((abs(got - exp) <= _numeric_limit(case, exp)).all())
    return close(got, exp, rtol=1e-6)


def _judge_case(
    name: str,
    case: _cases.Case,
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
        args = _cases.SIGNATURES[name]
        rest = [e for e in verdict.explanations if not e.tags]
        verdict.explanations = [diagnose.explain_globals(name, read, obs.params, args), *rest]
    return verdict


def _globals_of_the_course(name: str, obs: Observation) -> list[tuple[str, str]]:
    """The arrays of the course's notation (an argument name of a course function) that the
    function read from the notebook's globals rather than from its own parameters."""
    order = list(_cases.SIGNATURES[name])
    notation = {a for args in _cases.SIGNATURES.values() for a in args}
    found = [
        (n, shape) for n, shape in getattr(obs, "globals_read", []) or []
        if n in notation and n not in (getattr(obs, "params", []) or [])
    ]
    return sorted(found, key=lambda f: (order.index(f[0]) if f[0] in order else len(order)))


def _judge_returned(
    name: str,
    case: _cases.Case,
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
            verdict.explanations.append(diagnose.explain_precision(name, comp, low))
            verdict.shown.append((comp, exp, arr))
            continue
        variants = truth.variants(case, comp) if truth is not None else []
        seen = (others or {}).get(comp, [])
        known = known_mistake(name, comp, inputs, case["context"], exp, arr, seen, variants)
        expl = known or explain_values(
            name, comp, inputs, case["context"], exp, arr, seen, variants
        )
        if known is None and _functions.get(name).numerical:
            eps = float(case["args"].get("eps", 1e-5))
            expl = diagnose.explain_eps(name, exp, arr, eps) or expl
        verdict.explanations.append(expl)
        verdict.shown.append((comp, exp, arr))
    off_by = None
    if _functions.get(name).numerical and "result" in got and verdict.shown:
        exp, arr = expected["result"], got["result"]
        if arr.shape == exp.shape and exp.size:
            off_by = float(abs(arr - exp).max())
    eps = float(case["args"].get("eps", 1e-5))
    for arg, change in obs.mutated.items():
        verdict.ok = False
        value = case["args"].get(arg)
        integer = str(value.dtype) if type(value) is _ndarray and value.dtype.kind in "iu" else ""
        expl = diagnose.explain_mutation(name, arg, change, off_by, eps, integer)
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
    cases: list[_cases.Case],
    observations: list[Observation],
    *,
    hidden: bool,
    truth: Truth | None = None,
    sound: frozenset[str] = frozenset(),
) -> CheckResult:
    """Judge observations of a student's function on the given cases; never raises for a
    wrong answer.

    Args:
        name: the student function, e.g. "grad_W2" (see backprop_checks.cases.FUNCTIONS).
        cases: from backprop_checks.cases.visible_cases(name) or the instructor's
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
    if name not in _cases.SIGNATURES:
        raise KeyError(_cases.unknown_name_message(name))
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
            if _functions.get(name).result == "run":
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
                verdicts.append(
                    _judge_case(name, case, obs, expected[i], others, truth, sound)
                )
            return result_of(name, cases, verdicts, hidden)


def _alike(a: _cases.Case, b: _cases.Case) -> bool:
    """Whether two cases' arguments have the same dtypes (float64 unless the context names
    another, an integer W): a mistake is named from the cases alike, since an integer W makes
    its own mistakes (a copy that keeps its dtype) on top of any other."""
    return a["context"].get("dtypes", {}) == b["context"].get("dtypes", {})


def _seen(
    name: str,
    cases: list[_cases.Case],
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
