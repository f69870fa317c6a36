"""Verdicts a student cannot change: each graded function re-run and re-judged outside the
student's process (`verify_notebook`).

A student's code runs in the same kernel as nbgrader's tests, so it can patch numpy, the
`grader` package, IPython's exception handling or its input/AST transformers, and turn
every later test cell into a no-op. After the notebook ran, `verify_notebook` therefore

1. re-runs the submission's own cells (solution, provided and the student's extra cells;
   never the test cells) in a *fresh sandboxed process* (`grader.verify.runner`, started
   with `grader.sandbox.boxrun.run_sandboxed`) that can import only the runner's import
   closure (`grader.verify.closure`: `backprop_checks.observe` and `.catalog` and what they
   import) - not the checks, not `grader.judge.reference`, not the course directory - and
   records, with `observe`, what each graded function returns on the visible examples and
   on hidden inputs drawn from a fresh random seed; with bubblewrap, copies of those files
   are mounted over the real package folders; without it, `grader.verify.boot` guards the
   imports from inside the process;
2. reads back only those observations (plain data, with a restricted unpickler:
   `read_results`), and judges them here, in the grader's own process, with
   `backprop_checks.checks.judge`, into a `Verdict` per function.

Importing the reference solution (`grader.judge.reference`) in a notebook is flagged
(`grader.verify.static`), and since the verification process cannot import it, the
functions that rely on it score 0 there: the out-of-process verdict stands (an instructor
can restore points by hand; `grader.verify.gradebook`).
"""

from __future__ import annotations

import io
import json
import pickle
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from grader.sandbox.boxrun import EXIT_NOTEBOOK_TIMEOUT, Plan, run_sandboxed
from grader.sandbox.plan import Limits, death_reason, make_plan, new_box
from grader.verify import boot
from grader.verify import launch_warm as warm_verify
from grader.verify.cells import is_test_cell, nbgrader_meta
from grader.verify.closure import RUNNER, Closure, runner_closure

#: Seconds a cell that a limit stopped in the student's kernel gets in verification.
SHORT_CELL = 2

#: Largest verification result read back (bytes).
MAX_RESULT_BYTES = 64 * 1024**2


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only observations: backprop_checks.observe's dataclasses, numpy arrays,
    builtins."""

    ALLOWED = {
        ("backprop_checks.observe", "Observation"),
        ("backprop_checks.observe", "Returned"),
        ("backprop_checks.observe", "ErrorInfo"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.dtypes", "Float64DType"),
        ("_codecs", "encode"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"verification result holds a forbidden {module}.{name}")


def read_results(path: Path) -> dict[str, dict[str, list[Any]]]:
    """The observations a verification process wrote (only well-formed ones)."""
    from backprop_checks.observe import Observation

    results: dict[str, dict[str, list[Any]]] = {}
    if not path.exists():
        return results
    data = path.read_bytes()[:MAX_RESULT_BYTES]
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        try:
            item = _SafeUnpickler(stream).load()
        except Exception:  # noqa: BLE001 - a truncated or forged stream ends the reading
            break
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            break
        name, res = item
        if not isinstance(res, dict):
            continue
        good = {}
        for flavour in ("visible", "hidden"):
            obs = res.get(flavour)
            if isinstance(obs, list) and all(type(o) is Observation for o in obs):
                good[flavour] = obs
        results[name] = good
    return results


def _overlay_package(box: Path, closure: Closure) -> dict[str, str]:
    """Copies of the files the verification process may import (the runner's import closure:
    no checks, no naming, no reference), under box/pkg/: {real package folder: its copy}
    for the sandbox's overlay."""
    overlay = {}
    for top, files in closure.files.items():
        real = closure.roots[top]
        pkg = box / "pkg" / real.name
        for name in files:
            (pkg / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(real / name, pkg / name)
        overlay[str(real)] = str(pkg)
    return overlay


def _command(box: Path, plan: Plan, closure: Closure, job: Path, out: Path) -> list[str]:
    """The verification process's command line: the runner module, through `boot` when
    bubblewrap cannot mount the overlay."""
    if plan.bwrap is not None:
        return [sys.executable, "-I", "-m", RUNNER, str(job), str(out)]
    # Without bubblewrap the overlay cannot hide checks/reference: boot guards the imports.
    spec = {
        "pkg": str(box / "pkg"),
        "packages": sorted(closure.files),
        "allowed": closure.modules,
        "module": RUNNER,
        "argv": [str(job), str(out)],
    }
    (box / "boot.json").write_text(json.dumps(spec), encoding="utf-8")
    return [sys.executable, "-I", boot.__file__, str(box / "boot.json")]


@dataclass
class Verdict:
    """The out-of-process verdict for one function: visible and hidden flavours."""

    name: str
    visible: bool
    hidden: bool
    message: str = ""


@dataclass
class Verification:
    """What verification found for one notebook."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    seed: int = 0
    error: str = ""


def verify_notebook(
    nb: nbformat.NotebookNode,
    workdir: Path,
    functions: list[str],
    *,
    limits: Limits,
    course: Path | None,
    mode: str = "auto",
    bwrap: str = "bwrap",
    cell_timeout: int = 60,
    seed: int | None = None,
    wall_clock: float | None = None,
    warm: bool = False,
    stopped_cells: list[int] | None = None,
    hung: list[str] | None = None,
) -> Verification:
    """Run the notebook's own cells in a fresh sandboxed process and judge its functions here.

    Args:
        nb: the autograded notebook (locked cells already restored by nbgrader).
        workdir: its folder (the process works in a private copy).
        functions: the student functions to check (e.g. ["output_delta", "grad_W2"]).
        limits: the sandbox limits (memory, CPU, wall clock = notebook_timeout).
        course: the course directory, hidden from the process.
        seed: the hidden inputs' seed (default: a fresh random one).
        wall_clock: seconds the process may take (default: limits.notebook_timeout); what
            is left of the notebook's one limit after grading. Under a second: not run, and
            every function fails verification (a notebook cannot escape it by using up time).
        warm: fork the process from this grading process's verification zygote
            (grader.sandbox.zygote_host; bubblewrap only) instead of starting a fresh Python.
        stopped_cells: indices (in nb.cells) of cells a limit stopped in the student's
            kernel (`grader.verify.cells.limit_stopped`): each runs with `SHORT_CELL`
            seconds, so what it defines before the statement that ran out is defined again,
            and the time limit is not paid twice.
        hung: functions the kernel stopped after a timeout: they raise at once here too.
    """
    closure = runner_closure()  # raises ClosureError when it reaches the checks or the judge
    seed = secrets.randbelow(2**31 - 1) + 1 if seed is None else seed
    run = Verification(seed=seed)
    cells, short = _cells_to_run(nb, set(stopped_cells or []))
    full = _cases_of(functions, seed)
    # The process gets the inputs only: never the judge's context.
    plain = {
        name: {k: [{"id": c["id"], "args": c["args"]} for c in v] for k, v in flavours.items()}
        for name, flavours in full.items()
    }
    wall = float(limits.notebook_timeout if wall_clock is None else wall_clock)
    results: dict[str, dict[str, list[Any]]] = {}
    if wall < 1:
        run.error = "no time left of the notebook's limit: not verified, its functions score 0"
    elif cell_timeout:
        per_call = max(1, min(cell_timeout, int(wall)))
        job = {
            "cells": cells,
            "cases": plain,
            "cell_timeout": per_call,
            "call_timeout": per_call,
            "short": short,
            "short_timeout": min(per_call, SHORT_CELL),
            "hung": list(hung or []),
        }
        warm_plan = warm_verify.plan(limits, course, mode, bwrap, closure) if warm else None
        if warm_plan is not None:
            code, results = warm_verify.run(warm_plan, job, workdir, wall)
        else:
            code, results = _run_cold(job, workdir, wall, limits, course, mode, bwrap, closure)
        if code == EXIT_NOTEBOOK_TIMEOUT:
            run.error = f"stopped at the notebook's time limit ({wall:.0f} s were left for it)"
        elif code != 0 and not results:
            run.error = death_reason(code, limits)
    for name in functions:
        run.verdicts[name] = _judge(name, full[name], results.get(name, {}))
    return run


def _cells_to_run(nb: nbformat.NotebookNode, stopped: set[int]) -> tuple[list, list[int]]:
    """(grade_id, source) of the notebook's code cells the process runs (no test cells, no
    empty ones), and the positions in that list of the cells a limit stopped (`stopped`:
    indices in nb.cells)."""
    cells, short = [], []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and not is_test_cell(c) and c.source.strip():
            if i in stopped:
                short.append(len(cells))
            cells.append((nbgrader_meta(c).get("grade_id", ""), c.source))
    return cells, short


def _cases_of(functions: list[str], seed: int) -> dict[str, dict[str, list[dict]]]:
    """Each function's visible and hidden cases (the hidden ones drawn with `seed`)."""
    from grader.judge import cases as _cases

    return {
        name: {"visible": _cases.visible_cases(name), "hidden": _cases.hidden_cases(name, seed)}
        for name in functions
    }


def _run_cold(
    job: dict[str, Any],
    workdir: Path,
    wall: float,
    limits: Limits,
    course: Path | None,
    mode: str,
    bwrap: str,
    closure: Closure,
) -> tuple[int, dict[str, dict[str, list[Any]]]]:
    """Run the verification process on `job` in a fresh sandbox (a new Python): its exit
    code and observations."""
    box = new_box()
    try:
        overlay = _overlay_package(box, closure)
        plan, _ = make_plan(limits, course=course, mode=mode, bwrap=bwrap, overlay=overlay)
        (box / "job.pkl").write_bytes(pickle.dumps(job, protocol=4))
        out_path = box / "result.pkl"
        command = _command(box, plan, closure, box / "job.pkl", out_path)
        code = run_sandboxed(
            plan,
            command,
            workdir=workdir,
            box=box,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            wall_clock=wall,
        )
        return code, read_results(out_path)
    finally:
        shutil.rmtree(box, ignore_errors=True)


def _judge(name: str, cases: dict[str, list[dict]], res: dict[str, list[Any]]) -> Verdict:
    """The verdict on one function from the process's observations `res` of its `cases`
    (visible and hidden); a flavour with no or malformed observations fails."""
    from backprop_checks import checks

    flags = {}
    messages = []
    for flavour in ("visible", "hidden"):
        obs = res.get(flavour)
        case_list = cases[flavour]
        if obs is None or len(obs) != len(case_list):
            flags[flavour] = False
            messages.append(f"{flavour}: no result from the verification process")
            continue
        try:
            verdict = checks.judge(name, case_list, obs, hidden=flavour == "hidden")
        except Exception as exc:  # noqa: BLE001 - malformed observations fail
            flags[flavour] = False
            messages.append(f"{flavour}: {type(exc).__name__}: {exc}")
            continue
        flags[flavour] = verdict.passed
        if not verdict.passed:
            messages.append(verdict.message.splitlines()[0] if verdict.message else "")
    said = "; ".join(dict.fromkeys(m for m in messages if m))  # visible and hidden alike: once
    return Verdict(name, flags["visible"], flags["hidden"], said)
