"""What a kernel zygote (grader.sandbox.zygote) does once, before its first fork.

It imports what every grading kernel imports (IPython, ipykernel with its debugger, numpy,
matplotlib with the non-drawing backend of grader.sandbox.nofigures, the student package,
and `KERNEL_MODULES`, which a kernel would otherwise import after its fork), lays out one
figure so matplotlib's text machinery is ready (`warm_matplotlib`) and fills the hidden
checks' tables of right answers (`TABLES`), so each forked kernel starts with them in
memory: from the table `backprop-grader autograde` computed once for the run on the host
(grader.sandbox.hidden_table), or, without a valid one, by computing them itself
(`precompute_hidden`). Last, it collects the garbage all this left, so no child collects
it again. A verification zygote does not import this module (its sandbox has only the
verification runner's import closure): it imports its runner module and runs the runner's
own `warm_up`.
"""

from __future__ import annotations

import gc
import importlib
import os
import warnings
from collections.abc import Callable
from typing import Any

#: Set in a grading worker (`backprop-grader autograde`): the student functions (comma
#: separated) of the assignments it grades, the only ones whose hidden answers its kernel
#: zygote computes before its first fork. Unset: every function of the course.
PRECOMPUTE_ENV = "BACKPROP_GRADER_PRECOMPUTE"

#: What a grading kernel imported after its fork when the zygote had not (ipykernel's and
#: IPython's start: the debugger, the in-memory history's sqlite3, the inspector, the
#: completer, storemagic; `%matplotlib`'s magics; the figure cells: the student package's
#: figures and matplotlib's contour library), measured on a graded notebook of each
#: assignment (docs/performance.md, "The student's kernel"): 25-30 ms of every kernel's CPU,
#: paid once here. Library modules only: importing them runs no student code.
KERNEL_MODULES = (
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.magic_arguments",
    "IPython.core.magics.pylab",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "backprop_checks.figures",
    "contourpy",
    "faulthandler",
    "sqlite3",
    "tornado.platform.asyncio",
)


def functions_to_precompute() -> list[str] | None:
    """The functions named by `PRECOMPUTE_ENV` in this process (None when it is unset)."""
    value = os.environ.get(PRECOMPUTE_ENV)
    if value is None:
        return None
    return [name for name in value.split(",") if name]


def preload(
    functions: list[str] | None = None, table: Callable[[], bytes] | None = None
) -> dict[str, Any]:
    """Import what every grading kernel imports (the expensive part of a kernel start) and
    fill the hidden checks' answers for `functions` (None: every function) once: from the
    table the grader computed on the host (`table()`, its bytes: grader.sandbox.hidden_table)
    when it is valid, else by computing them here (`precompute_hidden`).

    Returns what happened to the hidden answers (the zygote reports it): "source" ("table",
    "computed" or "none": no instructor package), "answers" (how many are in memory),
    "computed" (how many were computed here) and "reason" (why the table was not used).
    """
    import matplotlib
    import numpy  # noqa: F401

    from grader.sandbox.nofigures import BACKEND

    matplotlib.use(BACKEND)
    import backprop_checks.checks  # noqa: F401
    import backprop_checks.mistakes  # noqa: F401
    import ipykernel.debugger  # noqa: F401  (0.4 s of every cold kernel's start)
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import IPython.core.interactiveshell  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import numpy.linalg  # noqa: F401

    for name in KERNEL_MODULES:
        importlib.import_module(name)
    try:
        with warnings.catch_warnings():  # none is expected; none may count as seen in a child
            warnings.simplefilter("ignore")
            warm_matplotlib()
    except Exception:  # noqa: BLE001 - a warm-up that fails leaves the caches cold, no more
        pass
    data = table() if table is not None else b""
    status: dict[str, Any] = {"source": "computed", "reason": "no table"}
    try:
        if data:
            from grader.sandbox.hidden_table import install

            status["reason"] = install(data, functions)
            if not status["reason"]:
                status["source"] = "table"
        if status["source"] != "table":
            precompute_hidden(functions)
    except ImportError as exc:  # no instructor package here: hidden checks say so themselves
        status.update(source="none", reason=f"{type(exc).__name__}: {exc}")
    status.update(answers=sum(len(t) for t in TABLES.values()), computed=COMPUTED[0])
    gc.collect()  # the imports' and the warm-up's garbage: collected once, not in each child
    return status


def warm_matplotlib() -> None:
    """Lay out (never draw) one figure with the kinds of text the notebooks' figures have:
    what each kernel that lays out a figure (`fig.tight_layout()`, a legend) would otherwise
    do once itself, 0.05-0.1 CPU-s: build matplotlib's mathtext parser (log-axis tick labels
    and `$...$` labels are mathtext), load the fonts and find them by their properties
    (sizes, bold, italic). Only matplotlib's caches are filled: the figure is made off
    pyplot (no figure is open or numbered in a kernel), no rcParam changes, and it is gone
    before the first fork (`preload` collects it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax, ax_log = fig.subplots(1, 2)
    ax.plot([0.0, 1.0], [0.0, 1.0], "o--", label=r"$\sigma'(z) = \partial f/\partial x$")
    ax.scatter([0.5], [0.5], marker="s")
    ax.fill_between([0.0, 1.0], 0.0, 1.0, alpha=0.2)
    ax.annotate("a note", (0.5, 0.5), xytext=(0.2, 0.8), arrowprops={"arrowstyle": "->"})
    ax.text(0.1, 0.1, "bold", fontweight="bold")
    ax.text(0.1, 0.2, "italic", style="italic", fontsize="small")
    ax.set(xlabel="x", ylabel=r"$\hat{y}$", title="a title")
    ax.legend()
    ax_log.semilogy([1.0, 10.0, 1e4], label="y")
    ax_log.grid(True, which="both")
    ax_log.set_title(r"$\mathbf{W}_1$", fontsize="large")
    ax_log.legend(loc="upper left", fontsize="small")
    fig.suptitle("a figure")
    fig.tight_layout()


def _digest(value: Any, h: Any) -> None:
    """Feed a case's content (dicts, lists, arrays, numbers, strings) into hash `h`."""
    import numpy as np

    if isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value, key=str):
            h.update(str(key).encode() + b":")
            _digest(value[key], h)
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for item in value:
            _digest(item, h)
        h.update(b"]")
    elif isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())  # .str: no Python-level name
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(f"{type(value).__name__}={value!r}".encode())


#: The hidden answers in this process: method name -> (content key -> answer); filled by
#: `precompute_hidden` or from the host's table (grader.sandbox.hidden_table.install).
TABLES: dict[str, dict[bytes, Any]] = {}
#: The methods of ReferenceTruth answered from TABLES.
MEMOIZED = ("expected", "variants", "init_params", "descent", "gradients")
#: How many answers this process computed (table misses): 0 in a zygote fed a valid table.
COMPUTED = [0]


def content_key(name: str, args: tuple) -> bytes:
    """The key of method `name`'s answer on `args`: a digest of their content."""
    import hashlib

    h = hashlib.blake2b(name.encode(), digest_size=20)
    _digest(list(args), h)
    return h.digest()


def _memoized(method: Any, name: str) -> Any:
    """`method` of ReferenceTruth, answered from TABLES[name], keyed by its arguments' content."""
    table = TABLES.setdefault(name, {})

    def memo(self: Any, *args: Any) -> Any:
        key = content_key(name, args)
        if key not in table:
            table[key] = method(self, *args)
            COMPUTED[0] += 1
        return table[key]

    memo.__name__ = memo.__qualname__ = name
    memo.__wrapped__ = method  # type: ignore[attr-defined]
    return memo


def memoize_reference() -> None:
    """Answer ReferenceTruth's methods from TABLES in this process (once)."""
    from grader.judge import hidden

    for method in MEMOIZED:
        current = getattr(hidden.ReferenceTruth, method)
        if getattr(current, "__wrapped__", None) is None:
            setattr(hidden.ReferenceTruth, method, _memoized(current, method))


def precompute_hidden(functions: list[str] | None = None) -> None:
    """The hidden checks' right answers and misconception variants, computed once, for the
    checks of `functions` (None: every function of the course).

    The hidden cases in a grading kernel use a fixed seed (backprop_checks.catalog
    DEFAULT_SEED), so their reference answers, variants and training runs are the same
    for every student. `grader.judge.hidden.ReferenceTruth` answers from tables keyed by
    the *content* of its arguments (a case a student's code changed in place is computed
    afresh), filled here by running every hidden check on the reference solution. The
    tables are the zygote's: a child's changes to them die with the child. A function left
    out is checked as in a cold kernel (its answers computed in the child): the same verdict,
    only not precomputed. The train check's reference runs are most of this (about 1 s of a
    2-core machine), so a worker that grades no train notebook skips them.
    """
    import contextlib
    import io

    from backprop_checks import checks

    from grader.judge import reference

    memoize_reference()
    with contextlib.redirect_stdout(io.StringIO()):
        for attr in dir(checks):
            fn = getattr(reference, attr[len("check_") :], None)
            if functions is not None and attr[len("check_") :] not in functions:
                continue
            if attr.startswith("check_") and callable(fn):
                try:
                    getattr(checks, attr)(fn, hidden=True)
                except Exception:  # noqa: BLE001 - a check that cannot warm up stays cold
                    continue
