"""Benchmark: what a grading worker pays per nbgrader `Gradebook` open, with nbgrader's close
(the engine disposed: a new connection at every open) and with the worker's pool kept
(`grader.pipeline.speedups.share_engines`).

    .venv/bin/python benchmarks/gradebook_opens.py [--opens 100] [--rounds 2] [--sqlite]

A worker opens nbgrader's Gradebook about 14 times per notebook. Each open here records a
student (one small write), as nbgrader's autograde does first. Into a throwaway PostgreSQL
server (tests/pgserver.py; `fsync=off`) or, with `--sqlite`, a SQLite file; both ways in
one process, in turn, `--rounds` times. Prints wall seconds and this process's CPU seconds
per open (on PostgreSQL the server's own work for a new connection, a new server process,
is in the wall time only), and the load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    args = parser.parse_args()
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]

    from nbgrader import api

    from grader.pipeline.gradebook_records import open_gradebook
    from grader.pipeline.speedups import share_engines

    pg = None
    if args.sqlite:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-opens-')) / 'gradebook.db'}"
    else:
        from pgserver import PgServer

        pg = PgServer()
        url = pg.url
    try:
        open_gradebook(url).close()  # nbgrader's tables
        nbgrader_close = api.Gradebook.close
        share_engines()  # as in every grading worker
        kept = api.Gradebook.close
        print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
        for i in range(args.rounds):
            for name, close in (("nbgrader's close", nbgrader_close), ("pool kept", kept)):
                api.Gradebook.close = close
                t, c = time.perf_counter(), time.process_time()
                for _ in range(args.opens):
                    with api.Gradebook(url) as gb:
                        gb.update_or_create_student("s1")
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                print(
                    f"round {i + 1} {name:16}: {args.opens} opens, {wall / args.opens * 1000:.1f} "
                    f"ms wall, {cpu / args.opens * 1000:.1f} ms CPU each "
                    f"({'SQLite' if pg is None else 'PostgreSQL'}); "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        if pg is not None:
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
