"""`collect` on downloads named exactly as Canvas, Moodle and a person name them.

Each zip is built with the file names each LMS writes (see grader/pipeline/lms.py for the
documents followed) and the notebooks of the course's release/ folder, collected into a
real course with a real nbgrader gradebook, and checked file by file: every notebook under
the right student, nobody merged, nothing dropped.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from grader import course as course_mod
from grader.cli import main
from grader.config import db_url
from grader.pipeline.collect import collect
from grader.pipeline.lms import clean_name, load_students, parse_canvas, parse_moodle

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

RELEASE = course_mod.REPO_ROOT / "release"


def notebook(assignment: str) -> bytes:
    return (RELEASE / assignment / f"{assignment}.ipynb").read_bytes()


def make_zip(path: Path, files: dict[str, str]) -> Path:
    """files: name in the zip -> the assignment whose notebook it holds (or raw text)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, what in files.items():
            data = notebook(what) if (RELEASE / what).is_dir() else what.encode()
            zf.writestr(name, data)
    return path


@pytest.fixture
def course(tmp_path):
    return course_mod.new_course(tmp_path / "course")


def placed(report) -> dict[str, tuple[str, str]]:
    return {p.source: (p.student, p.assignment) for p in report.placed}


def gradebook_students(root: Path) -> dict[str, tuple]:
    with Gradebook(db_url(root)) as gb:
        return {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}


def test_canvas_download_with_roster(course, tmp_path):
    # Canvas: {sortable name}{_LATE}_{user id}_{attachment id}_{file name}
    download = make_zip(
        tmp_path / "submissions.zip",
        {
            "smithalice_12345_67890_02_sigmoid_derivative.ipynb": "02_sigmoid_derivative",
            "smithalice_LATE_12345_67891_04_backprop_W2.ipynb": "04_backprop_W2",
            "smithalice_45678_67899_04_backprop_W2.ipynb": "04_backprop_W2",  # another Alice
            "jonesbob_23456_67892_04_backprop_w2 (1).ipynb": "04_backprop_W2",
            "müllerjosé_34567_67893_04_backprop_W2.ipynb.ipynb": "04_backprop_W2",
            "leeanna_56789_67895_04_backprop_W2.ipynb": "04_backprop_W2",
            "leeanna_56789_67896_04_backprop_W2-1.ipynb": "04_backprop_W2",
            "kimdan_61234_text.html": "<p>my answer</p>",
        },
    )
    roster = tmp_path / "canvas_gradebook.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,02_sigmoid_derivative (4320),"
        "04_backprop_W2 (4321)\n"
        "    Points Possible,,,,,9.00,9.00\n"
        '"Smith, Alice",12345,S001,asmith,Sec 1,,\n'
        '"Smith, Alice",45678,S002,asmith2,Sec 1,,\n'
        '"Jones, Bob",23456,S003,bjones,Sec 1,,\n'
        '"Müller, José",34567,S004,jmuller,Sec 2,,\n'
        '"Lee, Anna",56789,S005,alee,Sec 2,,\n'
        '"Nguyen, Tam",99999,S006,tnguyen,Sec 2,,\n',
        encoding="utf-8",
    )
    report = collect(download, course=course, roster=roster)
    assert report.lms == "canvas"
    got = placed(report)
    # one Canvas user id, one student: Alice's 02 and her late 04 share an id
    alice = got["smithalice_12345_67890_02_sigmoid_derivative.ipynb"][0]
    assert got["smithalice_LATE_12345_67891_04_backprop_W2.ipynb"] == (alice, "04_backprop_W2")
    assert alice == "smithalice-12345" and "LATE" not in alice
    # the other Alice Smith is another person: never merged
    w2 = "04_backprop_W2"
    assert got["smithalice_45678_67899_04_backprop_W2.ipynb"] == ("smithalice-45678", w2)
    assert got["jonesbob_23456_67892_04_backprop_w2 (1).ipynb"] == ("jonesbob-23456", w2)
    assert got["müllerjosé_34567_67893_04_backprop_W2.ipynb.ipynb"] == (
        "mullerjose-34567",
        "04_backprop_W2",
    )
    # Canvas's "-1" marks the later of two uploads with one name: it is graded ...
    assert got["leeanna_56789_67896_04_backprop_W2-1.ipynb"] == ("leeanna-56789", "04_backprop_W2")
    # ... and the other is kept aside with the reason, not dropped
    problems = {u.source: u for u in report.problems}
    aside = problems["leeanna_56789_67895_04_backprop_W2.ipynb"]
    assert "superseded" in aside.reason and (course / aside.aside).read_bytes() == notebook(
        "04_backprop_W2"
    )
    assert "not a notebook" in problems["kimdan_61234_text.html"].reason
    late = [p for p in report.placed if p.source.startswith("smithalice_LATE")][0]
    assert "late" in late.note
    assert report.roster_only == ["nguyentam-99999"]
    # the mapping export and report read
    students = load_students(course)
    assert students["smithalice-12345"].lms_id == "12345"
    assert students["smithalice-12345"].name == "Smith, Alice"
    assert students["smithalice-12345"].sis_login_id == "asmith"
    assert students["nguyentam-99999"].section == "Sec 2"
    gb = gradebook_students(course)
    assert set(gb) == {
        "smithalice-12345",
        "smithalice-45678",
        "jonesbob-23456",
        "mullerjose-34567",
        "leeanna-56789",
        "nguyentam-99999",
    }
    assert gb["mullerjose-34567"][:2] == ("José", "Müller")
    # collecting the same download again changes nothing and keeps the ids
    again = collect(download, course=course, roster=roster)
    assert placed(again) == got


def test_moodle_download_with_grading_worksheet(course, tmp_path):
    # Moodle: {Full Name}_{participant id}_assignsubmission_file[_]/{file} or flat
    download = make_zip(
        tmp_path / "PHYS101-Backprop W2-42.zip",
        {
            "Frank Miller_123456_assignsubmission_file_/04_backprop_W2 (1).ipynb": "04_backprop_W2",
            "José Núñez_123457_assignsubmission_file/04_backprop_W2.ipynb": "04_backprop_W2",
            "Anna Lee_123458_assignsubmission_file_04_backprop_W2.ipynb": "04_backprop_W2",
            "Anna Lee_123459_assignsubmission_file_/04_backprop_w2.ipynb": "04_backprop_W2",
            "Erin Jones_123461_assignsubmission_onlinetext_/onlinetext.html": "<p>hi</p>",
        },
    )
    worksheet = tmp_path / "Grades-PHYS101-Backprop W2-42.csv"
    worksheet.write_text(
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 123456,Frank Miller,frank@uni.example,Submitted for grading,,9.00,Yes,-,-,\n"
        "Participant 123457,José Núñez,jose@uni.example,Submitted for grading,,9.00,Yes,-,-,\n"
        "Participant 123458,Anna Lee,anna.lee@uni.example,Submitted for grading,,9.00,Yes,-,-,\n"
        "Participant 123459,Anna Lee,anna.lee2@uni.example,Submitted for grading,,9.00,Yes,-,-,\n"
        "Participant 123462,Kim Park,kim@uni.example,No submission,,9.00,Yes,-,-,\n",
        encoding="utf-8",
    )
    report = collect(download, course=course, roster=worksheet)
    assert report.lms == "moodle"
    got = placed(report)
    assert got == {
        "Frank Miller_123456_assignsubmission_file_/04_backprop_W2 (1).ipynb": (
            "frank@uni.example",
            "04_backprop_W2",
        ),
        "José Núñez_123457_assignsubmission_file/04_backprop_W2.ipynb": (
            "jose@uni.example",
            "04_backprop_W2",
        ),
        "Anna Lee_123458_assignsubmission_file_04_backprop_W2.ipynb": (
            "anna.lee@uni.example",
            "04_backprop_W2",
        ),
        "Anna Lee_123459_assignsubmission_file_/04_backprop_w2.ipynb": (
            "anna.lee2@uni.example",
            "04_backprop_W2",
        ),
    }
    assert report.roster_only == ["kim@uni.example"]
    students = load_students(course)
    assert students["frank@uni.example"].participant_ids == {"04_backprop_W2": "123456"}
    assert students["kim@uni.example"].participant_ids == {"04_backprop_W2": "123462"}
    assert students["jose@uni.example"].name == "José Núñez"
    assert [u.source for u in report.problems] == [
        "Erin Jones_123461_assignsubmission_onlinetext_/onlinetext.html"
    ]


def test_moodle_download_without_roster_keys_participants(course, tmp_path):
    download = make_zip(
        tmp_path / "moodle.zip",
        {
            "Frank Miller_123456_assignsubmission_file_/04_backprop_W2 (1).ipynb": "04_backprop_W2",
            "Frank Miller_123460_assignsubmission_file_/04_backprop_W2.ipynb": "04_backprop_W2",
        },
    )
    report = collect(download, course=course)
    # two participant ids: two people who share a name, never merged
    assert sorted(p.student for p in report.placed) == [
        "frank_miller-123456",
        "frank_miller-123460",
    ]
    assert any("grading worksheet" in n for n in report.notes)


def test_hand_made_folder_of_renamed_files(course, tmp_path):
    files = {
        "submissions/Erin Jones - 04_backprop_W2.ipynb": "04_backprop_W2",
        "submissions/ivan_04_backprop_W2 (1).ipynb": "04_backprop_W2",
        "submissions/ivan_04_backprop_W2.ipynb": "04_backprop_W2",
        "submissions/jack_04_backprop_w2.ipynb": "04_backprop_W2",
        "submissions/kate_04_backprop_W2.ipynb.ipynb": "04_backprop_W2",
        "submissions/liam_04_backprop_W2-Copy1.ipynb": "04_backprop_W2",
        "submissions/José_04_backprop_W2.ipynb": "04_backprop_W2",
        "submissions/müller_04_backprop_W2.ipynb": "04_backprop_W2",
        "submissions/Anna Lee_04_backprop_W2.ipynb": "04_backprop_W2",
        "submissions/mia_05_backprop_W1.ipynb": "04_backprop_W2",  # 04's notebook as 05
        "submissions/04_backprop_W2.ipynb": "04_backprop_W2",  # whose?
    }
    folder = tmp_path / "download"
    for name, a in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(notebook(a))
    (folder / "README.txt").write_text("downloaded from the LMS")  # beside the top folder
    report = collect(folder, course=course)
    assert report.lms == "generic"
    got = placed(report)
    assert {s for s, _ in got.values()} == {
        "erin_jones",
        "ivan",
        "jack",
        "kate",
        "liam",
        "jose",
        "muller",
        "anna_lee",
        "mia",
    }
    assert "submissions" not in {s for s, _ in got.values()}
    assert got["submissions/Erin Jones - 04_backprop_W2.ipynb"] == ("erin_jones", "04_backprop_W2")
    assert got["submissions/jack_04_backprop_w2.ipynb"] == ("jack", "04_backprop_W2")
    assert got["submissions/kate_04_backprop_W2.ipynb.ipynb"] == ("kate", "04_backprop_W2")
    assert got["submissions/mia_05_backprop_W1.ipynb"] == ("mia", "05_backprop_W1")
    mia = [p for p in report.placed if p.student == "mia"][0]
    assert "notebook of another assignment (04_backprop_W2)" in mia.note
    # ivan: two copies, no LMS to say which is newer: one graded, the other kept aside
    problems = {u.source: u for u in report.problems}
    assert got["submissions/ivan_04_backprop_W2.ipynb"] == ("ivan", "04_backprop_W2")
    ivan = problems["submissions/ivan_04_backprop_W2 (1).ipynb"]
    assert ivan.aside and "two notebooks" in ivan.reason and "autograde" in ivan.reason
    bare = problems["submissions/04_backprop_W2.ipynb"]
    assert "no student id" in bare.reason and not bare.aside
    assert "not a notebook" in problems["README.txt"].reason
    assert "04" not in gradebook_students(course)
    names = {r.student_id: r.name for r in load_students(course).values()}
    assert names["erin_jones"] == "Erin Jones" and names["jose"] == "José"


def test_clean_names_and_parsers():
    assert clean_name("x_04_backprop_W2 (1).ipynb").markers == ["(1)"]
    assert clean_name("x_04_backprop_W2-Copy1.ipynb").stem == "x_04_backprop_W2"
    assert clean_name("x_04_backprop_W2-2.ipynb").version == 2
    assert clean_name("notes.txt") is None
    anon = parse_canvas("LATE_anon_x7k2q_555_04_backprop_W2.ipynb")
    assert anon.key == "anon_x7k2q" and anon.late and anon.filename == "04_backprop_W2.ipynb"
    assert isinstance(parse_canvas("alice_04_backprop_W2.ipynb"), str)
    blind = parse_moodle("Participant_11_assignsubmission_file_/x.ipynb")
    assert blind.key == "11" and blind.name == ""


def test_cli_collect_reports_and_refuses_a_mixed_download(course, tmp_path, capsys):
    mixed = make_zip(
        tmp_path / "mixed.zip",
        {
            "smithalice_12345_67890_04_backprop_W2.ipynb": "04_backprop_W2",
            "bob_04_backprop_W2.ipynb": "04_backprop_W2",
        },
    )
    assert main(["collect", str(mixed), "--course", str(course)]) == 2
    assert "--lms" in capsys.readouterr().err
    assert main(["collect", str(mixed), "--course", str(course), "--lms", "canvas"]) == 0
    out = capsys.readouterr().out
    assert "smithalice-12345" in out and "not placed bob_04_backprop_W2.ipynb" in out
    bad = tmp_path / "roster.csv"
    bad.write_text("name,score\nx,1\n")
    assert (
        main(
            [
                "collect",
                str(mixed),
                "--course",
                str(course),
                "--lms",
                "canvas",
                "--roster",
                str(bad),
            ]
        )
        == 2
    )
    assert "not a roster" in capsys.readouterr().err
    with (course / "students.csv").open() as f:
        assert next(csv.reader(f))[:4] == ["student_id", "lms", "lms_id", "name"]


def test_another_assignments_notebook_is_named_as_such(course, tmp_path):
    """04's notebook uploaded as 05: one plain reason, no schema error, no cheating flags."""
    from grader.pipeline.autograde import autograde

    download = make_zip(tmp_path / "dl.zip", {"mia_05_backprop_W1.ipynb": "04_backprop_W2"})
    collect(download, course=course)
    run = autograde(course, "05_backprop_W1", workers=1)
    (result,) = run.results
    assert result.status == "failed" and result.score == 0
    assert result.reason.startswith(
        "this is the notebook of another assignment (04_backprop_W2), handed in as 05_backprop_W1"
    )
    assert result.flags == [] and "schema" not in result.reason


MOODLE_HEADER = (
    "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade),Feedback comments\n"
)


def test_moodle_again_without_worksheet_keeps_the_recorded_student(course, tmp_path):
    """students.csv says 02_sigmoid_derivative:123456 is frank@uni.example: a second
    collect of that download without its worksheet makes no `frank_miller-123456`, and the
    Moodle worksheet export never repeats an Identifier."""
    from datetime import datetime

    from grader.pipeline.export import export_moodle

    a = "02_sigmoid_derivative"
    download = make_zip(
        tmp_path / "moodle.zip",
        {"Frank Miller_123456_assignsubmission_file_/02_sigmoid_derivative.ipynb": a},
    )
    worksheet = tmp_path / "Grades.csv"
    worksheet.write_text(
        MOODLE_HEADER + "Participant 123456,Frank Miller,frank@uni.example,Submitted,,9,Yes,-,-,\n",
        encoding="utf-8",
    )
    collect(download, course=course, roster=worksheet)
    again = collect(download, course=course)
    assert [p.student for p in again.placed] == ["frank@uni.example"]
    assert not any("grading worksheet" in n for n in again.notes)
    assert set(load_students(course)) == {"frank@uni.example"}
    assert set(gradebook_students(course)) == {"frank@uni.example"}

    # a course an earlier version left with both records for participant 123456
    students = (course / "students.csv").read_text(encoding="utf-8")
    (course / "students.csv").write_text(
        students + f"frank_miller-123456,moodle,123456,Frank Miller,,,,,{a}:123456,\n",
        encoding="utf-8",
    )
    # not graded yet: the grade is left empty, never guessed (exports refuse without this)
    (sheet,) = export_moodle(course, allow_incomplete=True).paths
    with sheet.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["Identifier"] for r in table] == ["Participant 123456"]
    assert table[0]["Grade"] == ""
    # Moodle reads it with strtotime(): a full ISO 8601 time with its UTC offset
    assert datetime.fromisoformat(table[0]["Last modified (grade)"]).utcoffset() is not None
    # and collect now reuses the e-mail's record, not the stray one
    third = collect(download, course=course)
    assert [p.student for p in third.placed] == ["frank@uni.example"]


def test_commands_refuse_the_repository_as_course(course, tmp_path, monkeypatch, capsys):
    """Forgetting `cd` into the course: nothing is written into the git checkout."""
    from grader.cli import COURSE_ENV

    monkeypatch.delenv(COURSE_ENV, raising=False)
    download = make_zip(tmp_path / "dl.zip", {"alice_04_backprop_W2.ipynb": "04_backprop_W2"})
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    repo = course_mod.REPO_ROOT
    before = sorted(p.name for p in repo.iterdir())
    for cwd in (elsewhere, repo):
        monkeypatch.chdir(cwd)
        for argv in (
            ["collect", str(download)],
            ["autograde"],
            ["feedback"],
            ["export"],
            ["report"],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert "no course here: cd into your course folder or pass --course DIR" in err
            hint = "--course " + str(repo) if cwd == repo else "release --course DIR"
            assert hint in err and err.count("\n") == 1, err
    assert sorted(p.name for p in repo.iterdir()) == before
    # the course named by the environment variable, or found in the current folder
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv(COURSE_ENV, str(course))
    assert main(["collect", str(download)]) == 0
    assert (course / "submitted" / "alice" / "04_backprop_W2").is_dir()
    monkeypatch.delenv(COURSE_ENV)
    monkeypatch.chdir(course)
    assert main(["collect", str(download)]) == 0
    out = capsys.readouterr().out
    assert str(course / "submitted") in out and "((" not in out


def test_collect_notes_have_single_parentheses(course, tmp_path, capsys):
    name = "jonesbob_LATE_23456_67892_04_backprop_w2 (1).ipynb"
    download = make_zip(tmp_path / "dl.zip", {name: "04_backprop_W2"})
    assert main(["collect", str(download), "--course", str(course)]) == 0
    out = capsys.readouterr().out
    assert "note: (1); late" in out and "((" not in out


def test_canvas_export_without_a_roster_says_its_columns_have_no_canvas_id(course, tmp_path):
    from grader.pipeline.export import export_canvas

    download = make_zip(
        tmp_path / "submissions.zip",
        {"smithalice_12345_67890_04_backprop_W2.ipynb": "04_backprop_W2"},
    )
    collect(download, course=course, lms="canvas")
    written = export_canvas(course, allow_incomplete=True)  # nothing is graded yet
    (path,), notes = written.paths, written.notes
    with path.open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[5:] == ["04_backprop_W2"]
    assert any(
        n.startswith("no Canvas assignment id for 04_backprop_W2") and "--roster" in n
        for n in notes
    ), notes
