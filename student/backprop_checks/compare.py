"""Array comparisons and how arrays are shown in a message (plain arithmetic only).

Every function here takes exact float64 numpy arrays (`backprop_checks._trusted.ndarray`)
and uses only the arrays' own operators and methods, so a student who rebinds a numpy
function changes nothing here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop_checks import _trusted

_ndarray = _trusted.ndarray


def close(got: np.ndarray, expected: np.ndarray, *, rtol: float = 1e-6, atol: float = 0.0) -> bool:
    """Whether two float arrays have one shape and agree entrywise (plain arithmetic only).

    |got - expected| <= atol + rtol * (|expected| + max|expected| * 1e-3 + 1e-12) everywhere;
    nan or inf anywhere in got never agrees.
    """
    if type(got) is not _ndarray or type(expected) is not _ndarray:
        return False
    if got.shape != expected.shape:
        return False
    if got.size == 0:
        return True
    scale = abs(expected).max()
    limit = abs(expected) * rtol + (scale * 1e-3 + 1e-12) * rtol + atol
    ok = abs(got - expected) <= limit
    return bool(ok.all())


def fmt_values(a: np.ndarray | None, limit: int = 6, digits: int = 4) -> str:
    """A few entries of an array for a message: "[0.1235, -2.5, ...] (shape (5, 2))", each
    with `digits` significant digits (a 0-d array: digits + 2)."""
    if a is None:
        return "nothing usable"
    if type(a) is not _ndarray:
        return repr(a)[:80]
    flat = a.reshape(-1)
    vals = ", ".join(f"{float(v):.{digits}g}" for v in flat[:limit])
    more = ", ..." if flat.size > limit else ""
    if a.ndim == 0:
        return f"{float(a):.{digits + 2}g}"
    return f"[{vals}{more}] (shape {a.shape})"


def largest_difference(expected: np.ndarray, got: np.ndarray) -> str:
    """Where two same-shape arrays differ most: "at index (2, 1): expected 0.25, got 0.5"."""
    if expected.size == 0:
        return ""
    diff = _ndarray(expected.shape, dtype=float)
    diff[...] = abs(got - expected)
    diff[diff != diff] = float("inf")
    flat = int(diff.reshape(-1).argmax())
    ix = np.unravel_index(flat, expected.shape) if expected.ndim else ()
    ix_text = f" at index {tuple(int(i) for i in ix)}" if expected.ndim else ""
    e, g = float(expected[ix]), float(got[ix])
    return f"largest difference{ix_text}: expected {e:.10g}, got {g:.10g}"



def sizes(inputs: dict[str, Any], context: dict[str, Any]) -> tuple[int | None, int | None]:
    """(n, o) of a network case, or (None, None)."""
    for key in ("X", "Y_hat", "delta2", "H", "delta1"):
        src = context[key] if key in context else inputs.get(key)
        if type(src) is _ndarray and src.ndim == 2:
            n = src.shape[0]
            Y = context.get("Y", inputs.get("Y", inputs.get("delta2")))
            o = Y.shape[1] if type(Y) is _ndarray and Y.ndim == 2 else None
            return n, o
    return None, None


def inputs_of(case: dict[str, Any]) -> dict[str, np.ndarray]:
    """The call's numeric arguments as arrays, for the diagnosis (eps is a setting, not data)."""
    return {
        k: (v if type(v) is _ndarray else np.array(v, dtype=float))
        for k, v in case["args"].items()
        if k != "eps" and isinstance(v, (float, int, _ndarray))
    }
