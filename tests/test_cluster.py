"""Grading on a Dask cluster into a PostgreSQL gradebook: real PostgreSQL, real Dask, real nbgrader.

A real PostgreSQL server is started in a temporary directory (tests/pgserver.py) and a
small class (right, sign flip, stubs, a notebook that is not JSON) of the tiny fixture
assignment is graded:

- by `autograde --scheduler local` (a LocalCluster of 2 worker processes) into PostgreSQL,
  cell by cell equal to the same class graded by local workers into SQLite;
- read back by nbgrader's own `Gradebook` and by `backprop-grader export`;
- by a real `dask scheduler` and `dask worker` started as programs with a bare PATH;
- on that same cluster (no third one is started): while its worker process is killed in the
  middle of a notebook (the run completes, every submission is recorded exactly once), and
  while PostgreSQL restarts (the run stops with a clear error, the rerun finishes).

Skipped, with the reason, when PostgreSQL or Dask distributed is not installed.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import psutil  # distributed's dependency: in requirements.txt, so imported, never skipped
import pytest
from pgserver import PgServer, missing_reason

from grader import course as course_mod
from grader.cli import main
from grader.config import db_url
from grader.pipeline.autograde import autograde
from grader.pipeline.collect import collect
from grader.pipeline.results import load_results
from grader.sandbox.plan import bwrap_status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason())),
]

FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "course" / "source"
EXPECTED = {"alice": 6, "bob": 3, "dave": 0, "eve": 0}


def student_notebook(released: nbformat.NotebookNode, double: str | None, square: str | None):
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        if cell.id == "double" and double:
            cell.source = f"def double(x):\n    return {double}"
        if cell.id == "square" and square:
            cell.source = f"def square(x):\n    return {square}"
    return nbformat.writes(nb)


def cells(url: str) -> dict[tuple[str, str], tuple]:
    """(student, grade cell) -> (auto, manual, score, needs manual grade), from the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(url) as gb:
        for sub in gb.find_assignment("ps1").submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out[(sub.student.id, g.name)] = (
                        g.auto_score,
                        g.manual_score,
                        float(g.score),
                        bool(g.needs_manual_grade),
                    )
    return out


def results(course: Path) -> dict[str, tuple]:
    """What results.json says of each submission, without the timing."""
    out = {}
    for key, r in load_results(course).items():
        out[key] = (
            r.status,
            r.score,
            r.max_score,
            r.needs_manual_grade,
            r.reason,
            r.flags,
            [(c.grade_id, c.score, c.message, c.tags) for c in r.cells],
        )
    return out


@pytest.fixture(scope="module")
def pg():
    server = PgServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The class's download, and the class graded by local workers into SQLite."""
    tmp = tmp_path_factory.mktemp("cluster")
    reference = course_mod.new_course(tmp / "reference", source=FIXTURE_SOURCE)
    course_mod.generate_release(reference, ["ps1"])
    released = nbformat.read(reference / "release" / "ps1" / "ps1.ipynb", as_version=4)
    download = tmp / "download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.writestr("alice_ps1.ipynb", student_notebook(released, "2 * x", "x * x"))
        zf.writestr("bob_ps1.ipynb", student_notebook(released, "-2 * x", "x * x"))
        zf.writestr("dave_ps1.ipynb", student_notebook(released, None, None))
        zf.writestr("eve_ps1.ipynb", '{"cells": [')  # cut off: not JSON
    collect(download, course=reference)
    run = autograde(reference, workers=2)
    assert {r.key: r.score for r in run.results} == {f"{s}/ps1": v for s, v in EXPECTED.items()}
    return tmp, download, reference


_DATABASES = iter(range(1000))


def pg_course(tmp: Path, download: Path, pg: PgServer, name: str) -> tuple[Path, str]:
    """A new course whose nbgrader_config.py names a new PostgreSQL database; class collected."""
    import psycopg

    database = f"{name}_{next(_DATABASES)}"
    with psycopg.connect(**pg._params("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = pg.url.rsplit("/", 1)[0] + f"/{database}"
    course = course_mod.new_course(tmp / database, source=FIXTURE_SOURCE)
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + f"\nc.CourseDirectory.db_url = {url!r}\n")
    assert db_url(course) == url
    collect(download, course=course)  # into the PostgreSQL gradebook
    return course, url


@pytest.fixture(scope="module")
def graded_on_cluster(pg, klass):
    """The class graded by `autograde --scheduler local` (2 workers) into PostgreSQL."""
    tmp, download, _ = klass
    course, url = pg_course(tmp, download, pg, "local")
    connections = []

    def on_result(r):
        connections.append(pg.connections(url.rsplit("/", 1)[1]))

    run = autograde(course, scheduler="local", workers=2, on_result=on_result)
    return course, url, run, connections


def test_local_cluster_grades_every_cell_like_local_workers(klass, graded_on_cluster):
    _, _, reference = klass
    course, url, run, connections = graded_on_cluster
    assert run.workers == 2 and run.graded == 4
    assert cells(url) == cells(db_url(reference))
    assert results(course) == results(reference)
    for student in EXPECTED:
        assert (course / "autograded" / student / "ps1").is_dir()
    assert (course / "autograded" / "alice" / "ps1" / "ps1.ipynb").read_bytes() != b""
    if bwrap_status().usable:  # each worker's kernel zygote used the run's hidden answers
        logs = sorted((course / ".grader" / "logs").glob("dask-worker-*.log"))
        lines = [
            line
            for log in logs
            for line in log.read_text(errors="replace").splitlines()
            if "kernel zygote" in line
        ]
        assert lines and all("from the run's table" in line for line in lines), lines
    # Only the instructor's process talks to PostgreSQL: one pooled connection, whatever
    # the number of workers.
    assert connections and max(connections) == 1
    # a rerun skips what is recorded, and starts no cluster when nothing is left (eve's
    # notebook, not JSON, has no autograded notebook and is retried by every run, as locally)
    again = autograde(course, scheduler="tcp://127.0.0.1:9", students=["alice", "bob", "dave"])
    assert (again.graded, again.skipped) == (0, 3)


def test_postgres_gradebook_read_back_by_nbgrader_and_export(klass, graded_on_cluster, tmp_path):
    from nbgrader.api import Gradebook

    _, _, reference = klass
    course, url, _, _ = graded_on_cluster
    with Gradebook(url) as gb:
        assert sorted(s.id for s in gb.students) == sorted(EXPECTED)
        assignment = gb.find_assignment("ps1")
        assert len(assignment.submissions) == len(EXPECTED)
        assert {s.student.id: s.score for s in assignment.submissions} == EXPECTED
        assert gb.find_submission("ps1", "eve").needs_manual_grade

    def export_rows(*args: str, code: int = 0) -> list[dict]:
        out = tmp_path / f"grades-{len(list(tmp_path.iterdir()))}.csv"
        proc = subprocess.run(
            [sys.executable, "-m", "grader", "export", *args, "--output", str(out)],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "BACKPROP_GRADER_DB"},
        )
        assert proc.returncode == code, proc.stderr
        if code:
            return [{"stderr": proc.stderr}]
        with out.open(newline="") as f:
            return list(csv.DictReader(f))

    expected = export_rows("--course", str(reference))
    assert [r["ps1"] for r in expected] == [str(EXPECTED[r["student_id"]]) for r in expected]
    assert export_rows("--course", str(course)) == expected
    # --db makes a database the course's own: never for a course whose gradebook (here the
    # reference's SQLite) holds students, whose grades it would leave behind
    config = (reference / "nbgrader_config.py").read_text()
    (refused,) = export_rows("--course", str(reference), "--db", url, code=2)
    assert "holds 4 students and 4 submissions" in refused["stderr"]
    assert (reference / "nbgrader_config.py").read_text() == config


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_worker_killed_while_grading_is_retried_and_recorded_once(pg, klass, dask_cli):
    """The `dask worker`'s worker process is killed mid-notebook; its nanny starts a new one,
    on which the scheduler runs the lost task again."""
    from distributed import Client

    tmp, download, reference = klass
    address = dask_cli[0]
    course, url = pg_course(tmp, download, pg, "kill")
    with Client(address, timeout=60) as client:
        pids = set(_worker_pids(client).values())
    killed: list[int] = []
    finished = threading.Event()

    def kill_one_mid_notebook() -> None:
        # a worker process with a child (the kernel it is grading in) is mid-notebook
        while not finished.is_set() and not killed:
            for pid in pids:
                try:
                    if psutil.Process(pid).children():
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
                except psutil.NoSuchProcess:
                    continue
            time.sleep(0.05)

    seen: list[str] = []
    watcher = threading.Thread(target=kill_one_mid_notebook, daemon=True)
    watcher.start()
    try:
        run = autograde(course, scheduler=address, on_result=lambda r: seen.append(r.key))
    finally:
        finished.set()
        watcher.join(10)
    assert killed, "no worker was seen grading (nothing to kill)"
    assert sorted(seen) == sorted(f"{s}/ps1" for s in EXPECTED)  # each result once
    assert run.graded == 4 and not [r for r in run.results if "killed" in r.reason]
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        assert len(gb.find_assignment("ps1").submissions) == 4
    assert cells(url) == cells(db_url(reference))
    assert results(course) == results(reference)


def test_postgres_restart_mid_run_fails_loudly_and_the_rerun_finishes(pg, klass, dask_cli, capsys):
    from grader.pipeline.cluster import GradebookError

    tmp, download, reference = klass
    address = dask_cli[0]
    course, url = pg_course(tmp, download, pg, "restart")
    restarted = []

    def restart_once(r) -> None:
        if not restarted:
            pg.restart()  # every open connection (the instructor's) is cut
            restarted.append(r.key)

    with pytest.raises(GradebookError, match="run the same command again") as info:
        autograde(course, scheduler=address, on_result=restart_once)
    assert "postgresql+psycopg://postgres:***@127.0.0.1" in str(info.value)
    assert pg.password not in str(info.value)
    kept = load_results(course)
    assert restarted[0] in kept and len(kept) < 4
    # the same command again (the instructor's CLI) grades what has no record yet
    args = ["autograde", "--course", str(course), "--scheduler", address]
    assert main(args) == 0
    skipped = len([k for k in kept if k != "eve/ps1"])  # eve's is retried by every run
    if skipped:
        assert f"{skipped} submissions already graded" in capsys.readouterr().out
    assert cells(url) == cells(db_url(reference))
    assert results(course) == results(reference)


def test_bad_scheduler_or_database_is_one_clear_line(klass, tmp_path, capsys, monkeypatch):
    from grader.pipeline import cluster as cluster_mod

    _, _, reference = klass
    course = tmp_path / "copy"
    shutil.copytree(reference, course)
    (course / "nbgrader_config.py").write_text((reference / "nbgrader_config.py").read_text())
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT", 2)
    args = ["autograde", "--course", str(course), "--force", "--scheduler", "tcp://127.0.0.1:9"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Dask scheduler answers at tcp://127.0.0.1:9" in err[0]
    monkeypatch.delenv("BACKPROP_GRADER_DB", raising=False)
    assert main(["export", "--course", str(course), "--db", "not a url"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a database URL" in err[0]


# ------------------------------------------------- real `dask scheduler` / `dask worker`

#: PATH of a worker started as docs/scale.md says: the venv's bin/ is not on it.
BARE_PATH = "/usr/bin:/bin"


def _bare_env(path: str = BARE_PATH) -> dict[str, str]:
    drop = ("PATH", "VIRTUAL_ENV", "BACKPROP_GRADER_DB", "PYTHONPATH")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "PATH": path}


def _dask(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`.venv/bin/dask ARGS` (the venv's own script, by its path), output into `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "dask"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_workers(address: str, n: int, procs: list[subprocess.Popen], log: Path) -> None:
    from distributed import Client

    with Client(address, timeout=60) as client:
        end = time.monotonic() + 120
        while len(client.scheduler_info()["workers"]) < n:
            dead = [p for p in procs if p.poll() is not None]
            assert not dead and time.monotonic() < end, log.read_text()[-3000:]
            time.sleep(0.2)


@pytest.fixture(scope="module")
def dask_cli(tmp_path_factory):
    """`dask scheduler` and one `dask worker tcp://...` started as subprocesses with
    PATH=/usr/bin:/bin: no alembic, jupyter or nbgrader program on it."""
    from pgserver import _free_port

    env = _bare_env()
    assert shutil.which("alembic", path=BARE_PATH) is None, "alembic on the bare PATH"
    tmp = tmp_path_factory.mktemp("dask-cli")
    log = tmp / "dask.log"
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs = [
        _dask(
            "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard", env=env, log=log
        )
    ]
    try:
        procs.append(
            _dask(
                "worker",
                address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(tmp / "worker"),
                env=env,
                log=log,
            )
        )
        _wait_workers(address, 1, procs, log)
        yield address, tmp, log
    finally:
        for proc in reversed(procs):
            _end(proc)


def test_dask_worker_without_the_venv_on_path_grades(pg, klass, dask_cli):
    _, download, reference = klass
    address, tmp, _ = dask_cli
    course, url = pg_course(klass[0], download, pg, "cli")
    run = autograde(course, scheduler=address)
    assert run.graded == 4 and not run.grader_errors, [r.reason for r in run.results]
    assert cells(url) == cells(db_url(reference))
    assert results(course) == results(reference)


def test_a_worker_that_cannot_grade_stops_the_run_before_grading(klass, dask_cli, capsys):
    """A second worker on a host without bubblewrap, for a course that requires the
    sandbox: one message names it (and the first worker too where this machine has no
    usable bubblewrap) before anything is graded; exit 1."""
    _, _, reference = klass
    address, tmp, log = dask_cli
    course = tmp / "require"
    shutil.copytree(reference, course, ignore=shutil.ignore_patterns("autograded", ".grader"))
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write('\nc.SandboxedExecute.mode = "require"\n')
    assert shutil.which("bwrap", path=str(tmp)) is None
    no_bwrap = _bare_env(str(tmp))
    bad = _dask(
        "worker",
        address,
        "--nthreads",
        "1",
        "--no-dashboard",
        "--local-directory",
        str(tmp / "bad"),
        env=no_bwrap,
        log=log,
    )
    try:
        _wait_workers(address, 2, [bad], log)
        args = ["autograde", "--course", str(course), "--scheduler", address]
        assert main(args) == 1
        out = " ".join(capsys.readouterr().out.split())
        # Where this machine cannot run bubblewrap either, the first worker cannot grade too,
        # and the one message names both.
        cannot = 1 if bwrap_status().usable else 2
        assert f"{cannot} of 2 Dask workers cannot grade, so nothing was graded" in out, out
        assert out.count("bubblewrap cannot run here") == cannot
        assert not (course / "autograded").exists() and load_results(course) == {}
    finally:
        _end(bad)


def test_not_the_students_failure_exits_1_and_the_next_run_grades_it(klass, tmp_path, capsys):
    """The sandbox is required and its program is missing: every readable submission is
    named as not graded (eve's notebook, not JSON, stays the student's failure), exit 1;
    fixed, the same command without --force grades them."""
    _, _, reference = klass
    course = tmp_path / "course"
    shutil.copytree(reference, course, ignore=shutil.ignore_patterns("autograded", ".grader"))
    config = course / "nbgrader_config.py"
    good = config.read_text()
    config.write_text(
        good + '\nc.SandboxedExecute.mode = "require"\n'
        'c.SandboxedExecute.bwrap = "/nonexistent/bwrap"\n'
    )
    args = ["autograde", "--course", str(course), "--workers", "1", "--force"]
    assert main(args) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "3 submissions were not graded" in out, out
    for student in ("alice", "bob", "dave"):
        assert f"{student}/ps1: not graded, a problem of the grading machine" in out
    assert "SandboxError" in out and "eve/ps1: not graded" not in out
    kept = load_results(course)
    assert [k for k, r in kept.items() if r.grader_error] == ["alice/ps1", "bob/ps1", "dave/ps1"]
    assert not kept["eve/ps1"].grader_error and kept["eve/ps1"].status == "failed"
    config.write_text(good)
    assert main(args[:-1]) == 0
    out = capsys.readouterr().out
    assert "3 submissions the grading machine could not grade last time" in out
    assert cells(db_url(course)) == cells(db_url(reference))
    assert results(course) == results(reference)
