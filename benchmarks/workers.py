"""Benchmark: where a local `autograde` run's wall time goes, with 1 and with N workers.

    .venv/bin/python benchmarks/workers.py [--students 6] [--workers 1 2] [--keep DIR]

Builds the demo's class (`--students` x every notebook in source/), then grades a fresh
copy of it with `grader.pipeline.autograde.autograde(course, workers=W)` for each W given
(SQLite gradebook, the course's hooks: what instructors run), each in a fresh Python
process (so no run inherits another's imports or warm caches: the first is not biased).
Each worker notes, per notebook: when it started and ended, its own CPU, and its zygotes'
children's CPU (the kernel's and the verification process's). Prints per run:

- wall time, and its parts: before the first notebook starts (planning, the pool, each
  worker's start), the grading itself, after the last notebook (the gradebook checks);
- per worker: notebooks, busy seconds, the first notebook's seconds (it starts the
  zygotes and precomputes the hidden answers), idle seconds inside the grading window
  (waiting for work, or done before the other worker);
- CPU per notebook: the worker process's own, the kernels', the verification's, their
  sum, and that sum over the notebook's wall time (above 1: one notebook alone keeps more
  than one core busy, which a second worker cannot have).

Then the throughput ratio of each W against the first. Prints the load average: the
machine may be shared, so compare runs made back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: Per-notebook notes of the workers (a JSON line each), in the course folder.
NOTES = ".grader/bench-timeline.jsonl"


def _noted_grade(student: str, assignment: str):
    """grade_submission, noting when it ran and the CPU it used (runs in a worker)."""
    from grader.pipeline import autograde as ag
    from grader.sandbox import zygote_host

    def zygote_cpu() -> dict[str, float]:
        return {k: z.children_cpu for k, z in zygote_host._ZYGOTES.items()}

    before, cpu0, t0 = zygote_cpu(), time.process_time(), time.time()
    result = ag._ungraded_grade_submission(student, assignment)
    t1, cpu1, after = time.time(), time.process_time(), zygote_cpu()
    note = {
        "pid": os.getpid(),
        "key": f"{student}/{assignment}",
        "start": t0,
        "end": t1,
        "worker_cpu": cpu1 - cpu0,
        "kernel_cpu": after.get("kernel", 0.0) - before.get("kernel", 0.0),
        "verify_cpu": after.get("verify", 0.0) - before.get("verify", 0.0),
        "status": result.status,
    }
    with open(Path(ag._WORKER["course"]) / NOTES, "a", encoding="utf-8") as f:
        f.write(json.dumps(note) + "\n")
    return result


def run_one(course: Path, workers: int) -> dict:
    """Grade `course` with `workers` local workers in this process; the figures as a dict."""
    from grader.pipeline import autograde as ag

    # Workers are forked from this process: they run _noted_grade (this module, __main__).
    ag._ungraded_grade_submission = ag.grade_submission
    ag.grade_submission = _noted_grade
    t0 = time.time()
    run = ag.autograde(course, workers=workers)
    t1 = time.time()
    notes = [json.loads(line) for line in (course / NOTES).read_text().splitlines()]
    return {"t0": t0, "t1": t1, "graded": run.graded, "failed": len(run.failed), "notes": notes}


def report(name: str, workers: int, fig: dict) -> float:
    notes = fig["notes"]
    n = len(notes)
    wall = fig["t1"] - fig["t0"]
    first = min(x["start"] for x in notes)
    last = max(x["end"] for x in notes)
    print(
        f"{name}: {workers} worker(s), {n} notebooks in {wall:.1f} s = {wall / n:.2f} s/notebook "
        f"(failed {fig['failed']}); load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  before the first notebook {first - fig['t0']:.1f} s, grading {last - first:.1f} s, "
        f"after the last {fig['t1'] - last:.1f} s"
    )
    for pid in sorted({x["pid"] for x in notes}):
        mine = sorted((x for x in notes if x["pid"] == pid), key=lambda x: x["start"])
        busy = sum(x["end"] - x["start"] for x in mine)
        print(
            f"  worker {pid}: {len(mine)} notebooks, busy {busy:.1f} s, first notebook "
            f"{mine[0]['end'] - mine[0]['start']:.1f} s, idle in the grading window "
            f"{(last - first) - busy:.1f} s (of which after its last notebook "
            f"{last - mine[-1]['end']:.1f} s)"
        )
    steady = sorted(notes, key=lambda x: x["start"])[workers:]  # past each worker's first
    w = sum(x["worker_cpu"] for x in steady) / max(len(steady), 1)
    k = sum(x["kernel_cpu"] for x in steady) / max(len(steady), 1)
    v = sum(x["verify_cpu"] for x in steady) / max(len(steady), 1)
    el = sum(x["end"] - x["start"] for x in steady) / max(len(steady), 1)
    print(
        f"  per notebook after each worker's first ({len(steady)}): wall {el:.2f} s; CPU: "
        f"worker {w:.2f} + kernel {k:.2f} + verification {v:.2f} = {w + k + v:.2f} s "
        f"({(w + k + v) / el:.2f} of a core while it runs)"
    )
    return wall / n


def child(args: argparse.Namespace) -> int:
    fig = run_one(Path(args.child), args.child_workers)
    Path(args.out).write_text(json.dumps(fig))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", help="work in this folder (kept)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    if args.child:
        return child(args)

    from grader.pipeline.demo import build_demo_class

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-workers-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    base = root / "base"
    if not base.exists():
        build_demo_class(base, root / "class.zip", args.students)
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    per_nb = []
    try:
        for i, workers in enumerate(args.workers):
            course = root / f"run{i}-w{workers}"
            shutil.rmtree(course, ignore_errors=True)
            shutil.copytree(base, course)
            out = root / f"run{i}-w{workers}.json"
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(course),
                "--child-workers",
                str(workers),
                "--out",
                str(out),
            ]
            subprocess.run(cmd, check=True)
            per_nb.append(report(course.name, workers, json.loads(out.read_text())))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for workers, x in zip(args.workers[1:], per_nb[1:], strict=True):
        print(f"{workers} workers / {args.workers[0]}: {per_nb[0] / x:.2f}x the throughput")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
