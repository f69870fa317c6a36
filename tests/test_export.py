"""Grades an LMS receives are final, and only what a student may read reaches them.

A real course (the fixture assignment ps1 plus a written answer, `explain`, that nbgrader
leaves for a manual grade), Canvas and Moodle downloads collected with their rosters,
graded by the course's route (real nbgrader, kernels, gradebook); the teaching assistant's
scores given through nbgrader's API as formgrader's Save does. Then:

- alice, bob (Canvas) and frank (Moodle) have their written answer graded: final;
- dan (Canvas) and gina (Moodle) wait for theirs: "needs manual grading";
- eve (Canvas) handed in a cut-off notebook: "unreadable";
- lee (Canvas) is collected after grading: "not graded yet";
- tam (Canvas) and kim (Moodle) handed in nothing: 0, final;
- Canvas's "Student, Test" handed in a right notebook nobody grades by hand: not a person.
"""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader import course as course_mod
from grader.cli import main
from grader.config import db_url
from grader.pipeline.autograde import autograde
from grader.pipeline.collect import collect
from grader.pipeline.export import IncompleteGrades, export_canvas, export_moodle

pytestmark = pytest.mark.slow

FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "course" / "source"
ALICE, BOB, DAN, EVE = "smithalice-12345", "jonesbob-23456", "kimdan-34567", "evanseve-45678"
LEE, TAM, TEST = "leeanna-56789", "nguyentam-99999", "studenttest-99001"
FRANK, GINA, KIM = "frank@uni.example", "gina@uni.example", "kim@uni.example"
#: a flag the verification gives frank's notebook: for the instructor, never the student
PATH_IN_CODE = "../../source/ps1/ps1.ipynb"


def with_written_answer(dest: Path) -> Path:
    """The fixture's source/ with a markdown answer cell nbgrader grades by hand (1 point)."""
    shutil.copytree(FIXTURE_SOURCE, dest)
    path = dest / "ps1" / "ps1.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_markdown_cell(
        "Why is `double` linear? Answer in one sentence.\n\n"
        "### BEGIN SOLUTION\nBecause 2(x + y) = 2x + 2y.\n### END SOLUTION",
        id="explain",
    )
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": True,
        "locked": False,
        "grade_id": "explain",
        "points": 1,
        "schema_version": 3,
        "task": False,
    }
    nb.cells.append(cell)
    nbformat.write(nb, path)
    return dest


def handed_in(released: nbformat.NotebookNode, double: str, extra: str = "") -> str:
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        if cell.id == "double":
            cell.source = f"def double(x):\n{extra}    return {double}"
        if cell.id == "square":
            cell.source = "def square(x):\n    return x * x"
        if cell.id == "explain":
            cell.source = "It doubles sums term by term."
    return nbformat.writes(nb)


def rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return {r[key]: r for r in csv.DictReader(f)}


def give_manual(root: Path, student: str, score: float) -> None:
    """What formgrader's Save does for a manual score (nbgrader's GradeHandler.put)."""
    with Gradebook(db_url(root)) as gb:
        grade = gb.find_grade("explain", "ps1", "ps1", student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        gb.db.commit()


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    root = course_mod.new_course(tmp / "course", source=with_written_answer(tmp / "source"))
    course_mod.generate_release(root, ["ps1"])
    released = nbformat.read(root / "release" / "ps1" / "ps1.ipynb", as_version=4)
    canvas = tmp / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as zf:
        zf.writestr("smithalice_12345_67890_ps1.ipynb", handed_in(released, "2 * x"))
        zf.writestr("jonesbob_23456_67891_ps1.ipynb", handed_in(released, "-2 * x"))
        zf.writestr("kimdan_34567_67892_ps1.ipynb", handed_in(released, "2 * x"))
        zf.writestr("evanseve_45678_67893_ps1.ipynb", '{"cells": [')  # cut off: not JSON
        zf.writestr("studenttest_99001_67894_ps1.ipynb", handed_in(released, "2 * x"))
    roster = tmp / "canvas_gradebook.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,ps1 (777)\n"
        "    Points Possible,,,,,7.00\n"
        '"Smith, Alice",12345,S1,asmith,Sec 1,\n"Jones, Bob",23456,S2,bjones,Sec 1,\n'
        '"Kim, Dan",34567,S3,dkim,Sec 1,\n"Evans, Eve",45678,S4,eevans,Sec 1,\n'
        '"Lee, Anna",56789,S5,alee,Sec 1,\n"Nguyen, Tam",99999,S6,tnguyen,Sec 1,\n'
        '"Student, Test",99001,,,Sec 1,\n',
        encoding="utf-8",
    )
    moodle = tmp / "moodle.zip"
    with zipfile.ZipFile(moodle, "w") as zf:
        frank = handed_in(released, "2 * x", extra=f"    note = {PATH_IN_CODE!r}\n")
        zf.writestr("Frank Miller_123456_assignsubmission_file_/ps1.ipynb", frank)
        zf.writestr(
            "Gina Rossi_123457_assignsubmission_file_/ps1.ipynb", handed_in(released, "2 * x")
        )
    worksheet = tmp / "Grades-ps1.csv"
    worksheet.write_text(
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 123456,Frank Miller,frank@uni.example,Submitted,,7.00,Yes,-,-,\n"
        "Participant 123457,Gina Rossi,gina@uni.example,Submitted,,7.00,Yes,-,-,\n"
        "Participant 123999,Kim Park,kim@uni.example,No submission,,7.00,Yes,-,-,\n",
        encoding="utf-8",
    )
    assert len(collect(canvas, course=root, lms="canvas", roster=roster).placed) == 5
    assert len(collect(moodle, course=root, lms="moodle", roster=worksheet).placed) == 2
    run = autograde(root, workers=2)
    got = {r.student: (r.status, r.score, r.needs_manual_grade) for r in run.results}
    assert got[ALICE] == ("graded", 6, True) and got[BOB] == ("graded", 3, True)
    assert got[EVE][0] == "failed"
    for student, score in ((ALICE, 1), (BOB, 0.5), (FRANK, 1)):
        give_manual(root, student, score)
    later = tmp / "later.zip"  # lee's notebook arrives after grading
    with zipfile.ZipFile(later, "w") as zf:
        zf.writestr("leeanna_56789_67895_ps1.ipynb", handed_in(released, "2 * x"))
    collect(later, course=root, lms="canvas")
    return root


def test_canvas_export_refuses_grades_that_are_not_final(klass, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert main(["export", "--course", str(klass), "--format", "canvas", "--output", str(out)]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith(
        "backprop-grader export: grades-canvas.csv not written: 3 grades in it are not final"
    )
    listed = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    assert listed == [
        f"{EVE} (Evans, Eve): ps1: unreadable: the notebook is not valid JSON (cut off or "
        "damaged): ask for it again",
        f"{DAN} (Kim, Dan): ps1: needs manual grading",
        f"{LEE} (Lee, Anna): ps1: not graded yet",
    ]
    assert "--allow-incomplete" in err and TEST not in err
    assert not (tmp_path / "grades-canvas.csv").exists()  # nothing guessed, nothing written
    assert not list(tmp_path.glob("feedback-*.zip"))
    # the instructor's own grades.csv is written, with the detail
    mine = rows(out, "student_id")
    assert mine[DAN]["needs_manual_grade"] == "yes" and mine[ALICE]["ps1"] == "7"
    assert mine[TEST]["notes"].startswith("the LMS's test student: left out")
    with pytest.raises(IncompleteGrades) as info:
        export_canvas(klass, tmp_path / "lib.csv")
    assert [(p.student, p.why.split(":")[0]) for p in info.value.pending] == [
        (EVE, "unreadable"),
        (DAN, "needs manual grading"),
        (LEE, "not graded yet"),
    ]


def test_allow_incomplete_leaves_them_empty_and_says_how_many(klass, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert (
        main(
            [
                "export",
                "--course",
                str(klass),
                "--format",
                "canvas",
                "--allow-incomplete",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "3 grades are not final and left empty (--allow-incomplete" in printed
    assert f"{TEST} (Student, Test): the LMS's test student: left out of the LMS" in printed
    with (tmp_path / "grades-canvas.csv").open(encoding="utf-8") as f:
        table = {r["ID"]: r["ps1 (777)"] for r in csv.DictReader(f)}
    assert table == {
        "": "7",  # Points Possible
        "12345": "7",  # alice: 6 + her written answer's 1
        "23456": "3.5",  # bob: 3 + 0.5 by hand
        "34567": "",  # dan: his written answer waits for a grade
        "45678": "",  # eve: unreadable, not a guessed 0
        "56789": "",  # lee: not graded yet
        "99999": "0",  # tam: nothing handed in
    }  # and no "Student, Test" row


def test_moodle_comments_hold_only_what_the_student_may_read(klass, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert main(["export", "--course", str(klass), "--format", "moodle", "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "grades-moodle-ps1.csv not written: 1 grade in it is not final" in err
    assert f"{GINA} (Gina Rossi): ps1: needs manual grading" in err
    assert not (tmp_path / "grades-moodle-ps1.csv").exists()
    # grades.csv (the instructor's) keeps the verification's flag ...
    assert (
        f"flagged: double: refers to a path outside its folder ('{PATH_IN_CODE}'"
        in (rows(out, "student_id")[FRANK]["notes"])
    )
    # Canvas's test account is no news in a Moodle export
    assert (
        main(
            [
                "export",
                "--course",
                str(klass),
                "--format",
                "moodle",
                "--allow-incomplete",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert "test student" not in capsys.readouterr().out
    written = export_moodle(klass, tmp_path, allow_incomplete=True)
    assert [p.student for p in written.blank] == [GINA]
    sheet = rows(written.paths[0], "Identifier")
    assert {k: (r["Grade"], r["Feedback comments"]) for k, r in sheet.items()} == {
        "Participant 123456": ("7", ""),
        "Participant 123457": ("", "not graded yet: your grade will follow"),
        "Participant 123999": ("0", "nothing handed in: 0 points"),
    }
    # ... and the student's column none of it
    text = written.paths[0].read_text(encoding="utf-8")
    for internal in ("flag", "path", "manual", "verif", "NOT ", "source/"):
        assert internal not in text, internal


def test_the_test_student_is_out_of_the_report(klass, tmp_path):
    from grader.pipeline.report import build_report

    page = build_report(klass, tmp_path / "report").html.read_text(encoding="utf-8")
    assert f"Left out of every count and mean: {TEST} (Student, Test), the LMS's test" in page
    scores = page.split("<h2>Scores</h2>")[1].split("<h2>")[0]
    # 9 people on the rosters, 7 handed in; the mean counts tam, kim and lee (not graded
    # yet) as 0 and takes the manual scores: (7 + 3.5 + 6 + 0 + 0 + 7 + 6 + 0 + 0) / 9
    assert "<td>ps1</td><td>7 of 9</td><td>3.28</td>" in scores, scores
    attention = page.split("<h2>Submissions that need attention</h2>")[1]
    assert TEST not in attention and TEST not in scores


def test_an_export_refuses_feedback_pages_older_than_their_grades(klass, tmp_path, capsys):
    """A teaching assistant changes a score and writes a comment after `feedback`: the
    Canvas export names both pages and sets the earlier export's files aside; `feedback`
    again makes it pass. Runs last: it gives bob's score back at the end."""
    out = tmp_path / "grades.csv"
    export_args = ["export", "--course", str(klass), "--format", "canvas", "--output", str(out)]
    lee = klass / "autograded" / LEE / "ps1"  # a folder without its graded notebook
    lee.mkdir(parents=True)
    try:
        assert main(["feedback", "--course", str(klass)]) == 0
    finally:
        lee.rmdir()
    printed = capsys.readouterr().out
    assert f"no feedback {LEE}/ps1: no autograded ps1.ipynb for it (autograde it again)" in (
        " ".join(printed.split())
    )
    for who in (DAN, GINA):  # waiting for a grade by hand: said once each
        assert f"{who}/ps1: its page shows a score still to be reviewed: grade it in " in printed
    assert ALICE not in printed.split("feedback pages in")[1]
    assert main([*export_args, "--allow-incomplete"]) == 0
    capsys.readouterr()
    assert (tmp_path / "grades-canvas.csv").exists()
    assert (tmp_path / "feedback-canvas-ps1.zip").exists()
    give_manual(klass, BOB, 1)  # formgrader's Save after the pages were written
    with Gradebook(db_url(klass)) as gb:
        gb.find_comment("explain", "ps1", "ps1", ALICE).manual_comment = "Clear, **and** right."
        gb.db.commit()
    try:
        assert main([*export_args, "--allow-incomplete"]) == 1
        err = capsys.readouterr().err
        assert "Canvas files not written: 2 feedback pages are older than the gradebook" in err
        assert f"  {BOB}/ps1: explain: the page shows 0.5, the gradebook 1" in err
        assert f"  {ALICE}/ps1: explain: the page does not show its comment now" in err
        assert "Run `backprop-grader feedback` again" in err
        assert not (tmp_path / "grades-canvas.csv").exists()
        assert (tmp_path / "grades-canvas.csv.stale").exists()
        assert (tmp_path / "feedback-canvas-ps1.zip.stale").exists()
        assert "set aside" in err and "grades-canvas.csv.stale" in err
        assert main(["feedback", "--course", str(klass), "ps1"]) == 0
        assert main([*export_args, "--allow-incomplete"]) == 0
        with zipfile.ZipFile(tmp_path / "feedback-canvas-ps1.zip") as zf:
            page = [n for n in zf.namelist() if "_23456_" in n]
            assert "(Score: 1.0 / 1.0)" in zf.read(page[0]).decode("utf-8")
        # a refusal for grades that are not final sets them aside too, never over the first
        assert main(export_args) == 1
        assert (tmp_path / "grades-canvas.csv.stale-2").exists()
        assert (tmp_path / "grades-canvas.csv.stale").exists()
    finally:
        give_manual(klass, BOB, 0.5)
