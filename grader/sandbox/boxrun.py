"""The sandbox's launcher: stdlib only, so a kernel starts without importing nbgrader.

`python -m grader.sandbox.boxrun kernel PLAN_JSON -f CONNECTION_FILE [kernel args]` is the argv of
the sandboxed kernelspec (`grader.sandbox.kernel`; `grader.sandbox.plan` builds the plan);
`run_sandboxed` also runs grader.verify.launch's verification process. `bwrap_argv` turns a
`Plan` into bubblewrap's command line: the whole file system read-only, the plan's hidden
folders behind empty tmpfs mounts, its exposed paths and overlays bound read-only, the
private copy of the working folder read-write, a clean environment.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Largest working folder copied into a kernel's private folder; bigger files are left out.
MAX_COPY_BYTES = 200 * 1024**2
#: Size of each private tmpfs inside the sandbox (/tmp and the hidden course folder).
TMPFS_BYTES = 256 * 1024**2
#: Seconds of grace between the notebook budget and the wrapper's hard kill.
HARD_KILL_GRACE = 20
#: The wrapper's exit code when it killed the kernel for running past the notebook limit.
EXIT_NOTEBOOK_TIMEOUT = 124

BASE_FLAGS = [
    "--die-with-parent",
    "--unshare-all",  # ipc, pid, net, uts, cgroup: no network at all
    "--unshare-user",
    "--cap-drop",  # no capability in the sandbox's user namespace, even when run as root
    "ALL",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
]


@dataclass
class Plan:
    """Everything the wrapper needs to start one sandboxed process (JSON in its argv)."""

    limits: dict[str, int]  #: Limits as a dict, and optionally "hard_kill_after" (seconds)
    bwrap: str | None  #: None: run without bubblewrap
    hide: list[str] = field(default_factory=list)  #: folders replaced by empty tmpfs
    expose: list[str] = field(default_factory=list)  #: shown again read-only inside hidden ones
    overlay: dict[str, str] = field(default_factory=dict)  #: path inside -> host path (ro)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls(**json.loads(text))


def _copy_limited(src: Path, dest: Path, budget: int = MAX_COPY_BYTES) -> None:
    """Copy src's files into dest, skipping caches and anything past `budget` bytes."""
    skip = {".git", ".venv", "__pycache__", ".ipynb_checkpoints", "node_modules"}
    used = 0
    dest.mkdir(parents=True, exist_ok=True)
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in skip]
        rel = Path(root).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            path = Path(root) / name
            try:
                size = path.stat().st_size
                if not path.is_file() or used + size > budget:
                    continue
                shutil.copy2(path, dest / rel / name)
                used += size
            except OSError:
                continue


def _seed_home(home: Path) -> None:
    """A fresh HOME for the kernel, with matplotlib's font cache copied (saves seconds)."""
    mpl = home / ".mpl"
    mpl.mkdir(parents=True, exist_ok=True)
    (home / ".ipython").mkdir(exist_ok=True)
    for cache in (Path.home() / ".cache" / "matplotlib", Path(os.environ.get("MPLCONFIGDIR", "-"))):
        try:
            for font_list in cache.glob("fontlist-*.json"):
                shutil.copy2(font_list, mpl / font_list.name)
        except OSError:
            pass


def _kernel_env(home: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "PYTHONIOENCODING", "MPLBACKEND", "NBGRADER_EXECUTION")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(home / ".ipython"),
        MPLCONFIGDIR=str(home / ".mpl"),
        TMPDIR="/tmp",
        PYTHONDONTWRITEBYTECODE="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def bwrap_argv(
    plan: Plan, *, private: Path, workdir: Path, rw: list[Path], env: dict[str, str]
) -> list[str]:
    """The bwrap command line (without the command): see the module docstring."""
    assert plan.bwrap
    # Private tmpfs mounts are capped (they live in memory outside the kernel's limit).
    argv = [plan.bwrap, *BASE_FLAGS, "--disable-userns", "--size", str(TMPFS_BYTES)]
    argv += ["--tmpfs", "/tmp"]
    for hidden in plan.hide:
        if Path(hidden) != Path("/") and Path(hidden).exists():
            argv += ["--size", str(TMPFS_BYTES), "--tmpfs", hidden]
    for shown in plan.expose:  # e.g. a venv inside a checkout under /tmp or the course
        if any(_inside(shown, h) for h in ["/tmp", *plan.hide]) and Path(shown).exists():
            argv += ["--ro-bind", shown, shown]
    for inside, host in plan.overlay.items():
        argv += ["--ro-bind", host, inside]
    for path in rw:
        argv += ["--bind", str(path), str(path)]
    argv += ["--bind", str(private), str(workdir), "--chdir", str(workdir), "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv


def _inside(path: str, folder: str) -> bool:
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def _set_limits(limits: dict[str, int]) -> None:
    """setrlimit in the child before exec (memory, CPU, file size, no core dumps).

    SIGINT is ignored too: jupyter_client interrupts a kernel by signalling its whole
    process group, and bwrap (in that group) would die of it; ipykernel installs its own
    SIGINT handler while a cell runs, so interrupts still reach the student's code.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pairs = [
        (resource.RLIMIT_AS, limits["memory_bytes"]),
        (resource.RLIMIT_CPU, limits["cpu_seconds"]),
        (resource.RLIMIT_FSIZE, limits["max_file_bytes"]),
        (resource.RLIMIT_CORE, 0),
    ]
    for which, value in pairs:
        if value and value > 0:
            hard = resource.getrlimit(which)[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value if which != resource.RLIMIT_CPU else hard))


def run_sandboxed(
    plan: Plan,
    command: list[str],
    *,
    workdir: Path,
    box: Path,
    rw: list[Path] | None = None,
    stdin: Any = None,
    stdout: Any = None,
    stderr: Any = None,
    wall_clock: float | None = None,
) -> int:
    """Run `command` in the sandbox with a private copy of `workdir`; return its exit code.

    Args:
        plan: what to hide and show, the limits, the bwrap binary (or None: limits only).
        command: the command to run inside (e.g. [python, -m, ipykernel_launcher, ...]).
        workdir: the working folder; the command sees a private copy at the same path.
        box: a private folder of this process (hidden from every other sandbox); holds the
            copy, HOME and any socket or result files; bind-mounted read-write.
        rw: further folders mounted read-write (inside `box` normally).
        wall_clock: seconds before the whole process tree is killed (exit code 124).
    """
    private = box / "work"
    _copy_limited(workdir, private)
    home = box / "home"
    _seed_home(home)
    env = _kernel_env(home)
    if plan.bwrap:
        argv = bwrap_argv(plan, private=private, workdir=workdir, rw=[box, *(rw or [])], env=env)
        argv += ["--", *command]
        cwd = "/"
    else:
        # No bubblewrap: the limits still hold; the kernel works in the private copy.
        argv = list(command)
        cwd = str(private)
        env = {**os.environ, **env}
        env.pop("JPY_PARENT_PID", None)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=None if plan.bwrap else env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=lambda: _set_limits(plan.limits),  # noqa: PLW1509 - single-threaded wrapper
    )
    try:
        code = proc.wait(timeout=wall_clock)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        return EXIT_NOTEBOOK_TIMEOUT
    # Killed by signal N: 128 + N, as bwrap reports it (Popen says -N; exiting with -N
    # would become 256 - N), so a CPU-limit kill reads the same with or without bwrap.
    return 128 - code if code < 0 else code


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()


def _wrapper_main(argv: list[str]) -> int:
    """`python -m grader.sandbox.boxrun kernel PLAN_JSON -f CONNECTION_FILE [kernel args...]`."""
    plan = Plan.from_json(argv[0])
    rest = argv[1:]
    connection_file = Path(rest[rest.index("-f") + 1]).resolve()
    box = connection_file.parent
    workdir = Path(os.getcwd()).resolve()

    # Interrupts reach the whole process group (jupyter_client uses killpg): stay alive.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    command = [sys.executable, "-m", "ipykernel_launcher", *rest]
    limit = plan.limits.get("hard_kill_after") or plan.limits["notebook_timeout"] + HARD_KILL_GRACE
    log_path = box / "kernel.log"
    with open(log_path, "wb") as log_file:
        code = run_sandboxed(
            plan,
            command,
            workdir=workdir,
            box=box,
            wall_clock=limit,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    if code not in (0, EXIT_NOTEBOOK_TIMEOUT) and code < 128:
        # A kernel that could not start: show why (bwrap's or Python's last lines).
        tail = log_path.read_bytes()[-2000:].decode("utf-8", "replace").strip()
        if tail and "To connect another client" not in tail:
            print(f"sandboxed kernel exited {code}:\n{tail}", file=sys.stderr)
    shutil.rmtree(box / "work", ignore_errors=True)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "kernel":
        return _wrapper_main(argv[1:])
    print(
        "usage: python -m grader.sandbox.boxrun kernel PLAN_JSON -f CONNECTION_FILE",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
