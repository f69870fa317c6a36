"""Benchmark: the cluster's gradebook writer (the instructor's process), records per second.

    .venv/bin/python benchmarks/gradebook_writer.py [--records 300] [--rounds 2] [--url URL]

What the instructor's process does for every submission a Dask worker graded
(grader.pipeline.cluster): read the submission's current record before sending the task,
then upsert the new record when the result comes back. Measured two ways, back to back,
each into a fresh database on the same server (`--rounds` times, alternating):

- one by one: nbgrader's API per submission (`submission_record`, `write_submission_record`:
  nbgrader's find/update_or_create calls, their lazy loads and commits), as before batching;
- batched: `gradebook_records.SubmissionWriter`, what the cluster route runs now: one
  engine and session for the run, the reads and upserts as a few SQL statements per
  submission, many submissions per transaction with a savepoint each (`--batch` per
  transaction).

The records are made from the course's own assignments (every notebook in source/, as
`nbgrader generate_assignment` records them): every grade and comment cell filled in, as a
graded submission is. The gradebook is a throwaway PostgreSQL server on 127.0.0.1
(tests/pgserver.py, `fsync=off`) unless `--url` names a server (one database per round is
created there: the URL's user needs CREATEDB). Prints the load average: the machine may be
shared; compare the ratio, measured back to back.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def synthetic_records(definitions: list[dict], n: int) -> list[tuple[str, str, dict]]:
    """`n` graded submission records (assignment, student, record) over `definitions`."""
    out = []
    for i in range(n):
        d = definitions[i % len(definitions)]
        notebooks = {}
        for nb in d["notebooks"]:
            cells = nb["grade_cells"] + nb["task_cells"]
            notebooks[nb["name"]] = {
                "flagged": i % 7 == 0,
                "late_submission_penalty": None,
                "grades": {
                    c["name"]: {
                        "auto_score": (c["max_score"] or 0) * ((i + k) % 3) / 2,
                        "manual_score": None,
                        "extra_credit": None,
                        "needs_manual_grade": (i + k) % 5 == 0,
                    }
                    for k, c in enumerate(cells)
                },
                "comments": {
                    c["name"]: {"auto_comment": f"comment {i}-{k}", "manual_comment": None}
                    for k, c in enumerate(nb["solution_cells"] + nb["task_cells"])
                },
            }
        record = {
            "student": {"first_name": None, "last_name": None, "email": None, "lms_user_id": None},
            "timestamp": datetime.datetime(2026, 12, 1, 12, i % 60),
            "extension": None,
            "notebooks": notebooks,
        }
        out.append((d["name"], f"s{i // len(definitions):05d}", record))
    return out


def one_by_one(url: str, definitions: list[dict], records: list) -> float:
    """Seconds to read and upsert every record through nbgrader's API, one at a time."""
    from grader.pipeline.gradebook_records import (
        open_gradebook,
        submission_record,
        write_assignment_definition,
        write_submission_record,
    )

    with open_gradebook(url) as gb:
        for d in definitions:
            write_assignment_definition(gb, d)
        t0 = time.perf_counter()
        for assignment, student, record in records:
            submission_record(gb, assignment, student)
            write_submission_record(gb, assignment, student, record)
        return time.perf_counter() - t0


def batched(url: str, definitions: list[dict], records: list, batch: int) -> float:
    """Seconds to read and upsert every record with SubmissionWriter, `batch` per transaction."""
    from grader.pipeline.gradebook_records import (
        SubmissionWriter,
        open_gradebook,
        write_assignment_definition,
    )

    with open_gradebook(url) as gb:
        for d in definitions:
            write_assignment_definition(gb, d)
        writer = SubmissionWriter(gb)
        t0 = time.perf_counter()
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            for assignment, student, _ in chunk:
                writer.record(assignment, student)
            failed = writer.write(chunk)
            if failed:
                raise RuntimeError(f"records failed: {failed}")
        return time.perf_counter() - t0


def readback(url: str, records: list) -> list:
    """Every record as nbgrader's API reads it back (to check both ways wrote the same)."""
    from grader.pipeline.gradebook_records import open_gradebook, submission_record

    with open_gradebook(url) as gb:
        return [submission_record(gb, a, s) for a, s, _ in records]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50, help="submissions per transaction")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--url", help="a PostgreSQL server's URL (default: a throwaway one)")
    args = parser.parse_args()

    from grader import course as course_mod
    from grader.pipeline.gradebook_records import assignment_definition, open_gradebook

    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        course = course_mod.new_course(Path(tmp) / "course")
        course_mod.generate_release(course)
        with open_gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            definitions = [assignment_definition(gb, a.name) for a in gb.assignments]
    records = synthetic_records(definitions, args.records)
    pg = None
    base = args.url
    if base is None:
        from pgserver import PgServer

        pg = PgServer()
        base = pg.url
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(base)
    params = {"host": u.host, "port": u.port, "user": u.username, "password": u.password}
    try:
        times: dict[str, list[float]] = {"one by one": [], "batched": []}
        for r in range(args.rounds):
            for way in times:
                name = f"bench_writer_{r}_{way.replace(' ', '_')}"
                with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
                    conn.execute(f"CREATE DATABASE {name}")
                url = u.set(database=name).render_as_string(hide_password=False)
                if way == "one by one":
                    seconds = one_by_one(url, definitions, records)
                    first = readback(url, records)
                else:
                    seconds = batched(url, definitions, records, args.batch)
                    same = readback(url, records) == first
                times[way].append(seconds)
                print(
                    f"round {r + 1} {way:10}: {len(records)} submissions read and recorded in "
                    f"{seconds:.1f} s = {len(records) / seconds:.1f} records/s "
                    f"({seconds / len(records) * 1000:.1f} ms each); load {os.getloadavg()[0]:.1f}"
                    + (f"; same records as one by one: {same}" if way == "batched" else ""),
                    flush=True,
                )
        ratio = sum(times["one by one"]) / sum(times["batched"])
        print(f"batched / one by one, records per second: {ratio:.1f}x (batch {args.batch})")
    finally:
        if pg is not None:
            pg.stop()
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
