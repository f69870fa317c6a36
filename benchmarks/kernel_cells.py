"""Benchmark: where a grading kernel's CPU goes, per notebook and per cell.

    .venv/bin/python benchmarks/kernel_cells.py NOTEBOOK.ipynb... [--repeat 3] [--empty]
        [--profile DIR]

Runs each graded notebook (e.g. `COURSE/autograded/STUDENT/ID/ID.ipynb`, which holds the
hidden tests as they ran, from `worker_cpu.py --keep DIR`) as a warm grading kernel runs
it, outside the sandbox: this process preloads as a kernel zygote does
(`grader.sandbox.kernel_preload.preload`, the hidden answers computed here), then for
each notebook forks a child that becomes an ipykernel (IPKernelApp with the arguments
SandboxedExecute gives, the non-drawing figure backend) and another that sends it the
notebook's code cells up to the last graded one, as `backprop-grader autograde` runs them
(this process, like a zygote, never holds a thread when it forks). Prints per
notebook the child's CPU seconds (user and system, from wait4; its shutdown included,
which a zygote's kernel, killed at the end, does not pay), its start (IPKernelApp's
initialize), the CPU of each cell (between IPython's pre_run_cell and post_run_cell: the
rest of a notebook's CPU is ipykernel's messages around each cell), its minor page faults,
and the modules it imported after the fork. `--empty` also runs a kernel with no cell;
`--profile DIR` writes a cProfile dump per notebook (CPU seconds; profiling slows Python
code 2-4x: compare shares only). No sandbox: what bubblewrap and the zygote's per-job
namespaces add is not in these figures (worker_cpu.py measures the real kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _kernel_environment() -> None:
    """The environment a zygote gives its kernels (grader.sandbox.boxrun._kernel_env)."""
    from grader.sandbox.nofigures import BACKEND

    home = Path(tempfile.mkdtemp(prefix="kernel-cells-home-"))
    os.environ.update(
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        PYTHONIOENCODING="utf-8",
        MPLBACKEND=BACKEND,
        HOME=str(home),
        IPYTHONDIR=str(home / ".ipython"),
        MPLCONFIGDIR=str(home / ".mpl"),
    )


def _cells(path: str) -> list[str]:
    """The code cells a warm grading kernel runs: up to the last graded one."""
    import nbformat

    from grader.nbcells import is_graded

    nb = nbformat.read(path, as_version=4)
    last = max((i for i, c in enumerate(nb.cells) if is_graded(c)), default=len(nb.cells))
    return [
        c.source
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.source.strip() and i <= last
    ]


def _kernel(connection: str, argv: list[str], stats: str, profile: str) -> None:
    """The child: an ipykernel, as grader.sandbox.zygote._run_kernel starts it, recording
    its start, each cell's CPU and the modules it imports into `stats` at exit."""
    code = 1
    try:
        os.setsid()
        os.chdir(os.path.dirname(connection))
        log = os.open("kernel.log", os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        import atexit
        import cProfile

        start, before = _cpu(), set(sys.modules)
        record: dict = {"cells": [], "first_line": []}
        profiler = cProfile.Profile(time.process_time) if profile else None
        if profiler is not None:
            profiler.enable()

        def done() -> None:
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            Path(stats).write_text(json.dumps(record))

        atexit.register(done)
        from ipykernel.kernelapp import IPKernelApp

        from grader.sandbox.nofigures import neutralise_magic

        app = IPKernelApp.instance()
        app.initialize(["-f", connection, *argv])
        neutralise_magic(app.shell)
        record["start"] = _cpu() - start

        def pre(_info: object) -> None:
            record["t"] = _cpu()

        def post(result: object) -> None:
            info = result.info  # type: ignore[attr-defined]
            if info.store_history:
                lines = (info.raw_cell or "").strip().splitlines()
                record["cells"].append([lines[0][:60] if lines else "", _cpu() - record["t"]])
                record["imported"] = sorted(set(sys.modules) - before)

        app.shell.events.register("pre_run_cell", pre)
        app.shell.events.register("post_run_cell", post)
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        import atexit as _atexit

        _atexit._run_exitfuncs()
        os._exit(code)


def _client(connection: str, cells: list[str]) -> None:
    """Send `cells` to the kernel one after the other, each run to its end, then shut it
    down (in a child of its own: the zmq threads of a client never exist in the process
    that forks the kernels, as none exist in a zygote)."""
    from queue import Empty

    from jupyter_client import BlockingKernelClient

    code = 1
    try:
        client = BlockingKernelClient(connection_file=connection)
        client.load_connection_file()
        client.start_channels()
        while True:  # ready once IOPub carries the reply's status (else a cell's is lost)
            client.kernel_info()
            client.get_shell_msg(timeout=120)
            try:
                client.get_iopub_msg(timeout=0.5)
            except Empty:
                continue
            break
        for source in cells:
            msg_id = client.execute(source, store_history=True)
            while True:
                msg = client.get_iopub_msg(timeout=120)
                if (
                    msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"
                ):
                    break
            client.get_shell_msg(timeout=120)
        client.shutdown()
        code = 0
    finally:
        os._exit(code)


def run_notebook(cells: list[str], argv: list[str], profile: str = "") -> dict:
    """Fork a kernel, run `cells` in it from another child, shut it down: what it cost."""
    from jupyter_client.connect import write_connection_file

    folder = Path(tempfile.mkdtemp(prefix="kernel-cells-"))
    connection = str(folder / "kernel.json")
    write_connection_file(connection, transport="ipc", ip=str(folder / "ipc"))
    stats = folder / "cells.json"
    pid = os.fork()
    if pid == 0:
        _kernel(connection, argv, str(stats), profile)
    client = os.fork()
    if client == 0:
        _client(connection, cells)
    _, status = os.waitpid(client, 0)
    _, _, usage = os.wait4(pid, 0)
    if status != 0:
        raise RuntimeError(f"the client failed (status {status}): see {folder}/kernel.log")
    out = json.loads(stats.read_text()) if stats.exists() else {}
    out.update(user=usage.ru_utime, system=usage.ru_stime, faults=usage.ru_minflt)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="graded notebooks (hidden tests in)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--empty", action="store_true", help="also a kernel with no cell")
    parser.add_argument("--profile", help="write a cProfile dump per notebook in this folder")
    args = parser.parse_args()
    _kernel_environment()
    from grader.sandbox.kernel_preload import preload
    from grader.sandbox.streamcap import STARTUP

    before = _cpu()
    status = preload(None)
    print(f"preload: {_cpu() - before:.2f} CPU-s ({status['answers']} hidden answers)")
    argv = [  # SandboxedExecute's extra arguments (its default output cap)
        "--HistoryManager.hist_file=:memory:",
        "--IPKernelApp.log_level=ERROR",
        "--IPKernelApp.exec_lines=" + STARTUP.format(limit=200_000),
    ]
    jobs = [("(no cell)", [])] if args.empty else []
    jobs += [(Path(p).stem, _cells(p)) for p in args.notebooks]
    totals: dict[str, list[float]] = {}
    for rep in range(args.repeat):
        for name, cells in jobs:
            profile = ""
            if args.profile:
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                profile = str(Path(args.profile).resolve() / f"{name}-{rep}.prof")
            out = run_notebook(cells, argv, profile)
            total = out["user"] + out["system"]
            totals.setdefault(name, []).append(total)
            in_cells = sum(t for _, t in out.get("cells", []))
            print(
                f"{name}: kernel {total:.3f} CPU-s (user {out['user']:.3f}, system "
                f"{out['system']:.3f}; start {out.get('start', 0):.3f}, in cells {in_cells:.3f}; "
                f"{out['faults']} page faults)"
            )
            for line, seconds in out.get("cells", []):
                if seconds >= 0.01:
                    print(f"    {seconds:.3f}  {line}")
            if out.get("imported"):
                print(f"    imported after the fork: {' '.join(out['imported'])}")
    for name, values in totals.items():
        print(f"{name}: {' '.join(f'{v:.3f}' for v in values)} CPU-s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
