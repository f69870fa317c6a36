"""`autograde`: grade every submitted notebook with nbgrader, N long-lived workers at a time.

Each worker process imports nbgrader once and then calls its `Autograde` converter (the
code behind `nbgrader autograde`) for one (student, assignment) at a time, so the ~4 s
start-up of an nbgrader command is paid once per worker, not once per notebook. Workers
write grades to the SQLite gradebook through nbgrader itself; the gradebook URL carries a
busy timeout so concurrent short write transactions wait for each other.

A submission counts as done when its autograded notebook exists and is not older than
the submitted one; re-running skips done submissions (unless `force`), so an interrupted
run resumes where it stopped. A submission nbgrader cannot grade (invalid JSON, a kernel
that dies, ...) gets a reason, 0 for every cell without a score and needs-manual-grade;
it never stops the others. A worker process that dies is replaced; the submissions it was
grading are retried alone, and one that kills its worker twice is failed. A submission
that could not be graded for a reason that is not the student's (the worker's environment,
the gradebook, the sandbox: `failures.not_the_students`) gets no grade, is named in
`AutogradeRun.grader_errors` (the CLI exits 1) and is graded again by the next run.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable, Container
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets.config import Config

from grader.config import assignments_of, course_config, require_course
from grader.course import resolve_assignment
from grader.pipeline import failures, hooks, verified
from grader.pipeline.results import (
    GradeResult,
    autograded_path,
    current_scores,
    load_results,
    not_graded,
    read_result,
    save_results,
    submissions,
    submitted_path,
)

if TYPE_CHECKING:  # pragma: no cover
    from grader.sandbox.hidden_table import TableBuild

_WORKER: dict = {}


@dataclass
class AutogradeRun:
    """What one `autograde` call did: results of every submission it covered."""

    results: list[GradeResult] = field(default_factory=list)
    graded: int = 0  #: graded (or failed) in this run
    skipped: int = 0  #: already graded earlier and left alone
    seconds: float = 0.0
    workers: int = 0
    fresh: set[str] = field(default_factory=set)  #: keys graded in this run
    gradebook_check: str = ""  #: hooks.after_run's verdict on the gradebook ("ok")
    regraded_lost: list[str] = field(default_factory=list)  #: recorded, gone from the gradebook

    @property
    def failed(self) -> list[GradeResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def grader_errors(self) -> list[GradeResult]:
        """Not graded for a reason that is not the student's: the next run grades them."""
        return [r for r in self.results if r.grader_error]


# ---------------------------------------------------------------- what to grade


def is_done(course: Path, student: str, assignment: str, recorded: Container[str]) -> bool:
    """Graded already: a finished run recorded its result (a key of `recorded`, as in
    load_results) and the autograded notebook is not older than the submission.

    nbgrader writes the autograded notebook before it executes it, so a run cut off in the
    middle leaves one behind without a record: that submission is graded again.
    """
    graded = autograded_path(course, student, assignment)
    sub = submitted_path(course, student, assignment)
    if f"{student}/{assignment}" not in recorded or not graded.exists():
        return False
    return not sub.exists() or graded.stat().st_mtime >= sub.stat().st_mtime


def sure_to_grade(
    course: Path, student: str, assignment: str, stored: dict[str, GradeResult], force: bool
) -> bool:
    """Graded by this run whatever the gradebook holds: forced, not done, or not graded last
    time for the grading machine's fault (never skipped as "already graded")."""
    prior = stored.get(f"{student}/{assignment}")
    return (
        force
        or not is_done(course, student, assignment, stored)
        or (prior is not None and prior.grader_error)
    )


def ensure_in_gradebook(course: Path, assignments: list[str]) -> None:
    """Record each assignment (notebooks, cells, checksums) in the gradebook if it is not yet.

    Runs `nbgrader generate_assignment` for the missing ones (which also writes release/).
    """
    from nbgrader.api import Gradebook, MissingEntry

    from grader.course import generate_release

    missing = []
    with Gradebook(str(course_config(course).CourseDirectory.db_url)) as gb:
        for a in assignments:
            try:
                gb.find_assignment(a)
            except MissingEntry:
                missing.append(a)
    if missing:
        generate_release(Path(course), missing)


# ---------------------------------------------------------------- the worker side


def _init_worker(course: str, config: Config, env: dict[str, str]) -> None:
    """Runs once per worker process: environment, nbgrader import, a quiet logger."""
    os.environ.update(env)
    # Ctrl-C is the parent's business: it stops the workers itself, between two writes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Stopped by the parent (SIGTERM): unwind, so nbclient shuts the running kernel down.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # Kernels and libraries write to stderr (ipykernel's warnings, SQLAlchemy's): keep the
    # instructor's terminal for the progress bar and send them to a per-worker log file.
    logs = Path(course) / ".grader" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    fd = os.open(logs / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 2)
    os.close(fd)
    warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy warnings; grading is unaffected
    prestart_zygotes(Path(course), config)  # they warm up while this worker gets ready
    from nbgrader.converters import Autograde  # noqa: F401  (the expensive import, once)

    from grader.pipeline.speedups import speed_up_nbgrader

    speed_up_nbgrader()  # one engine per gradebook, the metadata schema checked once
    _WORKER.update(course=Path(course), config=config, log=worker_logger())


def prestart_zygotes(course: Path, config: Config) -> list[str]:
    """Start this worker's kernel and verification zygotes now, without waiting for them.

    Each warms up (imports, the hidden answers) while the worker prepares its first notebook
    and beside the other, instead of the kernel zygote at the first notebook and the
    verification zygote only after that notebook ran (docs/performance.md, 2026-12-07). Each
    is the one the first notebook would have started, with the same sandbox plan (the
    kernels' from `SandboxedExecute.kernel_plan` of the worker's config, the verification's
    from the course's config as grader.verify.submission reads it); `zygote_host.zygote_for`
    waits for it, or replaces it if the plan differs. Nothing here stops the worker: a zygote
    that cannot start now is started (or its failure said) at the first notebook, as before.
    Returns the kinds started.
    """
    started: list[str] = []
    try:
        from grader.config import course_config
        from grader.sandbox import zygote_host
        from grader.sandbox.execute import SandboxedExecute
        from grader.sandbox.plan import run_dir
        from grader.verify import launch_warm
        from grader.verify.submission import sandbox_settings

        ex = SandboxedExecute(config=config)
        if not ex.warm:
            return started
        plan, _ = ex.kernel_plan()
        if plan.bwrap and zygote_host.prestart(plan, "kernel", run_dir()) is not None:
            started.append("kernel")
        settings = sandbox_settings(course_config(course))
        if settings["warm"] and launch_warm.prestart(
            settings["limits"], course, settings["mode"], settings["bwrap"]
        ):
            started.append("verify")
    except Exception as exc:  # noqa: BLE001 - the first notebook starts them as before
        worker_logger().warning("zygotes not started ahead (%s)", failures.one_line(exc))
    return started


def worker_logger() -> logging.Logger:
    """The log of a grading worker (local or on a cluster): INFO and up, not propagated."""
    logger = logging.getLogger(f"{__name__}.worker")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _exit_on_sigterm(signum, frame) -> None:
    _WORKER["stopping"] = True
    raise SystemExit(143)


def grade_submission(student: str, assignment: str) -> GradeResult:
    """Autograde one submission in this worker (after `_init_worker`). Never raises."""
    course: Path = _WORKER["course"]
    config: Config = _WORKER["config"]
    start = time.perf_counter()
    reason = ""
    try:
        verified.clear_record(course, student, assignment)
        reason = failures.unreadable(submitted_path(course, student, assignment))
        wrong = "" if reason else _wrong_assignment(course, student, assignment)
        reason = reason or wrong
        if not reason:
            reason = _run_nbgrader_autograde(course, config, student, assignment)
        if _WORKER.get("stopping"):  # stopped half way: record nothing, the next run regrades
            raise SystemExit(143)
        if failures.not_the_students(reason):  # no zeros: the next run grades it again
            raise _GraderError(reason)
        if reason:
            _record_zero(config, student, assignment)
        result = read_result(course, config, student, assignment)
        result.status = "failed" if reason else "graded"
        result.reason = reason
        if not wrong:  # another assignment's notebook: nothing of this one to verify or flag
            result = hooks.after_autograde(course, student, assignment, result)
        if any(f.startswith("verdict changed") for f in result.flags):
            current_scores(course, [result])  # verification changed automatic scores
    except _GraderError as exc:
        result = not_graded(student, assignment, str(exc))
    except Exception as exc:  # a bug, the gradebook, the worker's environment: never crash
        result = not_graded(student, assignment, failures.one_line(exc))
    result.seconds = time.perf_counter() - start
    return result


class _GraderError(Exception):
    """nbgrader failed for a reason that is not the student's (failures.not_the_students)."""


def _run_nbgrader_autograde(course: Path, config: Config, student: str, assignment: str) -> str:
    """nbgrader's Autograde converter for one submission; returns "" or the failure reason."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    converter = Autograde(coursedir=coursedir, config=config, log=_WORKER["log"])
    converter.force = True  # the parent decided this submission needs grading
    converter.create_student = True
    out = capture_log(converter)
    if out["success"]:
        return ""
    text = out.get("log", "") + "\n" + out.get("error", "")
    log = course / ".grader" / "logs" / f"{student}__{assignment}.log"
    log.write_text(failures.ANSI_RE.sub("", text), encoding="utf-8")
    return failures.reason_from_log(text) + f" (nbgrader's log: {log.relative_to(course)})"


def _wrong_assignment(course: Path, student: str, assignment: str) -> str:
    """The reason when the notebook is another assignment's (its nbgrader cells are all of
    exactly one other assignment), else ""."""
    from grader.pipeline.collect import assignment_cells, grade_ids

    ids = grade_ids(submitted_path(course, student, assignment).read_bytes())
    cells = assignment_cells(course, assignments_of(course))
    if not ids or ids <= cells.get(assignment, set()):
        return ""
    fits = [a for a, a_ids in cells.items() if a != assignment and a_ids and ids <= a_ids]
    if len(fits) != 1:
        return ""
    return (
        f"this is the notebook of another assignment ({fits[0]}), handed in as {assignment}: "
        f"ask the student for their {assignment} notebook"
    )


def _record_zero(config: Config, student: str, assignment: str) -> None:
    """Give 0 (and needs-manual-grade) to every cell of a submission that has no score."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(str(config.CourseDirectory.db_url)) as gb:
        gb.update_or_create_student(student)
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            submission = gb.add_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.auto_score is None:
                    grade.auto_score = 0
                grade.needs_manual_grade = True
        gb.db.commit()


# ---------------------------------------------------------------- the parent side


def autograde(
    course: Path,
    assignment: str | None = None,
    *,
    workers: int | None = None,
    force: bool = False,
    timeout: int | None = None,
    students: list[str] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_result: Callable[[GradeResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    scheduler: str | None = None,
) -> AutogradeRun:
    """Autograde every submission in course/submitted/ with `workers` processes.

    Args:
        course: the nbgrader course directory.
        assignment: grade only this assignment, its id in any case or its number ("04")
            (default: every assignment in source/).
        workers: worker processes (default: the number of cores).
        force: regrade submissions that are already graded.
        timeout: seconds per cell (default: the course's nbgrader_config.py).
        students: grade only these students (default: everyone who submitted).
        on_start: called with (to grade, skipped) before grading starts.
        on_result: called in the parent with each finished result (progress display).
        on_note: called with a line the instructor should read before grading starts.
        scheduler: grade on a Dask cluster instead of local processes: a scheduler address
            (tcp://host:8786) or "local" (a LocalCluster of `workers` processes); see
            grader.pipeline.cluster.

    Returns:
        the results of every submission covered (graded now, or skipped as already done).
    """
    course = require_course(course)
    t0 = time.perf_counter()
    if workers is not None and workers < 1:
        raise ValueError(f"--workers {workers}: give 1 or more worker processes")
    assignments = assignments_of(course)
    if assignment:  # its id in any case, or its number
        assignments = [resolve_assignment(assignment, assignments, str(course / "source"))]
    wanted = [
        (s, a) for s, a in submissions(course, assignments) if students is None or s in students
    ]
    stored = load_results(course)
    # The hidden answers start now, beside the planning below (nbgrader's import, the
    # gradebook), when a core would otherwise wait (docs/performance.md, 2026-12-07).
    early = None
    if not scheduler and spare_core():
        early = _start_table_early(course, wanted, stored, force)
    try:
        return _autograde(
            course,
            wanted,
            assignments,
            stored,
            early,
            t0,
            workers=workers,
            force=force,
            timeout=timeout,
            on_start=on_start,
            on_result=on_result,
            on_note=on_note,
            scheduler=scheduler,
        )
    finally:
        if early is not None:  # used or not, it ends with the run
            early[1].close()


def _autograde(
    course: Path,
    wanted: list[tuple[str, str]],
    assignments: list[str],
    stored: dict[str, GradeResult],
    early: tuple[set[str], TableBuild] | None,
    t0: float,
    *,
    workers: int | None,
    force: bool,
    timeout: int | None,
    on_start: Callable[[int, int], None] | None,
    on_result: Callable[[GradeResult], None] | None,
    on_note: Callable[[str], None] | None,
    scheduler: str | None,
) -> AutogradeRun:
    """`autograde` once its submissions are known and the hidden answers may have started."""
    todo, lost, retry = _plan(course, assignments, wanted, stored, force)
    run = AutogradeRun(workers=workers or os.cpu_count() or 1, regraded_lost=lost)
    if lost and on_note:
        on_note(
            f"{len(lost)} submissions recorded as graded have no grade in the gradebook "
            "(a new or replaced gradebook.db): grading them again"
        )
    if retry and on_note and not force:
        on_note(
            f"{len(retry)} submissions the grading machine could not grade last time (not "
            "the students' doing): grading them again"
        )
    todo_set = set(todo)
    for s, a in wanted:
        if (s, a) not in todo_set:
            run.results.append(stored[f"{s}/{a}"])
            run.skipped += 1
    if on_start:
        on_start(len(todo), run.skipped)
    if todo:
        _grade(
            course,
            todo,
            stored,
            run,
            timeout=timeout,
            scheduler=scheduler,
            workers=workers,
            on_result=on_result,
            early=early,
        )
    _check_after(course, wanted, stored, run)
    run.results.sort(key=lambda r: (r.assignment, r.student))
    run.seconds = time.perf_counter() - t0
    return run


def _plan(
    course: Path,
    assignments: list[str],
    wanted: list[tuple[str, str]],
    stored: dict[str, GradeResult],
    force: bool,
) -> tuple[list[tuple[str, str]], list[str], set[str]]:
    """(to grade, recorded as graded but gone from the gradebook, to grade again because the
    grading machine failed last time). Saves `stored` when manual grades changed since."""
    from grader.pipeline import agree

    # Skip only what the gradebook holds too: a replaced or deleted gradebook.db loses grades
    # the results file still records; those are graded again, never skipped as "done".
    graded = agree.in_gradebook(course, assignments)
    keys = [f"{s}/{a}" for s, a in wanted]
    lost = [k for k in keys if k in stored and stored[k].status == "graded" and k not in graded]
    # What the grading machine could not grade last time (not the student's doing) is
    # graded again, never skipped as "already graded".
    retry = {k for k in keys if k in stored and stored[k].grader_error}
    todo = [
        (s, a)
        for s, a in wanted
        if sure_to_grade(course, s, a, stored, force) or f"{s}/{a}" not in graded
    ]
    if agree.refresh(stored, graded):  # manual grades given in formgrader since
        save_results(course, stored)
    return todo, lost, retry


def _grade(
    course: Path,
    todo: list[tuple[str, str]],
    stored: dict[str, GradeResult],
    run: AutogradeRun,
    *,
    timeout: int | None,
    scheduler: str | None,
    workers: int | None,
    on_result: Callable[[GradeResult], None] | None,
    early: tuple[set[str], TableBuild] | None = None,
) -> None:
    """Grade `todo` (local workers, or the Dask cluster at `scheduler`) into `run`, saving
    each result in `stored` (the results file) as it comes, and all of them at the end.
    `early`: the hidden answers started before planning (`_start_table_early`), used when
    they are of `todo`'s assignments and the zygotes will run, else stopped."""
    # What is about to be graded loses its old record until it is graded again, so a
    # run cut off half way (even a --force one) regrades it next time (see is_done).
    for s, a in todo:
        stored.pop(f"{s}/{a}", None)
    save_results(course, stored)
    ensure_in_gradebook(course, sorted({a for _, a in todo}))
    config = course_config(course)
    config.merge(hooks.execution_config(course, timeout=timeout))
    env = {**hooks.execution_env(), **hooks.fast_grading_env()}
    env.update(_precompute_env({a for _, a in todo}))
    last_save = [0.0]
    table = None
    if not scheduler:  # (the cluster's instructor process starts its own: cluster.py)
        graded = {a for _, a in todo}
        if early is not None and early[0] == graded and zygotes_will_run(config):
            table = early[1]
        else:
            if early is not None:
                early[1].close()
            table = start_hidden_table(config, graded)
    if table is not None:
        from grader.sandbox.hidden_table import TABLE_ENV

        env[TABLE_ENV] = str(table.path)

    def done(result: GradeResult) -> None:
        stored[result.key] = result
        if time.monotonic() - last_save[0] > 1.0:  # at most once a second, and at the end
            save_results(course, stored)
            last_save[0] = time.monotonic()
        run.results.append(result)
        run.graded += 1
        run.fresh.add(result.key)
        if on_result:
            on_result(result)

    try:
        if scheduler:
            from grader.pipeline.cluster import grade_on_cluster

            def on_workers(n: int) -> None:
                run.workers = n

            grade_on_cluster(
                course,
                todo,
                scheduler=scheduler,
                workers=workers,
                timeout=timeout,
                done=done,
                on_workers=on_workers,
            )
        else:
            _grade_all(todo, min(run.workers, len(todo)), (str(course), config, env), done)
    finally:
        if table is not None:
            table.close()
        save_results(course, stored)  # also when interrupted: keep what finished


def hidden_functions(assignments: set[str]) -> list[str] | None:
    """The functions of `assignments`, whose hidden answers the kernel zygotes need
    (None when none of them has one: every function)."""
    from grader.judge.functions import records

    names = [r.name for r in records() if r.notebook in assignments]
    return names or None


def _precompute_env(assignments: set[str]) -> dict[str, str]:
    """The workers' `PRECOMPUTE_ENV`: the functions of the assignments they grade, so each
    kernel zygote computes only those hidden answers (none of them: every function)."""
    from grader.sandbox.kernel_preload import PRECOMPUTE_ENV

    names = hidden_functions(assignments)
    return {PRECOMPUTE_ENV: ",".join(names)} if names else {}


def start_hidden_table(config: Config, assignments: set[str]) -> TableBuild | None:
    """Start computing the hidden answers of `assignments` once for this run, on this host
    and outside any sandbox (grader.sandbox.hidden_table.start_build), so that no worker's
    kernel zygote computes them; None when no zygote will run (the sandbox off, no
    bubblewrap, or `SandboxedExecute.warm = False`): cold kernels compute their own."""
    from grader.sandbox.hidden_table import start_build

    if not zygotes_will_run(config):
        return None
    return start_build(hidden_functions(assignments))


def zygotes_will_run(config: Config) -> bool:
    """Whether this config's grading workers fork from zygotes (see start_hidden_table)."""
    from grader.sandbox.execute import SandboxedExecute
    from grader.sandbox.plan import bwrap_status

    if "warm" in config.SandboxedExecute and not config.SandboxedExecute.warm:
        return False
    sandbox = SandboxedExecute(config=config)
    return sandbox.mode != "off" and bwrap_status(sandbox.bwrap).usable


def spare_core() -> bool:
    """Whether a core is idle while this process plans (the last minute's load average, this
    process included, at most the number of cores less one). On a busy machine the early
    table would only take CPU from the planning: it then starts after it, as before."""
    return os.getloadavg()[0] <= (os.cpu_count() or 1) - 1


def _start_table_early(
    course: Path,
    wanted: list[tuple[str, str]],
    stored: dict[str, GradeResult],
    force: bool,
) -> tuple[set[str], TableBuild] | None:
    """Start the run's hidden answers before planning, for the assignments of what is sure
    to be graded (forced, not done, or not graded last time for the grading machine's
    fault: every one of them is in the plan's to-grade list); (those assignments, the build).

    Planning first imports nbgrader (1.1-1.3 CPU-s) and reads the gradebook, on one core;
    the answers (about 1.5 CPU-s) are computed on the other meanwhile. Nothing here imports
    nbgrader: the course's config decides (`zygotes_will_run` decides again after planning,
    with the full config, and `_grade` stops this build if the plan's assignments differ).
    None when nothing is sure to be graded or no zygote can run.
    """
    from grader.sandbox.hidden_table import start_build
    from grader.sandbox.plan import DEFAULT_BWRAP, DEFAULT_MODE, bwrap_status

    sure = {a for s, a in wanted if sure_to_grade(course, s, a, stored, force)}
    if not sure:
        return None
    sandbox = course_config(course).SandboxedExecute
    if "warm" in sandbox and not sandbox.warm:
        return None
    # SandboxedExecute's defaults, read without importing it (it imports nbgrader)
    mode, bwrap = sandbox.get("mode", DEFAULT_MODE), sandbox.get("bwrap", DEFAULT_BWRAP)
    if mode == "off" or not bwrap_status(bwrap).usable:
        return None
    build = start_build(hidden_functions(sure))
    return None if build is None else (sure, build)


def _check_after(
    course: Path, wanted: list[tuple[str, str]], stored: dict[str, GradeResult], run: AutogradeRun
) -> None:
    """After every run: the gradebook's integrity check (raises if damaged), and the results
    file compared with the gradebook for every submission covered."""
    from grader.pipeline import agree

    run.gradebook_check = hooks.after_run(course)
    differ = agree.disagreements(course, [f"{s}/{a}" for s, a in wanted], stored)
    if differ:
        more = f" (+{len(differ) - 1} more)" if len(differ) > 1 else ""
        run.gradebook_check = (
            f"results and gradebook disagree: {differ[0]}{more}; run autograde --force"
        )


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers (their kernels follow their parent).

    A submission cut off this way has no recorded result, so the next run grades it again
    (see is_done); nbgrader writes each grade in a transaction, so none is half written.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def _grade_all(
    jobs: list[tuple[str, str]],
    workers: int,
    initargs: tuple,
    done: Callable[[GradeResult], None],
) -> None:
    """Grade jobs with at most `workers` in flight; survive worker processes that die."""
    queue = deque(jobs)
    suspects: deque[tuple[str, str]] = deque()  # in flight when a worker died: retried alone
    while queue or suspects:
        pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=initargs)
        inflight: dict[Future, tuple[str, str]] = {}
        alone = False  # a suspect is running by itself
        try:
            while queue or suspects or inflight:
                if not inflight:
                    alone = False
                    if suspects:
                        job = suspects.popleft()
                        inflight[pool.submit(grade_submission, *job)] = job
                        alone = True
                while not alone and not suspects and queue and len(inflight) < workers:
                    job = queue.popleft()
                    inflight[pool.submit(grade_submission, *job)] = job
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()  # raises BrokenProcessPool if its worker died
                    del inflight[future]
                    done(result)
        except BrokenProcessPool:
            for job in inflight.values():
                if alone:
                    reason = "it killed the grading worker process (memory or a crash)"
                    done(GradeResult(*job, "failed", reason=reason))
                else:
                    suspects.append(job)
            pool.shutdown(wait=True, cancel_futures=True)
        except BaseException:  # Ctrl-C: stop now; finished submissions are saved
            _stop(pool)
            raise
        else:
            pool.shutdown(wait=True)
