"""Call a student's function once and record what happened, as plain picklable data.

`observe(fn, args)` runs the call on private copies of the arguments, with warnings
recorded (never shown), numpy's floating-point errors turned into warnings, and the
function's own prints captured, so nothing reaches stderr. The `Observation` it returns
holds only built-in types and exact float64 `numpy.ndarray`s: it can be judged in this
process or pickled and judged in another (see `backprop_checks.checks.judge`). No reference import.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import sysconfig
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop_checks import _trusted

# The genuine types, taken once at import (a later `np.ndarray = ...` changes nothing here).
_ndarray = _trusted.ndarray
_float64 = _trusted.float64
_float32 = _trusted.float32
_errstate = np.errstate
_np_array = np.array
_np_integer = np.integer
_np_bool = np.bool_
_TEXT_LIMIT = 2000
_ITEM_LIMIT = 100_000


@dataclass
class Returned:
    """A returned value as plain data.

    kind: "ndarray" (an exact numpy.ndarray), "float" (float, numpy.float64 or float32),
    "int", "bool", "none", "tuple", "list", "dict" or "other" (anything else, e.g. an ndarray
    subclass or a custom object).
    type_name: the value's type for messages, e.g. "numpy.ndarray", "list".
    array: a float64 copy of the value when it converts (ndarray, numbers, lists of numbers,
    ndarray subclasses), else None. dtype: the original dtype for ndarrays.
    items / keys: the elements of a tuple, list or dict (keys as strings, in order).
    """

    kind: str
    type_name: str
    array: np.ndarray | None = None
    dtype: str = ""
    items: list[Returned] | None = None
    keys: list[str] | None = None
    note: str = ""


@dataclass
class ErrorInfo:
    """An exception the student's function raised: its type, message and where it was raised."""

    type_name: str
    message: str
    where: str = ""  # "line 3, in grad_W2: return H.T @ dleta2"
    traceback: str = ""
    helper: str = ""  # the student's other function it was raised in ("sigmoid"), if any
    #: the calls of the student's functions that were running, outermost (the called
    #: function) first: [function name, its arguments as "X (5, 3), seed=3"]
    chain: list[list[str]] = field(default_factory=list)


@dataclass
class Observation:
    """What one call of a student's function did.

    returned: the return value (None when the call raised). error: the exception, if any.
    mutated: argument name -> largest absolute change of its entries (inf when its shape or
    type changed or it became nan). warnings: (category, message) pairs raised during the call.
    stdout / stderr: what the function printed (truncated). seconds: wall time of the call.
    """

    name: str
    case_id: str
    returned: Returned | None = None
    error: ErrorInfo | None = None
    mutated: dict[str, float] = field(default_factory=dict)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    #: per warning, the student's other function it was raised in ("" when raised in the
    #: called function itself or outside the student's code)
    warned_in: list[str] = field(default_factory=list)
    #: the arrays the function reads from its globals (the notebook's namespace) instead of
    #: taking them as arguments: [name, its shape as "(2, 4)"]; and its own parameters' names
    globals_read: list[list[str]] = field(default_factory=list)
    params: list[str] = field(default_factory=list)


def _type_name(value: Any) -> str:
    t = type(value)
    module = getattr(t, "__module__", "") or ""
    name = getattr(t, "__qualname__", t.__name__)
    return name if module == "builtins" else f"{module}.{name}"


def _to_float_array(value: Any) -> tuple[np.ndarray | None, str]:
    try:
        if type(value) is _ndarray:
            arr = value.astype(_float64, copy=True)
        else:
            arr = _np_array(value, dtype=_float64, copy=True)
        if type(arr) is not _ndarray:
            return None, "not convertible to a float array"
        return arr, ""
    except Exception as exc:  # noqa: BLE001 - any failure is data here
        return None, f"not convertible to numbers ({type(exc).__name__}: {exc})"


def describe(value: Any, depth: int = 0) -> Returned:
    """Convert a returned value into a `Returned` (see its docstring); never raises."""
    t = type(value)
    name = _type_name(value)
    if t is _ndarray:
        arr, note = _to_float_array(value)
        return Returned("ndarray", "numpy.ndarray", arr, str(value.dtype), note=note)
    if t is float or t is _float64 or t is _float32:
        arr = _ndarray((), dtype=_float64)
        arr[()] = float(value)
        return Returned("float", name, arr)
    if t is bool or t is _np_bool:
        return Returned("bool", name, None)
    if t is int or isinstance(value, _np_integer):
        return Returned("int", name, _to_float_array(int(value))[0])
    if value is None:
        return Returned("none", "None")
    if depth < 3 and t in (tuple, list):
        items = [describe(v, depth + 1) for v in list(value)[:_ITEM_LIMIT]]
        arr, note = _to_float_array(value) if len(value) <= _ITEM_LIMIT else (None, "too long")
        return Returned("tuple" if t is tuple else "list", name, arr, items=items, note=note)
    if depth < 3 and t is dict:
        keys = [k if type(k) is str else repr(k) for k in value]
        items = [describe(v, depth + 1) for v in value.values()]
        return Returned("dict", name, None, items=items, keys=keys)
    arr, note = _to_float_array(value)
    return Returned("other", name, arr, note=note)


def _copy_arg(value: Any) -> Any:
    if type(value) is _ndarray:
        return value.copy()
    return value


#: A change of an entry within this many units of float64 rounding (relative to the entry and
#: to the array's largest entry) is rounding, not a mutation: `W[ix] += eps; W[ix] -= 2 * eps;
#: W[ix] += eps` puts W back up to a few ulps.
ROUNDING_ULPS = 8.0
_MACHINE_EPS = float(np.finfo(np.float64).eps)


def _change(before: Any, after: Any) -> float:
    """Largest absolute change between two versions of an argument (0.0 when unchanged or
    changed at rounding level only, see ROUNDING_ULPS)."""
    if type(before) is _ndarray:
        if type(after) is not _ndarray or after.shape != before.shape:
            return float("inf")
        if before.size == 0:
            return 0.0
        b = before.astype(_float64)
        a = after.astype(_float64)
        same_nan = (a != a) & (b != b)
        diff = abs(a - b)
        diff[same_nan] = 0.0
        if (diff != diff).any():
            return float("inf")
        scale = abs(b)
        finite = scale[(scale != float("inf")) & (scale == scale)]
        largest = float(finite.max()) if finite.size else 0.0
        unit = ROUNDING_ULPS * _MACHINE_EPS  # scaled first: 1e308 + 1e308 would overflow
        limit = unit * scale + unit * largest
        if (diff <= limit).all():
            return 0.0
        return float(diff.max())
    return 0.0


_GRADER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = tuple(
    sorted(
        {
            os.path.abspath(p) + os.sep
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
            if (p := sysconfig.get_paths().get(key))
        }
    )
)


def _is_student_file(filename: str) -> bool:
    """Whether code in this file is the student's: not the grader's, not a library's."""
    path = os.path.abspath(filename)
    return not path.startswith(_GRADER_DIR) and not path.startswith(_LIBRARY_DIRS)


def _helper_of(frames: list[tuple[Any, str, str]]) -> str:
    """The student's other function among frames (outermost first, each (code identity,
    filename, function name); frames[0] is the called function): the innermost student
    function that is not the called one, or "". Comprehensions and lambdas count as the
    function they are written in."""
    if not frames:
        return ""
    called = frames[0][0]
    for code, filename, fname in reversed(frames):
        if not _is_student_file(filename) or fname.startswith("<"):
            continue
        return "" if code is called else fname
    return ""


def _describe_arg(value: Any) -> str:
    """One argument for a message: its shape for an array, its value for a number."""
    if type(value) is _ndarray:
        return str(tuple(int(s) for s in value.shape))
    if type(value) in (int, float, bool) or isinstance(value, _np_integer):
        return "=" + repr(value)[:20]
    return ": a " + _type_name(value)


def _call_of(frame: Any) -> str:
    """The arguments a frame's function was called with, as far as its locals still hold
    them: "X (5, 3), W1 (3, 4), seed=3"."""
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    local = frame.f_locals
    parts = []
    for arg in names:
        if arg in local:
            text = _describe_arg(local[arg])
            parts.append(f"{arg}{text}" if text[0] in "=:" else f"{arg} {text}")
    return ", ".join(parts)[:300]


def _chain_of(tb: Any) -> list[list[str]]:
    """The student's function calls in a traceback, from the called function inwards:
    [[name, its arguments], ...] (comprehensions and lambdas left out)."""
    out = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if _is_student_file(code.co_filename) and not code.co_name.startswith("<"):
            out.append([code.co_name, _call_of(tb.tb_frame)])
        tb = tb.tb_next
    return out[:20]


def _where(tb: traceback.StackSummary) -> str:
    """The innermost frame outside the grader package: where the student's code failed."""
    frames = [f for f in tb if not os.path.abspath(f.filename).startswith(_GRADER_DIR)]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or "").strip()
    return f"line {f.lineno}, in {f.name}" + (f": {line}" if line else "")


def _code_names(code: Any) -> set[str]:
    """The global (and attribute) names a code object and the code nested in it refer to."""
    out = set(code.co_names)
    for const in code.co_consts:
        if type(const) is type(code):
            out |= _code_names(const)
    return out


def _globals_read(fn: Any) -> tuple[list[list[str]], list[str]]:
    """([name, shape] of every numpy array fn's code reads from its globals, fn's parameter
    names): a notebook function that reads the notebook's X where its argument is due."""
    if type(fn) is not type(_globals_read):  # a plain function: its attributes run no code
        return [], []
    code, glb = fn.__code__, fn.__globals__
    if type(glb) is not dict:
        return [], []
    params = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    found = []
    for ref in sorted(_code_names(code)):
        value = glb.get(ref)
        if type(value) is _ndarray:
            found.append([ref, str(tuple(int(s) for s in value.shape))])
    return found, params


def observe(
    fn: Any,
    args: list[Any],
    *,
    name: str = "",
    case_id: str = "",
    arg_names: list[str] | tuple[str, ...] | None = None,
) -> Observation:
    """Call fn(*args) on private copies of args and record what happened.

    Args:
        fn: the student's function (anything; a non-callable is recorded as a TypeError).
        args: the positional arguments, e.g. `backprop_checks.catalog.build_args(case)`; not
            modified.
        name, case_id: copied into the observation (which function, which case).
        arg_names: the arguments' names, used as the keys of `mutated` (default "0", "1", ...).

    Returns:
        an Observation holding plain data only (picklable); nothing is printed to stderr.
    """
    keys = list(arg_names) if arg_names else [str(i) for i in range(len(args))]
    pristine = [_copy_arg(a) for a in args]
    private = [_copy_arg(a) for a in args]
    obs = Observation(name=name, case_id=case_id)
    try:
        obs.globals_read, obs.params = _globals_read(fn)
    except Exception:  # noqa: BLE001 - a strange object: nothing to report
        pass
    out, err = io.StringIO(), io.StringIO()
    caught: list[tuple[str, str, str]] = []
    here = sys._getframe()

    def record(message, category, filename, lineno, file=None, line=None) -> None:
        # Which function raised it: walk out from the warning to this call of `observe`.
        frames = []
        frame = sys._getframe(1)
        while frame is not None and frame is not here:
            code = frame.f_code
            frames.append((code, code.co_filename, code.co_name))
            frame = frame.f_back
        frames.reverse()
        if len(caught) < 20:
            caught.append((category.__name__, str(message)[:300], _helper_of(frames)))

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        with _errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    value = fn(*private)
                except Exception as exc:  # noqa: BLE001 - the student's exception is data
                    tb = traceback.extract_tb(exc.__traceback__)
                    inner = []
                    t = exc.__traceback__.tb_next if exc.__traceback__ else None
                    while t is not None:  # from the called function inwards
                        code = t.tb_frame.f_code
                        inner.append((code, code.co_filename, code.co_name))
                        t = t.tb_next
                    obs.error = ErrorInfo(
                        type_name=type(exc).__name__,
                        message=str(exc)[:_TEXT_LIMIT],
                        where=_where(tb),
                        traceback="".join(traceback.format_list(tb[-4:]))[:_TEXT_LIMIT],
                        helper=_helper_of(inner),
                        chain=_chain_of(exc.__traceback__.tb_next if exc.__traceback__ else None),
                    )
                else:
                    obs.returned = describe(value)
        obs.seconds = time.perf_counter() - start
        for key, before, after in zip(keys, pristine, private, strict=True):
            change = _change(before, after)
            if change > 0.0:
                obs.mutated[key] = change
    obs.warnings = [(c, m) for c, m, _ in caught]
    obs.warned_in = [h for _, _, h in caught]
    obs.stdout = out.getvalue()[:_TEXT_LIMIT]
    obs.stderr = err.getvalue()[:_TEXT_LIMIT]
    return obs


def observe_cases(fn: Any, case_list: list[dict[str, Any]]) -> list[Observation]:
    """Observe fn on every case of `backprop_checks.catalog` (stops after an untouched stub's first
    NotImplementedError: calling it again tells nothing new).

    Returns:
        one Observation per case called, in order (fewer than the cases after a stub).
    """
    from backprop_checks.catalog import build_args

    out = []
    for case in case_list:
        obs = observe(
            fn,
            build_args(case),
            name=case["name"],
            case_id=case["id"],
            arg_names=list(case["args"]),
        )
        out.append(obs)
        if obs.error is not None and obs.error.type_name == "NotImplementedError":
            break
    return out
