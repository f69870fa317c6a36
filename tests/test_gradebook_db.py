"""A course remembers its gradebook: `--db URL` given once is written into the course's
nbgrader_config.py, every later command (and nbgrader itself) reads it there, and no command
quietly moves a course off a gradebook that holds its students.

Some tests use SQLite files; the PostgreSQL tests start a real server (tests/pgserver.py)
and run the instructor's commands and plain `nbgrader` against it. Every test that opens a
gradebook is slow: nbgrader's Gradebook runs `alembic` in a subprocess each time.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from pgserver import PgServer, missing_reason

from grader import course as course_mod
from grader.cli import main
from grader.config import DB_BLOCK_BEGIN, db_url, forget_db_url, same_db

FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "course" / "source"
NOTEBOOK = (FIXTURE_SOURCE / "ps1" / "ps1.ipynb").read_bytes()


@pytest.fixture
def course(tmp_path):
    return course_mod.new_course(tmp_path / "course", source=FIXTURE_SOURCE)


def grades(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


@pytest.mark.slow  # nbgrader's Gradebook starts `alembic` each time it opens
def test_db_given_once_is_kept_in_the_course(course, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = course / "nbgrader_config.py"
    assert main(["export", "--course", str(course), "--db", "sqlite:///term.db"]) == 0
    out = capsys.readouterr().out
    url = f"sqlite:///{tmp_path / 'term.db'}"  # a relative path is kept absolute
    assert out.startswith(f"this course's gradebook is now {url}, kept in {config}")
    assert config.read_text().count(DB_BLOCK_BEGIN) == 1
    assert same_db(db_url(course), url) and not (course / "gradebook.db").exists()
    with Gradebook(url) as gb:
        gb.update_or_create_student("alice")
    # every later command reads it without --db; the same --db again changes nothing
    assert main(["export", "--course", str(course)]) == 0
    assert set(grades(course / "grades.csv")) == {"alice"}
    before = config.read_text()
    assert main(["export", "--course", str(course), "--db", str(url)]) == 0
    assert "gradebook is now" not in capsys.readouterr().out and config.read_text() == before
    assert not (course / "gradebook.db").exists()


@pytest.mark.slow  # nbgrader's Gradebook starts `alembic` each time it opens
def test_db_never_leaves_a_gradebook_with_students_behind(course, tmp_path, capsys):
    with Gradebook(db_url(course)) as gb:  # the course's gradebook.db, with a student
        gb.update_or_create_student("alice")
    config = (course / "nbgrader_config.py").read_text()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    for command in (["export"], ["report"], ["collect", str(tmp_path)]):
        assert main([*command, "--course", str(course), "--db", other]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "holds 1 student and 0 submissions" in err, err
        assert "Drop --db to keep using it" in err
    assert (course / "nbgrader_config.py").read_text() == config
    assert not (tmp_path / "other.db").exists()


def test_a_new_course_starts_on_its_own_gradebook(course, tmp_path):
    """A course copied from one that has the --db lines (the repository used as a course)
    loses them: `release --course NEW` calls forget_db_url."""
    from grader.config import set_db_url

    set_db_url(course, f"sqlite:///{tmp_path / 'a.db'}")
    config = course / "nbgrader_config.py"
    assert DB_BLOCK_BEGIN in config.read_text()
    assert forget_db_url(course) and DB_BLOCK_BEGIN not in config.read_text()
    assert same_db(db_url(course), f"sqlite:///{course / 'gradebook.db'}")
    assert not forget_db_url(course)


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg():
    why = missing_reason()
    if why:
        pytest.skip(why)
    server = PgServer()
    try:
        yield server
    finally:
        server.stop()


def new_database(pg: PgServer, name: str) -> str:
    import psycopg

    with psycopg.connect(**pg._params("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


def download(tmp_path: Path) -> Path:
    path = tmp_path / "download.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("alice_ps1.ipynb", NOTEBOOK)
        zf.writestr("bob_ps1.ipynb", NOTEBOOK)
    return path


def nbgrader(course: Path, *args: str) -> str:
    """Plain `nbgrader ARGS` in the course folder, as an instructor types it."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    env.pop("BACKPROP_GRADER_DB", None)
    proc = subprocess.run(
        [f"{bin_dir}/nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_release_with_db_makes_no_sqlite_gradebook(pg, course, tmp_path, capsys):
    url = new_database(pg, "release_db")
    assert main(["release", "--course", str(course), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "this course's gradebook is now postgresql+psycopg://postgres:***@127.0.0.1" in out
    assert pg.password not in out
    assert not (course / "gradebook.db").exists()
    with Gradebook(url) as gb:
        assert [a.name for a in gb.assignments] == ["ps1"]
    # collect and export without --db: the PostgreSQL gradebook
    assert main(["collect", str(download(tmp_path)), "--course", str(course)]) == 0
    assert main(["export", "--course", str(course)]) == 0
    got = grades(course / "grades.csv")
    assert {s: got[s]["notes"] for s in got} == {
        "alice": "ps1: not graded yet",
        "bob": "ps1: not graded yet",
    }
    with Gradebook(url) as gb:
        assert sorted(s.id for s in gb.students) == ["alice", "bob"]
    # plain nbgrader (and formgrader, which reads the same file) finds them there too
    listed = nbgrader(course, "db", "student", "list")
    assert "alice" in listed and "bob" in listed
    assert not (course / "gradebook.db").exists()


@pytest.mark.slow
def test_db_after_a_plain_release_moves_the_course_and_says_so(pg, course, tmp_path, capsys):
    """The issue's course: `release --course` made gradebook.db (assignments only), then
    one command got --db: every later command reads PostgreSQL, never that SQLite file."""
    assert main(["release", "--course", str(course)]) == 0
    sqlite = course / "gradebook.db"
    assert sqlite.exists()
    capsys.readouterr()
    url = new_database(pg, "moved_db")
    args = ["collect", str(download(tmp_path)), "--course", str(course), "--db", url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "this course's gradebook is now postgresql+psycopg://postgres:***@" in out
    assert "(gradebook.db, which held no student, is no longer read)" in out
    # `export` with no --db: the students collected into PostgreSQL, not the empty SQLite
    assert main(["export", "--course", str(course)]) == 0
    assert set(grades(course / "grades.csv")) == {"alice", "bob"}
    with Gradebook(f"sqlite:///{sqlite}") as gb:
        assert gb.students == []
    assert "alice" in nbgrader(course, "db", "student", "list")
    # and a course on PostgreSQL refuses another --db: its students would be left behind
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["export", "--course", str(course), "--db", other]) == 2
    assert "holds 2 students" in capsys.readouterr().err


@pytest.mark.slow  # nbgrader's Gradebook starts `alembic` each time it opens
def test_export_never_writes_an_empty_gradebook_over_the_grades(course, capsys):
    """A course graded into another database with --db given per command (before it was
    kept): its gradebook.db holds the assignments only. export without --db refuses to write
    "not graded yet" over grades.csv, and says what to do."""
    from grader.pipeline.results import GradeResult, save_results

    with Gradebook(db_url(course)) as gb:  # what `release --course` leaves
        gb.update_or_create_assignment("ps1")
    save_results(course, {"alice/ps1": GradeResult("alice", "ps1", "graded", 6, 6)})
    (course / "grades.csv").write_text("student_id,ps1\nalice,6\n")
    assert main(["export", "--course", str(course)]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(
            f"backprop-grader export: nothing written: the course's gradebook sqlite:///"
            f"{course / 'gradebook.db'} holds none of the 1 grades .grader/results.json records"
        )
        and "give it once with --db URL" in err
    )
    assert (course / "grades.csv").read_text() == "student_id,ps1\nalice,6\n"


# ------------------------------------------- the cluster's gradebook writer, batched


def _graded_record(definition: dict, score: float, comment: str) -> dict:
    """A submission record as a worker sends it back: every cell scored and commented."""
    notebooks = {}
    for nb in definition["notebooks"]:
        notebooks[nb["name"]] = {
            "flagged": score == 0,
            "late_submission_penalty": None,
            "grades": {
                c["name"]: {
                    "auto_score": score,
                    "manual_score": None,
                    "extra_credit": None,
                    "needs_manual_grade": False,
                }
                for c in nb["grade_cells"] + nb["task_cells"]
            },
            "comments": {
                c["name"]: {"auto_comment": comment, "manual_comment": None}
                for c in nb["solution_cells"] + nb["task_cells"]
            },
        }
    import datetime

    return {
        "student": {"first_name": None, "last_name": None, "email": None, "lms_user_id": None},
        "timestamp": datetime.datetime(2026, 12, 1, 9, 30),
        "extension": None,
        "notebooks": notebooks,
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_batched_writer_writes_what_nbgraders_api_writes_and_a_refused_record_fails_alone(
    backend, course, tmp_path, request
):
    """SubmissionWriter (the cluster route's writer) against nbgrader's own API on the same
    records: the same rows read back by nbgrader; a record the gradebook refuses (an
    assignment it does not have; on PostgreSQL a score that is not a number) is named and
    written not at all, and the submissions around it in the same batch are committed."""
    from grader.pipeline.gradebook_records import (
        SubmissionWriter,
        assignment_definition,
        open_gradebook,
        submission_record,
        write_assignment_definition,
        write_submission_record,
    )

    course_mod.run_nbgrader(["generate_assignment", "ps1", "--force"], course)
    with open_gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        definition = assignment_definition(gb, "ps1")
    if backend == "postgresql":
        pg = request.getfixturevalue("pg")
        urls = [new_database(pg, "writer_api"), new_database(pg, "writer_batched")]
    else:
        urls = [f"sqlite:///{tmp_path / 'api.db'}", f"sqlite:///{tmp_path / 'batched.db'}"]
    records = [
        ("ps1", "alice", _graded_record(definition, 1.0, "fine")),
        ("ps1", "bob", _graded_record(definition, 0.0, "see the hint")),
        ("ps1", "bob", _graded_record(definition, 0.5, "better")),  # an upsert: one submission
    ]
    with open_gradebook(urls[0]) as gb:
        write_assignment_definition(gb, definition)
        for a, s, r in records:
            write_submission_record(gb, a, s, r)
        expected = {s: submission_record(gb, "ps1", s) for s in ("alice", "bob")}
    broken = [("ps9", "carol", _graded_record(definition, 1.0, "x"))]
    if backend == "postgresql":
        broken.append(("ps1", "dave", _graded_record(definition, "not a number", "x")))  # type: ignore[arg-type]
    with open_gradebook(urls[1]) as gb:
        write_assignment_definition(gb, definition)
        writer = SubmissionWriter(gb)
        assert writer.record("ps1", "alice") is None
        refused = writer.write([records[0], *broken, records[1]])
        assert set(refused) == {(a, s) for a, s, _ in broken}
        assert "no assignment 'ps9'" in refused[("ps9", "carol")]
        assert writer.write([records[2]]) == {}
        assert {s: writer.record("ps1", s) for s in ("alice", "bob")} == expected
    with Gradebook(urls[1]) as gb:  # nbgrader reads back what nbgrader's API wrote
        assert {s: submission_record(gb, "ps1", s) for s in ("alice", "bob")} == expected
        assert sorted(s.id for s in gb.students) == ["alice", "bob"]
        assert len(gb.find_assignment("ps1").submissions) == 2
        assert gb.find_submission("ps1", "bob").score == expected_score(expected["bob"])


def expected_score(record: dict) -> float:
    return sum(
        g["auto_score"] for nb in record["notebooks"].values() for g in nb["grades"].values()
    )


@pytest.mark.slow  # nbgrader's Gradebook, in a process of its own
def test_a_grading_worker_keeps_its_gradebook_connection(tmp_path):
    """`speedups.share_engines` (every grading worker calls it): a Gradebook closed on the
    shared engine keeps the pooled connection for the next open (nbgrader's close disposed
    it: a new connection at every open), and what it wrote is committed for everyone."""
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    script = f"""
from nbgrader import api
from grader.pipeline.gradebook_records import open_gradebook
from grader.pipeline.speedups import share_engines
open_gradebook({url!r}).close()  # nbgrader's tables (no alembic program needed)
share_engines()
seen = []
for student in ("alice", "bob"):
    with api.Gradebook({url!r}) as gb:
        gb.update_or_create_student(student)
        seen.append(gb.db.connection().connection.dbapi_connection)
print(seen[0] is seen[1], gb.engine.pool.checkedin())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "1"]
    with Gradebook(url) as gb:  # another process sees both students
        assert {s.id for s in gb.students} == {"alice", "bob"}
