"""The verification process: re-runs a notebook's own cells and observes its functions.

Runs inside the sandbox (`grader.verify.launch` starts it as `python -I -m
grader.verify.runner JOB OUT`), in a fresh process that can import only this module's
import closure (`grader.verify.closure`): `backprop_checks.observe` and `.catalog` and what
they import - never the checks, the naming of mistakes, nor `grader.judge` (the reference
solution). The judging happens on the host, so this module must not need them.

JOB (a pickle written by the host, removed once read) holds:

- "cells": [(grade_id, source), ...], the notebook's solution, provided and extra cells in
  order (never its test cells);
- "cases": {function: {"visible": [case, ...], "hidden": [case, ...]}}, the inputs only
  (each case {"id", "args"});
- "cell_timeout", "call_timeout": seconds per cell and per observed call;
- "short", "short_timeout": positions in "cells" of the cells a limit stopped in the
  student's kernel, and the seconds each gets here (a few: one time limit, not two);
- "hung": functions the kernel stopped after a timeout; once defined, each raises at once
  (as `grader.sandbox.quarantine` makes them do in the kernel).

Each cell runs with `exec` in one namespace (no kernel, no IPython shell: magics and
!commands become `get_ipython()` calls that do nothing). Right after a function's own
solution cell ran (and, for the rest, after the last cell), each graded function is called
on its cases with `backprop_checks.observe.observe`, and `(name, {"visible": [Observation],
"hidden": [Observation]})` is appended to OUT as one pickle, so what was observed before a
crash is kept. A call or cell past its time limit is stopped with SIGALRM, and the function
that was running then raises at once on every later call (one timeout, not one per call).

Before the first cell, `warm_up` imports what a notebook's setup cell imports (numpy,
matplotlib with Agg, IPython's input transformer for `%magic` lines), as the warm zygote
(grader.sandbox.zygote) has done for a forked runner: a cold runner (no bubblewrap: started
through grader.verify.boot) would otherwise pay seconds of imports inside the setup cell's
time limit, and under load the alarm would stop it before `import numpy as np`, so every
function would fail with a NameError.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import IO, Any

from backprop_checks.catalog import build_args
from backprop_checks.observe import ErrorInfo, Observation, observe


class _Timeout(BaseException):
    """The alarm of a cell's or a call's time limit rang."""


def _on_alarm(*_: Any) -> None:
    raise _Timeout()


class _Anything:
    """`get_ipython()` in a cell: every attribute and call gives another one, doing nothing."""

    def __getattr__(self, name: str) -> _Anything:
        return _Anything()

    def __call__(self, *a: Any, **k: Any) -> _Anything:
        return _Anything()

    def __iter__(self) -> Any:
        return iter(())


def _stop(ns: dict[str, Any], hung: str) -> None:
    """Make the notebook function `hung` raise at once from now on."""

    def stopped(*args: Any, **kwargs: Any) -> None:
        raise TimeoutError(hung + " did not finish within the time limit")

    stopped.__name__ = stopped.__qualname__ = hung
    stopped.stopped_after_timeout = True  # type: ignore[attr-defined]
    ns[hung] = stopped


def _quarantine(ns: dict[str, Any], tb: Any) -> None:
    """Make the notebook function that was running when the alarm rang (the innermost frame
    that is a function of `ns`) raise at once from now on."""
    hung = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        fn = ns.get(code.co_name)
        if callable(fn) and getattr(fn, "__code__", None) is code:
            hung = code.co_name
        tb = tb.tb_next
    if hung:
        _stop(ns, hung)


def warm_up() -> None:
    """Import what the notebooks' setup cells and `_run_cell` import, outside any time limit.

    The verification zygote calls it before its first fork (grader.sandbox.zygote); `main`
    calls it too, which costs nothing when the modules are already imported.
    """
    import matplotlib

    matplotlib.use("Agg")
    import IPython.core.inputtransformer2  # noqa: F401  (`%matplotlib inline` and other magics)
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401


def _run_cell(ns: dict[str, Any], src: str) -> None:
    """Run one cell's source in `ns` (IPython syntax translated when plain Python fails)."""
    try:
        code = compile(src, "<cell>", "exec")
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        code = compile(TransformerManager().transform_cell(src), "<cell>", "exec")
    exec(code, ns)


class _Observer:
    """Calls the graded functions on their cases and appends what they did to OUT.

    The output file, `pickle.dump` and `signal.alarm` are taken before any cell runs, so a
    cell that patches them does not change what is written.
    """

    def __init__(self, job: dict[str, Any], ns: dict[str, Any], out: IO[bytes]) -> None:
        self.job, self.ns, self.out = job, ns, out
        self.dump: Callable[..., None] = pickle.dump
        self.alarm: Callable[[int], Any] = signal.alarm
        self.done: set[str] = set()

    def report(self, name: str) -> None:
        """Observe `name` on its visible and hidden cases and append the result to OUT."""
        res = {}
        seen: dict[Any, Observation] = {}  # the hidden flavour starts with the visible cases
        for flavour in ("visible", "hidden"):
            obs = []
            for case in self.job["cases"][name][flavour]:
                if case["id"] in seen:
                    obs.append(seen[case["id"]])
                    continue
                fn = self.ns.get(name)
                self.alarm(self.job["call_timeout"])
                try:
                    o = observe(
                        fn,
                        build_args(case),
                        name=name,
                        case_id=case["id"],
                        arg_names=list(case["args"]),
                    )
                except BaseException as exc:
                    self.alarm(0)
                    if isinstance(exc, _Timeout):
                        _quarantine(self.ns, exc.__traceback__)
                    o = Observation(
                        name=name,
                        case_id=case["id"],
                        error=ErrorInfo(type(exc).__name__, str(exc)[:500]),
                    )
                finally:
                    self.alarm(0)
                obs.append(o)
                seen[case["id"]] = o
            res[flavour] = obs
        self.dump((name, res), self.out, protocol=4)
        self.out.flush()
        self.done.add(name)


def main(argv: list[str]) -> None:
    """`python -I -m grader.verify.runner JOB OUT`: run the job; exits the process."""
    job_path, out_path = argv[0], argv[1]
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    os.remove(job_path)
    warm_up()  # before any alarm: a cell's time limit is not spent on the imports
    ns: dict[str, Any] = {
        "__name__": "__main__",
        "display": lambda *a, **k: None,
        "get_ipython": _Anything(),
    }
    out = open(out_path, "wb")  # closed below, before os._exit
    observer = _Observer(job, ns, out)
    alarm = observer.alarm
    signal.signal(signal.SIGALRM, _on_alarm)
    short = set(job.get("short", ()))
    hung = [str(h) for h in job.get("hung", ())]
    for pos, (gid, src) in enumerate(job["cells"]):
        alarm(job["short_timeout"] if pos in short else job["cell_timeout"])
        try:
            _run_cell(ns, src)
        except BaseException as exc:
            alarm(0)
            if isinstance(exc, _Timeout):
                _quarantine(ns, exc.__traceback__)
        finally:
            alarm(0)
        for name in hung:
            if callable(ns.get(name)) and not getattr(ns[name], "stopped_after_timeout", False):
                _stop(ns, name)
        if gid in job["cases"] and gid not in observer.done:
            observer.report(gid)
        if len(observer.done) == len(job["cases"]):
            break  # every function observed: later cells cannot change an observation
    for name in job["cases"]:
        if name not in observer.done:
            observer.report(name)
    out.close()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
