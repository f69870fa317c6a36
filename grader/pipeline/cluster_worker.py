"""Cluster grading's worker side: what travels to a Dask worker and how it grades there.

`grader.pipeline.cluster` (the instructor's process) sends each worker, once per
assignment, an `AssignmentBundle` and, per submission, a `grade_task`; the worker keeps a
private course directory per bundle in a temporary folder, with a private SQLite gradebook
holding that one assignment, and grades with the very function local workers call
(`grader.pipeline.autograde.grade_submission`): nbgrader's Autograde converter with the
course's hooks (sandboxed kernels, out-of-process verification). It sends back a
`RemoteGrade`: the autograded folder, nbgrader's log when it failed, the `GradeResult` and
the submission's new gradebook record. A worker never connects to the course's database.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import pickle
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.config import DB_URL_ENV, course_config
from grader.pipeline import hooks
from grader.pipeline.autograde import (  # what local workers run, and the state it reads
    _WORKER,
    grade_submission,
    prestart_zygotes,
    worker_logger,
)
from grader.pipeline.gradebook_records import (
    assignment_definition,
    open_gradebook,
    submission_record,
    write_assignment_definition,
    write_submission_record,
)
from grader.pipeline.results import GradeResult
from grader.pipeline.verified import record_path
from grader.sandbox.hidden_table import offer


class ClusterError(RuntimeError):
    """The Dask cluster went away or cannot grade; the message says what to do."""


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
    seconds: float = 0.0  #: the whole task on the worker (grading, private course, files)


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


def folder_files(course: Path, rel: str) -> dict[str, bytes]:
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
        **folder_files(course, f"source/{assignment}"),
        **folder_files(course, f"release/{assignment}"),
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
#: assignment -> the digest of the bundle installed in this worker's private course
_INSTALLED: dict[str, str] = {}


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


def safe_rel(rel: str) -> Path:
    path = Path(rel)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"refusing a file outside the course: {rel!r}")
    return path


def _private_course(bundle: AssignmentBundle) -> Path:
    """This worker's one private course directory, with `bundle`'s assignment installed
    (config, source/ and release/ folders, gradebook definition; once per bundle).

    One folder for every assignment: the sandbox hides the course directory and its warm
    zygotes' sandbox plan names it, so one course per worker keeps the same two zygotes
    (and their precomputed hidden answers) for every assignment, as a local worker does.
    """
    from nbgrader.api import MissingEntry

    root = _worker_root() / "course"
    if _INSTALLED.get(bundle.assignment) == bundle.digest:
        return root
    _INSTALLED.pop(bundle.assignment, None)
    (root / ".grader" / "logs").mkdir(parents=True, exist_ok=True)
    for folder in ("source", "release"):
        shutil.rmtree(root / folder / bundle.assignment, ignore_errors=True)
    for rel, data in bundle.files.items():
        target = root / safe_rel(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    # The course's own settings (sandbox limits, timeouts), then a private gradebook: this
    # worker never connects to the course's database.
    (root / "nbgrader_config.py").write_text(
        bundle.config_py
        + "\n\n# backprop-grader cluster worker: a private course and gradebook\n"
        + f"c.CourseDirectory.root = {str(root)!r}\n"
        + f"c.CourseDirectory.db_url = {_db_url(root)!r}\n",
        encoding="utf-8",
    )
    gb = _private_gradebook(_db_url(root))
    try:  # an older version of the assignment (a changed source): replaced as a whole
        gb.remove_assignment(bundle.assignment)
        gb.db.commit()
    except MissingEntry:
        gb.db.rollback()
    write_assignment_definition(gb, bundle.definition)
    _INSTALLED[bundle.assignment] = bundle.digest
    return root


def _db_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


#: bundle digest -> the course's config with the grading route (as _init_worker's, once)
_CONFIGS: dict[str, Any] = {}
_GRADEBOOKS: dict[str, Any] = {}


def _private_gradebook(db_url: str) -> Any:
    """This worker's private gradebook, opened once: each nbgrader Gradebook is a new
    SQLAlchemy engine (its statement cache empty) that checks every table on opening."""
    if db_url not in _GRADEBOOKS:
        _GRADEBOOKS[db_url] = open_gradebook(db_url)
    return _GRADEBOOKS[db_url]


def prepare_worker(log_dir: str | None = None) -> None:
    """Once per worker process (a Dask WorkerPlugin calls it): what `_init_worker` does for a
    local worker, minus the signal handlers (Dask runs tasks in a thread): the same
    environment, so kernels and verification processes are forked from this process's warm
    zygotes (grader.sandbox.zygote_host) exactly as on a local worker."""
    import warnings

    os.environ.pop(DB_URL_ENV, None)  # the course's database is the instructor's business
    os.environ.update({**hooks.execution_env(), **hooks.fast_grading_env()})
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

    # imported here: speedups imports nbgrader, which the instructor's process, importing
    # this module to send its tasks, does not need yet
    from grader.pipeline.speedups import speed_up_nbgrader

    speed_up_nbgrader()  # one engine per gradebook, the metadata schema checked once


def preflight(digest: str, mode: str, bwrap: str) -> str:
    """Whether this worker can grade, checked on every worker before grading starts
    (`client.run`): "" when it can, else what is wrong, in one line.

    Args:
        digest: the instructor's grader_digest().
        mode, bwrap: the course's `SandboxedExecute.mode` and `.bwrap`.
    """
    problems = []
    if grader_digest() != digest:
        problems.append(
            f"another version of the grader package or nbgrader ({grader_digest()}, the "
            f"instructor has {digest}): install the same version of the course"
        )
    try:
        import ipykernel.kernelapp  # noqa: F401
        from nbgrader.converters import Autograde  # noqa: F401

        from grader.verify.closure import runner_closure

        runner_closure()
        folder = Path(tempfile.mkdtemp(prefix="backprop-preflight-"))
        try:  # the private gradebook, as grading creates it
            with open_gradebook(_db_url(folder)) as gb:
                gb.update_or_create_student("preflight")
            gb.engine.dispose()  # the folder goes: no pooled connection kept to its file
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - whatever stops it is the message
        problems.append(f"{type(exc).__name__}: {str(exc).strip()[:300]}")
    if mode == "require":
        from grader.sandbox.plan import bwrap_status

        status = bwrap_status(bwrap)
        if not status.usable:
            problems.append(
                "the course requires the sandbox (SandboxedExecute.mode = 'require') and "
                f"bubblewrap cannot run here: {status.reason}"
            )
    return "; ".join(problems)


def bundle_value(bundle: AssignmentBundle) -> AssignmentBundle:
    """A task whose result is the bundle: kept on a worker, recomputed if that worker dies."""
    return bundle


def _bundle_config(course: Path, bundle: AssignmentBundle) -> Any:
    """The grading config of `bundle` in this worker's private course: read once per bundle,
    as a local worker reads it once. At a bundle's first task this worker's two zygotes start,
    side by side, as a local worker's initializer starts them (`prestart_zygotes`): the
    verification's warms up while the first notebook runs, instead of after it. A later
    bundle with the same sandbox plans starts nothing (zygote_for keeps them)."""
    if bundle.digest not in _CONFIGS:
        config = course_config(course)
        config.merge(hooks.execution_config(course, timeout=bundle.timeout))
        _CONFIGS[bundle.digest] = config
        prestart_zygotes(course, config)
    return _CONFIGS[bundle.digest]


def grade_task(
    bundle: AssignmentBundle,
    student: str,
    assignment: str,
    files: dict[str, bytes],
    prior: dict[str, Any] | None,
    table: tuple[bytes, list[str] | None] | None = None,
) -> RemoteGrade:
    """Grade one submission on this worker, exactly as a local worker does.

    Args:
        bundle: the assignment's bundle.
        student, assignment: whose submission.
        files: the submission's folder, paths relative to it.
        prior: the submission's record in the course's gradebook (None: not graded yet).
        table: the run's hidden answers and their functions (grader.sandbox.hidden_table),
            for this worker's kernel zygote (used if computed on this machine).
    """
    import socket

    if bundle.grader_digest != grader_digest():
        raise ClusterError(
            f"worker {socket.gethostname()} has another grader package or nbgrader version "
            f"({grader_digest()}, the instructor has {bundle.grader_digest}): install the same "
            "version of the course on every worker"
        )
    with _LOCK:
        start = time.perf_counter()
        if table is not None:
            offer(*table)
        os.environ.pop(DB_URL_ENV, None)
        course = _private_course(bundle)
        db_url = _db_url(course)
        submitted = course / "submitted" / student / assignment
        graded = course / "autograded" / student / assignment
        log = course / ".grader" / "logs" / f"{student}__{assignment}.log"
        for folder in (submitted, graded):
            shutil.rmtree(folder, ignore_errors=True)
        log.unlink(missing_ok=True)
        submitted.mkdir(parents=True)
        for rel, data in files.items():
            target = submitted / safe_rel(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        gb = _private_gradebook(db_url)
        try:
            gb.remove_submission(assignment, student)
        except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: nothing to remove
            gb.db.rollback()
        if prior is not None:
            write_submission_record(gb, assignment, student, prior, with_student=True)
        gb.db.commit()  # no transaction left open while nbgrader writes

        # the state _init_worker sets up for a local worker
        _WORKER.update(course=course, config=_bundle_config(course, bundle), log=worker_logger())
        result = grade_submission(student, assignment)

        out = RemoteGrade(result, worker=f"{socket.gethostname()}:{os.getpid()}")
        out.files = folder_files(course, f"autograded/{student}/{assignment}")
        if log.exists():
            out.files[log.relative_to(course).as_posix()] = log.read_bytes()
        # the verification record names the autograded notebook by content: it travels with it
        record_file = record_path(course, student, assignment)
        if record_file.exists():
            out.files[record_file.relative_to(course).as_posix()] = record_file.read_bytes()
            record_file.unlink()
        try:
            out.record = submission_record(gb, assignment, student)
            if out.record is not None:  # the private gradebook stays small
                gb.remove_submission(assignment, student)
        finally:
            gb.db.commit()
        shutil.rmtree(submitted, ignore_errors=True)
        shutil.rmtree(graded, ignore_errors=True)
        out.seconds = time.perf_counter() - start
        return out


def worker_plugin(log_dir: str | None) -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    class GraderWorker(WorkerPlugin):
        """Prepares every worker that joins, including one restarted after a crash."""

        def __init__(self, log_dir: str | None) -> None:
            self.log_dir = log_dir

        def setup(self, worker: Any) -> None:
            prepare_worker(self.log_dir)
            # Dask's statistical profiler samples the grading thread's stack every 10 ms on
            # the worker's event loop (distributed.worker.profile.enabled): CPU and the GIL
            # taken from grading, for a dashboard profile nobody reads here.
            for name in ("profile", "profile-cycle"):
                callback = worker.periodic_callbacks.pop(name, None)
                if callback is not None:
                    callback.stop()

    return GraderWorker(log_dir)
