"""benchmarks/same_grades.py on a tiny gradebook made with nbgrader's own Gradebook API
(no kernels): `dump` writes every graded cell and verification verdict, `compare` finds
each difference and exits 1, and says `same grades: ...` with exit 0 when there is none."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from grader.course import REPO_ROOT

# nbgrader's own add_submission warns about SQLAlchemy sessions; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

SCRIPT = REPO_ROOT / "benchmarks" / "same_grades.py"
_spec = importlib.util.spec_from_file_location("same_grades", SCRIPT)
same_grades = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(same_grades)

#: bob's test cell as nbgrader scored it in the kernel, and what verification made stand.
BOB_RECORD = {
    "student": "bob",
    "assignment": "ps1",
    "notebook_sha256": "ab" * 32,
    "seconds": 3.2,
    "at": 1700000000.0,
    "flags": ["verdict changed: hidden_test_double 2 -> 0 (failed ...: hidden seed 1234)"],
    "reason": "",
    "error": "",
    "kernel": "",
    "sandbox": "",
    "verdicts": {"double": {"visible": True, "hidden": False, "message": "seed 1234: 3 != 4"}},
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny course, made once (a new gradebook costs nbgrader an `alembic` run)."""
    return make_course(tmp_path_factory.mktemp("same-grades") / "course")


@pytest.fixture
def course_copy(template: Path, tmp_path: Path):
    """copy(name) -> a fresh copy of the tiny course in this test's folder."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(template, tmp_path / name))

    return copy


def make_course(root: Path) -> Path:
    """A course folder whose SQLite gradebook holds ps1 graded for alice and bob."""
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        gb.add_assignment("ps1")
        gb.add_notebook("ps1", "ps1")
        gb.add_grade_cell("test_double", "ps1", "ps1", max_score=1, cell_type="code")
        gb.add_grade_cell("hidden_test_double", "ps1", "ps1", max_score=2, cell_type="code")
        for student in ("alice", "bob"):
            gb.add_student(student)
            gb.add_submission("ps1", student)
        scores = {"alice": (1, 2, None), "bob": (1, 2, 0)}  # (visible, hidden auto, manual)
        for student, (visible, hidden, manual) in scores.items():
            gb.find_grade("test_double", "ps1", "ps1", student).auto_score = visible
            cell = gb.find_grade("hidden_test_double", "ps1", "ps1", student)
            cell.auto_score, cell.manual_score = hidden, manual
        gb.db.commit()
    write_record(root, BOB_RECORD)
    return root


def write_record(root: Path, record: dict) -> None:
    path = root / ".grader" / "verified" / record["student"] / f"{record['assignment']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")


def set_grade(root: Path, cell: str, student: str, **scores) -> None:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grade = gb.find_grade(cell, "ps1", "ps1", student)
        for key, value in scores.items():
            setattr(grade, key, value)
        gb.db.commit()


def dump_to(root: Path, out: Path, capsys) -> Path:
    assert same_grades.main(["dump", str(root)]) == 0
    out.write_text(capsys.readouterr().out, encoding="utf-8")
    return out


def compare(a: Path, b: Path, capsys) -> tuple[int, list[str]]:
    code = same_grades.main(["compare", str(a), str(b)])
    return code, capsys.readouterr().out.splitlines()


def test_dump_writes_every_graded_cell_and_the_verdicts(template: Path, capsys):
    assert same_grades.main(["dump", str(template)]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)

    def cell(student, cell, auto, manual, top):
        return {
            "student": student,
            "assignment": "ps1",
            "notebook": "ps1",
            "cell": cell,
            "auto_score": auto,
            "manual_score": manual,
            "max_score": top,
        }

    assert data["cells"] == [
        cell("alice", "hidden_test_double", 2.0, None, 2.0),
        cell("alice", "test_double", 1.0, None, 1.0),
        cell("bob", "hidden_test_double", 2.0, 0.0, 2.0),
        cell("bob", "test_double", 1.0, None, 1.0),
    ]
    # the record's verdicts; not its times, hash, or the seed-dependent texts
    assert data["verification"] == [
        {
            "student": "bob",
            "assignment": "ps1",
            "notebook": {
                "flags": ["verdict changed: hidden_test_double 2 -> 0"],
                "reason": "",
                "error": "",
                "foreign_kernel": False,
                "sandboxed": True,
            },
            "functions": {"double": {"visible": True, "hidden": False}},
        }
    ]
    assert out == json.dumps(data, indent=1, sort_keys=True) + "\n"


def test_compare_names_each_difference_and_exits_1(course_copy, tmp_path: Path, capsys):
    a = course_copy("a")
    before = dump_to(a, tmp_path / "a.json", capsys)
    proc = subprocess.run(  # as the lead runs it
        [sys.executable, str(SCRIPT), "compare", str(before), str(before)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        "same grades: 4 cells, 2 verification verdicts\n",
        "",
    )

    # another run of the same grading: a new seed, times and hash change nothing
    b = tmp_path / "b"
    shutil.copytree(a, b)
    flags = ["verdict changed: hidden_test_double 2 -> 0 (seed 99)"]
    write_record(b, {**BOB_RECORD, "seconds": 9.9, "notebook_sha256": "cd" * 32, "flags": flags})
    rerun = dump_to(b, tmp_path / "b.json", capsys)
    assert compare(before, rerun, capsys) == (0, ["same grades: 4 cells, 2 verification verdicts"])

    # and now real differences: scores, a verdict, a student and a record on one side only
    # (a cell added after the submissions were made is carol's alone)
    set_grade(b, "test_double", "alice", auto_score=0)
    set_grade(b, "hidden_test_double", "bob", manual_score=None)
    write_record(
        b, {**BOB_RECORD, "flags": [], "verdicts": {"double": {"visible": True, "hidden": True}}}
    )
    write_record(b, {**BOB_RECORD, "student": "alice", "verdicts": {}})
    with Gradebook(f"sqlite:///{b / 'gradebook.db'}") as gb:
        gb.add_grade_cell("test_triple", "ps1", "ps1", max_score=1, cell_type="code")
        gb.add_student("carol")
        gb.add_submission("ps1", "carol")
    after = dump_to(b, tmp_path / "after.json", capsys)
    code, lines = compare(before, after, capsys)
    assert code == 1
    assert lines == [
        "alice/ps1/ps1/test_double: auto_score 1.0 in A, 0.0 in B",
        "bob/ps1/ps1/hidden_test_double: manual_score 0.0 in A, None in B",
        "carol/ps1/ps1/hidden_test_double: only in B",
        "carol/ps1/ps1/test_double: only in B",
        "carol/ps1/ps1/test_triple: only in B",
        "alice/ps1 verification, notebook: only in B",
        "bob/ps1 verification, function double: hidden False in A, True in B",
        "bob/ps1 verification, notebook: flags "
        "['verdict changed: hidden_test_double 2 -> 0'] in A, [] in B",
        "8 differences (7 cells, 3 verification verdicts)",
    ]
    # the other way round, "only in A"
    code, lines = compare(after, before, capsys)
    assert code == 1 and "carol/ps1/ps1/test_double: only in A" in lines


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys):
    assert same_grades.main(["dump", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert same_grades.main(["dump", str(tmp_path)]) == 2
    assert "not a course directory" in capsys.readouterr().err
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    assert same_grades.main(["dump", str(tmp_path)]) == 2
    assert "gradebook.db does not exist: grade the class first" in capsys.readouterr().err
    assert not (tmp_path / "gradebook.db").exists()  # not created by looking
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert same_grades.main(["compare", str(broken), str(broken)]) == 2
    err = capsys.readouterr().err
    assert "is not readable JSON" in err and "same_grades.py dump COURSE_DIR > FILE" in err
    broken.write_text("[]", encoding="utf-8")
    assert same_grades.main(["compare", str(broken), str(broken)]) == 2
    assert "not a dump of same_grades.py" in capsys.readouterr().err


@pytest.mark.parametrize("record", ["[1, 2]", "{"])
def test_an_unreadable_verification_record_is_named(course_copy, capsys, record: str):
    course = course_copy("course")
    path = course / ".grader" / "verified" / "bob" / "ps1.json"
    path.write_text(record, encoding="utf-8")
    assert same_grades.main(["dump", str(course)]) == 2
    assert f"{path} is not a" in capsys.readouterr().err
