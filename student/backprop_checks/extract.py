"""What a student's function returned, read as float64 arrays: one per component of its
answer (its record's `result` and `components`), or explanations of why there are none."""

from __future__ import annotations

import numpy as np

from backprop_checks import _trusted, diagnose
from backprop_checks import cases as _cases
from backprop_checks import functions as _functions
from backprop_checks.diagnose import Explanation
from backprop_checks.observe import Returned

_ndarray = _trusted.ndarray
_float64 = _trusted.float64


def array_of(r: Returned | None) -> np.ndarray | None:
    """The returned value's float64 data, only if it is a genuine float64 ndarray."""
    if r is None or type(r.array) is not _ndarray or r.array.dtype != _float64:
        return None
    return r.array


def _want(name: str, case: _cases.Case) -> str:
    """"float", "scalar" (an elementwise function called with a number: a float or a 0-d
    array) or "array": what one returned value must be."""
    result = _functions.get(name).result
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
        return None, diagnose.explain_type(name, component, "none", "None", "array")
    ok_kinds = {"array": ("ndarray",), "float": ("float",), "scalar": ("ndarray", "float")}[want]
    arr = array_of(r)
    if r.kind in ok_kinds and arr is None:
        label = "" if component == "result" else f"{component}: "
        text = (
            f"{label}the returned {r.type_name} holds no numbers ({r.note or 'dtype ' + r.dtype})."
        )
        return None, Explanation((), text, _functions.hint(name))
    if r.kind not in ok_kinds or arr is None:
        shown_want = want if want != "scalar" or r.kind in ("list", "tuple") else "array"
        extra = f" ({r.note})" if r.note else ""
        expl = diagnose.explain_type(
            name, component, r.kind, r.type_name + extra, shown_want, shape
        )
        return None, expl
    return arr, None


def extract(
    name: str,
    case: _cases.Case,
    r: Returned | None,
    shapes: dict[str, tuple[int, ...]] | None = None,
) -> tuple[dict[str, np.ndarray], list[Explanation]]:
    """The returned value's components as float64 arrays, or explanations of why it has none;
    shapes: the right answer's shape per component, when known (for the messages)."""
    shapes = shapes or {}
    spec = _functions.get(name)
    want = _want(name, case)
    if spec.result == "pair":
        parts = len(spec.components)
        if r is None or r.kind not in ("tuple", "list") or len(r.items or []) != parts:
            kind, tname = (r.kind, r.type_name) if r else ("none", "None")
            if r is not None and r.items is not None:
                tname = f"{tname} of length {len(r.items)}"
            return {}, [diagnose.explain_type(name, "result", kind, tname, "tuple")]
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
            return {}, [diagnose.explain_type(name, "result", kind, tname, "dict")]
        items = dict(zip(r.keys or [], r.items or [], strict=True))
        missing = [k for k in spec.components if k not in items]
        if missing:
            text = f"the dict has keys {list(items)}; missing {missing}."
            return {}, [Explanation((), text, _functions.hint(name))]
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


def _partial_sum(name: str, case: _cases.Case, r: Returned | None) -> Explanation | None:
    """An array of numbers where one number is due. For a loss (its record's `from_loss`)
    the sum ran over one axis only (sse_loss: shape (o,) summed over the samples, (n,) over
    the outputs); for another function (numerical_derivative) the number was wrapped in an
    array (np.array([...]))."""
    if r is None or r.kind != "ndarray" or r.array is None or r.array.ndim == 0:
        return None
    shape = r.array.shape
    spec = _functions.get(name)
    if not spec.from_loss:
        what = "the slope is one number" if spec.numerical else "the answer is one number"
        quotient = " of the difference quotient" if spec.numerical else ""
        text = (
            f"expected a float, got a numpy.ndarray of shape {shape}: {what}; return "
            f"float(...){quotient}, not an array holding it (no np.array([...]) around it)."
        )
        return Explanation((), text, _functions.hint(name))
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
    return Explanation((), text, _functions.hint(name))
