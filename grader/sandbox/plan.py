"""Limits and the bubblewrap plan: what one sandboxed kernel or process may use and see.

- `Limits` (memory, CPU, wall clock, output, file size) and `parse_size` for "2G"-style sizes;
- `bwrap_status` probes whether bubblewrap can start a sandbox here; `make_plan` turns the
  limits and the course directory into a `grader.sandbox.boxrun.Plan` (what to hide behind
  empty tmpfs, what to show again read-only, which overlays to mount), or raises
  `SandboxError` when `mode = "require"` and bubblewrap cannot run; `loud_warning` and
  `warn_unsandboxed` say so when grading goes on without it (`mode = "auto"`);
- `run_dir` / `new_box`: the private per-process folder of kernel boxes (mode 700);
- `signal_exit_code` / `death_reason`: one line saying why a sandboxed kernel died.

The launcher that carries a plan out is `grader.sandbox.boxrun` (stdlib only).
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from multiprocessing.util import Finalize
from pathlib import Path

from grader.sandbox.boxrun import BASE_FLAGS, EXIT_NOTEBOOK_TIMEOUT, Plan

log = logging.getLogger(__name__)

GIB = 1024**3
#: SandboxedExecute's defaults (`mode`, `bwrap`), here where nothing imports nbgrader.
DEFAULT_MODE = "auto"
DEFAULT_BWRAP = "bwrap"
#: Defaults of the limits (instructors override them in nbgrader_config.py).
DEFAULT_MEMORY = 2 * GIB
DEFAULT_CPU_SECONDS = 600
DEFAULT_NOTEBOOK_TIMEOUT = 600
DEFAULT_MAX_OUTPUT_BYTES = 100_000
DEFAULT_MAX_FILE_BYTES = 256 * 1024**2

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


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


def bwrap_status(bwrap: str = DEFAULT_BWRAP) -> BwrapStatus:
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
    bwrap: str = DEFAULT_BWRAP,
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


# --------------------------------------------------------------------------- boxes and deaths

_RUN_DIR: list[Path] = []
#: Each process's run folder is named with this prefix, in the system's temporary folder.
RUN_PREFIX = "backprop-sandbox-"
#: Held locked (flock) by the process that made the run folder, for as long as it lives: the
#: kernel releases the lock however the process ends, SIGKILL too, so a folder whose lock
#: can be taken is left over and the next process that makes one removes it.
OWNER_LOCK = ".owner.lock"
#: A lock file younger than this is never taken for left over: its process may have made
#: the file and not locked it yet.
STALE_AFTER_SECONDS = 60


def run_dir() -> Path:
    """This process's private folder of kernel boxes (mode 700), removed at exit; one left
    by a process that was killed (no exit handler ran) is removed by the next `run_dir`."""
    if not _RUN_DIR:
        remove_left_over()
        path = Path(tempfile.mkdtemp(prefix=RUN_PREFIX))
        os.chmod(path, 0o700)
        fd = os.open(path / OWNER_LOCK, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # kept open: held until this process ends
        _RUN_DIR.append(path)
        atexit.register(shutil.rmtree, path, True)
        # Pool workers leave through os._exit (no atexit): multiprocessing's finalizers run.
        Finalize(None, shutil.rmtree, args=(path, True), exitpriority=0)
    return _RUN_DIR[0]


def remove_left_over(tmp: Path | None = None) -> list[Path]:
    """Remove the run folders (in `tmp`, default the system's temporary folder) of this
    user's processes that ended without removing theirs (killed): those whose owner lock
    can be taken. Returns what was removed. A folder without a lock file, or of another
    user, or a symbolic link, is left alone."""
    tmp = Path(tmp or tempfile.gettempdir())
    removed = []
    try:
        names = [n for n in os.listdir(tmp) if n.startswith(RUN_PREFIX)]
    except OSError:
        return removed
    for name in names:
        folder = tmp / name
        try:
            st = os.lstat(folder)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            fd = os.open(folder / OWNER_LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if time.time() - os.fstat(fd).st_mtime < STALE_AFTER_SECONDS:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: its process lives
        except OSError:
            continue
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def new_box() -> Path:
    """A fresh private folder for one sandboxed process."""
    box = run_dir() / f"k-{uuid.uuid4().hex[:12]}"
    box.mkdir(mode=0o700)
    return box


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
