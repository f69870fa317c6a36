"""Verdicts a student cannot change: verification outside the student's process, static flags,
reasons for broken notebooks, and a gradebook integrity check.

A student's code runs in the same kernel as nbgrader's tests, so it can patch numpy, the
`grader` package, IPython's exception handling or its input/AST transformers, and turn
every later test cell into a no-op. `after_autograde` (called by the pipeline for every
graded submission) therefore:

1. re-runs the submission's own cells (solution, provided and the student's extra cells;
   never the test cells) in a *fresh sandboxed process* (`grader.sandbox.execute`) that can import
   only `backprop_checks.observe` and `.cases` - not the checks, not `grader.judge.reference`,
   not the course directory - and records, with `observe`, what each graded function
   returns on the visible examples and on hidden inputs drawn from a fresh random seed;
   the process sends back only those observations (plain data, read back with a
   restricted unpickler);
2. judges the observations here, in the grader's own process, with `backprop_checks.checks.judge`;
3. where that verdict differs from nbgrader's for a test cell, the out-of-process verdict
   stands: it becomes the cell's manual score in nbgrader's gradebook, with a comment on the
   function's solution cell, the submission is flagged (nbgrader's `flagged`) and the
   result gets a flag; a deleted test cell scores 0, never full;
4. flags, from an AST scan, solution and extra cells that reach into `sys.modules`,
   `builtins`, IPython's shell (`get_ipython`, input/AST transformers, custom exception
   handlers), the `grader` package, numpy's attributes, or the file system outside the
   working folder; and test or locked cells that were edited, deleted or stripped of
   their metadata;
5. gives a broken notebook a one-line reason (a cell out of time or memory, a kernel that
   died, output that was cut, a renamed file).

Importing the reference solution (`grader.judge.reference`) is flagged, and since the
verification process cannot import it, the functions that rely on it score 0 there: the
out-of-process verdict stands (an instructor can restore points by hand).
"""

from __future__ import annotations

import ast
import io
import pickle
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from grader.nbcells import is_test as is_test_cell
from grader.nbcells import nbgrader_meta as _meta
from grader.sandbox import execute as sandbox

#: grade_id prefixes of the test cells of a function NAME (docs/grading.md).
VISIBLE_PREFIX = "test_"
HIDDEN_PREFIX = "hidden_test_"
#: Largest verification result read back (bytes).
MAX_RESULT_BYTES = 64 * 1024**2
#: Modules of the grader package the verification process may import (none of its own:
#: it observes with the student package's modules below).
VERIFY_MODULES = ("__init__.py",)
#: Files of the student package `backprop_checks` the verification process may import (not
#: its checks or naming: the judging happens here, in the grader's process).
VERIFY_STUDENT_FILES = (
    "__init__.py",
    "_trusted.py",
    "observe.py",
    "cases.py",
    "data.py",
    "visible.json",
)


class VerifyError(RuntimeError):
    """Verification could not run; the message says why."""


# --------------------------------------------------------------------------- notebooks


def graded_functions(grade_ids: list[str]) -> list[str]:
    """Student functions that have test cells among grade_ids, in order."""
    from grader.judge.cases import SIGNATURES

    names: list[str] = []
    for gid in grade_ids:
        for prefix in (HIDDEN_PREFIX, VISIBLE_PREFIX):
            if gid.startswith(prefix):
                name = gid[len(prefix) :]
                if name in SIGNATURES and name not in names:
                    names.append(name)
                break
    return names


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or None and a one-line reason it cannot be read."""
    if not path.exists():
        return None, f"no {path.name}"
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is a reason
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        return None, f"{path.name} cannot be read ({type(exc).__name__}: {first})"
    return nb, ""


# --------------------------------------------------------------------------- static flags

_IPYTHON_ATTRS = {
    "input_transformers_cleanup": "registers an IPython input transformer",
    "input_transformers_post": "registers an IPython input transformer",
    "input_transformer_manager": "changes IPython's input transformers",
    "ast_transformers": "registers an IPython AST transformer",
    "set_custom_exc": "replaces IPython's exception handling (set_custom_exc)",
    "showtraceback": "changes IPython's traceback display",
    "_showtraceback": "changes IPython's traceback display",
    "showsyntaxerror": "changes IPython's traceback display",
    "CustomTB": "replaces IPython's exception handling",
    "run_cell": "calls or changes IPython's run_cell",
    "events": "registers IPython event callbacks",
    "register_magic_function": "registers an IPython magic",
}
_SYS_ATTRS = {
    "modules": "reaches into sys.modules",
    "meta_path": "changes the import system (sys.meta_path)",
    "path_hooks": "changes the import system (sys.path_hooks)",
    "settrace": "installs a tracer (sys.settrace)",
    "setprofile": "installs a profiler (sys.setprofile)",
    "excepthook": "changes sys.excepthook",
    "displayhook": "changes sys.displayhook",
}
_FS_CALLS = {
    "remove",
    "unlink",
    "rmdir",
    "removedirs",
    "rename",
    "replace",
    "system",
    "popen",
    "chdir",
    "rmtree",
    "kill",
    "_exit",
    "execv",
    "execve",
    "fork",
    "chmod",
    "symlink",
    "link",
    "truncate",
}
_RISKY_MODULES = {
    "builtins": "imports builtins",
    "IPython": "imports IPython",
    "importlib": "uses importlib",
    "ctypes": "uses ctypes",
    "subprocess": "starts processes (subprocess)",
    "shutil": "uses shutil (file operations)",
    "gc": "uses gc (object graph access)",
    "inspect": "uses inspect (frame access)",
    "socket": "uses the network (socket)",
    "sqlite3": "opens SQLite databases",
}
_PATH_RE = re.compile(r"^(/|~|\.\./|\.\.$)")


def _to_python(source: str) -> str:
    """Cell source with IPython syntax (magics, !commands) turned into Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - fall back to the raw source
        return source


def _parse(source: str) -> ast.Module | None:
    code = _to_python(source)
    if "get_ipython()" in code and "get_ipython" not in source:
        code = source  # magics only: nothing the student wrote in Python
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def module_aliases(sources: list[str]) -> dict[str, str]:
    """name -> module for every `import m as name` in the given cells (e.g. np -> numpy)."""
    aliases: dict[str, str] = {}
    for source in sources:
        tree = _parse(source)
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )
    return aliases


def scan_source(source: str, aliases: dict[str, str] | None = None) -> list[str]:
    """What a cell's code reaches into (sorted, de-duplicated one-line findings).

    Args:
        source: the cell's code.
        aliases: modules imported elsewhere in the notebook (e.g. {"np": "numpy"}).
    """
    found: set[str] = set()
    tree = _parse(source)
    if tree is None:
        return []
    aliases = dict(aliases or {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[(a.asname or a.name).split(".")[0]] = a.name
                _import_finding(a.name, found)
        elif isinstance(node, ast.ImportFrom) and node.module:
            _import_finding(node.module, found)
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                _import_finding(f"{node.module}.{a.name}", found)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id == "get_ipython":
                found.add("uses IPython's shell (get_ipython)")
            elif node.id == "__builtins__":
                found.add("reaches into __builtins__")
            elif node.id in ("exec", "eval", "compile", "__import__"):
                found.add(f"runs dynamic code ({node.id})")
            elif node.id in ("globals", "setattr", "delattr"):
                found.add(f"uses {node.id}()")
        elif isinstance(node, ast.Attribute):
            base = node.value.id if isinstance(node.value, ast.Name) else ""
            module = aliases.get(base, base)
            if node.attr in _IPYTHON_ATTRS:
                found.add(_IPYTHON_ATTRS[node.attr])
            if module == "sys" and node.attr in _SYS_ATTRS:
                found.add(_SYS_ATTRS[node.attr])
            if module in ("os", "shutil", "pathlib", "os.path") and node.attr in _FS_CALLS:
                found.add(f"calls {module}.{node.attr} (file system or process)")
            if node.attr in ("__globals__", "__code__", "__dict__", "__subclasses__"):
                found.add(f"uses {node.attr}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                    module = aliases.get(t.value.id, "")
                    if module:
                        found.add(f"patches {module}.{t.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if _PATH_RE.match(text) and len(text) < 300 and "\n" not in text and " " not in text:
                found.add(f"refers to a path outside its folder ({text[:60]!r})")
    return sorted(found)


def _import_finding(name: str, found: set[str]) -> None:
    top = name.split(".")[0]
    if name.startswith("grader.judge.reference") or name == "grader.judge.reference":
        found.add("imports the reference solution (grader.judge.reference)")
    elif top == "grader":
        found.add(f"imports the grader package ({name})")
    elif top == "backprop_checks":
        found.add(f"imports the checks package ({name})")
    elif top in _RISKY_MODULES:
        found.add(_RISKY_MODULES[top])
    elif name in ("os._exit",):
        found.add("imports os._exit")


def scan_notebook(nb: nbformat.NotebookNode, known: set[str] | None = None) -> list[str]:
    """Findings for every cell the student wrote (solution and unlocked cells).

    Args:
        nb: the submitted notebook.
        known: normalised sources of the released notebook's cells (left alone: the
            instructor wrote them).
    """
    flags = []
    known = known or set()
    aliases = module_aliases([c.source for c in nb.cells if c.get("cell_type") == "code"])
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        m = _meta(cell)
        if m.get("locked") or is_test_cell(cell) or _normal(cell.get("source", "")) in known:
            continue  # restored from the gradebook, or the instructor's own code
        where = m.get("grade_id") or f"cell {i + 1}"
        for finding in scan_source(cell.get("source", ""), aliases):
            flags.append(f"{where}: {finding}")
    return flags


def compare_cells(submitted: nbformat.NotebookNode, source_cells: dict[str, str]) -> list[str]:
    """Test and locked cells that were edited, deleted or lost their nbgrader metadata.

    Args:
        submitted: the student's notebook as handed in.
        source_cells: grade_id -> source of every test and locked cell (from the gradebook).
    """
    flags = []
    seen: dict[str, str] = {}
    for cell in submitted.cells:
        gid = _meta(cell).get("grade_id")
        if gid:
            seen[gid] = cell.get("source", "")
    all_sources = "\n".join(c.get("source", "") for c in submitted.cells)
    for gid, src in source_cells.items():
        handed_out = _normal(strip_hidden(src))  # what the release shows of the cell
        if gid not in seen:
            if handed_out and handed_out in _normal(all_sources):
                flags.append(f"{gid}: test or locked cell lost its nbgrader metadata")
            else:
                flags.append(f"{gid}: test or locked cell deleted")
        elif _normal(seen[gid]) not in (_normal(src), handed_out):
            flags.append(f"{gid}: test or locked cell edited (graded with the original)")
    return flags


_HIDDEN_RE = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M
)


def strip_hidden(src: str) -> str:
    """A test cell's source as released: the hidden-tests block removed."""
    return _HIDDEN_RE.sub("", src)


def _normal(src: str) -> str:
    return "\n".join(line.rstrip() for line in src.strip().splitlines())


# --------------------------------------------------------------------------- broken notebooks


def run_problems(nb: nbformat.NotebookNode) -> list[str]:
    """One-line problems read from an autograded notebook's outputs (time, memory, death,
    output cut), in cell order; within a cell a cut output first (a flood of output is what
    makes a cell run out of time)."""
    problems: list[str] = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        where = _meta(cell).get("grade_id") or f"cell {i + 1}"
        outputs = cell.get("outputs", [])
        streams = [o for o in outputs if o.get("output_type") == "stream"]
        for out in [*streams, *(o for o in outputs if o.get("output_type") != "stream")]:
            kind = out.get("output_type")
            if kind == "error":
                ename = out.get("ename", "")
                if ename in (sandbox.ENAME_KERNEL_DIED, sandbox.ENAME_NOTEBOOK_TIME):
                    problems.append(f"{where}: {out.get('evalue', '')}")
                elif ename == "CellTimeoutError":
                    problems.append(f"{where}: ran past the per-cell time limit")
                elif ename == "MemoryError":
                    problems.append(f"{where}: ran out of memory (MemoryError)")
            elif kind == "stream":
                m = sandbox.CUT_NOTE_RE.search(str(out.get("text", "")))
                if m:
                    problems.append(f"{where}: output cut ({m.group(1)} bytes over the cap)")
    return list(dict.fromkeys(problems))


def renamed_notebooks(folder: Path, expected: str) -> list[str]:
    """Notebooks in a submission folder other than the expected one (a renamed file)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob("*.ipynb") if p.name != expected)


# --------------------------------------------------------------------------- out of process

_RUNNER = r"""
import os, pickle, signal, sys
job_path, out_path = sys.argv[1], sys.argv[2]
with open(job_path, "rb") as f:
    job = pickle.load(f)
os.remove(job_path)
from backprop_checks.observe import observe, Observation, ErrorInfo
from backprop_checks.cases import build_args
_pickle_dump, _open, _alarm = pickle.dump, open, signal.alarm
out = _open(out_path, "wb")

class _Timeout(BaseException):
    pass

def _on_alarm(*_):
    raise _Timeout()

signal.signal(signal.SIGALRM, _on_alarm)

def _quarantine(tb):
    # The student function that was running when the alarm rang (innermost frame that is a
    # function of the notebook) raises at once from now on: one timeout, not one per call.
    hung = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        fn = ns.get(code.co_name)
        if callable(fn) and getattr(fn, "__code__", None) is code:
            hung = code.co_name
        tb = tb.tb_next
    if hung:
        def stopped(*args, **kwargs):
            raise TimeoutError(hung + " did not finish within the time limit")
        ns[hung] = stopped
# Cells run with exec (no kernel, no IPython shell): IPython syntax (magics, !commands) is
# translated to get_ipython() calls, which do nothing here.
class _Anything:
    def __getattr__(self, name):
        return _Anything()
    def __call__(self, *a, **k):
        return _Anything()
    def __iter__(self):
        return iter(())

ns = {"__name__": "__main__", "display": lambda *a, **k: None, "get_ipython": _Anything()}
def run(src):
    try:
        code = compile(src, "<cell>", "exec")
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager
        code = compile(TransformerManager().transform_cell(src), "<cell>", "exec")
    exec(code, ns)

done = set()
def report(name):
    res = {}
    seen = {}  # the hidden flavour starts with the visible examples: call those once
    for flavour in ("visible", "hidden"):
        obs = []
        for case in job["cases"][name][flavour]:
            if case["id"] in seen:
                obs.append(seen[case["id"]])
                continue
            fn = ns.get(name)
            _alarm(job["call_timeout"])
            try:
                o = observe(fn, build_args(case), name=name, case_id=case["id"],
                            arg_names=list(case["args"]))
            except BaseException as exc:
                _alarm(0)
                if isinstance(exc, _Timeout):
                    _quarantine(exc.__traceback__)
                o = Observation(name=name, case_id=case["id"],
                                error=ErrorInfo(type(exc).__name__, str(exc)[:500]))
            finally:
                _alarm(0)
            obs.append(o)
            seen[case["id"]] = o
        res[flavour] = obs
    _pickle_dump((name, res), out, protocol=4)
    out.flush()
    done.add(name)

for gid, src in job["cells"]:
    _alarm(job["cell_timeout"])
    try:
        run(src)
    except BaseException as exc:
        _alarm(0)
        if isinstance(exc, _Timeout):
            _quarantine(exc.__traceback__)
    finally:
        _alarm(0)
    if gid in job["cases"] and gid not in done:
        report(gid)
for name in job["cases"]:
    if name not in done:
        report(name)
out.close()
os._exit(0)
"""


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


def _overlay_package(box: Path) -> dict[str, str]:
    """Copies of the modules the verification process may import (no checks, no naming, no
    reference), under box/pkg/: {real package folder: its copy} for the sandbox's overlay."""
    import backprop_checks

    import grader

    overlay = {}
    for module, files in ((grader, VERIFY_MODULES), (backprop_checks, VERIFY_STUDENT_FILES)):
        real = Path(module.__file__).resolve().parent
        pkg = box / "pkg" / real.name
        pkg.mkdir(parents=True)
        for name in files:
            if (real / name).exists():
                shutil.copy2(real / name, pkg / name)
        overlay[str(real)] = str(pkg)
    return overlay


class _NoTime(Exception):
    """No time is left for verification."""


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
    limits: sandbox.Limits,
    course: Path | None,
    mode: str = "auto",
    bwrap: str = "bwrap",
    cell_timeout: int = 60,
    seed: int | None = None,
    wall_clock: float | None = None,
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
    """
    from backprop_checks import checks

    from grader.judge import cases as _cases

    seed = secrets.randbelow(2**31 - 1) + 1 if seed is None else seed
    run = Verification(seed=seed)
    cells = [
        (_meta(c).get("grade_id", ""), c.source)
        for c in nb.cells
        if c.cell_type == "code" and not is_test_cell(c) and c.source.strip()
    ]
    plain: dict[str, dict[str, list[dict]]] = {}
    full: dict[str, dict[str, list[dict]]] = {}
    for name in functions:
        full[name] = {
            "visible": _cases.visible_cases(name),
            "hidden": _cases.hidden_cases(name, seed),
        }
        # The process gets the inputs only: never the judge's context.
        plain[name] = {
            k: [{"id": c["id"], "args": c["args"]} for c in v] for k, v in full[name].items()
        }
    wall = float(limits.notebook_timeout if wall_clock is None else wall_clock)
    results: dict[str, dict[str, list[Any]]] = {}
    if wall < 1:
        run.error = "no time left of the notebook's limit: not verified, its functions score 0"
        cell_timeout = 0
    box = sandbox.new_box()
    try:
        if not cell_timeout:
            raise _NoTime
        overlay = _overlay_package(box)
        plan, _ = sandbox.make_plan(limits, course=course, mode=mode, bwrap=bwrap, overlay=overlay)
        per_call = max(1, min(cell_timeout, int(wall)))
        job = {
            "cells": cells,
            "cases": plain,
            "cell_timeout": per_call,
            "call_timeout": per_call,
        }
        (box / "job.pkl").write_bytes(pickle.dumps(job, protocol=4))
        (box / "runner.py").write_text(_RUNNER, encoding="utf-8")
        out_path = box / "result.pkl"
        command = [
            sys.executable,
            "-I",
            str(box / "runner.py"),
            str(box / "job.pkl"),
            str(out_path),
        ]
        if plan.bwrap is None:
            # Without bubblewrap the overlay cannot hide checks/reference: a separate path.
            command = [sys.executable, "-c", _FALLBACK_BOOT, str(box / "pkg"), *command[2:]]
        code = sandbox.run_sandboxed(
            plan,
            command,
            workdir=workdir,
            box=box,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            wall_clock=wall,
        )
        results = read_results(out_path)
        if code == sandbox.EXIT_NOTEBOOK_TIMEOUT:
            run.error = f"stopped at the notebook's time limit ({wall:.0f} s were left for it)"
        elif code != 0 and not results:
            run.error = sandbox.death_reason(code, limits)
    except _NoTime:
        pass
    finally:
        shutil.rmtree(box, ignore_errors=True)
    for name in functions:
        res = results.get(name, {})
        flags = {}
        messages = []
        for flavour in ("visible", "hidden"):
            obs = res.get(flavour)
            case_list = full[name][flavour]
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
        run.verdicts[name] = Verdict(name, flags["visible"], flags["hidden"], said)
    return run


# Without bubblewrap: put the copy of the allowed modules first and block the rest.
_FALLBACK_BOOT = r"""
import sys, importlib.abc
pkg = sys.argv[1]
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top, _, sub = name.partition(".")
        allowed = {"grader": ALLOWED, "backprop_checks": STUDENT}.get(top)
        if allowed is not None and sub and sub.split(".")[0] + ".py" not in allowed:
            raise ImportError(name + " is not available during verification")
        return None
sys.path.insert(0, pkg)
sys.meta_path.insert(0, _Block())
for m in [m for m in sys.modules if m.split(".")[0] in ("grader", "backprop_checks")]:
    del sys.modules[m]
runner = sys.argv[2]
sys.argv = sys.argv[2:]
exec(compile(open(runner).read(), runner, "exec"), {"__name__": "__main__"})
""".replace("ALLOWED", repr(VERIFY_MODULES)).replace("STUDENT", repr(VERIFY_STUDENT_FILES))


# --------------------------------------------------------------------------- gradebook


def check_gradebook(db_path: Path) -> str:
    """SQLite's `PRAGMA integrity_check` of the gradebook: "ok" or the problems found."""
    if not Path(db_path).exists():
        return f"no gradebook at {db_path}"
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"
    text = "; ".join(str(r[0]) for r in rows)
    return text


def gradebook_path(db_url: str) -> Path | None:
    """The SQLite file of a gradebook URL (None for other databases)."""
    if not db_url.startswith("sqlite:///"):
        return None
    return Path(db_url[len("sqlite:///") :].split("?", 1)[0])


# --------------------------------------------------------------------------- the hook


def _sandbox_settings(config: Any) -> dict[str, Any]:
    """Limits and mode as the course configures `SandboxedExecute` (defaults otherwise)."""
    ex = sandbox.SandboxedExecute(config=config)
    cell_timeout = int(ex.timeout) if ex.timeout else sandbox.DEFAULT_NOTEBOOK_TIMEOUT
    return {
        "limits": ex.limits(),
        "mode": ex.mode,
        "bwrap": ex.bwrap,
        "cell_timeout": cell_timeout,
    }


def apply_verdicts(
    db_url: str,
    student: str,
    assignment: str,
    verification: Verification,
    deleted: set[str],
) -> list[str]:
    """Make the out-of-process verdict stand in the gradebook; return flags for the changes.

    For each test cell whose nbgrader score differs from the out-of-process verdict (full
    marks when it passed, 0 when not), and for each deleted test cell (0), set the manual
    score, comment on the function's solution cell, and flag the submission.
    """
    from nbgrader.api import Gradebook, MissingEntry

    flags: list[str] = []
    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission_notebook(assignment, assignment, student)
        except MissingEntry:
            return flags
        changed = False
        for grade in submission.grades:
            gid = grade.name
            name = None
            if gid.startswith(HIDDEN_PREFIX):
                name, flavour = gid[len(HIDDEN_PREFIX) :], "hidden"
            elif gid.startswith(VISIBLE_PREFIX):
                name, flavour = gid[len(VISIBLE_PREFIX) :], "visible"
            max_score = float(grade.max_score)
            current = float(grade.score or 0)
            why = ""
            if gid in deleted:
                want = 0.0
                why = "the test cell was deleted from the submission"
            elif name in verification.verdicts:
                v = verification.verdicts[name]
                passed = v.hidden if flavour == "hidden" else v.visible
                want = max_score if passed else 0.0
                why = (
                    "passed when re-run in a separate process"
                    if passed
                    else f"failed when re-run in a separate process: {v.message}"
                )
            else:
                continue
            if abs(want - current) < 1e-9:
                continue
            grade.manual_score = want
            grade.needs_manual_grade = False
            changed = True
            text = (
                f"[verified] {gid}: {current:g} -> {want:g} of {max_score:g}: {why} "
                f"(hidden seed {verification.seed})."
            )
            flags.append(f"verdict changed: {gid} {current:g} -> {want:g} ({why[:120]})")
            if name:
                try:
                    comment = gb.find_comment(name, assignment, assignment, student)
                except MissingEntry:
                    comment = None
                if comment is not None:
                    old = comment.manual_comment or ""
                    comment.manual_comment = (old + "\n" + text).strip()
        if changed:
            submission.flagged = True
        gb.db.commit()
    return flags


def _released_sources(course: Path, assignment: str) -> set[str]:
    """Normalised code of the notebook as handed out (release/, else source/)."""
    known: set[str] = set()
    for folder in ("release", "source"):
        nb, _ = read_notebook(course / folder / assignment / f"{assignment}.ipynb")
        if nb is not None:
            known |= {_normal(c.source) for c in nb.cells if c.cell_type == "code"}
    return known


def sandbox_off_reason(settings: dict[str, Any]) -> str:
    """Why student code runs without bubblewrap under these settings ("" when it does not)."""
    if settings["mode"] == "off":
        return "the sandbox is turned off (SandboxedExecute.mode = 'off')"
    status = sandbox.bwrap_status(settings["bwrap"])
    return "" if status.usable else status.reason


def after_autograde(
    course: Path, student: str, assignment: str, result: Any, *, deadline: float | None = None
) -> Any:
    """The per-submission step run after nbgrader saved its grades.

    Adds flags (static findings, tampered cells, changed verdicts) and a reason for broken
    notebooks to `result` (a grader.pipeline.results.GradeResult), sets `result.sandbox`
    (why bubblewrap was not used, "" when it was), and writes changed verdicts to the
    gradebook.

    Args:
        deadline: time.time() by which the notebook's one limit runs out (grading started
            at deadline - notebook_timeout); verification gets what is left. None: a whole
            notebook_timeout.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from grader.config import course_config

    course = Path(course)
    config = course_config(course)
    db_url = str(config.CourseDirectory.db_url)
    settings = _sandbox_settings(config)
    flags: list[str] = []
    # Whether bubblewrap was used is about the run, not the student: it goes in
    # result.sandbox (shown once per run by the summary, report and export), never a flag.
    result.sandbox = sandbox_off_reason(settings)

    name = f"{assignment}.ipynb"
    submitted_dir = course / "submitted" / student / assignment
    submitted, unreadable = read_notebook(submitted_dir / name)
    others = renamed_notebooks(submitted_dir, name)
    if submitted is None and others:
        unreadable = f"found {', '.join(others)} instead of {name} (renamed file: 0)"
    reasons: list[str] = []
    if unreadable:
        reasons.append(unreadable)

    # Test and locked cells as recorded in the gradebook (never the submission's).
    source_cells: dict[str, str] = {}
    grade_ids: list[str] = []
    with Gradebook(db_url) as gb:
        try:
            notebook = gb.find_notebook(assignment, assignment)
            grade_ids = [c.name for c in notebook.grade_cells]
            for cell in notebook.source_cells:
                if cell.locked or cell.name in grade_ids:
                    source_cells[cell.name] = cell.source or ""
        except MissingEntry:
            pass
    test_ids = set(grade_ids)
    deleted: set[str] = set()
    if submitted is not None:
        flags += scan_notebook(submitted, _released_sources(course, assignment))
        tamper = compare_cells(submitted, source_cells)
        flags += tamper
        deleted = {
            f.split(":", 1)[0]
            for f in tamper
            if ("deleted" in f or "lost its nbgrader metadata" in f)
            and f.split(":", 1)[0] in test_ids
        }

    graded_path = course / "autograded" / student / assignment / name
    graded, _ = read_notebook(graded_path)
    if graded is not None:
        problems = run_problems(graded)
        reasons += problems
        flags += [f"broken: {p}" for p in problems]  # listed with the flagged ones
        functions = graded_functions(grade_ids)
        if functions:
            try:
                verification = verify_notebook(
                    graded,
                    graded_path.parent,
                    functions,
                    limits=settings["limits"],
                    course=course,
                    mode=settings["mode"],
                    bwrap=settings["bwrap"],
                    cell_timeout=settings["cell_timeout"],
                    wall_clock=None if deadline is None else deadline - time.time(),
                )
            except Exception as exc:  # noqa: BLE001 - never lose nbgrader's grades over it
                flags.append(f"NOT VERIFIED (verification failed: {type(exc).__name__}: {exc})")
                verification = Verification()
            if verification.error:
                flags.append(f"verification process: {verification.error}")
            flags += apply_verdicts(db_url, student, assignment, verification, deleted)
    elif deleted:
        flags += apply_verdicts(db_url, student, assignment, Verification(), deleted)

    db_path = gradebook_path(db_url)
    if db_path is not None:
        status = check_gradebook(db_path)
        if status != "ok":
            flags.append(f"GRADEBOOK DAMAGED (SQLite integrity check): {status[:200]}")
    result.flags = list(dict.fromkeys([*getattr(result, "flags", []), *flags]))
    if others and submitted is None:
        result.reason = reasons[0]  # more precise than "no notebook"
    elif reasons and not getattr(result, "reason", ""):
        result.reason = reasons[0] if len(reasons) == 1 else f"{reasons[0]} (+{len(reasons) - 1})"
    return result
