"""Benchmark: grading on a Dask cluster (LocalCluster here) against local workers, into
PostgreSQL: the figures of docs/scale.md's capacity estimate.

    .venv/bin/python benchmarks/cluster.py [--students 4] [--tasks 300] [--keep DIR]

Measures, on this machine, in one run:

1. the scheduler's per-task overhead: `--tasks` empty tasks through a LocalCluster of 2
   worker processes (submitted at once: scheduler throughput; and one after the other:
   the round trip of a single task);
2. the demo's class (`--students` x every notebook in source/,
   grader.pipeline.demo.build_demo_class)
   graded four times (each copy's gradebook holding every assignment, as after the
   instructor's `release`), in this order: local `autograde --workers 1`, the cluster with 1
   worker, local `--workers 2`, the cluster with 2 workers (a LocalCluster started before the
   clock starts; its start-up is printed separately). Each: wall clock per notebook, the
   mean grading time of a notebook in its worker, and on the cluster the instructor's time
   per recorded submission (gradebook upsert and files). Then the ratios the issue asks
   for: cluster / local per notebook with 1 and 2 workers, and 2 workers / 1 on each route;
3. the gradebook writer alone: the cluster run's submission records upserted again under
   new student ids into a fresh database, one Gradebook (one connection) as the
   instructor's process does: records per second.

The gradebook is a throwaway PostgreSQL server (tests/pgserver.py) when PostgreSQL is
installed, else SQLite (`--sqlite` forces it), the same for every run. The course's own
hooks run (sandboxed kernels from warm zygotes, out-of-process verification): the
per-notebook figure is what a real run costs. `--keep DIR` keeps the four graded courses
(compare them with benchmarks/same_grades.py). Prints the load average before and after:
the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _noop(x: int) -> int:
    return x


def scheduler_overhead(n: int) -> tuple[float, float]:
    """(seconds per task when n are submitted at once, seconds per sequential round trip)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
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


def grade_with(course: Path, workers: int, cluster: bool) -> dict[str, float]:
    """Grade `course` with `workers` local processes, or on a LocalCluster of `workers`."""
    from distributed import LocalCluster

    from grader.pipeline import cluster as cluster_mod
    from grader.pipeline.autograde import autograde
    from grader.pipeline.gradebook_records import SubmissionWriter

    writes: list[float] = []  # seconds per recorded submission, each batch's share
    original = SubmissionWriter.write

    def timed(self, items):
        t = time.perf_counter()
        try:
            return original(self, items)
        finally:
            writes.extend([(time.perf_counter() - t) / max(len(items), 1)] * len(items))

    tasks: list[float] = []
    collect = cluster_mod._collect

    def collected(*args, **kwargs):
        out = collect(*args, **kwargs)
        tasks.append(getattr(out, "seconds", 0.0))  # a RemoteGrade: its whole task
        return out

    started = 0.0
    if cluster:
        SubmissionWriter.write = timed
        cluster_mod._collect = collected
        t0 = time.perf_counter()
        with LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=40,
        ) as lc:
            started = time.perf_counter() - t0
            t0 = time.perf_counter()
            run = autograde(course, scheduler=lc.scheduler_address)
            wall = time.perf_counter() - t0
        SubmissionWriter.write = original
        cluster_mod._collect = collect
    else:
        t0 = time.perf_counter()
        run = autograde(course, workers=workers)
        wall = time.perf_counter() - t0
    n = run.graded
    return {
        "start": started,
        "wall": wall,
        "n": n,
        "per_nb": wall / max(n, 1),
        "per_nb_worker": sum(r.seconds for r in run.results) / max(n, 1),
        "write": sum(writes) / max(len(writes), 1),
        "task": sum(tasks) / max(len(tasks), 1),
        "failed": len(run.failed),
        "errors": len(run.grader_errors),
    }


def writer_throughput(course: Path, url: str, copies: int, batch: int = 50) -> tuple[int, float]:
    """(records written, seconds): `course`'s submission records upserted `copies` times
    under new student ids into the gradebook at `url` (a fresh database), as the cluster
    route writes them (SubmissionWriter: read the prior record, then `batch` per transaction)."""
    from grader.config import db_url
    from grader.pipeline.gradebook_records import (
        assignment_definition,
        open_gradebook,
        submission_record,
    )

    records = []
    with open_gradebook(db_url(course)) as gb:
        definitions = [assignment_definition(gb, a.name) for a in gb.assignments]
        for a in gb.assignments:
            for sub in a.submissions:
                record = submission_record(gb, a.name, sub.student_id)
                records.append((a.name, sub.student_id, record))
    items = [(a, f"{s}-{i}", r) for i in range(copies) for a, s, r in records]
    sys.path.insert(0, str(REPO / "benchmarks"))
    from gradebook_writer import batched  # the one timing of SubmissionWriter

    seconds = batched(url, definitions, items, batch)
    return len(items), seconds


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--copies", type=int, default=5, help="the writer's: copies of the class")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL exists")
    parser.add_argument("--keep", metavar="DIR", help="keep the graded courses in DIR")
    return parser.parse_args()


def _new_database(pg: Any, name: str) -> str | None:
    """A new database `name` on the throwaway server `pg` (None: no server, SQLite)."""
    if pg is None:
        return None
    import psycopg

    with psycopg.connect(**pg._params("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


def _grade_routes(root: Path, pg: Any, students: int) -> dict[tuple[str, int], dict[str, float]]:
    """The class graded by each route in turn (local 1, cluster 1, local 2, cluster 2)."""
    from grader.config import assignments_of
    from grader.pipeline.autograde import ensure_in_gradebook
    from grader.pipeline.collect import collect
    from grader.pipeline.demo import build_demo_class

    base = build_demo_class(root / "base", root / "class.zip", students, collect=False).course
    figures: dict[tuple[str, int], dict[str, float]] = {}
    for workers in (1, 2):
        for route in ("local", "cluster"):
            name = f"{route}{workers}"
            course = root / name
            shutil.copytree(base, course, ignore=shutil.ignore_patterns("gradebook.db"))
            url = _new_database(pg, name)
            if url is not None:
                cfg = course / "nbgrader_config.py"
                cfg.write_text(cfg.read_text() + f"\nc.CourseDirectory.db_url = {url!r}\n")
            collect(root / "class.zip", course=course)
            # The gradebook as the instructor's `release` leaves it: every assignment in it.
            # Else the first autograde on a new database generates them (nbgrader's
            # generate_assignment, about 4 s of one core), inside the measured run.
            ensure_in_gradebook(course, assignments_of(course))
            f = figures[(route, workers)] = grade_with(course, workers, route == "cluster")
            extra = (
                f"; the whole task {f['task']:.2f} s/notebook; instructor's record "
                f"{f['write'] * 1000:.0f} ms/notebook; cluster start {f['start']:.1f} s"
                if route == "cluster"
                else ""
            )
            print(
                f"{route:7} {workers} worker(s): {f['n']} notebooks in {f['wall']:.1f} s = "
                f"{f['per_nb']:.2f} s/notebook ({f['n'] / f['wall']:.3f} notebooks/s); "
                f"grading in a worker {f['per_nb_worker']:.2f} s/notebook{extra}; failed "
                f"{f['failed']} (not the students': {f['errors']}) "
                f"({'PostgreSQL' if pg else 'SQLite'}); load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    return figures


def _keep(root: Path, figures: dict) -> None:
    """The gradebooks as same_grades.py dumps them (the server goes away)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from same_grades import dump

    for route, workers in figures:
        name = f"{route}{workers}"
        data = dump(root / name, None)
        (root / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    print(f"kept: {root} (compare: benchmarks/same_grades.py compare A.json B.json)")


def _ratios(figures: dict) -> None:
    for workers in (1, 2):
        ratio = figures[("cluster", workers)]["per_nb"] / figures[("local", workers)]["per_nb"]
        print(f"cluster / local per notebook, {workers} worker(s): {ratio:.2f}x (goal <= 1.2x)")
    for route in ("local", "cluster"):
        speedup = figures[(route, 1)]["per_nb"] / figures[(route, 2)]["per_nb"]
        print(f"{route}: 2 workers / 1 worker throughput: {speedup:.2f}x (goal >= 1.7x)")


def main() -> int:
    args = _args()
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
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-cluster-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    try:
        figures = _grade_routes(root, pg, args.students)
        if args.keep:
            _keep(root, figures)
        _ratios(figures)
        if pg is not None:
            url = _new_database(pg, "writer")
            n, seconds = writer_throughput(root / "cluster2", url, args.copies)
            print(
                f"gradebook writer (PostgreSQL, one connection, batched): {n} submission "
                f"records read and written in {seconds:.1f} s = {n / seconds:.1f} records/s "
                f"({seconds / n * 1000:.0f} ms each)"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        if pg is not None:
            pg.stop()
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
