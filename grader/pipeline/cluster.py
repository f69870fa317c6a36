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

A worker keeps a private course directory per bundle in a temporary folder, with a private
SQLite gradebook holding that one assignment, and grades with the very function local
workers call (`grader.pipeline.autograde.grade_submission`): nbgrader's Autograde converter
with the course's hooks (sandboxed kernels, out-of-process verification). The instructor's
process then upserts the record into the course's gradebook through nbgrader's API with one
pooled connection, writes the autograded folder and the result, in that order; a
submission counts as done only when all three are there (see autograde.is_done), so:

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

import atexit
import functools
import hashlib
import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.config import DB_URL_ENV, course_config
from grader.pipeline import hooks
from grader.pipeline.autograde import (  # what local workers run, and the state it reads
    _WORKER,
    _one_line,
    grade_submission,
)
from grader.pipeline.gradebook_records import (
    assignment_definition,
    submission_record,
    write_assignment_definition,
    write_submission_record,
)
from grader.pipeline.results import GradeResult
from grader.pipeline.verified import record_path

#: `--scheduler local`: a distributed.LocalCluster on this machine.
LOCAL = "local"
#: Seconds to wait for the scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT = 20
WORKER_WAIT = 60


class ClusterError(RuntimeError):
    """The Dask cluster went away or cannot grade; the message says what to do."""


class SchedulerUnreachable(ValueError):
    """`--scheduler ADDRESS` does not answer (bad input: exit 2)."""


class GradebookError(RuntimeError):
    """The course's gradebook failed during a run (a database restart, a lost connection)."""


# ---------------------------------------------------------------- what travels


@dataclass(frozen=True)
class AssignmentBundle:
    """What a worker needs to grade one assignment, sent once per worker."""

    assignment: str
    config_py: str  #: the course's nbgrader_config.py
    files: dict[str, bytes]  #: course-relative path -> bytes (source/A/..., release/A/...)
    definition: dict[str, Any]  #: the assignment's gradebook record (assignment_definition)
    timeout: int | None  #: `autograde --timeout`, None: the course's c.Execute.timeout
    grader_digest: str  #: the instructor's grader package + nbgrader version

    @functools.cached_property
    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(pickle.dumps((self.assignment, self.config_py, sorted(self.files.items()))))
        h.update(pickle.dumps((repr(self.definition), self.timeout, self.grader_digest)))
        return h.hexdigest()


@dataclass
class RemoteGrade:
    """What a worker sends back for one submission."""

    result: GradeResult
    files: dict[str, bytes] = field(default_factory=dict)  #: course-relative path -> bytes
    record: dict[str, Any] | None = None  #: the submission's gradebook record
    worker: str = ""  #: host:pid that graded it


@functools.lru_cache(maxsize=1)
def grader_digest() -> str:
    """A digest of this machine's grader package and nbgrader version: workers must match."""
    import nbgrader

    import grader

    h = hashlib.sha256(nbgrader.__version__.encode())
    root = Path(grader.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _folder_files(course: Path, rel: str) -> dict[str, bytes]:
    folder = course / rel
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(course).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
    }


def make_bundle(course: Path, assignment: str, gb: Any, timeout: int | None) -> AssignmentBundle:
    """The bundle of `assignment`, its definition read from the course's gradebook `gb`."""
    files = {
        **_folder_files(course, f"source/{assignment}"),
        **_folder_files(course, f"release/{assignment}"),
    }
    return AssignmentBundle(
        assignment=assignment,
        config_py=(course / "nbgrader_config.py").read_text(encoding="utf-8"),
        files=files,
        definition=assignment_definition(gb, assignment),
        timeout=timeout,
        grader_digest=grader_digest(),
    )


# ---------------------------------------------------------------- the worker side

_LOCK = threading.Lock()  # one grading at a time per worker process (nbgrader is not thread-safe)
_ROOT: list[Path] = []


def _worker_root() -> Path:
    if not _ROOT:
        try:  # inside the worker's own scratch folder, which Dask removes after a crash too
            from distributed import get_worker

            base: str | None = get_worker().local_directory
        except ValueError:  # not in a Dask worker
            base = None
        root = Path(tempfile.mkdtemp(prefix="backprop-dask-worker-", dir=base))
        atexit.register(shutil.rmtree, root, True)
        _ROOT.append(root)
    return _ROOT[0]


def _safe_rel(rel: str) -> Path:
    path = Path(rel)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"refusing a file outside the course: {rel!r}")
    return path


def _private_course(bundle: AssignmentBundle) -> Path:
    """This worker's course directory for `bundle` (made once): config, folders, gradebook."""
    from nbgrader.api import Gradebook

    root = _worker_root() / bundle.digest[:20]
    if (root / ".ready").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for rel, data in bundle.files.items():
        target = root / _safe_rel(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    db = root / "gradebook.db"
    # The course's own settings (sandbox limits, timeouts), then a private gradebook: this
    # worker never connects to the course's database.
    (root / "nbgrader_config.py").write_text(
        bundle.config_py
        + "\n\n# backprop-grader cluster worker: a private course and gradebook\n"
        + f"c.CourseDirectory.root = {str(root)!r}\n"
        + f"c.CourseDirectory.db_url = {'sqlite:///' + str(db)!r}\n",
        encoding="utf-8",
    )
    with Gradebook(f"sqlite:///{db}") as gb:
        write_assignment_definition(gb, bundle.definition)
    (root / ".ready").write_text(bundle.digest)
    return root


def prepare_worker(log_dir: str | None = None) -> None:
    """Once per worker process (a Dask WorkerPlugin calls it): what `_init_worker` does for a
    local worker, minus the signal handlers (Dask runs tasks in a thread)."""
    import warnings

    os.environ.pop(DB_URL_ENV, None)  # the course's database is the instructor's business
    os.environ.update(hooks.execution_env())
    if log_dir:  # a LocalCluster: kernels' stderr goes to the course's logs, not the terminal
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(
            Path(log_dir) / f"dask-worker-{os.getpid()}.log",
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
        )
        os.dup2(fd, 2)
        os.close(fd)
    warnings.simplefilter("ignore")
    from nbgrader.converters import Autograde  # noqa: F401  (the expensive import, once)


def _bundle_value(bundle: AssignmentBundle) -> AssignmentBundle:
    """A task whose result is the bundle: kept on a worker, recomputed if that worker dies."""
    return bundle


def grade_task(
    bundle: AssignmentBundle,
    student: str,
    assignment: str,
    files: dict[str, bytes],
    prior: dict[str, Any] | None,
) -> RemoteGrade:
    """Grade one submission on this worker, exactly as a local worker does.

    Args:
        bundle: the assignment's bundle.
        student, assignment: whose submission.
        files: the submission's folder, paths relative to it.
        prior: the submission's record in the course's gradebook (None: not graded yet).
    """
    import socket

    from nbgrader.api import Gradebook

    if bundle.grader_digest != grader_digest():
        raise ClusterError(
            f"worker {socket.gethostname()} has another grader package or nbgrader version "
            f"({grader_digest()}, the instructor has {bundle.grader_digest}): install the same "
            "version of the course on every worker"
        )
    with _LOCK:
        os.environ.pop(DB_URL_ENV, None)
        course = _private_course(bundle)
        db_url = f"sqlite:///{course / 'gradebook.db'}"
        submitted = course / "submitted" / student / assignment
        graded = course / "autograded" / student / assignment
        log = course / ".grader" / "logs" / f"{student}__{assignment}.log"
        for folder in (submitted, graded):
            shutil.rmtree(folder, ignore_errors=True)
        log.unlink(missing_ok=True)
        submitted.mkdir(parents=True)
        for rel, data in files.items():
            target = submitted / _safe_rel(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        with Gradebook(db_url) as gb:
            try:
                gb.remove_submission(assignment, student)
            except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: nothing to remove
                gb.db.rollback()
            if prior is not None:
                write_submission_record(gb, assignment, student, prior, with_student=True)

        config = course_config(course)
        config.merge(hooks.execution_config(course, timeout=bundle.timeout))
        logger = logging.getLogger("grader.autograde.worker")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        # the state _init_worker sets up for a local worker
        _WORKER.update(course=course, config=config, log=logger)
        result = grade_submission(student, assignment)

        out = RemoteGrade(result, worker=f"{socket.gethostname()}:{os.getpid()}")
        out.files = _folder_files(course, f"autograded/{student}/{assignment}")
        if log.exists():
            out.files[log.relative_to(course).as_posix()] = log.read_bytes()
        # the verification record names the autograded notebook by content: it travels with it
        record_file = record_path(course, student, assignment)
        if record_file.exists():
            out.files[record_file.relative_to(course).as_posix()] = record_file.read_bytes()
            record_file.unlink()
        with Gradebook(db_url) as gb:
            out.record = submission_record(gb, assignment, student)
            if out.record is not None:  # the private gradebook stays small
                gb.remove_submission(assignment, student)
        shutil.rmtree(submitted, ignore_errors=True)
        shutil.rmtree(graded, ignore_errors=True)
        return out


def _worker_plugin(log_dir: str | None) -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    class GraderWorker(WorkerPlugin):
        """Prepares every worker that joins, including one restarted after a crash."""

        def __init__(self, log_dir: str | None) -> None:
            self.log_dir = log_dir

        def setup(self, worker: Any) -> None:
            prepare_worker(self.log_dir)

    return GraderWorker(log_dir)


# ---------------------------------------------------------------- the instructor's side


def safe_url(db_url: str) -> str:
    """The database URL without its password (for messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return db_url.split("@")[-1]


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
            _worker_plugin(str(log_dir) if (cluster and log_dir) else None), name="backprop-grader"
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


def _check_workers(client: Any) -> None:
    mine = grader_digest()
    try:
        theirs = client.run(grader_digest)
    except Exception as exc:  # noqa: BLE001 - e.g. a worker without the grader package
        raise ClusterError(
            f"a Dask worker cannot run the grader ({type(exc).__name__}: {exc}): install the "
            "course (make venv) on every worker and start `dask worker` from its .venv"
        ) from exc
    wrong = sorted(addr for addr, digest in theirs.items() if digest != mine)
    if wrong:
        raise ClusterError(
            f"{len(wrong)} Dask worker(s) ({', '.join(wrong[:3])}) run another version of the "
            "grader package or nbgrader than this machine: install the same version of the "
            "course on every worker"
        )


def _write_files(course: Path, student: str, assignment: str, files: dict[str, bytes]) -> None:
    """Write what a worker sent: the autograded folder replaced as a whole, the log."""
    prefix = f"autograded/{student}/{assignment}/"
    graded = course / "autograded" / student / assignment
    incoming = graded.with_name(f".{assignment}.incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    for rel, data in files.items():
        rel_path = _safe_rel(rel)
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
    from concurrent.futures import CancelledError

    from distributed import as_completed
    from distributed.comm.core import CommClosedError
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SQLAlchemyError

    client, cluster = connect(scheduler, workers=workers, log_dir=course / ".grader" / "logs")
    address = client.scheduler.address
    recorded = 0
    pending: dict[Any, tuple[str, str]] = {}

    def lost(exc: BaseException) -> ClusterError:
        return ClusterError(
            f"lost the Dask scheduler at {address} ({type(exc).__name__}: {exc}); "
            f"{recorded} submissions graded in this run are saved: run the same command "
            "again to grade the rest"
        )

    def db_failed(exc: BaseException, what: str) -> GradebookError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return GradebookError(
            f"the gradebook {safe_url(db_url)} failed while {what}: {type(exc).__name__}: "
            f"{first[:200]}; {recorded} submissions graded in this run are saved: run the same "
            "command again when the database is back to grade the rest"
        )

    try:
        _check_workers(client)
        threads = sum(client.nthreads().values())
        if on_workers:
            on_workers(threads)
        window = max(2, 2 * threads)
        queue = deque(jobs)
        # One Gradebook (one SQLAlchemy engine and pool) for the whole run: a single
        # connection to the course's database however many workers grade.
        with Gradebook(db_url) as gb:
            bundles = {}
            for a in sorted({a for _, a in jobs}):
                bundle = make_bundle(course, a, gb, timeout)
                bundles[a] = client.submit(
                    _bundle_value, bundle, key=f"backprop-bundle-{a}-{bundle.digest[:12]}"
                )
            ac = as_completed()

            def submit_next() -> None:
                student, assignment = queue.popleft()
                folder = course / "submitted" / student / assignment
                files = {
                    p.relative_to(folder).as_posix(): p.read_bytes()
                    for p in sorted(folder.rglob("*"))
                    if p.is_file()
                }
                try:
                    prior = submission_record(gb, assignment, student)
                except SQLAlchemyError as exc:
                    raise db_failed(exc, f"reading {student}/{assignment}") from exc
                future = client.submit(
                    grade_task, bundles[assignment], student, assignment, files, prior,
                    key=f"backprop-grade-{student}-{assignment}-{time.time_ns()}",
                )  # fmt: skip
                pending[future] = (student, assignment)
                ac.add(future)

            try:
                while queue and len(pending) < window:
                    submit_next()
                for future in ac:
                    student, assignment = pending.pop(future)
                    result = _collect(future, student, assignment)
                    if isinstance(result, RemoteGrade):
                        try:
                            if result.record is not None:
                                write_submission_record(gb, assignment, student, result.record)
                        except SQLAlchemyError as exc:
                            raise db_failed(exc, f"recording {student}/{assignment}") from exc
                        _write_files(course, student, assignment, result.files)
                        result = result.result
                    future.release()
                    recorded += 1
                    done(result)
                    if queue:
                        submit_next()
            except (CancelledError, CommClosedError, OSError) as exc:
                raise lost(exc) from exc
        return threads
    finally:
        try:
            if pending:
                client.cancel(list(pending), force=True)
        except Exception:  # noqa: BLE001 - the scheduler may be gone already
            pass
        client.close()
        if cluster is not None:
            cluster.close()


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
        else:
            reason = f"grading on the cluster failed: {_one_line(exc)}"
        return GradeResult(student, assignment, "failed", reason=reason)
    return future.result()
