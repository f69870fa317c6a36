"""The genuine numpy types, found once at import, for checks that must not trust the student.

A student's notebook can rebind names in the numpy module (`np.allclose = ...`,
`np.ndarray = MyArray`); it cannot change numpy's built-in (C, static) types. The checks
therefore test `type(x) is ndarray` against the type found here and compare arrays only
with the ndarray's own operators and methods (`abs(a - b) <= t`, `.all()`), never with
numpy functions looked up at call time.
"""

from __future__ import annotations

import numpy as _np
import numpy._core._multiarray_umath as _umath

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on classes defined in Python code


def _static_type(*candidates: object, name: str) -> type:
    for cand in candidates:
        if isinstance(cand, type) and cand.__name__ == name and not cand.__flags__ & _HEAPTYPE:
            return cand
    raise ImportError(f"numpy's {name} type has been replaced; restart the kernel")


ndarray: type = _static_type(_umath.ndarray, _np.ndarray, name="ndarray")
float64: type = _static_type(type(ndarray((1,), dtype="f8").sum()), _np.float64, name="float64")
float32: type = _static_type(_np.float32, name="float32")
