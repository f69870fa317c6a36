"""The checks that the notebooks' test cells call, one per student function.

    from backprop_checks import checks
    checks.check_grad_W2(grad_W2)                # visible: the fixed examples
    checks.check_grad_W2(grad_W2, hidden=True)   # hidden: randomised shapes, at grading time

A check returns None and prints one short line when the function is right; otherwise it
raises `CheckFailure` (an AssertionError) whose message names the misconception with a tag
such as `[M3]`, states expected vs got on which input shapes, and says where to look.
Nothing is ever written to stderr.

Each check is three steps that can run apart (a sandbox may call the student's function in
another process and send the observations back):

    cases = backprop_checks.cases.visible_cases(name)
    obs = [backprop_checks.observe.observe(fn, build_args(c), ...) for c in cases]
    result = judge(name, cases, obs, hidden=False)    # -> CheckResult, raises nothing

The right answers come from a `Truth`: for the visible examples the package's data file
(`VisibleData`, computed by the instructor's package when the handout was built); for
hidden checks the instructor's package (`grader.hidden`), present only where notebooks are
graded. Where it is absent a hidden check prints that it runs at grading time and passes.

`judge` compares only exact float64 numpy arrays, with the arrays' own operators, so a
student who rebinds `numpy.allclose` does not change its verdict.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop_checks import _trusted, diagnose
from backprop_checks import cases as _cases
from backprop_checks import data as _data
from backprop_checks.diagnose import Explanation, Variant
from backprop_checks.observe import Observation, Returned, observe_cases

_ndarray = _trusted.ndarray
_float64 = _trusted.float64
_errstate = np.errstate

# Functions of one elementwise argument: a scalar in, a scalar (float or 0-d array) out.
_ELEMENTWISE = {"df_dx", "df_dz", "sigmoid", "sigmoid_prime", "sigmoid_prime_from_output"}
_FLOAT_RESULT = {"sse_loss", "numerical_derivative"}
_NUMERICAL = {"numerical_derivative", "numerical_gradient"}
PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")


class Truth:
    """Where the right answers of a check come from. Subclasses: `VisibleData` (this
    package's data file) and the instructor's `grader.hidden.ReferenceTruth`."""

    def expected(self, case: _cases.Case) -> dict[str, np.ndarray]:
        """{component: exact float64 array} of the case ({} for train)."""
        raise NotImplementedError

    def variants(self, case: _cases.Case, component: str) -> list[Variant]:
        """The known wrong formulas' values on the case, for the diagnosis."""
        return []

    def params_loss(self, case: _cases.Case, params: dict[str, np.ndarray]) -> float | None:
        """train: the loss of the returned params on the case's (X, Y); None when unknown."""
        return None

    def learns_xor(self, case: _cases.Case, params: dict[str, np.ndarray]) -> bool | None:
        """train: whether the params classify the case's XOR data; None when unknown."""
        return None

    def reference_train(self, case: _cases.Case, epochs: int) -> np.ndarray | None:
        """train: the reference's losses over `epochs` epochs from the case's seed."""
        return None


class VisibleData(Truth):
    """The visible examples' answers, stored in the package's data file."""

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
        return diagnose.variants_from_data(self._record(case)["variants"].get(component, []))

    def params_loss(self, case: _cases.Case, params: dict[str, np.ndarray]) -> float | None:
        """Known for the reference's own final params only (stored with the example)."""
        ref = self._record(case).get("reference")
        if not ref:
            return None
        same = all(
            diagnose.close(params[k], np.array(ref["params"][k], dtype=float), rtol=1e-6)
            for k in PARAM_NAMES
        )
        return float(ref["loss"]) if same else None


class HiddenUnavailable(RuntimeError):
    """A hidden check ran where the instructor's package is not installed."""


def _instructor():
    """The instructor's hidden-check module `grader.hidden`, or None where it is absent."""
    try:
        from grader import hidden
    except ImportError:
        return None
    return hidden


def truth_for(name: str, *, hidden: bool) -> Truth:
    """The Truth a check of this flavour uses (raises HiddenUnavailable for a hidden one
    where the instructor's package is absent)."""
    if not hidden:
        return VisibleData(name)
    module = _instructor()
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


class CheckFailure(AssertionError):
    """A student's function is wrong; the message says how. `.result` is the CheckResult."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result


@dataclass
class CheckResult:
    """The verdict of one check.

    name: the student function ("grad_W2"). passed: whether every case was right.
    message: what the student reads (first line: the headline with any [Mk] tags).
    misconceptions: the matched tags, e.g. ["M1"]. hint: one sentence of where to look.
    hidden: which flavour ran. n_cases: how many cases were judged.
    case_id: the case the message is about ("" when passed).
    """

    name: str
    passed: bool
    message: str
    misconceptions: list[str] = field(default_factory=list)
    hint: str = ""
    hidden: bool = False
    n_cases: int = 0
    case_id: str = ""

    def _repr_html_(self) -> str:  # rendered when a notebook displays a result
        import html

        colour = "#2e7d32" if self.passed else "#c62828"
        return f'<pre style="color:{colour}">{html.escape(self.message)}</pre>'


@dataclass
class _Verdict:
    ok: bool
    explanations: list[Explanation] = field(default_factory=list)
    shown: list[tuple[str, Any, Any]] = field(default_factory=list)  # (component, expected, got)
    got: dict[str, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------- extraction


def _array_of(r: Returned | None) -> np.ndarray | None:
    """The returned value's float64 data, only if it is a genuine float64 ndarray."""
    if r is None or type(r.array) is not _ndarray or r.array.dtype != _float64:
        return None
    return r.array


def _want(name: str, case: _cases.Case) -> str:
    if name in _FLOAT_RESULT:
        return "float"
    if name in _ELEMENTWISE and not isinstance(next(iter(case["args"].values())), _ndarray):
        return "scalar"
    return "array"


def _one(
    name: str, component: str, r: Returned | None, want: str
) -> tuple[np.ndarray | None, Explanation | None]:
    if r is None:
        return None, diagnose.explain_type(name, component, "none", "None", "array")
    ok_kinds = {"array": ("ndarray",), "float": ("float",), "scalar": ("ndarray", "float")}[want]
    arr = _array_of(r)
    if r.kind in ok_kinds and arr is None:
        label = "" if component == "result" else f"{component}: "
        text = (
            f"{label}the returned {r.type_name} holds no numbers ({r.note or 'dtype ' + r.dtype})."
        )
        return None, Explanation((), text, diagnose.FUNCTION_HINTS.get(name, ""))
    if r.kind not in ok_kinds or arr is None:
        shown_want = "float" if want == "float" else "array"
        extra = f" ({r.note})" if r.note else ""
        expl = diagnose.explain_type(name, component, r.kind, r.type_name + extra, shown_want)
        return None, expl
    return arr, None


def extract(
    name: str, case: _cases.Case, r: Returned | None
) -> tuple[dict[str, np.ndarray], list[Explanation]]:
    """The returned value's components as float64 arrays, or explanations of why it has none."""
    want = _want(name, case)
    if name == "forward":
        if r is None or r.kind not in ("tuple", "list") or len(r.items or []) != 2:
            kind, tname = (r.kind, r.type_name) if r else ("none", "None")
            if r is not None and r.items is not None:
                tname = f"{tname} of length {len(r.items)}"
            return {}, [diagnose.explain_type(name, "result", kind, tname, "tuple")]
        out, errs = {}, []
        for comp, item in zip(("H", "Y_hat"), r.items, strict=True):
            arr, err = _one(name, comp, item, "array")
            if err:
                errs.append(err)
            else:
                out[comp] = arr
        return out, errs
    if name == "backprop":
        if r is None or r.kind != "dict":
            kind, tname = (r.kind, r.type_name) if r else ("none", "None")
            return {}, [diagnose.explain_type(name, "result", kind, tname, "dict")]
        items = dict(zip(r.keys or [], r.items or [], strict=True))
        missing = [k for k in PARAM_NAMES if k not in items]
        if missing:
            text = f"the dict has keys {list(items)}; missing {missing}."
            return {}, [Explanation((), text, diagnose.FUNCTION_HINTS[name])]
        out, errs = {}, []
        for comp in PARAM_NAMES:
            arr, err = _one(name, comp, items[comp], "array")
            if err:
                errs.append(err)
            else:
                out[comp] = arr
        return out, errs
    arr, err = _one(name, "result", r, want)
    return ({"result": arr}, []) if err is None else ({}, [err])


# --------------------------------------------------------------------------- judging


def _numeric_limit(case: _cases.Case, expected: np.ndarray) -> float:
    """Absolute tolerance of a numerical derivative: rounding plus the central difference's
    own O(eps^2) error, far below a forward difference's O(eps)."""
    eps = float(case["args"].get("eps", 1e-5))
    scale = 1.0 + float(abs(expected).max()) if expected.size else 1.0
    return 1e-7 * scale + 4.0 * eps * eps


def _compare(name: str, case: _cases.Case, comp: str, exp: np.ndarray, got: np.ndarray) -> bool:
    if name in _NUMERICAL:
        if got.shape != exp.shape:
            return False
        return bool((abs(got - exp) <= _numeric_limit(case, exp)).all())
    return diagnose.close(got, exp, rtol=1e-6)


def _judge_case(
    name: str,
    case: _cases.Case,
    obs: Observation,
    expected: dict[str, np.ndarray],
    truth: Truth,
) -> _Verdict:
    # The call's numeric arguments as arrays, for the diagnosis (eps is a setting, not data).
    inputs = {
        k: (v if type(v) is _ndarray else np.array(v, dtype=float))
        for k, v in case["args"].items()
        if k != "eps" and isinstance(v, (float, int, _ndarray))
    }
    if obs.error is not None:
        e = obs.error
        return _Verdict(False, [diagnose.explain_error(name, e.type_name, e.message, e.where)])
    verdict = _Verdict(True)
    got, errs = extract(name, case, obs.returned)
    verdict.got = got
    if errs:
        verdict.ok = False
        verdict.explanations += errs
    for comp, arr in got.items():
        exp = expected[comp]
        if _compare(name, case, comp, exp, arr):
            continue
        verdict.ok = False
        variants = truth.variants(case, comp)
        expl = diagnose.explain_values(name, comp, inputs, case["context"], exp, arr, variants)
        if not expl.tags and name in _NUMERICAL:
            eps = float(case["args"].get("eps", 1e-5))
            expl = diagnose.explain_eps(name, exp, arr, eps) or expl
        verdict.explanations.append(expl)
        verdict.shown.append((comp, exp, arr))
    for arg, change in obs.mutated.items():
        verdict.ok = False
        expl = diagnose.explain_mutation(name, arg, change)
        if "M13" in expl.tags:  # W left perturbed is the cause of the values being off
            verdict.explanations.insert(0, expl)
        else:
            verdict.explanations.append(expl)
    warned = diagnose.explain_warnings(name, obs.warnings, _largest(inputs))
    if warned is not None:
        verdict.ok = False
        verdict.explanations.append(warned)
    if not verdict.ok and not verdict.explanations:  # cannot happen; never pass silently
        verdict.explanations.append(Explanation((), "the answer is wrong.", ""))
    return verdict


def _largest(inputs: dict[str, Any]) -> float | None:
    sizes = [float(abs(v).max()) for v in inputs.values() if type(v) is _ndarray and v.size]
    return max(sizes) if sizes else None


def _hardcoded(case_list, verdicts) -> tuple[int, Explanation] | None:
    """M10: a failing randomised case whose answer equals the answer to a visible example."""
    visible = [(c, v) for c, v in zip(case_list, verdicts, strict=True) if c["kind"] == "visible"]
    if not visible or not all(v.ok for _, v in visible):
        return None
    for i, (case, verdict) in enumerate(zip(case_list, verdicts, strict=True)):
        if case["kind"] != "hidden" or verdict.ok:
            continue
        for comp, arr in verdict.got.items():
            for _, vis in visible:
                old = vis.got.get(comp)
                if (
                    old is not None
                    and old.shape == arr.shape
                    and diagnose.close(arr, old, rtol=1e-9)
                ):
                    return i, diagnose.explain_hardcoded(case["name"], comp)
    return None


def _message(name: str, case: _cases.Case, verdict: _Verdict, hidden: bool) -> tuple[str, str]:
    heads = [e.headline() for e in verdict.explanations]
    first = f"{name}: {heads[0]}"
    where = "hidden tests, " if hidden and case["kind"] == "hidden" else ""
    lines = [
        first,
        *heads[1:],
        f"  on {where}{case['label']}; inputs: {_cases.input_shapes(case)}.",
    ]
    for comp, exp, got in verdict.shown[:2]:
        label = "" if comp == "result" else f"{comp} "
        lines.append(f"  expected {label}{diagnose.fmt_values(exp)}")
        lines.append(f"  got      {label}{diagnose.fmt_values(got)}")
        if exp.shape == got.shape and exp.size > 0:
            lines.append(f"  {label}{diagnose.largest_difference(exp, got)}")
    hint = next(
        (e.hint for e in verdict.explanations if e.hint), diagnose.FUNCTION_HINTS.get(name, "")
    )
    if hint:
        lines.append(f"Where to look: {hint}")
    return "\n".join(lines), hint


def _tags(explanations: list[Explanation]) -> list[str]:
    out: list[str] = []
    for e in explanations:
        for t in e.tags:
            if t not in out:
                out.append(t)
    return out


def judge(
    name: str,
    cases: list[_cases.Case],
    observations: list[Observation],
    *,
    hidden: bool,
    truth: Truth | None = None,
) -> CheckResult:
    """Judge observations of a student's function on the given cases; never raises for a
    wrong answer.

    Args:
        name: the student function, e.g. "grad_W2" (see backprop_checks.cases.FUNCTIONS).
        cases: from backprop_checks.cases.visible_cases(name) or the instructor's
            grader.hidden.hidden_cases(name, seed).
        observations: one backprop_checks.observe.Observation per case, in the same order,
            made in this process or another (send them with observe.to_json / from_json;
            after an untouched stub's NotImplementedError the rest may be missing).
        hidden: which flavour: a hidden result's message says "hidden tests".
        truth: where the right answers come from (default: `truth_for(name, hidden=...)`:
            the data file, or the instructor's package for hidden).

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
            if name == "train":
                return _judge_train(cases, observations, hidden=hidden, truth=truth)
            verdicts = []
            for case, obs in zip(cases, observations, strict=True):
                expected = truth.expected(case)
                verdicts.append(_judge_case(name, case, obs, expected, truth))
            return _result(name, cases, verdicts, hidden)


def _result(
    name: str, cases: list[_cases.Case], verdicts: list[_Verdict], hidden: bool
) -> CheckResult:
    n = len(cases)
    failing = [i for i, v in enumerate(verdicts) if not v.ok]
    if not failing:
        if hidden:
            msg = f"{name}: right on all {n} hidden test cases (randomised inputs, many shapes)."
        else:
            msg = f"{name}: right on all {n} visible examples."
        return CheckResult(name, True, msg, [], "", hidden, n, "")
    hard = _hardcoded(cases, verdicts) if hidden else None
    if hard is not None:
        i, expl = hard
        verdicts[i].explanations.insert(0, expl)
    else:
        i = failing[0]
    message, hint = _message(name, cases[i], verdicts[i], hidden)
    tags = _tags(verdicts[i].explanations)
    return CheckResult(name, False, message, tags, hint, hidden, n, cases[i]["id"])


# --------------------------------------------------------------------------- train


def _train_returned(
    case: _cases.Case, r: Returned | None
) -> tuple[dict | None, np.ndarray | None, Explanation | None]:
    name = "train"
    hint = diagnose.FUNCTION_HINTS[name]
    if r is None or r.kind not in ("tuple", "list") or len(r.items or []) != 2:
        kind, tname = (r.kind, r.type_name) if r else ("none", "None")
        return None, None, diagnose.explain_type(name, "result", kind, tname, "tuple")
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
        arr, err = _one(name, f'params["{key}"]', items[key], "array")
        if err:
            return None, None, err
        if arr.shape != shapes[key]:
            expl = diagnose.explain_shape(
                name, f'params["{key}"]', {"X": X, "Y": Y}, shapes[key], arr.shape
            )
            return None, None, expl
        params[key] = arr
    epochs = case["args"]["epochs"]
    if lr_.kind == "ndarray" and _array_of(lr_) is not None and _array_of(lr_).ndim == 1:
        losses = _array_of(lr_)
    elif lr_.kind in ("list", "tuple") and all(it.kind == "float" for it in lr_.items or []):
        losses = _array_of(lr_)
    else:
        return None, None, diagnose.explain_type(name, "losses", lr_.kind, lr_.type_name, "list")
    if losses is None or losses.shape != (epochs,):
        got = "?" if losses is None else len(losses)
        text = f"losses: expected one float per epoch ({epochs}), got {got}."
        return None, None, Explanation((), text, hint)
    if (losses != losses).any() or (abs(losses) == float("inf")).any():
        return None, None, _diverged()
    return params, losses, None


def _diverged() -> Explanation:
    return Explanation(
        (),
        "losses: some are nan or inf (the training diverged: check that each function "
        "above passes its own check).",
        diagnose.FUNCTION_HINTS["train"],
    )


def _loss_scale_tags(
    case: _cases.Case, params: dict, losses: np.ndarray, truth: Truth
) -> Explanation | None:
    """M4 / M5 when the recorded losses are 2x or 1/n of the returned params' loss."""
    X, Y = case["args"]["X"], case["args"]["Y"]
    true_last = truth.params_loss(case, params)
    if true_last is None or true_last <= 0:
        return None
    ratio = float(losses[-1]) / true_last
    n = X.shape[0]
    if 1.8 < ratio < 2.2:
        return diagnose.explanation(
            ("M4",),
            f"your recorded losses are about twice the loss of "
            f"the returned params ({losses[-1]:.4g} vs {true_last:.4g}).",
            "train",
        )
    for count in (n, n * Y.shape[1]):
        if count > 2 and abs(ratio * count - 1) < 0.15:
            return diagnose.explanation(
                ("M5",),
                f"your recorded losses are the loss of the returned params divided by {count}.",
                "train",
            )
    return None


def _judge_train(
    cases: list[_cases.Case], observations: list[Observation], *, hidden: bool, truth: Truth
) -> CheckResult:
    name = "train"
    verdicts: list[_Verdict] = []
    xor_learned: list[bool] = []
    for case, obs in zip(cases, observations, strict=True):
        v = _Verdict(True)
        verdicts.append(v)
        if obs.error is not None:
            e = obs.error
            v.ok = False
            v.explanations.append(diagnose.explain_error(name, e.type_name, e.message, e.where))
            continue
        params, losses, err = _train_returned(case, obs.returned)
        for arg, change in obs.mutated.items():
            v.ok = False
            v.explanations.append(diagnose.explain_mutation(name, arg, change))
        warned = diagnose.explain_warnings(name, obs.warnings)
        if warned is not None:
            v.ok = False
            v.explanations.append(warned)
        if err is not None:
            v.ok = False
            v.explanations.insert(0, err)
            continue
        scale = _loss_scale_tags(case, params, losses, truth)
        if scale is not None:
            v.ok = False
            v.explanations.insert(0, scale)
        first, last = float(losses[0]), float(losses[-1])
        if last > first:
            v.ok = False
            v.explanations.insert(
                0,
                diagnose.explanation(
                    ("M3",),
                    f"the loss went up, from "
                    f"{first:.4g} to {last:.4g}: the update climbs the loss "
                    "(W <- W + lr * dL/dW?).",
                    name,
                ),
            )
        elif not last < first * (1 - 1e-3):
            v.ok = False
            v.explanations.insert(
                0,
                Explanation(
                    (),
                    f"the loss did not go down ({first:.4g} "
                    f"-> {last:.4g}): are the parameters updated in every epoch?",
                    diagnose.FUNCTION_HINTS[name],
                ),
            )
        if v.ok and "XOR" in case["label"]:
            learned = truth.learns_xor(case, params)
            if learned is not None:
                xor_learned.append(learned)
        if v.ok and hidden and case["kind"] == "hidden" and case["args"]["epochs"] <= 10:
            mismatch = _compare_with_reference(case, params, losses, truth)
            if mismatch is not None:
                v.ok = False
                v.explanations.append(mismatch)
    if hidden and xor_learned and not any(xor_learned):
        i = next(k for k, c in enumerate(cases) if "XOR" in c["label"])
        s = cases[i]["args"]
        seeds = ", ".join(str(c["args"]["seed"]) for c in cases if "XOR" in c["label"])
        verdicts[i].ok = False
        verdicts[i].explanations.append(
            Explanation(
                (),
                f"after {s['epochs']} epochs with "
                f"n_hidden={s['n_hidden']} and lr={s['lr']}, the network does not classify XOR "
                f"(seeds {seeds}).",
                "start from random weights (e.g. rng.normal(size=...), not zeros or tiny values) "
                "and update all four parameters every epoch.",
            )
        )
    return _result(name, cases, verdicts, hidden)


def _compare_with_reference(
    case: _cases.Case, params: dict, losses: np.ndarray, truth: Truth
) -> Explanation | None:
    """When the student's starting weights match the reference's (same first loss), the
    losses must follow the reference's: recorded before each update, or after it."""
    ref_losses = truth.reference_train(case, case["args"]["epochs"] + 1)
    if ref_losses is None:
        return None
    m = len(losses)
    before, after = ref_losses[:m], ref_losses[1 : m + 1]
    if not diagnose.close(losses[:1], before[:1], rtol=1e-6) and not diagnose.close(
        losses[:1], after[:1], rtol=1e-6
    ):
        return None  # another initialisation: judged by behaviour only
    if diagnose.close(losses, before, rtol=1e-6) or diagnose.close(losses, after, rtol=1e-6):
        return None
    k = next(
        i for i in range(m) if not diagnose.close(losses[i : i + 1], before[i : i + 1], rtol=1e-6)
    )
    text = (
        f"your starting weights match the reference's, but from epoch {k} on the losses "
        f"differ (expected {before[k]:.6g}, got {losses[k]:.6g}): check the update "
        "W <- W - lr * dL/dW for every parameter."
    )
    return Explanation((), text, diagnose.FUNCTION_HINTS["train"])


# --------------------------------------------------------------------------- running


def run_check(
    name: str, fn: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED
) -> CheckResult:
    """Build the cases, observe fn on each, judge: the CheckResult (raises nothing on a wrong
    answer)."""
    truth = truth_for(name, hidden=hidden)
    if hidden:
        case_list = _instructor().hidden_cases(name, seed)
    else:
        case_list = _cases.visible_cases(name)
    observations = observe_cases(fn, case_list)
    case_list = case_list[: len(observations)]  # an untouched stub is called only once
    return judge(name, case_list, observations, hidden=hidden, truth=truth)


def check(name: str, fn: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Run one check: print one line when fn is right, raise CheckFailure when it is not.

    A hidden check where the instructor's package is absent (a student's environment) prints
    that it runs at grading time and returns.
    """
    try:
        result = run_check(name, fn, hidden=hidden, seed=seed)
    except HiddenUnavailable as exc:
        print(exc)
        return
    if not result.passed:
        raise CheckFailure(result)
    print(result.message)


def check_df_dx(df_dx: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check df_dx(x, z) = d/dx of 3 x^2 z + 2 x z^2 (scalars or same-shape arrays)."""
    check("df_dx", df_dx, hidden=hidden, seed=seed)


def check_df_dz(df_dz: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check df_dz(x, z) = d/dz of 3 x^2 z + 2 x z^2 (scalars or same-shape arrays)."""
    check("df_dz", df_dz, hidden=hidden, seed=seed)


def check_numerical_derivative(
    numerical_derivative: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED
) -> None:
    """Check numerical_derivative(g, x, eps) -> float, a central difference, on cubics."""
    check("numerical_derivative", numerical_derivative, hidden=hidden, seed=seed)


def check_numerical_gradient(
    numerical_gradient: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED
) -> None:
    """Check numerical_gradient(fn, W, eps) -> dfn/dW shaped like W, with W unchanged."""
    check("numerical_gradient", numerical_gradient, hidden=hidden, seed=seed)


def check_sigmoid(sigmoid: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check sigmoid(z): elementwise, no overflow warning or nan at z = +-1000."""
    check("sigmoid", sigmoid, hidden=hidden, seed=seed)


def check_sigmoid_prime(
    sigmoid_prime: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED
) -> None:
    """Check sigmoid_prime(z) = sigma(z) (1 - sigma(z))."""
    check("sigmoid_prime", sigmoid_prime, hidden=hidden, seed=seed)


def check_sigmoid_prime_from_output(
    sigmoid_prime_from_output: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED
) -> None:
    """Check sigmoid_prime_from_output(a) = a (1 - a)."""
    check("sigmoid_prime_from_output", sigmoid_prime_from_output, hidden=hidden, seed=seed)


def check_forward(forward: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check forward(X, W1, b1, W2, b2) -> (H: (n, h), Y_hat: (n, o))."""
    check("forward", forward, hidden=hidden, seed=seed)


def check_sse_loss(sse_loss: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check sse_loss(Y_hat, Y) -> float, 1/2 * sum((Y_hat - Y)^2)."""
    check("sse_loss", sse_loss, hidden=hidden, seed=seed)


def check_output_delta(
    output_delta: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED
) -> None:
    """Check output_delta(Y_hat, Y) -> delta2: (n, o)."""
    check("output_delta", output_delta, hidden=hidden, seed=seed)


def check_grad_W2(grad_W2: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check grad_W2(H, delta2) -> (h, o)."""
    check("grad_W2", grad_W2, hidden=hidden, seed=seed)


def check_grad_b2(grad_b2: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check grad_b2(delta2) -> (o,)."""
    check("grad_b2", grad_b2, hidden=hidden, seed=seed)


def check_hidden_delta(
    hidden_delta: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED
) -> None:
    """Check hidden_delta(delta2, W2, H) -> delta1: (n, h)."""
    check("hidden_delta", hidden_delta, hidden=hidden, seed=seed)


def check_grad_W1(grad_W1: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check grad_W1(X, delta1) -> (c, h)."""
    check("grad_W1", grad_W1, hidden=hidden, seed=seed)


def check_grad_b1(grad_b1: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check grad_b1(delta1) -> (h,)."""
    check("grad_b1", grad_b1, hidden=hidden, seed=seed)


def check_backprop(backprop: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check backprop(X, Y, W1, b1, W2, b2) -> {"W1", "b1", "W2", "b2"} gradients."""
    check("backprop", backprop, hidden=hidden, seed=seed)


def check_train(train: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Check train(X, Y, n_hidden, lr, epochs, seed) -> (params, losses) by its behaviour."""
    check("train", train, hidden=hidden, seed=seed)
