"""Student code runs in a sandbox: bubblewrap around the kernel, resource limits, capped output.

Every kernel that executes a student's notebook (nbgrader's autograde, `selfcheck`, the
out-of-process verification of `grader.verify.launch`) is started through
`python -m grader.sandbox.boxrun kernel ...`, a small wrapper that

- copies the notebook's working folder into a private per-kernel folder (the student's
  writes go there and are thrown away),
- starts the kernel under `bwrap` (Debian package `bubblewrap`): the whole file system
  read-only; `/tmp`, the course directory (gradebook, every student's submissions, source/)
  and this run's other kernels hidden behind empty tmpfs mounts; only the Python
  installation and the `grader` package shown again (read-only); the private copy mounted
  read-write at the working folder's path; no network (`--unshare-all`: its own network,
  PID, IPC, UTS and user namespaces), no new user namespaces, killed with its parent,
- caps address space (memory, default 2 GiB), CPU time, file size and core dumps with
  `setrlimit`, and kills the kernel when the whole notebook runs past its wall-clock limit.

A kernel in its own network namespace cannot reach the grader over TCP, so
`SandboxKernelManager` uses jupyter_client's `ipc` transport: ZeroMQ over Unix sockets in
the per-kernel folder, which is bind-mounted into the sandbox (and hidden from every other
kernel).

`SandboxedExecute` is nbgrader's `Execute` preprocessor with that kernel manager, a cap on
the bytes of output each cell keeps (nbgrader's `LimitOutput` counts lines, so one 50 MB line
passes it), a per-notebook time budget on top of the per-cell timeout, and a kernel that
dies (`os._exit`, a CPU or memory limit) turned into an error in that cell and "not run"
errors in the cells after it, so the cells that ran keep their scores and nbgrader saves
grades as usual.

Where bubblewrap cannot run (not installed, or user namespaces disabled), grading still
works with the resource limits only, and a loud warning once per run (`mode = "auto"`, the
default; `RunInfo.warning`, shown by the summary, report and export, never as a flag);
`mode = "require"` refuses to grade instead, and `mode = "off"` never tries bubblewrap.

nbgrader_config.py registers `SandboxedExecute` in place of nbgrader's `Execute`
(`c.Autograde.autograde_preprocessors`), so every route that grades uses it.

Instructors change the limits in `nbgrader_config.py` (see docs/sandbox.md)::

    c.SandboxedExecute.memory_limit = "4G"      # address space per kernel
    c.SandboxedExecute.cpu_time_limit = 900     # CPU seconds per notebook
    c.SandboxedExecute.notebook_timeout = 900   # wall clock per notebook, verification included
    c.SandboxedExecute.max_output_bytes = 100_000  # kept per cell; the rest is cut
    c.SandboxedExecute.mode = "auto"            # "auto" | "require" | "off"
    c.Execute.timeout = 60                      # seconds per cell (nbgrader's own)
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Bool, Int, Unicode, Union, default

from grader.sandbox.boxrun import (  # noqa: F401 - re-exported: the launcher's names
    BASE_FLAGS,
    EXIT_NOTEBOOK_TIMEOUT,
    HARD_KILL_GRACE,
    Plan,
    run_sandboxed,
)

log = logging.getLogger("grader.sandbox.execute")

GIB = 1024**3
#: Defaults of the limits (instructors override them in nbgrader_config.py).
DEFAULT_MEMORY = 2 * GIB
DEFAULT_CPU_SECONDS = 600
DEFAULT_NOTEBOOK_TIMEOUT = 600
DEFAULT_MAX_OUTPUT_BYTES = 100_000
DEFAULT_MAX_FILE_BYTES = 256 * 1024**2

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

#: Errors whose `ename` the sandbox writes into a cell (grader.verify.launch reads them back).
ENAME_KERNEL_DIED = "KernelDied"
ENAME_NOTEBOOK_TIME = "NotebookTimeLimit"
ENAME_NOT_RUN = "NotRun"
CUT_NOTE = "[output cut: {n} bytes]"
#: Set to "1" in a grading process (backprop-grader autograde's workers): `warm` and
#: `skip_after_graded` default to on there (nbgrader_config.py can still turn them off).
WARM_ENV = "BACKPROP_GRADER_WARM"
#: The output of a code cell after the last graded one, when grading skips those.
SKIPPED_NOTE = (
    "[not run during grading: this cell comes after the last graded cell, so it cannot "
    "change a grade; its output appears when you run the notebook yourself]\n"
)
CUT_NOTE_RE = re.compile(r"\[output cut: (\d+) bytes\]")


class SandboxError(RuntimeError):
    """The sandbox was required but cannot run; the message says what to do."""


def parse_size(value: int | str) -> int:
    """Bytes from an int or a string like "2G", "512M", "2GiB", "100000".

    Raises:
        ValueError: the string is not a size.
    """
    if isinstance(value, int):
        return value
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"not a size: {value!r} (write e.g. 2G, 512M or a number of bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel or verification process."""

    memory_bytes: int = DEFAULT_MEMORY
    cpu_seconds: int = DEFAULT_CPU_SECONDS
    notebook_timeout: int = DEFAULT_NOTEBOOK_TIMEOUT
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def describe(self) -> str:
        return (
            f"memory {self.memory_bytes / GIB:.3g} GiB, CPU {self.cpu_seconds} s, "
            f"notebook {self.notebook_timeout} s, output {self.max_output_bytes} bytes/cell"
        )


# --------------------------------------------------------------------------- bubblewrap


@dataclass
class BwrapStatus:
    """Whether bubblewrap can run here: its path, or the reason it cannot."""

    usable: bool
    path: str
    reason: str = ""


_STATUS_CACHE: dict[str, BwrapStatus] = {}


def bwrap_status(bwrap: str = "bwrap") -> BwrapStatus:
    """Probe (once per process and binary) whether `bwrap` can start a sandbox like ours."""
    if bwrap in _STATUS_CACHE:
        return _STATUS_CACHE[bwrap]
    path = shutil.which(bwrap) or ""
    if not path:
        status = BwrapStatus(
            False,
            bwrap,
            f"{bwrap!r} not found: install bubblewrap (apt-get install -y bubblewrap)",
        )
    else:
        cmd = [path, *BASE_FLAGS, "--", "/bin/sh", "-c", "exit 0"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            status = BwrapStatus(False, path, f"`{' '.join(cmd)}` failed: {exc}")
        else:
            if proc.returncode == 0:
                status = BwrapStatus(True, path)
            else:
                err = (proc.stderr or proc.stdout).strip().splitlines()
                status = BwrapStatus(
                    False,
                    path,
                    f"`bwrap` exited {proc.returncode}: {err[-1] if err else 'no message'} "
                    "(user namespaces disabled? see docs/sandbox.md)",
                )
    _STATUS_CACHE[bwrap] = status
    return status


def loud_warning(reason: str) -> str:
    """The banner printed (and flagged) when grading runs without bubblewrap."""
    return (
        "!!! SANDBOX OFF: student code runs WITHOUT bubblewrap (resource limits only; it can "
        f"read and write the course's files and use the network). Reason: {reason}"
    )


_WARNED: set[str] = set()


def warn_unsandboxed(reason: str) -> None:
    """Print the loud warning once per process, to stderr and the log."""
    if reason in _WARNED:
        return
    _WARNED.add(reason)
    banner = loud_warning(reason)
    bar = "!" * min(100, len(banner))
    print(f"\n{bar}\n{banner}\n{bar}\n", file=sys.stderr, flush=True)
    log.warning(banner)


def default_hidden(course: Path | None) -> list[str]:
    """Folders a student's code must not see: the course directory (gradebook, every
    submission, source/) when known."""
    hidden = []
    if course is not None:
        hidden.append(str(Path(course).resolve()))
    return hidden


def default_exposed() -> list[str]:
    """Read-only paths a kernel needs even when they lie inside a hidden folder: the Python
    installation (the venv), the `grader` package and the student package `backprop_checks`
    (test cells import backprop_checks.checks, which hands hidden checks to grader)."""
    import backprop_checks

    import grader

    paths = {sys.prefix, sys.base_prefix, str(Path(grader.__file__).resolve().parent)}
    paths.add(str(Path(backprop_checks.__file__).resolve().parent))
    return sorted(paths)


def make_plan(
    limits: Limits,
    *,
    course: Path | None,
    mode: str = "auto",
    bwrap: str = "bwrap",
    overlay: dict[str, str] | None = None,
) -> tuple[Plan, str]:
    """A plan for one sandboxed process and a warning ("" when sandboxed).

    Raises:
        SandboxError: mode is "require" and bubblewrap cannot run.
        ValueError: an unknown mode.
    """
    if mode not in ("auto", "require", "off"):
        raise ValueError(f"sandbox mode must be 'auto', 'require' or 'off', not {mode!r}")
    warning = ""
    path: str | None = None
    if mode == "off":
        warning = loud_warning("the sandbox is turned off (SandboxedExecute.mode = 'off')")
    else:
        status = bwrap_status(bwrap)
        if status.usable:
            path = status.path
        elif mode == "require":
            raise SandboxError(
                f"bubblewrap is required (SandboxedExecute.mode = 'require') but cannot run: "
                f"{status.reason}"
            )
        else:
            warning = loud_warning(status.reason)
    plan = Plan(
        limits=asdict(limits),
        bwrap=path,
        hide=default_hidden(course),
        expose=default_exposed(),
        overlay=dict(overlay or {}),
    )
    return plan, warning


# --------------------------------------------------------------------------- kernels

_RUN_DIR: list[Path] = []


def run_dir() -> Path:
    """This process's private folder of kernel boxes (mode 700, removed at exit)."""
    if not _RUN_DIR:
        path = Path(tempfile.mkdtemp(prefix="backprop-sandbox-"))
        os.chmod(path, 0o700)
        _RUN_DIR.append(path)
        atexit.register(shutil.rmtree, path, True)
        # Pool workers leave through os._exit (no atexit): multiprocessing's finalizers run.
        Finalize(None, shutil.rmtree, args=(path, True), exitpriority=0)
    return _RUN_DIR[0]


def new_box() -> Path:
    """A fresh private folder for one sandboxed process."""
    box = run_dir() / f"k-{uuid.uuid4().hex[:12]}"
    box.mkdir(mode=0o700)
    return box


class SandboxKernelManager(AsyncKernelManager):
    """An ipykernel started through the sandbox wrapper, talking ZeroMQ over Unix sockets.

    The connection file and the sockets live in a per-kernel folder (`box`) that is
    bind-mounted into that kernel's sandbox only.
    """

    plan_json = Unicode("", help="the sandbox plan (grader.sandbox.execute.Plan as JSON)")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_name = "python3"  # an ipykernel: nbclient adds the in-memory history
        self.transport = "ipc"
        self.box = new_box()
        self.connection_file = str(self.box / "kernel.json")
        self.ip = str(self.box / "ipc")

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[
                    sys.executable,
                    "-m",
                    "grader.sandbox.boxrun",
                    "kernel",
                    self.plan_json,
                    "-f",
                    "{connection_file}",
                ],
                display_name="Python 3 (backprop-course sandbox)",
                language="python",
                interrupt_mode="signal",
                metadata={},
                env={},
                resource_dir=str(self.box),
            )
        return self._kernel_spec

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        await super().cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.box, ignore_errors=True)

    def exit_code(self) -> int | None:
        """The wrapper's exit code once the kernel has exited (None while it runs)."""
        process = getattr(self.provisioner, "process", None)
        if process is None:
            return None
        for _ in range(20):
            code = process.poll()
            if code is not None:
                return code
            time.sleep(0.1)
        return None


def signal_exit_code(code: int) -> int:
    """An exit code as 128 + N when it says "killed by signal N", however it was reported:
    bwrap passes 128 + N on, Popen gives -N, and a wrapper's sys.exit(-N) becomes 256 - N."""
    if code < 0:
        return 128 - code
    if 256 - 64 < code < 256:
        return 128 + (256 - code)
    return code


def death_reason(code: int | None, limits: Limits) -> str:
    """One line saying why a sandboxed kernel died, from its exit code."""
    if code is None:
        return "the kernel stopped responding"
    code = signal_exit_code(code)
    if code == EXIT_NOTEBOOK_TIMEOUT:
        return f"the notebook ran longer than its limit of {limits.notebook_timeout} s"
    if code == 128 + signal.SIGXCPU:
        return f"the notebook used more than its {limits.cpu_seconds} s of CPU time"
    if code == 128 + signal.SIGKILL:
        return "the kernel was killed (out of memory or over a limit)"
    if code in (128 + signal.SIGSEGV, 128 + signal.SIGABRT):
        return (
            f"the kernel crashed (signal {code - 128}; "
            f"memory limit {limits.memory_bytes / GIB:.3g} GiB?)"
        )
    if code == 0:
        return "the kernel exited (exit() or quit() in a cell?)"
    return f"the kernel exited with code {code} (os._exit or a crash in a cell)"


# --------------------------------------------------------------------------- output cap


#: Images (a plot's PNG) get this many times the text budget of a cell.
IMAGE_FACTOR = 10


def _size(value: Any) -> int:
    return len(value if isinstance(value, str) else json.dumps(value))


def output_bytes(out: NotebookNode) -> int:
    """Bytes of text an output holds (stream text, non-image data values, traceback)."""
    kind = out.get("output_type")
    if kind == "stream":
        return len(str(out.get("text", "")).encode("utf-8", "replace"))
    if kind == "error":
        tb = out.get("traceback", [])
        return sum(len(str(line)) for line in tb) + len(str(out.get("evalue", "")))
    data = out.get("data", {}) or {}
    return sum(_size(v) for k, v in data.items() if not k.startswith("image/"))


def image_bytes(out: NotebookNode) -> int:
    """Bytes of image data (e.g. base64 PNG) an output holds."""
    data = out.get("data", {}) or {}
    return sum(_size(v) for k, v in data.items() if k.startswith("image/"))


def _clip(text: str, keep: int) -> str:
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= keep:
        return text
    return encoded[:keep].decode("utf-8", "ignore")


def shrink_output(out: NotebookNode, keep: int) -> int:
    """Cut an output down to about `keep` bytes in place; return the bytes removed."""
    before = output_bytes(out)
    if before <= keep:
        return 0
    kind = out.get("output_type")
    if kind == "stream":
        out["text"] = _clip(str(out.get("text", "")), keep)
    elif kind == "error":
        tb = [str(line) for line in out.get("traceback", [])]
        kept: list[str] = []
        size = 0
        for line in reversed(tb):  # the end of a traceback says what failed
            line = _clip(line, max(0, keep - size))
            if not line:
                break
            kept.insert(0, line)
            size += len(line)
        out["traceback"] = kept
        out["evalue"] = _clip(str(out.get("evalue", "")), 2000)
    else:
        data = out.get("data", {}) or {}
        text = data.get("text/plain")
        images = {k: v for k, v in data.items() if k.startswith("image/")}
        out["data"] = {**images, "text/plain": _clip(text if isinstance(text, str) else "", keep)}
    return max(0, before - output_bytes(out))


def cut_note(n: int) -> NotebookNode:
    """The stdout note added to a cell whose output was cut."""
    return NotebookNode(output_type="stream", name="stdout", text=f"\n{CUT_NOTE.format(n=n)}\n")


def cap_cell_outputs(cell: NotebookNode, max_bytes: int) -> int:
    """Keep at most ~max_bytes of output in a code cell, then a note; return bytes cut.

    Never drops what grading reads: every error output, the last execute_result and one
    stream output per stream name (nbgrader scores any stderr output as a failure) stay,
    shortened; other outputs past the budget are dropped.
    """
    if cell.get("cell_type") != "code" or not cell.get("outputs"):
        return 0
    existing = sum(
        int(m.group(1))
        for out in cell.outputs
        if out.get("output_type") == "stream"
        for m in CUT_NOTE_RE.finditer(str(out.get("text", "")))
    )
    outputs = [
        o
        for o in cell.outputs
        if not (o.get("output_type") == "stream" and CUT_NOTE_RE.search(str(o.get("text", ""))))
    ]
    budget, cut, kept, streams = max_bytes, 0, [], set()
    image_budget = max_bytes * IMAGE_FACTOR
    for out in outputs:
        images = image_bytes(out)
        if images and images <= image_budget:
            image_budget -= images
        elif images:
            data = out["data"]
            for key in [k for k in data if k.startswith("image/")]:
                del data[key]
            data.setdefault("text/plain", "[image cut]")
            cut += images
        size = output_bytes(out)
        kind = out.get("output_type")
        essential = kind in ("error", "execute_result") or (
            kind == "stream" and out.get("name") not in streams
        )
        if size <= budget:
            budget -= size
            kept.append(out)
        elif essential:
            cut += shrink_output(out, max(budget, 1000))
            budget = max(0, budget - output_bytes(out))
            kept.append(out)
        else:
            cut += size
        if kind == "stream":
            streams.add(out.get("name"))
    if cut or existing:
        kept.append(cut_note(cut + existing))
    cell.outputs = kept
    return cut


class CapOutputBytes(NbGraderPreprocessor):
    """Cap each code cell's output at `max_output_bytes`, with an "[output cut: N bytes]"
    note (for autograded notebooks and feedback; nbgrader's LimitOutput counts lines)."""

    max_output_bytes = Int(DEFAULT_MAX_OUTPUT_BYTES, help="bytes of output kept per cell").tag(
        config=True
    )

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple:
        cap_cell_outputs(cell, self.max_output_bytes)
        return cell, resources


# --------------------------------------------------------------------------- Execute


@dataclass
class RunInfo:
    """How one notebook was executed (read by the post-grading step in the same process)."""

    started: float  #: time.time() when the notebook started
    limit: int  #: the notebook's whole wall-clock limit (grading and verification), seconds
    sandboxed: bool
    warning: str = ""  #: why the kernel ran without bubblewrap ("" when sandboxed)
    hung: list[str] = field(default_factory=list)  #: functions stopped after a timeout

    @property
    def deadline(self) -> float:
        return self.started + self.limit


#: nbgrader's Autograde.post_convert_hook of the course (grader.pipeline.hooks).
VERIFY_HOOK = "grader.pipeline.hooks.post_convert"
#: (student, assignment, notebook) -> how its last execution in this process went.
RUNS: dict[tuple[str, str, str], RunInfo] = {}

#: Run in the kernel after a cell ran past its time limit (and was interrupted): the
#: student function that was running (innermost frame of the interrupted traceback) is
#: replaced by one that raises at once, so each later cell that calls it costs nothing
#: instead of another timeout. Returns the function's name ("" when none was found).
QUARANTINE = r"""
def __grader_quarantine(limit):
    import sys, types
    g = globals()
    tb, hung = getattr(sys, "last_traceback", None), ""
    while tb is not None:
        code = tb.tb_frame.f_code
        fn = g.get(code.co_name)
        if isinstance(fn, types.FunctionType) and fn.__code__ is code:
            hung = code.co_name
        tb = tb.tb_next
    if hung:
        def stopped(*args, **kwargs):
            raise TimeoutError(
                f"{hung} did not finish within the {limit} s time limit in an earlier "
                "cell, so it is not run again"
            )
        stopped.__name__ = stopped.__qualname__ = hung
        g[hung] = stopped
    return hung
__grader_hung = __grader_quarantine(LIMIT)
del __grader_quarantine
"""


class SandboxedExecute(Execute):
    """nbgrader's Execute with sandboxed kernels, an output cap and a notebook time budget."""

    memory_limit = Union(
        [Int(), Unicode()], default_value="2G", help="address space per kernel, e.g. 2G"
    ).tag(config=True)
    cpu_time_limit = Int(DEFAULT_CPU_SECONDS, help="CPU seconds per notebook").tag(config=True)
    notebook_timeout = Int(DEFAULT_NOTEBOOK_TIMEOUT, help="wall-clock seconds per notebook").tag(
        config=True
    )
    max_output_bytes = Int(DEFAULT_MAX_OUTPUT_BYTES, help="bytes of output kept per cell").tag(
        config=True
    )
    max_file_bytes = Union([Int(), Unicode()], default_value="256M", help="largest file").tag(
        config=True
    )
    mode = Unicode("auto", help="'auto' (warn without bwrap), 'require' or 'off'").tag(config=True)
    bwrap = Unicode("bwrap", help="the bubblewrap binary").tag(config=True)
    course_root = Unicode(
        "", help="the course directory to hide (default: CourseDirectory.root)"
    ).tag(config=True)
    verify_reserve = Int(
        120,
        help="seconds of notebook_timeout kept for the verification after grading (at most "
        "half of it): the kernel gets the rest, verification what is left when it is done",
    ).tag(config=True)
    sandboxed = Bool(True, help="set after each run: whether bubblewrap was used")
    warm = Bool(
        False,
        help="fork each kernel from a warm zygote in a per-process sandbox "
        "(grader.sandbox.zygote; bubblewrap only): no interpreter start or imports per "
        "notebook, figures noted instead of drawn. `backprop-grader autograde` sets it",
    ).tag(config=True)
    skip_after_graded = Bool(
        False,
        help="do not run code cells after the last graded cell (they cannot change a grade); "
        "each gets a note saying so. `backprop-grader autograde` sets it",
    ).tag(config=True)

    @default("warm")
    def _warm_default(self) -> bool:
        return os.environ.get(WARM_ENV) == "1"

    @default("skip_after_graded")
    def _skip_default(self) -> bool:
        return os.environ.get(WARM_ENV) == "1"

    @default("extra_arguments")
    def _extra_arguments_default(self) -> list[str]:
        # No history file per kernel; ipykernel's start-up warnings stay out of the log.
        return ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]

    def kernel_budget(self) -> int:
        """Seconds the kernel may run: notebook_timeout less the verification's reserve."""
        reserve = max(0, min(self.verify_reserve, self.notebook_timeout // 2))
        return max(1, self.notebook_timeout - reserve)

    @default("course_root")
    def _course_root_default(self) -> str:
        root = self.config.get("CourseDirectory", {}).get("root", "")
        return str(root) if root else ""

    def limits(self) -> Limits:
        return Limits(
            memory_bytes=parse_size(self.memory_limit),
            cpu_seconds=self.cpu_time_limit,
            notebook_timeout=self.notebook_timeout,
            max_output_bytes=self.max_output_bytes,
            max_file_bytes=parse_size(self.max_file_bytes),
        )

    def create_kernel_manager(self) -> SandboxKernelManager:
        plan, warning = make_plan(
            self.limits(),
            course=Path(self.course_root) if self.course_root else None,
            mode=self.mode,
            bwrap=self.bwrap,
        )
        self.sandboxed = not warning
        self._warning = warning.split("Reason: ", 1)[-1] if warning else ""
        if warning:
            warn_unsandboxed(self._warning)
        reserve = self.notebook_timeout - self.kernel_budget()
        # The wrapper's last-resort kill stays inside the notebook's one limit.
        plan.limits["hard_kill_after"] = self.kernel_budget() + max(
            1, min(HARD_KILL_GRACE, reserve)
        )
        self.km = None
        if self.warm:
            from grader.sandbox.warm import warm_kernel_manager

            self.km = warm_kernel_manager(self.config, plan, self.log)
            if self.km is not None:  # the zygote kills whatever is left: no grace needed
                self.shutdown_kernel = "immediate"
        if self.km is None:
            self.km = SandboxKernelManager(config=self.config, plan_json=plan.to_json())
        return self.km

    # -- per-notebook state
    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple:
        self._deadline = time.monotonic() + self.kernel_budget()
        self._stopped = ""
        self._warning = ""
        self._cut: dict[int, int] = {}
        self._used: dict[int, int] = {}
        self._hung: list[str] = []
        self._last_graded = max(
            (
                i
                for i, c in enumerate(nb.cells)
                if c.get("metadata", {}).get("nbgrader", {}).get("grade")
            ),
            default=len(nb.cells),
        )
        self.timeout_func = self._cell_timeout
        ids = (resources or {}).get("nbgrader", {})
        key = (
            str(ids.get("student", "")),
            str(ids.get("assignment", "")),
            str(ids.get("notebook", "")),
        )
        info = RunInfo(time.time(), self.notebook_timeout, True)
        RUNS[key] = info
        if os.environ.get("NBGRADER_EXECUTION") == "autograde":
            self._check_hook()
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            info.sandboxed, info.warning, info.hung = self.sandboxed, self._warning, self._hung

    def _cell_timeout(self, cell: NotebookNode) -> int:
        remaining = int(self._deadline - time.monotonic())
        limit = self.timeout if self.timeout and self.timeout > 0 else remaining
        return max(1, min(limit, remaining))

    def _check_hook(self) -> None:
        """Say loudly when nbgrader grades without the course's verification hook."""
        hook = self.config.get("Autograde", {}).get("post_convert_hook")
        name = f"{getattr(hook, '__module__', '')}.{getattr(hook, '__name__', '')}"
        if VERIFY_HOOK not in (hook, name) and VERIFY_HOOK not in _WARNED:
            _WARNED.add(VERIFY_HOOK)
            banner = (
                "!!! NOT VERIFIED: this nbgrader configuration has no "
                f"c.Autograde.post_convert_hook = {VERIFY_HOOK!r}: its grades are not checked "
                "outside the student's process, and export and report will flag them"
            )
            print(f"\n{banner}\n", file=sys.stderr, flush=True)
            log.warning(banner)

    async def async_execute_cell(
        self,
        cell: NotebookNode,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> NotebookNode:
        runs = cell.cell_type == "code" and cell.source.strip()
        if runs and self.skip_after_graded and cell_index > self._last_graded:
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=SKIPPED_NOTE)]
            return cell
        if runs and not self._stopped and time.monotonic() >= self._deadline:
            self._stopped = f"the notebook ran longer than its limit of {self.notebook_timeout} s"
            self._error(cell, ENAME_NOTEBOOK_TIME, self._stopped)
            await self._stop_kernel()
            return cell
        if runs and self._stopped:
            cell.outputs = []
            self._error(cell, ENAME_NOT_RUN, f"not run: {self._stopped} in an earlier cell")
            return cell
        try:
            cell = await super().async_execute_cell(
                cell, cell_index, execution_count=execution_count, store_history=store_history
            )
            if runs and any(
                o.get("output_type") == "error"
                and o.get("ename") == self.error_on_timeout.get("ename")
                for o in cell.get("outputs", [])
            ):
                await self._quarantine(cell)
            return cell
        except DeadKernelError:
            code = self.km.exit_code() if isinstance(self.km, SandboxKernelManager) else None
            self._stopped = death_reason(code, self.limits())
            self._error(cell, ENAME_KERNEL_DIED, self._stopped)
            return cell
        except CellTimeoutError:
            # The interrupt did not stop the cell (signals ignored, or stuck in C code):
            # stop the kernel so the notebook's other cells are not held up behind it.
            self._stopped = (
                f"a cell ran longer than {self._cell_timeout(cell)} s and ignored the interrupt"
            )
            self._error(cell, ENAME_KERNEL_DIED, self._stopped)
            await self._stop_kernel()
            return cell
        finally:
            if runs:
                self._finish_cell(cell, cell_index)

    execute_cell = run_sync(async_execute_cell)

    async def _quarantine(self, cell: NotebookNode) -> None:
        """After a cell timed out: stop the function that hung from costing another timeout
        in every later cell that calls it (see QUARANTINE)."""
        from queue import Empty

        limit = self._cell_timeout(cell)
        msg_id = self.kc.execute(
            QUARANTINE.replace("LIMIT", str(int(self.timeout or limit))),
            silent=True,
            store_history=False,
            user_expressions={"hung": "__grader_hung"},
        )
        wait = min(10.0, max(1.0, self._deadline - time.monotonic()))
        end = time.monotonic() + wait
        while True:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=max(0.1, end - time.monotonic()))
            except Empty:  # still busy (a flood of output, heavy load): leave it to the
                return  # next cell's own timeout, which stops a kernel that ignores interrupts
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                break
        value = msg["content"].get("user_expressions", {}).get("hung", {})
        name = str(value.get("data", {}).get("text/plain", "")).strip("'\"")
        if name and name not in self._hung:
            self._hung.append(name)

    async def _stop_kernel(self) -> None:
        try:
            if self.km is not None:
                await self.km.shutdown_kernel(now=True)
        except Exception as exc:  # noqa: BLE001 - best effort; the wrapper kills it anyway
            self.log.warning("could not stop the kernel: %s", exc)

    @staticmethod
    def _error(cell: NotebookNode, ename: str, message: str) -> None:
        cell.setdefault("outputs", []).append(
            NotebookNode(
                output_type="error",
                ename=ename,
                evalue=message,
                traceback=[f"\x1b[0;31m{ename}\x1b[0m: {message}"],
            )
        )

    def output(
        self, outs: list, msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        # Cap as output arrives, so a flood never accumulates in memory.
        size = output_bytes(out) + image_bytes(out) // IMAGE_FACTOR
        used = self._used.get(cell_index, 0) + size
        self._used[cell_index] = used
        if used > self.max_output_bytes * 2:
            probe = NotebookNode(cell_type="code", outputs=list(outs))
            self._cut[cell_index] = self._cut.get(cell_index, 0) + cap_cell_outputs(
                probe, self.max_output_bytes
            )
            outs[:] = [
                o
                for o in probe.outputs
                if not (o.get("output_type") == "stream" and CUT_NOTE_RE.search(o.get("text", "")))
            ]
            self._used[cell_index] = sum(
                output_bytes(o) + image_bytes(o) // IMAGE_FACTOR for o in outs
            )
        return out

    def _finish_cell(self, cell: NotebookNode, cell_index: int) -> None:
        earlier = self._cut.pop(cell_index, 0)
        self._used.pop(cell_index, None)
        if earlier:
            cell.outputs.append(cut_note(earlier))
        cap_cell_outputs(cell, self.max_output_bytes)


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.sandbox check`: say whether bubblewrap can sandbox kernels here."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":
        status = bwrap_status()
        if status.usable:
            print(f"bubblewrap works here ({status.path}): kernels are sandboxed.")
            return 0
        print(loud_warning(status.reason))
        return 1
    print("usage: python -m grader.sandbox check", file=sys.stderr)
    return 2
