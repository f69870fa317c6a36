"""The grader's side of the fork servers (grader.sandbox.zygote): start, ask, restart.

A grading worker keeps one zygote per kind ("kernel" for the notebooks, "verify" for the
out-of-process verification), each in its own bubblewrap sandbox, and asks it for a fresh
child per notebook instead of starting (and importing) a new Python each time. jupyter_client
talks to a warm kernel as to any other: `ZygoteProvisioner` is a kernel provisioner whose
launch, poll, signal, kill and clean-up go through the zygote.

Only with bubblewrap: the zygote's clean-up kills every process of its PID namespace, which
without a sandbox of its own would be the grader's. Without bwrap grading takes the cold
path (grader.sandbox.boxrun) as before.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

from grader.sandbox import zygote
from grader.sandbox.boxrun import TMPFS_BYTES, Plan, _copy_limited, _kernel_env, bwrap_argv
from grader.sandbox.hidden_table import for_zygote
from grader.sandbox.jobstate import HOME, NAMESPACE_CAPS
from grader.sandbox.kernel_preload import functions_to_precompute

#: The kernels' matplotlib backend, grader.sandbox.nofigures.BACKEND, by its name: importing
#: that module imports matplotlib (0.3 CPU-s in each grading worker, which draws nothing;
#: tests/test_worker_imports.py checks that both name the same backend).
KERNEL_MPLBACKEND = "module://grader.sandbox.nofigures"
#: Seconds a zygote may take to start (imports under load) and to answer a request.
START_TIMEOUT = 180.0
REQUEST_TIMEOUT = 60.0


class ZygoteError(RuntimeError):
    """The zygote did not answer or died; the grader starts a fresh one."""


def _zygote_limits(limits: dict[str, int]) -> None:  # runs in the child before exec
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for which, value in (
        (resource.RLIMIT_AS, limits.get("memory_bytes", 0)),
        (resource.RLIMIT_CORE, 0),
    ):
        if which == resource.RLIMIT_CORE or value > 0:
            hard = resource.getrlimit(which)[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))


def zygote_env(kind: str) -> dict[str, str]:
    """The environment of a zygote of `kind` ("kernel" or "verify") and of its jobs."""
    env = _kernel_env(Path(HOME))
    # Kernels note figures (grader.sandbox.nofigures); verification cannot import the
    # grader's modules and draws nothing anyway (Agg, as a cold verification).
    env["MPLBACKEND"] = KERNEL_MPLBACKEND if kind == "kernel" else "Agg"
    return env


class Zygote:
    """One fork server in its own bubblewrap sandbox, talked to over pipes."""

    def __init__(
        self,
        plan: Plan,
        kind: str,
        run_dir: Path,
        server: list[str] | None = None,
        preload: tuple[str, ...] = (),
        *,
        wait: bool = True,
    ) -> None:
        """Start the zygote; with `wait`, until it is ready (else `wait_ready` does that:
        the zygote warms up meanwhile, and a kernel zygote's table is written to it from a
        thread of this process as soon as the run has one)."""
        if not plan.bwrap:
            raise ZygoteError("a zygote runs only inside bubblewrap")
        self.kind = kind
        self.plan_key = plan.to_json()
        self.shared = run_dir / f"z-{kind}-{uuid.uuid4().hex[:10]}"
        self.shared.mkdir(mode=0o700)
        self.env = zygote_env(kind)
        spec = {
            "kind": kind,
            "shared": str(self.shared),
            "preload": list(preload),
            "tmpfs_bytes": TMPFS_BYTES,
            # the hidden answers a kernel zygote computes before its first fork (None: all)
            "precompute": functions_to_precompute() if kind == "kernel" else None,
        }
        argv = bwrap_argv(plan, private=self.shared, workdir=self.shared, rw=[], env=self.env)
        # bwrap_argv's BASE_FLAGS drop every capability (bwrap keeps them all in the user
        # namespace when the grader runs as root): with CAP_SYS_PTRACE a child could write
        # the zygote's memory in spite of PR_SET_DUMPABLE 0, and so reach the next submission.
        # The zygote keeps only NAMESPACE_CAPS (to give each job fresh namespaces), which
        # every child drops before it becomes the job (grader.sandbox.jobstate).
        for cap in NAMESPACE_CAPS:
            argv += ["--cap-add", cap]
        server = server or ["-m", zygote.__name__]
        argv += ["--", sys.executable, *server, json.dumps(spec)]
        self.log_path = run_dir / f"{self.shared.name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd="/",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                preexec_fn=lambda: _zygote_limits(plan.limits),  # noqa: PLW1509
            )
        self.buffer = b""
        self.children_cpu = 0.0  #: CPU seconds of every job so far (reported at finish)
        self.pid = 0
        self.not_fresh = ""
        self.hidden: dict[str, Any] = {}
        self.warmup_cpu = 0.0
        self.ready = False  #: its first answer read (`wait_ready`)
        self._sender: threading.Thread | None = None
        self._send_error: BaseException | None = None
        deadline = time.monotonic() + START_TIMEOUT
        if kind == "kernel" and wait:  # while it imports: the run's hidden answers, if any
            self._send_blob(for_zygote(), deadline)
        elif kind == "kernel":  # the same, without keeping this thread waiting for the table
            self._sender = threading.Thread(target=self._send_table, args=(deadline,))
            self._sender.daemon = True
            self._sender.start()
        if wait:
            self.wait_ready()

    def _send_table(self, deadline: float) -> None:
        """`_send_blob` of the run's table, in the thread `wait_ready` joins."""
        try:
            self._send_blob(for_zygote(), deadline)
        except BaseException as exc:  # noqa: BLE001 - raised again by wait_ready
            self._send_error = exc

    def wait_ready(self) -> None:
        """Wait for the zygote's first answer (it has warmed up); raises ZygoteError if it
        did not come (the zygote is closed then)."""
        if self.ready:
            return
        if self._sender is not None:
            self._sender.join()
            self._sender = None
            if self._send_error is not None:
                self.close()
                error, self._send_error = self._send_error, None
                if isinstance(error, ZygoteError):
                    raise error
                raise ZygoteError(f"the {self.kind} zygote got no table: {error}") from error
        ready = self._read(START_TIMEOUT)
        self.ready = True
        self.pid = int(ready.get("pid", 0))
        #: "" when each job gets fresh namespaces; else why not (the clean-up only).
        self.not_fresh = str(ready.get("not_fresh", ""))
        #: A kernel zygote's hidden answers: {"source": "table" | "computed" | "none",
        #: "answers", "computed", "reason"} (grader.sandbox.kernel_preload.preload).
        self.hidden = dict(ready.get("hidden") or {})
        #: CPU seconds the zygote took to start (imports, the hidden answers).
        self.warmup_cpu = float(ready.get("cpu", 0.0))
        # In a grading worker, its log (fd 2): where a kernel zygote's answers came from.
        if self.kind == "kernel":
            try:
                os.write(2, f"[backprop-grader] {self.describe()}\n".encode())
            except OSError:
                pass

    def describe(self) -> str:
        """One line: this zygote, its warm-up's CPU and where its hidden answers came from."""
        h = self.hidden
        if self.kind != "kernel":
            return f"{self.kind} zygote {self.pid}: warm-up {self.warmup_cpu:.2f} CPU-s"
        where = {
            "table": "from the run's table",
            "computed": f"computed here ({h.get('reason', '')})",
        }.get(str(h.get("source")), f"none ({h.get('reason', '')})")
        return (
            f"{self.kind} zygote {self.pid}: warm-up {self.warmup_cpu:.2f} CPU-s; hidden "
            f"answers {where}: {h.get('answers', 0)} in memory, {h.get('computed', 0)} "
            "computed in the zygote"
        )

    # -- the pipe
    def _send_blob(self, data: bytes, deadline: float) -> None:
        """Write `data` (length first: grader.sandbox.zygote.read_blob) into the zygote's
        control pipe, which it reads before its first fork."""
        assert self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        view = memoryview(f"{len(data)}\n".encode() + data)
        os.set_blocking(fd, False)
        try:
            while view:
                left = deadline - time.monotonic()
                _, ready, _ = select.select([], [fd], [], max(0.0, left))
                if not ready:
                    self.close()
                    raise ZygoteError(f"the {self.kind} zygote did not read its table in time")
                try:
                    view = view[os.write(fd, view[: 1 << 16]) :]
                except BlockingIOError:
                    continue
                except OSError as exc:
                    self.close()
                    raise ZygoteError(f"the {self.kind} zygote exited: {self.log_tail()}") from exc
        finally:
            if self.proc.poll() is None:
                os.set_blocking(fd, True)

    def _read(self, timeout: float) -> dict:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = end - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                self.close()
                raise ZygoteError(f"the {self.kind} zygote did not answer within {timeout:.0f} s")
            data = os.read(fd, 65536)
            if not data:
                self.close()
                raise ZygoteError(f"the {self.kind} zygote exited: {self.log_tail()}")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        answer = json.loads(line)
        if "error" in answer:
            raise ZygoteError(f"the {self.kind} zygote: {answer['error']}")
        return answer

    def request(self, timeout: float = REQUEST_TIMEOUT, **req: Any) -> dict:
        if not self.alive():
            raise ZygoteError(f"the {self.kind} zygote is gone: {self.log_tail()}")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            self.close()
            raise ZygoteError(f"the {self.kind} zygote is gone ({exc})") from exc
        return self._read(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_bytes()[-1500:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def close(self) -> None:
        if self._sender is not None and self._sender is not threading.current_thread():
            if self.proc.poll() is None:
                self.proc.kill()  # the table's writer sees the pipe closed, and ends
            self._sender.join()
            self._sender = None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    # -- jobs
    def new_job_dir(self) -> Path:
        box = self.shared / f"k-{uuid.uuid4().hex[:12]}"
        box.mkdir(mode=0o700)
        return box

    def spawn(self, job: dict, hard_kill_after: float = 0) -> int:
        env = dict(self.env)
        env.update(job.pop("env", {}))
        job = {**job, "env": env}
        return int(self.request(op="spawn", job=job, hard_kill_after=hard_kill_after)["pid"])

    def poll(self) -> int | None:
        if not self.alive():
            return 128 + signal.SIGKILL
        try:
            return self.request(op="poll")["code"]
        except ZygoteError:
            return 128 + signal.SIGKILL

    def signal(self, signum: int) -> None:
        if self.alive():
            try:
                self.request(op="signal", signal=int(signum))
            except ZygoteError:
                pass

    def finish(self, keep: Path | None = None) -> int | None:
        """Kill everything the job left and wipe the writable places (but `keep`, a job
        folder whose results are still to be read); a zygote that fails here is replaced."""
        if not self.alive():
            return 128 + signal.SIGKILL
        try:
            answer = self.request(op="finish", keep=str(keep or ""))
            self.children_cpu = float(answer.get("cpu", 0.0))
            return answer["code"]
        except ZygoteError:
            self.close()  # a zygote that cannot clean up is not used again
            return 128 + signal.SIGKILL


_ZYGOTES: dict[str, Zygote] = {}


def _kept(kind: str, plan: Plan) -> Zygote | None:
    """This process's zygote of `kind` if it is alive and was started with `plan`; a dead or
    re-planned one is closed and forgotten (None)."""
    z = _ZYGOTES.get(kind)
    if z is not None and (not z.alive() or z.plan_key != plan.to_json()):
        z.close()
        del _ZYGOTES[kind]
        return None
    return z


def zygote_for(
    plan: Plan,
    kind: str,
    run_dir: Path,
    server: list[str] | None = None,
    preload: tuple[str, ...] = (),
) -> Zygote:
    """This process's zygote of this kind for this plan (a fresh one if it died or the plan
    changed); `preload` names modules it imports before its first fork."""
    z = _kept(kind, plan)
    if z is not None and not z.ready:  # started by `prestart`: wait for it as Zygote() would
        try:
            z.wait_ready()
        except ZygoteError:
            del _ZYGOTES[kind]
            raise
    if z is None:
        z = Zygote(plan, kind, run_dir, server, preload)
        _ZYGOTES[kind] = z
    return z


def prestart(
    plan: Plan,
    kind: str,
    run_dir: Path,
    server: list[str] | None = None,
    preload: tuple[str, ...] = (),
) -> Zygote | None:
    """Start this process's zygote of `kind` now without waiting for it (a grading worker's
    start: it warms up while the worker prepares its first notebook); `zygote_for` with the
    same plan waits for it to be ready, another plan replaces it. None when it could not
    start (the first `zygote_for` starts one, and says why if that fails too)."""
    z = _kept(kind, plan)
    if z is not None:
        return z
    try:
        z = Zygote(plan, kind, run_dir, server, preload, wait=False)
    except (ZygoteError, OSError):
        return None
    _ZYGOTES[kind] = z
    return z


def close_all() -> None:
    for z in list(_ZYGOTES.values()):
        z.close()
    _ZYGOTES.clear()


atexit.register(close_all)


def run_job(
    plan: Plan,
    kind: str,
    run_dir: Path,
    *,
    workdir: Path,
    prepare: Any,
    wall_clock: float,
    server: list[str] | None = None,
    preload: tuple[str, ...] = (),
) -> tuple[int, Path]:
    """Run one module job (verification) in this process's warm zygote of `kind`.

    `prepare(box)` writes the job's files into its folder and returns {"module", "argv"}:
    the child runs that module as `python -m MODULE ARGV...` would, in a private copy of
    `workdir`. When it has ended, every process it left is killed before the caller reads
    its results (nothing can write them afterwards). Returns (exit code, job folder); the
    caller removes the folder (the next job wipes it anyway).
    """
    z = zygote_for(plan, kind, run_dir, server, preload)
    box = z.new_job_dir()
    _copy_limited(workdir, box / "work")
    what = prepare(box)
    z.spawn(
        {
            "kind": "module",
            "module": what["module"],
            "argv": list(what["argv"]),
            "cwd": str(box / "work"),
            "log": str(box / "job.log"),
            "limits": plan.limits,
        },
        hard_kill_after=wall_clock,
    )
    code = None
    while code is None:
        time.sleep(0.01)
        code = z.poll()
    z.finish(keep=box)
    return code, box


class ZygoteProvisioner(LocalProvisioner):
    """A kernel provisioner whose kernel is a child of the worker's kernel zygote."""

    zygote: Zygote | None = None
    child_pid: int = 0
    finished: bool = False

    @property
    def has_process(self) -> bool:
        return bool(self.child_pid) and not self.finished

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        km = self.parent
        z = self.zygote
        assert km is not None and z is not None
        box = Path(km.box)
        work = box / "work"
        _copy_limited(Path(kwargs.get("cwd") or os.getcwd()), work)
        self.child_pid = z.spawn(
            {
                "kind": "kernel",
                "argv": list(cmd[cmd.index("-f") :]),
                "cwd": str(work),
                "log": str(box / "kernel.log"),
                "limits": km.limits_dict,
            },
            hard_kill_after=km.limits_dict.get("hard_kill_after", 0),
        )
        self.pid = self.child_pid
        self.pgid = self.child_pid
        self.process = _ZygoteProcess(self)
        self.cwd = str(work)
        return self.connection_info

    async def poll(self) -> int | None:
        if not self.child_pid or self.zygote is None:
            return 0
        if self.finished:
            return self._code
        return self.zygote.poll()

    async def wait(self) -> int | None:
        while True:
            code = await self.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.02)

    async def send_signal(self, signum: int) -> None:
        if self.zygote is not None and not self.finished:
            self.zygote.signal(signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        if self.zygote is not None and self.child_pid and not self.finished:
            self._code = self.zygote.finish()
            self.finished = True

    _code: int | None = None


class FastReadyClient(AsyncKernelClient):
    """jupyter_client's client, but ready without its fixed 0.2 s of IOPub silence.

    `wait_for_ready` drains IOPub until nothing arrives for 0.2 s: a fifth of a second per
    notebook here. nbclient keeps only messages whose parent is the request it sent, so
    start-up messages left on IOPub are ignored anyway; 10 ms of silence is enough.
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        end = time.time() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:  # IOPub connected? (the reply's status messages arrive on it)
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.time() > end:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:
            try:
                await self.iopub_channel.get_msg(timeout=0.01)
            except Empty:
                break


class _ZygoteProcess:
    """What SandboxKernelManager.exit_code reads (`provisioner.process.poll()`)."""

    def __init__(self, provisioner: ZygoteProvisioner) -> None:
        self.provisioner = provisioner
        self.pid = provisioner.child_pid

    def poll(self) -> int | None:
        p = self.provisioner
        if p.finished:
            return p._code
        return p.zygote.poll() if p.zygote is not None else None


def warm_kernel_manager(config: Any, plan: Plan, log: Any = None) -> Any:
    """A SandboxKernelManager whose kernel is forked by this process's kernel zygote, or
    None when no zygote can run (no bubblewrap, or it failed to start: the cold path then)."""
    from grader.sandbox.kernel import SandboxKernelManager
    from grader.sandbox.plan import run_dir

    if not plan.bwrap:
        return None
    try:
        z = zygote_for(plan, "kernel", run_dir())
    except (ZygoteError, OSError) as exc:
        if log is not None:
            log.warning("no warm kernel (%s): starting a cold one", exc)
        return None

    class WarmKernelManager(SandboxKernelManager):
        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            if self.provisioner is None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                provisioner = ZygoteProvisioner(
                    kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
                )
                provisioner.zygote = z
                self.provisioner = provisioner
            return await super()._async_pre_start_kernel(**kw)

    km = WarmKernelManager(config=config, plan_json=plan.to_json())
    km.client_factory = FastReadyClient
    import shutil

    shutil.rmtree(km.box, ignore_errors=True)
    km.box = z.new_job_dir()
    km.connection_file = str(km.box / "kernel.json")
    km.ip = str(km.box / "ipc")
    km.limits_dict = dict(plan.limits)
    return km
