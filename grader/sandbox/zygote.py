"""The fork server (zygote) inside the sandbox: warm interpreters, one fresh child per notebook.

`python -m grader.sandbox.zygote SPEC_JSON` runs *inside* bubblewrap
(grader.sandbox.zygote_host starts it: the whole file system read-only, the course hidden,
its own PID, IPC, network, UTS and user namespaces, killed with its parent). A kernel
zygote imports once what every grading kernel imports (grader.sandbox.kernel_preload), a
verification zygote its runner; then it serves requests from the grader on its
stdin/stdout, one job at a time:

- `spawn`: fork a child that becomes the job (an ipykernel with the given connection file,
  or a Python script such as the verification runner) in fresh namespaces of its own (IPC,
  and mount with its own empty /tmp, /dev/shm and hidden folders, /dev read-only: nothing
  one job writes there exists for the next, by construction; `fresh_namespaces`), with no
  capability left, the notebook's limits set by setrlimit, its own session and session
  keyring, a clean environment and fresh random seeds;
- `poll`, `signal`: the child's exit code; a signal for it (interrupts, kills);
- `finish`: after the job, kill *every* other process in the sandbox's PID namespace
  (`kill(-1, SIGKILL)` until none is left: background processes and daemons die), and, a
  second layer behind the fresh namespaces (and the only one where they cannot be made),
  remove System V IPC objects, empty the shared kernel keyrings, and wipe every writable
  place (/tmp with HOME in it, /dev/shm, new entries of /dev, the shared job folder, every
  other writable tmpfs mount such as the one hiding the course directory), so nothing of
  one submission reaches the next.

The zygote never runs student code: each child starts from the zygote's own untouched
memory, so a module a submission patched dies with that submission's child. The zygote is
not dumpable (`PR_SET_DUMPABLE` 0: no child can ptrace it or write its memory), its control
pipes are closed in the child, and it holds no thread or ZeroMQ context when it forks. A
child that kills the zygote ends the whole sandbox (bwrap's init goes with it); the grader
starts a fresh zygote for the next submission (docs/sandbox.md).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import select
import signal
import sys
import time
from typing import Any

from . import jobstate
from .jobstate import (
    NotUnshared,
    clear_keyrings,
    drop_capabilities,
    fresh_home,
    fresh_namespaces,
    kill_all,
    libc,
    probe_namespaces,
    remove_sysv_ipc,
    wipe,
    writable_tmpfs,
)

#: The fork server's files (stdlib only): grader.verify.launch_warm runs a copy of them as a
#: package of their own in the verification sandbox, which has no grader.sandbox.
SERVER_FILES = (os.path.abspath(__file__), os.path.abspath(jobstate.__file__))
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
#: The exit code reported for a child killed at its wall-clock limit (as boxrun's).
EXIT_NOTEBOOK_TIMEOUT = 124


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


def _child(job: dict, control: tuple[int, int], fresh: bool, spec: dict) -> None:
    """Become the job (never returns): in fresh namespaces when `fresh` (the zygote's probe
    found they work here; of the shared folder only the job's own folder is seen), with no
    capability in any case."""
    code = 1
    try:
        os.setsid()
        for fd in control:
            os.close(fd)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        note = ""
        if fresh:
            try:
                box = os.path.dirname(job["log"])  # the job's folder, in the shared one
                fresh_namespaces(spec["tmpfs_bytes"], narrow={spec["shared"]: box})
            except NotUnshared as exc:  # nothing changed yet: the clean-up still protects
                note = f"no fresh namespaces for this job ({exc}): the zygote's clean-up only\n"
        drop_capabilities()  # raises, and the job never runs, if any capability is left
        null = os.open("/dev/null", os.O_RDONLY)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 65536)
        if note:
            os.write(2, note.encode())
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
        #: "" when each job gets fresh namespaces, else why not (the clean-up only).
        self.not_fresh = probe_namespaces(spec["tmpfs_bytes"])
        if self.not_fresh:
            print(f"zygote: no fresh namespaces per job: {self.not_fresh}", file=sys.stderr)

    def send(self, **message: Any) -> None:
        os.write(self.control[1], (json.dumps(message) + "\n").encode())

    def serve(self, **ready: Any) -> None:
        """Answer requests until the grader closes the pipe; `ready` goes with the first
        answer (what the warm-up did: a kernel zygote's hidden answers, its CPU seconds)."""
        self.send(ready=True, pid=os.getpid(), not_fresh=self.not_fresh, **ready)
        while True:
            ready, _, _ = select.select([self.control[0]], [], [], 0.1)
            self.check_child()
            if not ready:
                continue
            data = os.read(self.control[0], 65536)
            if not data:
                kill_all()
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
                _child(req["job"], self.control, not self.not_fresh, self.spec)
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
        kill_all()
        if self.child and self.code is None:
            self.code = 128 + signal.SIGKILL
        code, self.child = self.code, 0
        remove_sysv_ipc()
        clear_keyrings()
        shared = self.spec["shared"]
        wipe("/tmp", keep={shared})  # the shared folder is mounted under /tmp
        wipe("/dev/shm")
        for mount in writable_tmpfs():  # the hidden folders' empty tmpfs (the course's...)
            if mount not in ("/tmp", "/dev/shm", "/dev") and not mount.startswith("/tmp/"):
                wipe(mount)
        for name in os.listdir("/dev"):
            full = os.path.join("/dev", name)
            if full not in self.dev:
                wipe("/dev", keep=self.dev)
                break
        wipe(shared, keep={keep} if keep else None)
        fresh_home()
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
    lib = libc()
    lib.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    lib.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # The control pipes move off fds 0 and 1, so nothing printed while importing (or by a
    # child) can be read as an answer.
    control = (os.dup(0), os.dup(1))
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    fresh_home()
    import numpy  # noqa: F401  (every job imports it)

    hidden: dict[str, Any] = {}
    if spec["kind"] == "kernel":  # a verification zygote has no grader.sandbox to import
        from grader.sandbox.kernel_preload import preload

        hidden = preload(spec.get("precompute"), table=lambda: read_blob(control[0]))
    for name in spec.get("preload", ()):  # the caller's own module (verification's runner)
        warm_up = getattr(importlib.import_module(name), "warm_up", None)
        if callable(warm_up):
            warm_up()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Server(spec, control).serve(hidden=hidden, cpu=usage.ru_utime + usage.ru_stime)
    return 0


def read_blob(fd: int) -> bytes:
    """The bytes the grader writes on the control pipe before the first request (a kernel
    zygote's table of hidden answers, grader.sandbox.hidden_table): a length in ASCII, a
    newline, then that many bytes (0: none). Read before any child exists."""
    header = b""
    while not header.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte or len(header) > 20:
            raise OSError("the grader closed the control pipe")
        header += byte
    left = int(header)
    parts = []
    while left > 0:
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            raise OSError("the grader closed the control pipe")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


if __name__ == "__main__":
    sys.exit(main())
