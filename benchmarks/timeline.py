"""Benchmark: the timeline of one `backprop-grader autograde --workers N` run, from its start.

    .venv/bin/python benchmarks/timeline.py [--students 6] [--workers 2] [--runs 1]
                                            [--keep DIR] [--json OUT]

Builds the demo class (grader.pipeline.demo.build_demo_class), then grades a fresh copy of
it per run with the instructor's command (`grader.cli.main(["autograde", "--workers", N])`,
SQLite, sandbox and verification on) in a child process started from this one, and prints
when each step of the run happened, in seconds after the child process started:

- `cli start`: the child's first line, before `grader.cli` is imported; `cli imported`;
- `autograde`: the library call entered (the CLI's own imports done);
- `plan`, `gradebook` (ensure_in_gradebook), `table start` (start_hidden_table returned),
  `table built` (its process ended);
- `pool`: the worker pool created (`_grade_all`, or `start_pool` where it exists);
- per worker: `init` / `init end` (`_init_worker`), `kernel zygote` / `verify zygote`
  start and ready (grader.sandbox.zygote_host.Zygote, with its warm-up CPU; a zygote started
  ahead, `{"wait": false}`, is noted ready when the worker first waited for it, which is at
  or after the moment it was ready), and its first notebook's start and end
  (`grade_submission`);
- `autograde end`, `cli end`.

Everything is noted by wrapping those functions in the child (the workers are forked from it
and inherit the wrappers, as benchmarks/run_cpu.py does); a step a version of the code does
not have is left out, so the same script times `main` and a branch (`--repo DIR`: run that
checkout's code with its own venv). Each run prints `uptime`'s load before it, the wall time,
and the CPU-seconds of the whole process tree (a cpuacct group where there is one, as in
run_cpu.py; else RUSAGE_CHILDREN, which misses the sandboxes' processes). `--alternate DIR`
runs this checkout and DIR's one after the other, `--runs` pairs, for back-to-back
comparisons on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_START = time.time()
REPO = Path(__file__).resolve().parent.parent
EVENTS_ENV = "BENCH_TIMELINE_EVENTS"


# ------------------------------------------------------------------ the child (the run)


def note(event: str, **extra) -> None:
    """Append one event (time, pid) to the run's events file (one write: O_APPEND)."""
    line = json.dumps({"t": time.time(), "pid": os.getpid(), "event": event, **extra}) + "\n"
    fd = os.open(os.environ[EVENTS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _wrap(module, name: str, before: str, after: str) -> None:
    """Note `before` and `after` around module.name, if the module has it."""
    fn = getattr(module, name, None)
    if fn is None:
        return

    def wrapped(*args, **kwargs):
        note(before)
        try:
            return fn(*args, **kwargs)
        finally:
            note(after)

    setattr(module, name, wrapped)


def _timed_grade(student: str, assignment: str):
    """grade_submission, noting its worker's first notebook (runs in a worker)."""
    from grader.pipeline import autograde as ag

    first = not ag._WORKER.get("bench_timeline_seen")
    if first:
        ag._WORKER["bench_timeline_seen"] = True
        note("first notebook", key=f"{student}/{assignment}")
    try:
        return ag._untimed_grade_submission(student, assignment)
    finally:
        if first:
            note("first notebook end")


def child(course: str, workers: int) -> int:
    note("cli start")
    from grader import cli

    note("cli imported")
    from grader.pipeline import autograde as ag
    from grader.sandbox import hidden_table, zygote_host

    _wrap(ag, "autograde", "autograde", "autograde end")
    _wrap(ag, "_plan", "plan", "plan end")
    _wrap(ag, "ensure_in_gradebook", "gradebook", "gradebook end")
    _wrap(ag, "start_pool", "pool", "pool end")
    _wrap(ag, "_grade_all", "grade_all", "grade_all end")
    _wrap(ag, "_init_worker", "init", "init end")
    ag._untimed_grade_submission = ag.grade_submission
    ag.grade_submission = _timed_grade  # pickled by name: a function of this module
    wait = hidden_table.TableBuild._wait

    def _wait(self) -> None:
        wait(self)
        note("table built", ok=self.path.exists())

    hidden_table.TableBuild._wait = _wait
    build_init = hidden_table.TableBuild.__init__

    def table_init(self, *args, **kwargs) -> None:
        note("table start")
        build_init(self, *args, **kwargs)

    hidden_table.TableBuild.__init__ = table_init
    init = zygote_host.Zygote.__init__
    wait_ready = getattr(zygote_host.Zygote, "wait_ready", None)

    def ready(z) -> None:
        note(f"{z.kind} zygote ready", warmup=z.warmup_cpu, hidden=z.hidden.get("source"))

    def zygote_init(self, plan, kind, *args, **kwargs) -> None:
        note(f"{kind} zygote", wait=kwargs.get("wait", True))
        init(self, plan, kind, *args, **kwargs)
        if wait_ready is None:  # an older Zygote: ready when made
            ready(self)

    def zygote_wait_ready(self) -> None:
        was = self.ready
        wait_ready(self)
        if not was:
            ready(self)

    zygote_host.Zygote.__init__ = zygote_init
    if wait_ready is not None:
        zygote_host.Zygote.wait_ready = zygote_wait_ready
    try:
        return cli.main(["autograde", "--course", course, "--workers", str(workers)])
    finally:
        note("cli end")


# ------------------------------------------------------------------ the parent


def measure(repo: Path, course: Path, workers: int) -> dict:
    """One run of the child with `repo`'s code and venv: its events, wall time and CPU."""
    events = course / ".grader" / "bench-timeline.jsonl"
    events.parent.mkdir(parents=True, exist_ok=True)
    events.unlink(missing_ok=True)
    python = repo / ".venv" / "bin" / "python"
    env = {**os.environ, EVENTS_ENV: str(events)}
    env["PATH"] = str(python.parent) + os.pathsep + env["PATH"]
    env.pop("PYTHONPATH", None)
    script = repo / "benchmarks" / "timeline.py"
    if not script.exists():  # an older checkout: this file, run with its venv
        script = Path(__file__).resolve()
    cmd = [str(python), str(script), "--child", str(course), "--child-workers", str(workers)]
    from run_cpu import CpuGroup  # this folder's (the parent only: the child never needs it)

    group = CpuGroup("timeline")

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, preexec_fn=group.enter)  # noqa: PLW1509
    t1 = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    total = group.total()
    exact = total is not None
    cpu = total if exact else cpu
    rows = [json.loads(x) for x in events.read_text().splitlines()] if events.exists() else []
    return {
        "repo": str(repo),
        "workers": workers,
        "uptime": uptime,
        "t0": t0,
        "wall": t1 - t0,
        "cpu": cpu,
        "cpu_exact": exact,
        "exit": proc.returncode,
        "events": rows,
    }


def report(fig: dict) -> None:
    """The run's timeline: each event after the child's start, per process."""
    print(
        f"\n{fig['repo']} --workers {fig['workers']}: exit {fig['exit']}, "
        f"wall {fig['wall']:.2f} s, "
        f"{fig['cpu']:.2f} CPU-s ({'cpuacct group' if fig['cpu_exact'] else 'RUSAGE_CHILDREN'})"
        f"\n  before: {fig['uptime']}"
    )
    t0 = fig["t0"]
    names: dict[int, str] = {}
    for e in sorted(fig["events"], key=lambda e: e["t"]):
        pid = e["pid"]
        if pid not in names:
            names[pid] = "cli" if not names else f"worker {len(names)}"
        extra = {k: v for k, v in e.items() if k not in ("t", "pid", "event")}
        more = " " + json.dumps(extra) if extra else ""
        print(f"  {e['t'] - t0:7.2f}  {names[pid]:9} {e['event']}{more}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", help="work in this folder (kept)")
    parser.add_argument("--json", help="write every run's figures here")
    parser.add_argument("--repo", default=str(REPO), help="the checkout whose code runs")
    parser.add_argument("--alternate", help="another checkout, run after each run of --repo")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, os.getcwd())
        return child(args.child, args.child_workers)

    sys.path.insert(0, str(REPO))
    from grader.pipeline.demo import build_demo_class

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-timeline-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    base = root / "base"
    if not base.exists():
        build_demo_class(base, root / "class.zip", args.students)
    repos = [Path(args.repo).resolve()] + (
        [Path(args.alternate).resolve()] if args.alternate else []
    )
    out = []
    try:
        for i in range(args.runs):
            for workers in args.workers:
                for j, repo in enumerate(repos):
                    course = root / f"run{i}-w{workers}-{j}"
                    shutil.rmtree(course, ignore_errors=True)
                    shutil.copytree(base, course)
                    fig = measure(repo, course, workers)
                    report(fig)
                    out.append(fig)
                    if args.json:
                        Path(args.json).write_text(json.dumps(out))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
