"""The checks that the notebooks' test cells call, one per student function.

    from backprop_checks import checks
    checks.check_grad_W2(grad_W2)                # visible: the fixed examples
    checks.check_grad_W2(grad_W2, hidden=True)   # hidden: randomised shapes, at grading time

A check returns None and prints one short line when the function is right; otherwise it
raises `CheckFailure` (an AssertionError) whose message names the misconception with a tag
such as `[M3]` (the table M1-M13 of the course), states expected vs got on which input
shapes, and says where to look. Nothing is ever written to stderr.

Each check is three steps that can run apart (a sandbox may call the student's function in
another process and send the observations back):

    cases = backprop_checks.cases.visible_cases(name)
    obs = [backprop_checks.observe.observe(fn, build_args(c), ...) for c in cases]
    result = judge(name, cases, obs, hidden=False)    # -> CheckResult, raises nothing

The right answers come from a `Truth`: for the visible examples the package's data file
(`VisibleData`, computed by the instructor's package when the handout was built); for
hidden checks the instructor's package (`grader.judge.hidden`), present only where notebooks are
graded. Where it is absent a hidden check prints that it runs at grading time and passes.
This module computes no right answer of any student function.

`judge` compares only exact float64 numpy arrays, with the arrays' own operators, so a
student who rebinds `numpy.allclose` does not change its verdict.
"""

from __future__ import annotations

import os
import sys
import types
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


def _params_of(data: dict) -> Params:
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
        return diagnose.variants_from_data(self._record(case)["variants"].get(component, []))

    def init_params(self, case: _cases.Case, seed: int) -> Params | None:
        found = self._record(case).get("train", {}).get("init", {}).get(str(seed))
        return None if found is None else _params_of(found)

    def descent(
        self, case: _cases.Case, start: Params, lr: float
    ) -> tuple[Params, list[float]] | None:
        for run in self._record(case).get("train", {}).get("runs", []):
            if abs(float(run["lr"]) - lr) > 1e-12 * max(1.0, abs(lr)):
                continue
            if _params_close(start, _params_of(run["start"]), rtol=1e-12):
                return _params_of(run["final"]), [float(x) for x in run["losses"]]
        return None

    def gradients(self, case: _cases.Case, params: Params) -> Params | None:
        for at in self._record(case).get("train", {}).get("gradients", []):
            if _params_close(params, _params_of(at["params"]), rtol=1e-12):
                return _params_of(at["gradients"])
        return None


class HiddenUnavailable(RuntimeError):
    """A hidden check ran where the instructor's package is not installed."""


def _instructor():
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


_GRADER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class CheckFailure(AssertionError):
    """A student's function is wrong; the message says how. `.result` is the CheckResult.

    In IPython (a notebook's test cell) the traceback shows the student's frames (the test
    cell) and the message, without the grader's own frames (`_render_traceback_`).
    """

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result

    def _render_traceback_(self) -> list[str]:
        """IPython's hook for showing this exception: the traceback without grader frames."""
        tb = _without_grader_frames(self.__traceback__)
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                return list(shell.InteractiveTB.structured_traceback(type(self), self, tb, 0))
        except Exception:  # noqa: BLE001 - fall back to the plain format
            pass
        import traceback

        return "".join(traceback.format_exception(type(self), self, tb)).splitlines()


def _without_grader_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback chain without frames of the grader package or of IPython itself."""
    keep = []
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        parts = path.split(os.sep)
        if not path.startswith(_GRADER_DIR) and "IPython" not in parts:
            keep.append(tb)
        tb = tb.tb_next
    out = None
    for t in reversed(keep):
        out = types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


@dataclass
class CheckResult:
    """The verdict of one check.

    name: the student function ("grad_W2"). passed: whether every case was right.
    message: what the student reads (first line: the headline with any [Mk] tags).
    misconceptions: the matched tags, e.g. ["M1"]. hint: one sentence of where to look.
    hidden: which flavour ran. n_cases: how many cases were judged.
    case_id: the case the message is about ("" when passed).
    stdout: what the student's function printed during the check (their own debugging
    prints; `check` shows it in the test cell).
    """

    name: str
    passed: bool
    message: str
    misconceptions: list[str] = field(default_factory=list)
    hint: str = ""
    hidden: bool = False
    n_cases: int = 0
    case_id: str = ""
    stdout: str = ""

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
    if err is not None and want == "float":
        err = _partial_sum(name, case, r) or err
    return ({"result": arr}, []) if err is None else ({}, [err])


def _partial_sum(name: str, case: _cases.Case, r: Returned | None) -> Explanation | None:
    """A loss returned as an array of numbers where one number is due: the sum ran over one
    axis only (sse_loss: shape (o,) summed over the samples, (n,) over the outputs)."""
    if r is None or r.kind != "ndarray" or r.array is None or r.array.ndim == 0:
        return None
    shape = r.array.shape
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
    return Explanation((), text, diagnose.FUNCTION_HINTS.get(name, ""))


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


#: The functions each notebook gives in its locked "provided" cells (not the student's there).
PROVIDED: dict[str, frozenset[str]] = {
    "03_feedforward": frozenset({"sigmoid"}),
    "04_backprop_W2": frozenset(
        {"sigmoid", "forward", "sse_loss", "numerical_gradient", "rel_error"}
    ),
    "05_backprop_W1": frozenset(
        {
            "sigmoid", "forward", "sse_loss", "numerical_gradient", "rel_error",
            "output_delta", "grad_W2", "grad_b2", "init_params",
        }
    ),
}


def _notebook_of(name: str) -> str | None:
    """The assignment whose student function `name` is (None for another name)."""
    return _data.assignment_of(f"test_{name}")


def provided_in(name: str) -> frozenset[str]:
    """The provided functions of the notebook of student function `name`."""
    return PROVIDED.get(_notebook_of(name) or "", frozenset())


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
    notebook = _notebook_of(name)
    if (
        missing not in _cases.SIGNATURES
        or _notebook_of(missing) == notebook
        or missing in provided_in(name)
    ):
        return None
    at = f" ({e.where})" if e.where else ""
    given = sorted(provided_in(name))
    use = f"the notebook's provided functions ({', '.join(given)}) or " if given else ""
    text = (
        f"your function raised NameError: {e.message}{at}. {missing} is a function of "
        f"notebook {_notebook_of(missing)}, not available in this notebook ({notebook}): "
        f"use {use}write what it computes inline."
    )
    return Explanation((), text, f"{missing}: {diagnose.FUNCTION_HINTS.get(missing, '')}")


def _error_explanation(
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


def _inputs(case: _cases.Case) -> dict[str, np.ndarray]:
    """The call's numeric arguments as arrays, for the diagnosis (eps is a setting, not data)."""
    return {
        k: (v if type(v) is _ndarray else np.array(v, dtype=float))
        for k, v in case["args"].items()
        if k != "eps" and isinstance(v, (float, int, _ndarray))
    }


def _judge_case(
    name: str,
    case: _cases.Case,
    obs: Observation,
    expected: dict[str, np.ndarray],
    others: dict[str, list[diagnose.Seen]] | None = None,
    truth: Truth | None = None,
    sound: frozenset[str] = frozenset(),
) -> _Verdict:
    """others: per component, the check's other cases as the naming reads them; truth: where
    the variants come from."""
    inputs = _inputs(case)
    if obs.error is not None:
        return _Verdict(False, [_error_explanation(name, obs, sound)])
    verdict = _Verdict(True)
    low = _low_precision(obs.returned)
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
        if low and arr.shape == exp.shape and diagnose.close(arr, exp, rtol=1e-4):
            verdict.explanations.append(diagnose.explain_precision(name, comp, low))
            verdict.shown.append((comp, exp, arr))
            continue
        variants = truth.variants(case, comp) if truth is not None else []
        expl = diagnose.explain_values(
            name, comp, inputs, case["context"], exp, arr, (others or {}).get(comp, []), variants
        )
        if not expl.tags and name in _NUMERICAL:
            eps = float(case["args"].get("eps", 1e-5))
            expl = diagnose.explain_eps(name, exp, arr, eps) or expl
        verdict.explanations.append(expl)
        verdict.shown.append((comp, exp, arr))
    off_by = None
    if name in _NUMERICAL and "result" in got and verdict.shown:
        exp, arr = expected["result"], got["result"]
        if arr.shape == exp.shape and exp.size:
            off_by = float(abs(arr - exp).max())
    eps = float(case["args"].get("eps", 1e-5))
    for arg, change in obs.mutated.items():
        verdict.ok = False
        expl = diagnose.explain_mutation(name, arg, change, off_by, eps)
        if "M13" in expl.tags:  # W left perturbed is the cause of the values being off
            verdict.explanations = [e for e in verdict.explanations if "M13" not in e.tags]
            verdict.explanations.insert(0, expl)
        else:
            verdict.explanations.append(expl)
    warned = _warned(name, obs, _largest(inputs), low, _span(inputs))
    if warned is not None:
        verdict.ok = False
        verdict.explanations.append(warned)
    if not verdict.ok and not verdict.explanations:  # cannot happen; never pass silently
        verdict.explanations.append(Explanation((), "the answer is wrong.", ""))
    return verdict


def _warned(
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


def _merged_headlines(explanations: list[Explanation]) -> list[str]:
    """One line per explanation, except that explanations with the same tags are one line:
    the tags and titles once, then what each found ("[M12] ...: nan at z = -1000; numpy
    warned ...")."""
    out: list[str] = []
    by_tags: dict[tuple[str, ...], int] = {}
    for e in explanations:
        if e.tags and e.tags in by_tags:
            out[by_tags[e.tags]] = out[by_tags[e.tags]].rstrip(".") + "; " + e.text
            continue
        if e.tags:
            by_tags[e.tags] = len(out)
        out.append(e.headline())
    return out


def _message(name: str, case: _cases.Case, verdict: _Verdict, hidden: bool) -> tuple[str, str]:
    heads = _merged_headlines(verdict.explanations)
    first = f"{name}: {heads[0]}"
    where = "hidden tests, " if hidden and case["kind"] == "hidden" else ""
    lines = [
        first,
        *heads[1:],
        f"  on {where}{case['label']}; inputs: {_cases.input_shapes(case)}.",
    ]
    for comp, exp, got in verdict.shown[:2]:
        label = "" if comp == "result" else f"{comp} "
        shown_exp, shown_got = diagnose.fmt_values(exp), diagnose.fmt_values(got)
        digits = 4
        while shown_exp == shown_got and digits < 17:  # enough digits to see the difference
            digits += 3
            shown_exp = diagnose.fmt_values(exp, digits=digits)
            shown_got = diagnose.fmt_values(got, digits=digits)
        lines.append(f"  expected {label}{shown_exp}")
        lines.append(f"  got      {label}{shown_got}")
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
    sound: frozenset[str] = frozenset(),
) -> CheckResult:
    """Judge observations of a student's function on the given cases; never raises for a
    wrong answer.

    Args:
        name: the student function, e.g. "grad_W2" (see backprop_checks.cases.FUNCTIONS).
        cases: from backprop_checks.cases.visible_cases(name) or the instructor's
            grader.judge.hidden.hidden_cases(name, seed).
        observations: one backprop_checks.observe.Observation per case, in the same order,
            made in this process or another (they pickle: grader.verify reads them back;
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
            if name == "train":
                return _judge_train(
                    cases, observations, hidden=hidden, truth=truth, sound=sound
                )
            expected = [truth.expected(c) for c in cases]
            seen = _seen(name, cases, observations, expected, truth)
            verdicts = []
            for i, (case, obs) in enumerate(zip(cases, observations, strict=True)):
                others = {comp: [s for j, s in rows if j != i] for comp, rows in seen.items()}
                verdicts.append(
                    _judge_case(name, case, obs, expected[i], others, truth, sound)
                )
            return _result(name, cases, verdicts, hidden)


def _seen(
    name: str,
    cases: list[_cases.Case],
    observations: list[Observation],
    expected: list[dict[str, np.ndarray]],
    truth: Truth,
) -> dict[str, list[tuple[int, diagnose.Seen]]]:
    """Per component, every case where the student returned a usable array, for naming a
    mistake from all cases at once."""
    out: dict[str, list[tuple[int, diagnose.Seen]]] = {}
    for i, (case, obs) in enumerate(zip(cases, observations, strict=True)):
        if obs.error is not None:
            continue
        got, _ = extract(name, case, obs.returned)
        for comp, arr in got.items():
            row = diagnose.Seen(
                _inputs(case), case["context"], expected[i][comp], arr, truth.variants(case, comp)
            )
            out.setdefault(comp, []).append((i, row))
    return out


def _result(
    name: str, cases: list[_cases.Case], verdicts: list[_Verdict], hidden: bool
) -> CheckResult:
    n = sum(1 for c in cases if not _cases.is_replay(c))
    failing = [i for i, v in enumerate(verdicts) if not v.ok]
    if not failing:
        if hidden:
            msg = f"{name}: right on all {n} hidden test cases (randomised inputs, many shapes)."
        elif n == 1:
            msg = f"{name}: right on the visible example."
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


def _params_close(a: dict, b: dict, rtol: float = 1e-6) -> bool:
    return all(diagnose.close(a[k], b[k], rtol=rtol, atol=1e-12) for k in PARAM_NAMES)


def _losses_close(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and bool(
        (abs(got - want) <= 1e-6 * abs(want) + 1e-12).all()
    )


def _same_start(start: dict, known: Params | None) -> bool:
    return known is not None and _params_close(start, known, rtol=1e-9)


def _start_explanation(case: _cases.Case, start: dict, truth: Truth) -> Explanation | None:
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
    case: _cases.Case, start: dict, after: dict, truth: Truth
) -> tuple[Explanation | None, float | None]:
    """(None, 1.0) when `after` is one gradient-descent step from `start`; else what the step
    is, and the factor it is of the right step when it is one (else None). (None, None) when
    the gradients at `start` are unknown here."""
    a = case["args"]
    X, Y, lr = a["X"], a["Y"], a["lr"]
    g = truth.gradients(case, start)
    if g is None:
        return None, None
    want = {k: start[k] - lr * g[k] for k in PARAM_NAMES}
    if _params_close(after, want, rtol=1e-6):
        return None, 1.0
    moved = {k: after[k] - start[k] for k in PARAM_NAMES}
    still = [k for k in PARAM_NAMES if not abs(moved[k]).max() > 0]
    if still:
        text = (
            f"one epoch leaves {', '.join(still)} unchanged: the update must change all four "
            "parameters."
        )
        return Explanation((), text, diagnose.FUNCTION_HINTS["train"]), None
    num = sum(float((moved[k] * (-lr * g[k])).sum()) for k in PARAM_NAMES)
    den = sum(float(((lr * g[k]) ** 2).sum()) for k in PARAM_NAMES)
    factor = num / den if den > 0 else 0.0
    exact = all(
        diagnose.close(moved[k], -factor * lr * g[k], rtol=1e-5, atol=1e-12)
        for k in PARAM_NAMES
    )
    n, o = X.shape[0], Y.shape[1]
    if exact:
        named = diagnose.step_factor(factor, n, o)
        if named is not None:
            tags, what = named
            text = f"one epoch's step is {what} the gradient-descent step -lr * dL/dW."
            return diagnose.explanation(tags, text, "train"), factor
    text = (
        f"one epoch does not move the parameters by -lr * dL/dW ({_worst_param(after, want)})."
    )
    return Explanation((), text, diagnose.FUNCTION_HINTS["train"]), None


def _worst_param(got: dict, want: dict) -> str:
    """"largest difference in W1 at index (0, 1): expected ..., got ..."."""
    k = max(PARAM_NAMES, key=lambda k: float(abs(got[k] - want[k]).max()))
    where = diagnose.largest_difference(want[k], got[k]).removeprefix("largest difference")
    return f"largest difference in {k}{where}"


def _record_explanation(
    case: _cases.Case, losses: np.ndarray, own: list[float]
) -> tuple[Explanation | None, np.ndarray]:
    """None when every losses[t] is the loss of the parameters at the start of epoch t of
    the trajectory `own` (epochs + 1 losses); else what the recorded losses are."""
    m = len(losses)
    before, after = np.array(own[:m]), np.array(own[1 : m + 1])
    if _losses_close(losses, before):
        return None, before
    hint = diagnose.FUNCTION_HINTS["train"]
    if _losses_close(losses, after):
        text = (
            "losses[t] is the loss after the update of epoch t; it must be the loss before it "
            f"(losses[0] = {before[0]:.6g}, the loss of the starting weights)."
        )
        return Explanation((), text, hint), before
    n, o = case["args"]["X"].shape[0], case["args"]["Y"].shape[1]
    for ref in (before, after):
        for factor, tags, what in diagnose.loss_factors(n, o):
            if _losses_close(losses, factor * ref):
                text = f"your recorded losses are {what} the loss of the parameters."
                return diagnose.explanation(tags, text, "train"), before
    k = next(i for i in range(m) if not _losses_close(losses[i : i + 1], before[i : i + 1]))
    text = (
        f"losses[{k}] = {losses[k]:.6g} is not the loss of the parameters at the start of "
        f"epoch {k} ({before[k]:.6g}): record sse_loss of the current parameters, every epoch."
    )
    return Explanation((), text, hint), before


def _judge_train(
    cases: list[_cases.Case],
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
    name what differs: the start, the step, or what was recorded."""
    name = "train"
    by_id = {c["id"]: (c, o) for c, o in zip(cases, observations, strict=True)}
    verdicts: list[_Verdict] = []
    for case, obs in zip(cases, observations, strict=True):
        v = _Verdict(True)
        verdicts.append(v)
        if _cases.is_replay(case):
            continue  # read together with the case it replays
        if obs.error is not None:
            v.ok = False
            start_shapes = _start_shapes(case, by_id)
            if start_shapes is not None:
                v.explanations.append(start_shapes)
            v.explanations.append(_error_explanation(name, obs, sound))
            continue
        params, losses, err = _train_returned(case, obs.returned)
        for arg, change in obs.mutated.items():
            v.ok = False
            v.explanations.append(diagnose.explain_mutation(name, arg, change))
        warned = _warned(name, obs)
        if warned is not None:
            v.ok = False
            v.explanations.append(warned)
        if err is not None:
            v.ok = False
            v.explanations.insert(0, err)
            continue
        a = case["args"]
        contract = truth.init_params(case, a["seed"])
        run = truth.descent(case, contract, a["lr"]) if contract is not None else None
        if run is None:  # cannot happen with either Truth; never pass silently
            v.ok = False
            v.explanations.append(Explanation((), "no expected run for this case.", ""))
            continue
        final, own = run
        if _losses_close(losses, np.array(own[:-1])) and _params_close(params, final, 1e-5):
            continue
        v.ok = False
        # What differs: the start, the step, or the recording (read from the replays).
        start = _replayed(case, 0, by_id)
        after = _replayed(case, 1, by_id)
        found: list[Explanation] = []
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
        if own is None:  # a run this package does not hold: named at grading time
            found.append(Explanation(
                (),
                "your run differs from the expected one, and from other starting weights than "
                "the course's its losses cannot be checked here (the hidden tests name it).",
                diagnose.FUNCTION_HINTS[name],
            ))
        else:
            recorded, shown = _record_explanation(case, losses, own)
            if recorded is not None:
                found.append(recorded)
                v.shown.append(("losses", shown, losses))
        if not found:
            if losses[-1] > losses[0]:
                found.append(diagnose.explanation(
                    ("M3",),
                    f"the loss went up, from {losses[0]:.4g} to {losses[-1]:.4g}: the update "
                    "climbs the loss (W <- W + lr * dL/dW?).",
                    "train",
                ))
            else:
                found.append(Explanation(
                    (),
                    "the losses are the losses of your parameters, but the returned parameters "
                    f"are not those after {a['epochs']} epochs "
                    f"({_worst_param(params, final)}).",
                    diagnose.FUNCTION_HINTS[name],
                ))
        v.explanations[:0] = found
    return _result(name, cases, verdicts, hidden)


def _start_shapes(case: _cases.Case, by_id: dict) -> Explanation | None:
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


def _replayed(case: _cases.Case, epochs: int, by_id: dict) -> dict | None:
    """The params a replay case of `case` returned (0 or 1 epochs), or None."""
    found = by_id.get(f"{case['id']}-epochs{epochs}")
    if found is None or found[1].error is not None:
        return None
    params, _, err = _train_returned(found[0], found[1].returned)
    return None if err is not None else params


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
    result = judge(name, case_list, observations, hidden=hidden, truth=truth)
    result = _with_helpers(name, fn, case_list, observations, result, truth)
    result.stdout = _printed(observations)
    return result


def _code_names(code: types.CodeType) -> set[str]:
    """The global names a code object (and the functions, lambdas, comprehensions nested in
    it) refers to."""
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= _code_names(const)
    return out


def own_helpers(name: str, fn: Any) -> dict[str, tuple[Any, str]]:
    """The student's other functions of the same notebook that fn calls, directly or through
    one another, in teaching order: {helper: (the function, the student function it is
    called through, "" when fn calls it itself)}. Found from the names fn's code uses,
    resolved in its globals (the notebook's namespace); provided functions are not the
    student's and are left out."""
    notebook = _notebook_of(name)
    if notebook is None:
        return {}
    found: dict[str, tuple[Any, str]] = {}
    todo: list[tuple[Any, str]] = [(fn, "")]
    while todo:
        f, via = todo.pop(0)
        code = getattr(f, "__code__", None)
        glb = getattr(f, "__globals__", None)
        if not isinstance(code, types.CodeType) or not isinstance(glb, dict):
            continue
        for ref in sorted(_code_names(code)):
            g = glb.get(ref)
            if ref == name or ref in found or not callable(g) or _notebook_of(ref) != notebook:
                continue
            found[ref] = (g, via)
            todo.append((g, via or ref))
    return {k: found[k] for k in _cases.FUNCTIONS if k in found}


def _with_helpers(
    name: str,
    fn: Any,
    case_list: list[_cases.Case],
    observations: list[Observation],
    result: CheckResult,
    truth: Truth,
) -> CheckResult:
    """A failing verdict of a function that calls the student's other functions of the
    notebook, re-read in their light: when one fails its own visible check, that helper is
    named (fix it first); when they all pass, an exception raised inside one of them is
    blamed on the call that gave it its arguments."""
    if result.passed:
        return result
    helpers = own_helpers(name, fn)
    for helper, (helper_fn, via) in helpers.items():
        own = _helper_result(helper, helper_fn)
        if not own.passed:
            return _blame_helper(name, case_list, result, helper, via, own)
    if not helpers:
        return result
    sound = frozenset(helpers)
    return judge(
        name, case_list, observations, hidden=result.hidden, truth=truth, sound=sound
    )


def _helper_result(helper: str, fn: Any) -> CheckResult:
    """A helper's own visible check, run silently (its prints stay captured)."""
    truth = truth_for(helper, hidden=False)
    cases = _cases.visible_cases(helper)
    observations = observe_cases(fn, cases)
    cases = cases[: len(observations)]
    result = judge(helper, cases, observations, hidden=False, truth=truth)
    return _with_helpers(helper, fn, cases, observations, result, truth)


def _blame_helper(
    name: str,
    cases: list[_cases.Case],
    result: CheckResult,
    helper: str,
    via: str,
    own: CheckResult,
) -> CheckResult:
    """The composite function's verdict when a helper it calls fails its own check: the
    helper is named with what its check says; the function itself gets no tag."""
    said = own.message.splitlines()[0].removeprefix(f"{helper}: ").rstrip(".")
    through = f" (through your {via})" if via else ""
    text = (
        f"your {name} calls your {helper}{through}, which fails its own check ({said}): "
        f"fix {helper} first, then run this cell again."
    )
    hint = (
        f"{name} is graded with your own {helper}, as it runs in your notebook: once {helper} "
        "passes its check, check this one again."
    )
    case = next((c for c in cases if c["id"] == result.case_id), cases[0])
    verdict = _Verdict(False, [Explanation((), text, hint)])
    message, hint = _message(name, case, verdict, result.hidden)
    return CheckResult(
        name, False, message, [], hint, result.hidden, result.n_cases, case["id"]
    )


#: Most characters of a student's own prints shown by one check.
PRINT_LIMIT = 10_000


def _printed(observations: list[Observation]) -> str:
    """What the student's function printed to stdout over all calls, capped at PRINT_LIMIT
    (stderr stays captured: nbgrader scores any stderr output as a failure)."""
    text = "".join(o.stdout for o in observations)
    if len(text) > PRINT_LIMIT:
        cut = len(text) - PRINT_LIMIT
        text = text[:PRINT_LIMIT] + f"\n... ({cut} more characters printed by your function)\n"
    return text


def check(name: str, fn: Any, *, hidden: bool = False, seed: int = _cases.DEFAULT_SEED) -> None:
    """Run one check: print one line when fn is right, raise CheckFailure when it is not.

    What fn itself prints (its debugging prints) is shown first, on stdout. A hidden check
    where the instructor's package is absent (a student's environment) prints that it runs at
    grading time and returns.
    """
    __tracebackhide__ = True  # noqa: F841 - IPython and pytest hide this frame
    try:
        result = run_check(name, fn, hidden=hidden, seed=seed)
    except HiddenUnavailable as exc:
        print(exc)
        return
    if result.stdout:
        sys.stdout.write(result.stdout if result.stdout.endswith("\n") else result.stdout + "\n")
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
