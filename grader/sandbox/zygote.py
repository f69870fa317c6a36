"""The fork server (zygote) inside the sandbox: warm interpreters, one fresh child per notebook.

`python -m grader.sandbox.zygote SPEC_JSON` runs *inside* bubblewrap (grader.sandbox.warm
starts it: the whole file system read-only, the course hidden, its own PID, IPC, network,
UTS and user namespaces, killed with its parent). It imports once what every grading
kernel imports (IPython, ipykernel, numpy, matplotlib with the non-drawing backend of
grader.sandbox.nofigures, the student package and `grader.judge.hidden`), then serves
requests from the grader on its stdin/stdout, one job at a time:

- `spawn`: fork a child that becomes the job (an ipykernel with the given connection file,
  or a Python script such as the verification runner) with the notebook's limits set by
  setrlimit, its own session, a clean environment and fresh random seeds;
- `poll`, `signal`: the child's exit code; a signal for it (interrupts, kills);
- `finish`: after the job, kill *every* other process in the sandbox's PID namespace
  (`kill(-1, SIGKILL)` until none is left: background processes and daemons die), remove
  System V IPC objects, empty the shared kernel keyrings, and wipe every writable place
  (/tmp with HOME in it, /dev/shm, new entries of /dev, the shared job folder, every other
  writable tmpfs mount such as the one hiding the course directory), so nothing of one
  submission reaches the next.

The zygote never runs student code: each child starts from the zygote's own untouched
memory, so a module a submission patched dies with that submission's child. The zygote is
not dumpable (`PR_SET_DUMPABLE` 0: no child can ptrace it or write its memory), its control
pipes are closed in the child, and it holds no thread or ZeroMQ context when it forks. A
child that kills the zygote ends the whole sandbox (bwrap's init goes with it); the grader
starts a fresh zygote for the next submission (docs/sandbox.md).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import select
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
IPC_RMID = 0
#: keyctl(2): the syscall number (x86-64, aarch64 differ), KEYCTL_CLEAR, and the special
#: keyrings a child shares with the zygote (session -3, user -4, user session -5).
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
KEYCTL_CLEAR = 7
SHARED_KEYRINGS = (-3, -4, -5)
HOME = "/tmp/home"
#: The exit code reported for a child killed at its wall-clock limit (as boxrun's).
EXIT_NOTEBOOK_TIMEOUT = 124


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def preload(kind: str) -> None:
    """Import what every job of this kind imports (the expensive part of a kernel start)."""
    import numpy  # noqa: F401

    if kind == "kernel":
        import matplotlib

        matplotlib.use("module://grader.sandbox.nofigures")
        import backprop_checks.checks  # noqa: F401
        import backprop_checks.mistakes  # noqa: F401
        import ipykernel.debugger  # noqa: F401  (0.4 s of every cold kernel's start)
        import ipykernel.ipkernel  # noqa: F401
        import ipykernel.kernelapp  # noqa: F401
        import IPython.core.interactiveshell  # noqa: F401
        import matplotlib.pyplot  # noqa: F401
        import numpy.linalg  # noqa: F401

        import grader.sandbox.nofigures  # noqa: F401

        try:
            precompute_hidden()
        except ImportError:  # no instructor package here: hidden checks say so themselves
            pass
    # A verification zygote imports its runner module (spec["preload"]) and runs the
    # runner's own `warm_up` (main, below): one list, used by cold runners too.


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
        h.update(f"{value.dtype}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(f"{type(value).__name__}={value!r}".encode())


def _memoized(method: Any, name: str) -> Any:
    """`method` of ReferenceTruth, answered from a table keyed by its arguments' content."""
    import hashlib

    table: dict[bytes, Any] = {}

    def memo(self: Any, *args: Any) -> Any:
        h = hashlib.blake2b(name.encode(), digest_size=20)
        _digest(list(args), h)
        key = h.digest()
        if key not in table:
            table[key] = method(self, *args)
        return table[key]

    memo.__name__ = memo.__qualname__ = name
    return memo


def precompute_hidden() -> None:
    """The hidden checks' right answers and misconception variants, computed once.

    The hidden cases in a grading kernel use a fixed seed (backprop_checks.catalog
    DEFAULT_SEED), so their reference answers, variants and training runs are the same
    for every student. `grader.judge.hidden.ReferenceTruth` answers from tables keyed by
    the *content* of its arguments (a case a student's code changed in place is computed
    afresh), filled here by running every hidden check on the reference solution. The
    tables are the zygote's: a child's changes to them die with the child.
    """
    import contextlib
    import io

    from backprop_checks import checks

    from grader.judge import hidden, reference

    for method in ("expected", "variants", "init_params", "descent", "gradients"):
        setattr(
            hidden.ReferenceTruth,
            method,
            _memoized(getattr(hidden.ReferenceTruth, method), method),
        )
    with contextlib.redirect_stdout(io.StringIO()):
        for attr in dir(checks):
            fn = getattr(reference, attr[len("check_") :], None)
            if attr.startswith("check_") and callable(fn):
                try:
                    getattr(checks, attr)(fn, hidden=True)
                except Exception:  # noqa: BLE001 - a check that cannot warm up stays cold
                    continue


# --------------------------------------------------------------------------- the child


def _set_limits(limits: dict[str, int]) -> None:
    pairs = [
        (resource.RLIMIT_AS, limits.get("memory_bytes", 0)),
        (resource.RLIMIT_CPU, limits.get("cpu_seconds", 0)),
        (resource.RLIMIT_FSIZE, limits.get("max_file_bytes", 0)),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MSGQUEUE, 0),  # no POSIX message queue can outlive the job
    ]
    for which, value in pairs:
        if value is None or (
            value <= 0 and which not in (resource.RLIMIT_CORE, resource.RLIMIT_MSGQUEUE)
        ):
            continue
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value if which != resource.RLIMIT_CPU else hard))


def _child(job: dict, control: tuple[int, int]) -> None:
    """Become the job (never returns)."""
    code = 1
    try:
        os.setsid()
        for fd in control:
            os.close(fd)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open("/dev/null", os.O_RDONLY)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 65536)
        _set_limits(job["limits"])
        os.environ.clear()
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
        import random

        random.seed()
        import numpy

        numpy.random.seed()
        if job["kind"] == "kernel":
            sys.path.insert(0, job["cwd"])  # as `python -m ipykernel_launcher` run there
            _run_kernel(job["argv"])
            code = 0
        else:  # a module, as `python -I -m MODULE ARGV...` runs it
            import runpy

            sys.argv = [job["module"], *job["argv"]]
            runpy.run_module(job["module"], run_name="__main__", alter_sys=True)
            code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the traceback goes to the job's log
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _run_kernel(argv: list[str]) -> None:
    from ipykernel.kernelapp import IPKernelApp

    from grader.sandbox.nofigures import neutralise_magic

    app = IPKernelApp.instance()
    app.initialize(argv)
    neutralise_magic(app.shell)
    app.start()


# --------------------------------------------------------------------------- clean-up


def _kill_all() -> None:
    """SIGKILL every process of this PID namespace but the zygote and bwrap's init."""
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break
        _reap()
        time.sleep(0.002)
    _reap()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _remove_sysv_ipc() -> None:
    libc = _libc()
    for kind, call in (("shm", "shmctl"), ("msg", "msgctl"), ("sem", "semctl")):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 1:
                ipc_id = int(parts[1])
                if kind == "sem":
                    libc.semctl(ipc_id, 0, IPC_RMID)
                else:
                    getattr(libc, call)(ipc_id, IPC_RMID, None)


def _wipe(path: str, keep: set[str] | None = None) -> None:
    """Remove everything inside `path` (but the paths in `keep`, and the folders leading to
    them, whose other entries go), whatever its modes."""
    keep = keep or set()
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        full = os.path.join(path, name)
        if full in keep:
            continue
        if any(k.startswith(full + "/") for k in keep) and not os.path.islink(full):
            _wipe(full, keep)
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            for root, dirs, _files in os.walk(full):
                for d in dirs:
                    try:
                        os.chmod(os.path.join(root, d), 0o700)
                    except OSError:
                        pass
            try:
                os.chmod(full, 0o700)
            except OSError:
                pass
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


def _clear_keyrings() -> None:
    """Empty the kernel keyrings every process of this sandbox shares (its user namespace's
    user keyrings and the zygote's session keyring): a key one submission added is gone."""
    if SYS_KEYCTL is None:
        return
    libc = _libc()
    for ring in SHARED_KEYRINGS:
        libc.syscall(SYS_KEYCTL, KEYCTL_CLEAR, ring)


def _writable_tmpfs() -> list[str]:
    """Mount points of this sandbox's writable tmpfs mounts (from /proc/self/mountinfo)."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        fstype = fields[fields.index("-") + 1]
        if fstype == "tmpfs" and "rw" in fields[5].split(","):
            mounts.append(fields[4].encode().decode("unicode_escape"))
    return mounts


def _fresh_home() -> None:
    for sub in (".mpl", ".ipython"):
        os.makedirs(os.path.join(HOME, sub), exist_ok=True)


# --------------------------------------------------------------------------- the server


class Server:
    """One zygote: a loop over requests on fd 0, answers on fd 1 (JSON lines)."""

    def __init__(self, spec: dict, control: tuple[int, int]) -> None:
        self.spec = spec
        self.control = control
        self.child = 0
        self.code: int | None = None
        self.deadline = 0.0
        self.buffer = b""
        self.dev = {os.path.join("/dev", n) for n in os.listdir("/dev")}

    def send(self, **message: Any) -> None:
        os.write(self.control[1], (json.dumps(message) + "\n").encode())

    def serve(self) -> None:
        self.send(ready=True, pid=os.getpid())
        while True:
            ready, _, _ = select.select([self.control[0]], [], [], 0.1)
            self.check_child()
            if not ready:
                continue
            data = os.read(self.control[0], 65536)
            if not data:
                _kill_all()
                return
            self.buffer += data
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                self.handle(json.loads(line))

    def check_child(self) -> None:
        if not self.child or self.code is not None:
            return
        if self.deadline and time.monotonic() > self.deadline:
            os.kill(self.child, signal.SIGKILL)
            os.waitpid(self.child, 0)
            self.code = EXIT_NOTEBOOK_TIMEOUT
            return
        pid, status = os.waitpid(self.child, os.WNOHANG)
        if pid:
            self.code = os.waitstatus_to_exitcode(status)
            if self.code < 0:
                self.code = 128 - self.code

    def handle(self, req: dict) -> None:
        op = req.get("op")
        if op == "spawn":
            if self.child and self.code is None:
                self.send(error="a job is still running")
                return
            # Whatever an earlier job left (the grader always asks to finish; this is in case
            # it could not): all of it goes, but the new job's own folder.
            self.finish(keep=os.path.dirname(req["job"]["log"]))
            self.code = None
            hard = float(req.get("hard_kill_after") or 0)
            self.deadline = time.monotonic() + hard if hard > 0 else 0.0
            import threading

            if threading.active_count() != 1:  # never fork with threads about
                self.send(error="the zygote has threads; it cannot fork safely")
                return
            pid = os.fork()
            if pid == 0:
                _child(req["job"], self.control)
            self.child = pid
            self.send(pid=pid)
        elif op == "poll":
            self.check_child()
            self.send(code=self.code)
        elif op == "signal":
            if self.child and self.code is None:
                try:
                    os.killpg(self.child, int(req["signal"]))
                except OSError:
                    try:
                        os.kill(self.child, int(req["signal"]))
                    except OSError:
                        pass
            self.send(ok=True)
        elif op == "finish":
            code = self.finish(keep=str(req.get("keep") or ""))
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.send(code=code, cpu=usage.ru_utime + usage.ru_stime)
        else:
            self.send(error=f"unknown request {op!r}")

    def finish(self, keep: str = "") -> int | None:
        """Kill every process but the zygote, wipe every writable place (see module doc)."""
        _kill_all()
        if self.child and self.code is None:
            self.code = 128 + signal.SIGKILL
        code, self.child = self.code, 0
        _remove_sysv_ipc()
        _clear_keyrings()
        shared = self.spec["shared"]
        _wipe("/tmp", keep={shared})  # the shared folder is mounted under /tmp
        _wipe("/dev/shm")
        for mount in _writable_tmpfs():  # the hidden folders' empty tmpfs (the course's...)
            if mount not in ("/tmp", "/dev/shm", "/dev") and not mount.startswith("/tmp/"):
                _wipe(mount)
        for name in os.listdir("/dev"):
            full = os.path.join("/dev", name)
            if full not in self.dev:
                _wipe("/dev", keep=self.dev)
                break
        _wipe(shared, keep={keep} if keep else None)
        _fresh_home()
        return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m grader.sandbox.zygote SPEC_JSON", file=sys.stderr)
        return 2
    spec = json.loads(argv[0])
    # Nothing importable from the folder the zygote started in (the shared job folder).
    here = {"", os.getcwd(), spec["shared"], os.path.dirname(os.path.abspath(__file__))}
    sys.path[:] = [p for p in sys.path if p not in here]
    libc = _libc()
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # The control pipes move off fds 0 and 1, so nothing printed while importing (or by a
    # child) can be read as an answer.
    control = (os.dup(0), os.dup(1))
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    _fresh_home()
    preload(spec["kind"])
    for name in spec.get("preload", ()):  # the caller's own module (verification's runner)
        warm_up = getattr(importlib.import_module(name), "warm_up", None)
        if callable(warm_up):
            warm_up()
    Server(spec, control).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
