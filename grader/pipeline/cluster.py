"""`autograde --scheduler ADDRESS`: grading on a Dask cluster, the gradebook written by one process.

The instructor's process (the Dask client) is the only one that reads or writes the course:
its files and its gradebook (SQLite or PostgreSQL). Each Dask task carries what a worker
needs and brings back what the instructor keeps, so workers need no shared file system and
never connect to the course's database:

    to the worker:   the submission's folder (bytes), the student and assignment ids, the
                     submission's current gradebook record (manual scores survive a regrade),
                     and once per worker an `AssignmentBundle`: nbgrader_config.py, the
                     assignment's source/ and release/ folders, its gradebook definition
                     (cells, checksums, due date), the per-cell timeout;
    from the worker: the autograded folder (bytes), nbgrader's log when it failed, the
                     `GradeResult` (scores, reason, flags) and the submission's new record.

A worker grades as a local worker does (`grader.pipeline.cluster_worker`: what travels and
the worker's side). This module is the instructor's side: it connects to the cluster,
sends the tasks, then upserts each record into the course's gradebook through nbgrader's
API with one pooled connection, writes the autograded folder and the result, in that
order; a submission counts as done only when all three are there (see autograde.is_done):

- a worker killed mid-notebook: the scheduler runs the task again on another worker (up to
  Dask's `distributed.scheduler.allowed-failures`, then the submission is failed with a
  reason, as a local worker that dies twice); the instructor receives one result per task
  and the write is an upsert: the grade is recorded once;
- a lost scheduler or instructor process: everything written so far is kept, the rest has
  no result record and is graded by the next run;
- the database going away (a PostgreSQL restart): the run stops with an error that says so
  (`GradebookError`), and the next run grades what has no record yet.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.config import course_config, safe_url
from grader.pipeline.cluster_worker import (
    ClusterError,
    RemoteGrade,
    bundle_value,
    grade_task,
    grader_digest,
    make_bundle,
    preflight,
    safe_rel,
    worker_plugin,
)
from grader.pipeline.failures import one_line
from grader.pipeline.gradebook_records import SubmissionWriter
from grader.pipeline.results import GradeResult, not_graded

#: `--scheduler local`: a distributed.LocalCluster on this machine.
LOCAL = "local"
#: Seconds to wait for the scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT = 20
WORKER_WAIT = 60


class SchedulerUnreachable(ValueError):
    """`--scheduler ADDRESS` does not answer (bad input: exit 2)."""


class GradebookError(RuntimeError):
    """The course's gradebook failed during a run (a database restart, a lost connection)."""


def connect(scheduler: str, *, workers: int | None, log_dir: Path | None) -> tuple[Any, Any]:
    """A Dask client for `scheduler` ("local" or an address) and the LocalCluster it started.

    Raises:
        SchedulerUnreachable: the address does not answer.
        ClusterError: no worker joined the scheduler in time.
    """
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler == LOCAL:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachable(
                f"no Dask scheduler answers at {address} ({exc}); start one with "
                "`dask scheduler` (docs/scale.md) or use --scheduler local"
            ) from exc
    try:
        client.register_plugin(
            worker_plugin(str(log_dir) if (cluster and log_dir) else None), name="backprop-grader"
        )
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except (OSError, TimeoutError) as exc:
        client.close()
        if cluster is not None:
            cluster.close()
        raise ClusterError(
            f"no Dask worker joined the scheduler at {client.scheduler.address} within "
            f"{WORKER_WAIT} s: start `dask worker {client.scheduler.address}` on the grading "
            "machines (docs/scale.md)"
        ) from exc
    return client, cluster


def _preflight(client: Any, course: Path) -> None:
    """Check every worker before grading starts (`cluster_worker.preflight` through
    `client.run`): one message naming each worker that cannot grade and why.

    Raises:
        ClusterError: a worker cannot grade (nothing was graded).
    """
    from grader.sandbox.execute import SandboxedExecute

    sandbox = SandboxedExecute(config=course_config(course))
    try:
        answers = client.run(preflight, grader_digest(), sandbox.mode, sandbox.bwrap)
    except Exception as exc:  # noqa: BLE001 - e.g. a worker without the grader package
        raise ClusterError(
            f"a Dask worker cannot run the grader ({type(exc).__name__}: {exc}); nothing was "
            "graded: install the course (make venv) on every worker and start `dask worker` "
            "from its .venv (docs/scale.md)"
        ) from exc
    bad = {addr: why for addr, why in sorted(answers.items()) if why}
    if bad:
        lines = "; ".join(f"{addr}: {why}" for addr, why in list(bad.items())[:3])
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        raise ClusterError(
            f"{len(bad)} of {len(answers)} Dask workers cannot grade, so nothing was graded: "
            f"{lines}{more}. Fix or stop those workers (docs/scale.md), then run the same "
            "command again"
        )


def _write_files(course: Path, student: str, assignment: str, files: dict[str, bytes]) -> None:
    """Write what a worker sent: the autograded folder replaced as a whole, the log."""
    prefix = f"autograded/{student}/{assignment}/"
    graded = course / "autograded" / student / assignment
    incoming = graded.with_name(f".{assignment}.incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    for rel, data in files.items():
        rel_path = safe_rel(rel)
        if rel.startswith(prefix):
            target = incoming / rel[len(prefix) :]
        elif rel in (
            f".grader/logs/{student}__{assignment}.log",
            f".grader/verified/{student}/{assignment}.json",
        ):
            target = course / rel_path
        else:
            raise ValueError(f"a worker sent an unexpected file: {rel!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    shutil.rmtree(graded, ignore_errors=True)
    incoming.rename(graded)


def grade_on_cluster(
    course: Path,
    jobs: list[tuple[str, str]],
    *,
    scheduler: str,
    workers: int | None,
    timeout: int | None,
    done: Callable[[GradeResult], None],
    on_workers: Callable[[int], None] | None = None,
) -> int:
    """Grade `jobs` (student, assignment) on the Dask cluster at `scheduler`.

    Calls `done(result)` in this process for each submission, after its record is in the
    course's gradebook and its autograded folder is written. Returns the number of worker
    threads the cluster had at the start.

    Raises:
        SchedulerUnreachable, ClusterError: the cluster cannot be reached or went away.
        GradebookError: the course's gradebook failed (the finished submissions are kept).
    """
    from sqlalchemy.exc import SAWarning

    course = Path(course).resolve()
    db_url = str(course_config(course).CourseDirectory.db_url)
    with warnings.catch_warnings():
        # nbgrader's SQLAlchemy warnings (as in local workers); the terminal keeps the progress
        warnings.simplefilter("ignore", SAWarning)
        return _grade_on_cluster(
            course, db_url, jobs, scheduler, workers, timeout, done, on_workers
        )


def _grade_on_cluster(course, db_url, jobs, scheduler, workers, timeout, done, on_workers) -> int:
    """Connect, check the workers, grade `jobs`, always close the client (and a LocalCluster)."""
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError
    from nbgrader.api import Gradebook

    from grader.pipeline.autograde import hidden_functions, start_hidden_table

    # The hidden answers, computed here once while the cluster starts (cluster_worker.py
    # hands them to each worker's kernel zygote).
    functions = hidden_functions({a for _, a in jobs})
    table = start_hidden_table(course_config(course), {a for _, a in jobs})
    try:
        client, cluster = connect(scheduler, workers=workers, log_dir=course / ".grader" / "logs")
    except BaseException:
        if table is not None:
            table.close()
        raise
    run = None
    try:
        _preflight(client, course)
        threads = sum(client.nthreads().values())
        if on_workers:
            on_workers(threads)
        # One Gradebook (one SQLAlchemy engine, pool and session) for the whole run: a
        # single connection to the course's database however many workers grade.
        with Gradebook(db_url) as gb:
            run = _Run(client, course, db_url, gb, jobs, max(2, 2 * threads), done)
            try:
                run.send_table(table.result() if table is not None else b"", functions)
                run.send_bundles(timeout)
                run.grade()
            except (CancelledError, CommClosedError, OSError) as exc:
                raise run.lost(exc) from exc
        return threads
    finally:
        try:
            if run is not None and run.pending:
                client.cancel(list(run.pending), force=True)
        except Exception:  # noqa: BLE001 - the scheduler may be gone already
            pass
        client.close()
        if cluster is not None:
            cluster.close()
        if table is not None:
            table.close()


#: At most this many finished submissions are recorded in one gradebook transaction.
WRITE_BATCH = 50


class _Run:
    """One cluster run, the instructor's side: the tasks in flight (at most `window`), and
    the finished ones recorded in batches (`SubmissionWriter`: whatever finished while the
    last batch was written, in one transaction, a savepoint per submission).

    Each finished submission is written in this order: its gradebook record (the batch
    committed), its autograded folder, then `done(result)`. A record the gradebook refuses
    fails that submission alone (not graded, for a reason that is not the student's: the
    next run grades it again); a database that goes away stops the run (GradebookError).
    """

    def __init__(self, client, course, db_url, gb, jobs, window, done) -> None:
        from distributed import as_completed

        self.client, self.course, self.db_url = client, course, db_url
        self.writer = SubmissionWriter(gb)
        self.gb = gb
        self.queue = deque(jobs)
        self.window, self.done = window, done
        self.pending: dict[Any, tuple[str, str]] = {}
        self.bundles: dict[str, Any] = {}
        self.table: Any = None  #: the hidden answers' table (a future), or None
        self.ac = as_completed()
        self.recorded = 0

    def lost(self, exc: BaseException) -> ClusterError:
        return ClusterError(
            f"lost the Dask scheduler at {self.client.scheduler.address} "
            f"({type(exc).__name__}: {exc}); {self.recorded} submissions graded in this run "
            "are saved: run the same command again to grade the rest"
        )

    def db_failed(self, exc: BaseException, what: str) -> GradebookError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return GradebookError(
            f"the gradebook {safe_url(self.db_url)} failed while {what}: "
            f"{type(exc).__name__}: {first[:200]}; {self.recorded} submissions graded in this "
            "run are saved: run the same command again when the database is back to grade "
            "the rest"
        )

    def send_table(self, data: bytes, functions: list[str] | None) -> None:
        """Send the run's table of hidden answers with the tasks (each worker gets it once)."""
        if data:
            digest = hashlib.sha256(data).hexdigest()[:12]
            self.table = self.client.submit(
                bundle_value, (data, functions), key=f"backprop-hidden-table-{digest}"
            )

    def send_bundles(self, timeout: int | None) -> None:
        """Scatter each assignment's bundle once (workers keep it while the run lasts)."""
        for a in sorted({a for _, a in self.queue}):
            bundle = make_bundle(self.course, a, self.gb, timeout)
            self.bundles[a] = self.client.submit(
                bundle_value, bundle, key=f"backprop-bundle-{a}-{bundle.digest[:12]}"
            )

    def submit_next(self) -> None:
        """Send the next submission: its folder and its current gradebook record."""
        from sqlalchemy.exc import SQLAlchemyError

        student, assignment = self.queue.popleft()
        folder = self.course / "submitted" / student / assignment
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        try:
            prior = self.writer.record(assignment, student)
        except SQLAlchemyError as exc:
            raise self.db_failed(exc, f"reading {student}/{assignment}") from exc
        future = self.client.submit(
            grade_task,
            self.bundles[assignment],
            student,
            assignment,
            files,
            prior,
            self.table,
            key=f"backprop-grade-{student}-{assignment}-{time.time_ns()}",
        )
        self.pending[future] = (student, assignment)
        self.ac.add(future)

    def grade(self) -> None:
        """Keep `window` tasks in flight; record what finishes, batch by batch."""
        while self.queue and len(self.pending) < self.window:
            self.submit_next()
        for finished in self.ac.batches():
            for start in range(0, len(finished), WRITE_BATCH):
                self.record(finished[start : start + WRITE_BATCH])
            while self.queue and len(self.pending) < self.window:
                self.submit_next()

    def record(self, futures: list[Any]) -> None:
        """Write finished tasks: their records in one transaction, then each one's files,
        then `done`."""
        from sqlalchemy.exc import SQLAlchemyError

        outcomes = []
        for future in futures:
            student, assignment = self.pending.pop(future)
            result = _collect(future, student, assignment)
            if isinstance(result, RemoteGrade) and result.result.grader_error:
                result = result.result  # nothing recorded: the next run regrades it
            outcomes.append((future, student, assignment, result))
        records = [
            (assignment, student, result.record)
            for _, student, assignment, result in outcomes
            if isinstance(result, RemoteGrade) and result.record is not None
        ]
        try:
            refused = self.writer.write(records) if records else {}
        except SQLAlchemyError as exc:
            names = ", ".join(f"{s}/{a}" for a, s, _ in records[:3])
            raise self.db_failed(exc, f"recording {names}") from exc
        for future, student, assignment, result in outcomes:
            if (assignment, student) in refused:
                why = refused[(assignment, student)]
                result = not_graded(
                    student, assignment, f"the gradebook refused its record: {why[:300]}"
                )
            elif isinstance(result, RemoteGrade):
                _write_files(self.course, student, assignment, result.files)
                result = result.result
            future.release()
            self.recorded += 1
            self.done(result)


def _collect(future: Any, student: str, assignment: str) -> RemoteGrade | GradeResult:
    """A finished task's RemoteGrade, or a failed GradeResult when the task failed.

    Raises:
        CancelledError: the task was cancelled (the scheduler went away).
    """
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    if future.status == "cancelled":
        raise CancelledError(f"the task of {student}/{assignment} was cancelled")
    if future.status == "error":
        exc = future.exception()
        if isinstance(exc, KilledWorker):
            reason = "it killed the grading worker process on every try (memory or a crash)"
        elif isinstance(exc, ClusterError):
            raise exc
        else:  # the worker's environment or the grader, not the student's notebook
            return not_graded(student, assignment, f"on the cluster: {one_line(exc)}")
        return GradeResult(student, assignment, "failed", reason=reason)
    return future.result()
