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
    spec = _functions.find(name)
    if want == "scalar":
        returns = f": {name} returns {spec.returns}" if spec else ""
        return Explanation((), (
            f"{label}expected a number (a float) for numbers, got a {type_name}{returns}."
        ), (
            "return the formula's value as it is, with no list or loop around it: numpy's "
            "operators give a number for numbers and an array for arrays."
        ))  # fmt: skip
    advice = {
        "array": "return a numpy array (np.ndarray), e.g. built with numpy operations or "
        "np.array(...)",
        "float": "return a Python float, e.g. float(total)",
        "tuple": "return a tuple, e.g. return H, Y_hat",
        "dict": 'return a dict with the keys "W1", "b1", "W2", "b2"',
        "list": "return a list with one float per epoch",
    }[want]
    bias = diagnose.bias_size(name, component)
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
    return Explanation((), text, _functions.hint(name))


def _list_hint(name: str, component: str, kind: str, shape: tuple[int, ...] | None) -> str:
    """Where to look when a list (or tuple) comes back where an array of `shape` is due: a
    function that fills its answer in a loop (its record's `nudges`: numerical_gradient) is
    told to fill an array of that shape; a formula is told it needs no loop."""
    spec = _functions.find(name)
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
        return None, explain_type(name, component, "none", "None", "array")
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
        expl = explain_type(
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
