"""Benchmark: grading on a Dask cluster (LocalCluster here) into PostgreSQL: the figures of
docs/scale.md's capacity estimate.

    .venv/bin/python benchmarks/cluster.py [--students 4] [--tasks 300]

Measures, on this machine:

1. the scheduler's per-task overhead: `--tasks` empty tasks through a LocalCluster of 2
   worker processes (submitted at once: scheduler throughput; and one after the other:
   the round trip of a single task);
2. the demo's class (`--students` x every notebook in source/, grader.pipeline.demo.build_class)
   graded by `autograde(scheduler=ADDRESS)` on a LocalCluster of 1, then of 2 worker
   processes (started before the clock starts; their start-up is printed separately), into
   a throwaway PostgreSQL server (tests/pgserver.py) when PostgreSQL is installed, else
   SQLite: wall clock, notebooks per second, the mean per-notebook grading time on a
   worker, and the instructor's time per recorded submission (gradebook upsert and files).

The course's own hooks run (sandboxed kernels, out-of-process verification): the per-notebook
figure is what a real run costs. Prints the load average before and after: the machine may
be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _noop(x: int) -> int:
    return x


def scheduler_overhead(n: int) -> tuple[float, float]:
    """(seconds per task when n are submitted at once, seconds per sequential round trip)."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", silence_logs=40,
    ) as cluster, Client(cluster) as client:  # fmt: skip
        client.submit(_noop, -1).result()  # warm
        t0 = time.perf_counter()
        futures = client.map(_noop, range(n), pure=False)
        client.gather(futures)
        batch = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for i in range(min(n, 100)):
            client.submit(_noop, i, pure=False).result()
        single = (time.perf_counter() - t0) / min(n, 100)
    return batch, single


def grade_with(course: Path, workers: int) -> dict[str, float]:
    from distributed import LocalCluster

    from grader.pipeline import cluster
    from grader.pipeline.autograde import autograde

    writes: list[float] = []
    original = cluster.write_submission_record

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            writes.append(time.perf_counter() - t)

    cluster.write_submission_record = timed
    t0 = time.perf_counter()
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", silence_logs=40,
    ) as lc:  # fmt: skip
        started = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = autograde(course, scheduler=lc.scheduler_address)
        wall = time.perf_counter() - t0
    cluster.write_submission_record = original
    n = run.graded
    return {
        "start": started,
        "wall": wall,
        "n": n,
        "per_nb_worker": sum(r.seconds for r in run.results) / max(n, 1),
        "write": sum(writes) / max(len(writes), 1),
        "failed": len(run.failed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL exists")
    args = parser.parse_args()

    from grader import course as course_mod
    from grader.pipeline.collect import collect
    from grader.pipeline.demo import build_class

    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    batch, single = scheduler_overhead(args.tasks)
    print(
        f"scheduler overhead: {batch * 1000:.1f} ms/task ({args.tasks} empty tasks at once), "
        f"{single * 1000:.1f} ms round trip (one at a time)",
        flush=True,
    )

    pg = None
    if not args.sqlite:
        from pgserver import PgServer, missing_reason

        if missing_reason() is None:
            pg = PgServer()
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        base = course_mod.new_course(root / "base")
        course_mod.run_nbgrader(["generate_assignment", "*", "--force"], base)
        build_class(base, root / "class.zip", args.students)
        for workers in (1, 2):
            course = root / f"w{workers}"
            shutil.copytree(base, course, ignore=shutil.ignore_patterns("gradebook.db"))
            if pg is not None:
                import psycopg

                with psycopg.connect(**pg._params("postgres"), autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE w{workers}")
                url = pg.url.rsplit("/", 1)[0] + f"/w{workers}"
                cfg = course / "nbgrader_config.py"
                cfg.write_text(cfg.read_text() + f"\nc.CourseDirectory.db_url = {url!r}\n")
            collect(root / "class.zip", course=course)
            f = grade_with(course, workers)
            print(
                f"{workers} worker(s): {f['n']} notebooks in {f['wall']:.1f} s "
                f"= {f['n'] / f['wall']:.3f} notebooks/s ({f['wall'] / f['n']:.2f} s/notebook); "
                f"grading on a worker {f['per_nb_worker']:.2f} s/notebook; instructor's "
                f"record {f['write'] * 1000:.0f} ms/notebook; cluster start {f['start']:.1f} s; "
                f"failed {f['failed']} ({'PostgreSQL' if pg else 'SQLite'})",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if pg is not None:
            pg.stop()
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
