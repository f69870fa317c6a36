"""Benchmark: every CPU-second of one `backprop-grader autograde --workers N` run, by process.

    .venv/bin/python benchmarks/run_cpu.py [--students 6] [--workers 2] [--rounds 1]
                                           [--keep DIR] [--json OUT]

Builds the demo class (grader.pipeline.demo.build_demo_class, `--students` x every notebook),
then, per round, grades a fresh copy of it with the instructor's command (`grader.cli.main
["autograde", "--workers", N]`, SQLite gradebook, sandbox and verification on) in a child
process, while this process samples /proc for every descendant of that child (a
subreaper, so no orphan escapes) every `--interval` seconds. The whole tree's CPU, exactly:
the child runs in a cpuacct group of its own (cgroup v1, as root), read once every process
of it has exited. `getrusage(RUSAGE_CHILDREN)` is printed beside it and falls short: the
processes of a zygote's sandbox are reaped by the kernel when bwrap is killed with its
worker, and their CPU reaches no parent's counter (without the group, it is the total).

Each process is named by what it is (the CLI parent, a grading worker, the hidden-table
builder, a zygote's two bwrap processes, a kernel or verification zygote, a job a zygote
forked: a kernel or a verification runner, anything below a job counts as the job,
anything else by its command name) and its own CPU (utime + stime of /proc/PID/stat, at its
last sample) is added to its kind. The jobs' rows use the zygotes' own counter of their
reaped children instead (exact; their sampled sum is printed beside it). What is left of
the exact total is "not attributed": processes that lived between two samples and the CPU
of a process after its last sample.

Each kind's CPU is split into a per-notebook rate and a fixed part: the rate is the kind's
CPU accrued in the steady window (from when every worker has finished its first notebook
to when the first worker finished its last), over the notebooks finished in that window;
fixed = total - notebooks x rate. The grading workers note each notebook (its worker's own
CPU, the zygotes' children's), as benchmarks/workers.py does; those figures are printed too.

The machine may be shared: compare runs made back to back, and read `uptime` beside them.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TICK = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36
NOTES = ".grader/bench-run-cpu.jsonl"


# ------------------------------------------------------------------ the child (the run)


def _noted_grade(student: str, assignment: str):
    """grade_submission, noting its worker's CPU and its zygotes' (runs in a worker)."""
    from grader.pipeline import autograde as ag
    from grader.sandbox import zygote_host

    def zygotes() -> dict[str, list[float]]:
        return {k: [z.children_cpu, z.warmup_cpu] for k, z in zygote_host._ZYGOTES.items()}

    before, cpu0, t0 = zygotes(), time.process_time(), time.time()
    result = ag._ungraded_grade_submission(student, assignment)
    t1, cpu1, after = time.time(), time.process_time(), zygotes()
    note = {
        "pid": os.getpid(),
        "start": t0,
        "end": t1,
        "worker_cpu_at_start": cpu0,
        "worker_cpu": cpu1 - cpu0,
        "jobs_cpu": {k: v[0] - before.get(k, [0.0])[0] for k, v in after.items()},
        "warmup": {k: v[1] for k, v in after.items()},
        "status": result.status,
    }
    with open(Path(ag._WORKER["course"]) / NOTES, "a", encoding="utf-8") as f:
        f.write(json.dumps(note) + "\n")
    return result


def child(course: str, workers: int) -> int:
    from grader import cli
    from grader.pipeline import autograde as ag

    ag._ungraded_grade_submission = ag.grade_submission
    ag.grade_submission = _noted_grade  # the workers are forked from this process
    return cli.main(["autograde", "--course", course, "--workers", str(workers)])


# ------------------------------------------------------------------ sampling /proc


@dataclass
class Proc:
    pid: int
    ppid: int
    start: int  #: starttime (ticks after boot): with the pid, a process's identity
    comm: str
    argv: str
    kind: str = ""
    cpu: float = 0.0  #: own utime + stime at the last sample
    children: float = 0.0  #: cutime + cstime (reaped children) at the last sample
    series: list[tuple[float, float]] = field(default_factory=list)  #: (time, cpu)


def _stat(pid: int) -> tuple[str, list[str]] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    cut = raw.rfind(")")
    return raw[raw.find("(") + 1 : cut], raw[cut + 2 :].split()


def _argv(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class Sampler:
    """Every descendant of `root`, its kind and CPU at the last time it was seen."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.me = os.getpid()
        self.procs: dict[int, Proc] = {}  # live or last seen, by pid
        self.done: list[Proc] = []
        self.foreign: set[int] = set()

    def _kind(self, p: Proc) -> str:
        parent = self.procs.get(p.ppid)
        pk = parent.kind if parent else ""
        if p.pid == self.root:
            return "parent (CLI)"
        if "grader.sandbox.hidden_table" in p.argv:
            return "hidden-table builder"
        if p.comm == "bwrap":
            if '"kind": "kernel"' in p.argv:
                return "bwrap (kernel zygote)"
            return "bwrap (verify zygote)" if '"kind": "verify"' in p.argv else "bwrap (other)"
        if pk.startswith("bwrap") and p.comm.startswith("python"):
            return "kernel zygote" if "kernel" in pk else "verify zygote"
        if pk.endswith("zygote") and not pk.startswith("bwrap"):
            return "kernel job" if pk.startswith("kernel") else "verify job"
        if pk.endswith("job"):
            return pk
        if pk == "parent (CLI)" and parent and p.argv == parent.argv:
            return "grading worker"
        return f"other: {p.comm} (under {pk or '?'})"

    def sample(self) -> None:
        now = time.time()
        try:
            pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
        except OSError:
            return
        alive = set(pids)
        self.foreign &= alive
        for pid in sorted(pids):  # parents first, mostly (pids grow)
            if pid in self.foreign:
                continue
            st = _stat(pid)
            if st is None:
                continue
            comm, f = st
            ppid, start = int(f[1]), int(f[19])
            p = self.procs.get(pid)
            if p is not None and p.start != start:  # the pid was reused
                self.done.append(self.procs.pop(pid))
                p = None
            if p is None:
                if pid != self.root and ppid not in self.procs and ppid != self.me:
                    self.foreign.add(pid)
                    continue
                p = Proc(pid, ppid, start, comm, _argv(pid))
                p.kind = self._kind(p)
                self.procs[pid] = p
            if p.comm != comm or len(p.series) < 25:  # it may have exec'd since
                argv = _argv(pid)
                if argv and (argv != p.argv or p.comm != comm):
                    p.argv, p.comm = argv, comm
                    p.kind = self._kind(p)
            p.cpu = (int(f[11]) + int(f[12])) / TICK
            p.children = (int(f[13]) + int(f[14])) / TICK
            if not p.series or p.series[-1][1] != p.cpu:
                p.series.append((now, p.cpu))
        for pid in [pid for pid in self.procs if pid not in alive]:
            self.done.append(self.procs.pop(pid))

    def all(self) -> list[Proc]:
        return self.done + list(self.procs.values())


def cpu_at(p: Proc, t: float) -> float:
    """The process's CPU at time t (the last sample at or before t)."""
    value = 0.0
    for when, cpu in p.series:
        if when > t:
            break
        value = cpu
    return value


class CpuGroup:
    """A new cpuacct group (cgroup v1) for one run's process tree; `path` None where none can
    be made (not root, no cgroup v1): then there is no exact total.

    RUSAGE_CHILDREN is not the whole tree's CPU here: when a worker exits, its zygotes'
    bwrap (--die-with-parent) is killed, and the processes of that sandbox's PID namespace
    are reaped by the kernel as the namespace's init dies; their CPU reaches no parent's
    counter. A cpuacct group counts every process that ran in it, however it ended.
    timeline.py uses it too."""

    def __init__(self, name: str) -> None:
        base = Path("/sys/fs/cgroup/cpuacct")
        self.path: Path | None = None
        if (base / "cpuacct.usage").exists():
            group = base / f"bench-{name}-{os.getpid()}-{time.monotonic_ns()}"
            try:
                group.mkdir()
                self.path = group
            except OSError:
                pass

    def enter(self) -> None:
        """Move the calling process into the group (a child's preexec_fn, before exec)."""
        if self.path:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def total(self, interval: float = 0.05, limit: float = 30.0) -> float | None:
        """CPU-seconds of every process that ran in the group, once the last has exited
        (waiting up to `limit` s); removes the group. None without a group."""
        if not self.path:
            return None
        end = time.monotonic() + limit
        while (self.path / "cgroup.procs").read_text().split() and time.monotonic() < end:
            time.sleep(interval)  # the sandboxes' last processes are exiting
        cpu = int((self.path / "cpuacct.usage").read_text()) / 1e9
        self.path.rmdir()
        return cpu


def measure(course: Path, workers: int, interval: float) -> dict:
    """Run the autograde child, sample it; the figures of the run as a dict."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    group = CpuGroup("run-cpu")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    cmd = [sys.executable, __file__, "--child", str(course), "--child-workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, preexec_fn=group.enter)  # noqa: PLW1509
    sampler = Sampler(proc.pid)
    while proc.poll() is None:
        sampler.sample()
        time.sleep(interval)
    t1 = time.time()
    while True:  # orphans of the tree came to this subreaper: reap them all
        sampler.sample()
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(interval)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    exact = group.total(interval)
    total = rusage if exact is None else exact
    notes = [json.loads(x) for x in (course / NOTES).read_text().splitlines()]
    return {
        "t0": t0,
        "t1": t1,
        "exit": proc.returncode,
        "total": total,
        "rusage_children": rusage,
        "cgroup": exact is not None,
        "user": after.ru_utime - before.ru_utime,
        "system": after.ru_stime - before.ru_stime,
        "procs": [p.__dict__ for p in sampler.all()],
        "notes": notes,
        "load": os.getloadavg(),
    }


# ------------------------------------------------------------------ the table


def account(fig: dict) -> dict:
    """The accounting: per kind, count, CPU, fixed part and per-notebook rate."""
    procs = [Proc(**p) for p in fig["procs"]]
    notes = sorted(fig["notes"], key=lambda x: x["end"])
    n = len(notes)
    by_worker: dict[int, list[dict]] = {}
    for x in notes:
        by_worker.setdefault(x["pid"], []).append(x)
    a = max(min(x["end"] for x in mine) for mine in by_worker.values())
    b = min(max(x["end"] for x in mine) for mine in by_worker.values())
    in_window = sum(1 for x in notes if a < x["end"] <= b)
    kinds: dict[str, dict] = {}
    for p in procs:
        k = kinds.setdefault(p.kind, {"count": 0, "cpu": 0.0, "window": 0.0})
        k["count"] += 1
        k["cpu"] += p.cpu
        k["window"] += cpu_at(p, b) - cpu_at(p, a)
    # the jobs: the zygotes' counters of reaped children (exact), the sampled sum beside
    for job, zyg in (("kernel job", "kernel zygote"), ("verify job", "verify zygote")):
        counted = sum(p.children for p in procs if p.kind == zyg)
        k = kinds.setdefault(job, {"count": 0, "cpu": 0.0, "window": 0.0})
        k["sampled"] = k["cpu"]
        k["cpu"] = max(counted, k["cpu"])
        noted = sum(x["jobs_cpu"].get(job.split()[0], 0.0) for x in notes if a < x["end"] <= b)
        k["window"] = noted  # the zygotes' counters, per notebook finished in the window
    attributed = sum(k["cpu"] for k in kinds.values())
    kinds["not attributed"] = {"count": 0, "cpu": fig["total"] - attributed, "window": 0.0}
    for k in kinds.values():
        k["per_notebook"] = k["window"] / in_window if in_window else 0.0
        k["fixed"] = k["cpu"] - n * k["per_notebook"]
    steady = [x for mine in by_worker.values() for x in sorted(mine, key=lambda x: x["start"])[1:]]
    warm = {}
    for mine in by_worker.values():
        for kind, w in mine[-1]["warmup"].items():
            warm.setdefault(kind, []).append(w)
    return {
        "notebooks": n,
        "window_notebooks": in_window,
        "wall": fig["t1"] - fig["t0"],
        "total": fig["total"],
        "kinds": kinds,
        "noted": {
            "worker": sum(x["worker_cpu"] for x in steady) / max(len(steady), 1),
            "kernel": sum(x["jobs_cpu"].get("kernel", 0) for x in steady) / max(len(steady), 1),
            "verify": sum(x["jobs_cpu"].get("verify", 0) for x in steady) / max(len(steady), 1),
            "worker_start": [mine[0]["worker_cpu_at_start"] for mine in by_worker.values()],
            "warmup": warm,
        },
    }


def report(name: str, acc: dict, fig: dict) -> None:
    n = acc["notebooks"]
    print(
        f"\n{name}: {n} notebooks, exit {fig['exit']}, wall {acc['wall']:.1f} s, "
        f"load {fig['load'][0]:.1f}; the whole tree: {acc['total']:.2f} CPU-s "
        f"= {acc['total'] / n:.3f} per notebook ("
        + ("cpuacct group" if fig["cgroup"] else "RUSAGE_CHILDREN")
        + f"; RUSAGE_CHILDREN {fig['rusage_children']:.2f})"
    )
    print(f"  steady window: {acc['window_notebooks']} notebooks")
    head = ("procs", 5), ("CPU-s", 8), ("share", 6), ("fixed", 7), ("/notebook", 9)
    print(f"  {'process kind':34} " + " ".join(f"{h:>{w}}" for h, w in head))
    rows = sorted(acc["kinds"].items(), key=lambda kv: -kv[1]["cpu"])
    for kind, k in rows:
        extra = f"  (sampled {k['sampled']:.2f})" if "sampled" in k else ""
        print(
            f"  {kind:34} {k['count']:5d} {k['cpu']:8.2f} {k['cpu'] / acc['total']:6.1%} "
            f"{k['fixed']:7.2f} {k['per_notebook']:9.3f}{extra}"
        )
    fixed = sum(k["fixed"] for k in acc["kinds"].values())
    per = sum(k["per_notebook"] for k in acc["kinds"].values())
    print(f"  {'all':34} {'':5} {acc['total']:8.2f} {'':6} {fixed:7.2f} {per:9.3f}")
    noted = acc["noted"]
    print(
        f"  noted by the workers, per notebook after each worker's first: worker "
        f"{noted['worker']:.3f} + kernel {noted['kernel']:.3f} + verification "
        f"{noted['verify']:.3f}; worker CPU before its first notebook "
        f"{', '.join(f'{x:.2f}' for x in noted['worker_start'])}; zygote warm-ups "
        + ", ".join(f"{k} {', '.join(f'{w:.2f}' for w in v)}" for k, v in noted["warmup"].items())
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between samples")
    parser.add_argument("--keep", help="work in this folder (kept)")
    parser.add_argument("--json", help="write every round's figures and accounting here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    if args.child:
        return child(args.child, args.child_workers)

    from grader.pipeline.demo import build_demo_class

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-run-cpu-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    base = root / "base"
    if not base.exists():
        build_demo_class(base, root / "class.zip", args.students)
    print(f"{REPO} load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    out = []
    try:
        for i in range(args.rounds):
            course = root / f"round{i}"
            shutil.rmtree(course, ignore_errors=True)
            shutil.copytree(base, course)
            fig = measure(course, args.workers, args.interval)
            acc = account(fig)
            report(course.name, acc, fig)
            out.append({"figures": fig, "accounting": acc})
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(out))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
