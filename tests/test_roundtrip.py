"""The instructor's round trip with LMS downloads: collect (Canvas and Moodle naming, with
their rosters) -> export before grading -> autograde -> export for each LMS -> a lost
gradebook. Real nbgrader, real kernels, the tiny fixture assignment `ps1`.

alice (Canvas) is right (6/6), bob (Canvas, late) flips a sign (3/6), tam is on the Canvas
roster and handed in nothing; frank (Moodle) is right, kim is on the Moodle worksheet and
handed in nothing.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader import course as course_mod
from grader.cli import main
from grader.config import db_url
from grader.pipeline import agree
from grader.pipeline.autograde import autograde
from grader.pipeline.collect import collect
from grader.pipeline.export import export, export_canvas, export_moodle
from grader.pipeline.results import load_results

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "course" / "source"
ALICE, BOB, TAM = "smithalice-12345", "jonesbob-23456", "nguyentam-99999"
FRANK, KIM = "frank@uni.example", "kim@uni.example"


def filled(released: nbformat.NotebookNode, double: str) -> str:
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        if cell.id == "double":
            cell.source = f"def double(x):\n    return {double}"
        if cell.id == "square":
            cell.source = "def square(x):\n    return x * x"
    return nbformat.writes(nb)


def rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return {r[key]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A course with a Canvas and a Moodle download collected, nothing graded yet."""
    tmp = tmp_path_factory.mktemp("roundtrip")
    root = course_mod.new_course(tmp / "course", source=FIXTURE_SOURCE)
    course_mod.generate_release(root, ["ps1"])
    released = nbformat.read(root / "release" / "ps1" / "ps1.ipynb", as_version=4)
    canvas = tmp / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as zf:
        zf.writestr("smithalice_12345_67890_ps1.ipynb", filled(released, "2 * x"))
        zf.writestr("jonesbob_LATE_23456_67891_ps1 (1).ipynb", filled(released, "-2 * x"))
    canvas_roster = tmp / "canvas_gradebook.csv"
    canvas_roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,ps1 (777),Current Score\n"
        "    Points Possible,,,,,6.00,(read only)\n"
        '"Smith, Alice",12345,S1,asmith,Sec 1,,\n'
        '"Jones, Bob",23456,S2,bjones,Sec 1,,\n'
        '"Nguyen, Tam",99999,S3,tnguyen,Sec 1,,\n',
        encoding="utf-8",
    )
    moodle = tmp / "moodle.zip"
    with zipfile.ZipFile(moodle, "w") as zf:
        zf.writestr(
            "Frank Miller_123456_assignsubmission_file_/ps1 (1).ipynb", filled(released, "2 * x")
        )
    worksheet = tmp / "Grades-ps1.csv"
    worksheet.write_text(
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 123456,Frank Miller,frank@uni.example,Submitted,,6.00,Yes,-,-,\n"
        "Participant 123999,Kim Park,kim@uni.example,No submission,,6.00,Yes,-,-,\n",
        encoding="utf-8",
    )
    assert len(collect(canvas, course=root, lms="canvas", roster=canvas_roster).placed) == 2
    assert len(collect(moodle, course=root, lms="moodle", roster=worksheet).placed) == 1
    return root


@pytest.fixture(scope="module")
def graded(collected):
    before = export(collected, collected / "before.csv")
    run = autograde(collected, workers=2)
    return collected, before, run


def test_export_before_autograde_says_not_graded_yet(graded):
    _, before, _ = graded
    got = rows(before, "student_id")
    assert got[ALICE]["ps1"] == "" and "ps1: not graded yet" in got[ALICE]["notes"]
    assert "not submitted" not in got[ALICE]["notes"]
    assert got[TAM]["ps1"] == "0" and "ps1: not submitted" in got[TAM]["notes"]
    assert got[ALICE]["name"] == "Smith, Alice" and got[ALICE]["lms_id"] == "12345"


def test_graded_exports_for_canvas_and_moodle(graded):
    root, _, run = graded
    assert {r.student: r.score for r in run.results} == {ALICE: 6, BOB: 3, FRANK: 6}
    assert run.gradebook_check == "ok"
    generic = rows(export(root), "student_id")
    assert {s: generic[s]["ps1"] for s in generic} == {
        ALICE: "6",
        BOB: "3",
        TAM: "0",
        FRANK: "6",
        KIM: "0",
    }
    canvas = export_canvas(root)
    (path,), left_out = canvas.paths, canvas.left_out
    assert canvas.blank == [] and canvas.test_students == []
    with path.open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ps1 (777)"]
    assert table[1][0].strip() == "Points Possible" and table[1][5] == "6"
    assert sorted(table[2:]) == [
        ["Jones, Bob", "23456", "S2", "bjones", "Sec 1", "3"],
        ["Nguyen, Tam", "99999", "S3", "tnguyen", "Sec 1", "0"],
        ["Smith, Alice", "12345", "S1", "asmith", "Sec 1", "6"],
    ]
    assert sorted(left_out) == sorted([FRANK, KIM])  # Moodle's students have no Canvas id
    moodle = export_moodle(root)
    paths, left_out = moodle.paths, moodle.left_out
    assert [p.name for p in paths] == ["grades-moodle-ps1.csv"]
    sheet = rows(paths[0], "Identifier")
    assert set(sheet) == {"Participant 123456", "Participant 123999"}
    assert sheet["Participant 123456"]["Grade"] == "6"
    assert sheet["Participant 123999"]["Grade"] == "0"
    assert sheet["Participant 123999"]["Full name"] == "Kim Park"
    assert sheet["Participant 123456"]["Last modified (grade)"]
    assert sorted(left_out) == sorted([ALICE, BOB])


def test_cli_export_formats_and_summary_in_a_log(graded, capsys):
    root, _, _ = graded
    assert main(["export", "--course", str(root), "--format", "canvas"]) == 0
    out = capsys.readouterr().out
    assert "grades-canvas.csv" in out and "2 students have no canvas id" in out
    assert main(["export", "--course", str(root), "--format", "moodle"]) == 0
    assert "grades-moodle-ps1.csv" in capsys.readouterr().out
    # not a terminal: the summary prints every value in full
    assert main(["autograde", "--course", str(root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "already graded: skipped" in out and "5.0/6" in out
    assert "…" not in out, out


def test_lost_gradebook_regrades_instead_of_skipping(graded, tmp_path, capsys):
    root, _, _ = graded
    course = tmp_path / "course"
    shutil.copytree(root, course)
    (course / "nbgrader_config.py").write_text((root / "nbgrader_config.py").read_text())
    (course / "gradebook.db").unlink()  # rm gradebook.db
    # export now leaves nobody out: every collected student, grades empty until regraded
    lost = rows(export(course), "student_id")
    assert set(lost) == {ALICE, BOB, TAM, FRANK, KIM}
    assert lost[ALICE]["ps1"] == "" and "ps1: not graded yet" in lost[ALICE]["notes"]
    assert lost[ALICE]["max_total"] == "6" and lost[TAM]["ps1"] == "0"
    assert main(["autograde", "--course", str(course), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "3 submissions recorded as graded have no grade in the gradebook" in out
    assert "already graded: skipped" not in out
    assert "gradebook check: ok" in out
    got = rows(export(course), "student_id")
    expected = {ALICE: "6", BOB: "3", TAM: "0", FRANK: "6", KIM: "0"}
    assert {s: got[s]["ps1"] for s in got} == expected
    # the check compares them: a grade gone from the gradebook is named, then regraded
    with Gradebook(db_url(course)) as gb:
        gb.remove_submission("ps1", BOB)
    results = load_results(course)
    keys = [f"{s}/ps1" for s in (ALICE, BOB, FRANK)]
    assert agree.disagreements(course, keys, results) == [
        f"{BOB}/ps1: graded in results.json but not in the gradebook"
    ]
    again = autograde(course, workers=1)
    assert again.fresh == {f"{BOB}/ps1"} and again.gradebook_check == "ok"


def test_bad_input_is_one_line_and_exit_2(graded, tmp_path, capsys):
    root, _, _ = graded
    assert main(["autograde", "--course", str(root), "--workers", "0"]) == 2
    assert "--workers 0" in capsys.readouterr().err
    assert main(["feedback", "06_nope", "--course", str(root)]) == 2
    assert "no assignment '06_nope'" in capsys.readouterr().err
    taken = tmp_path / "notes"
    taken.mkdir()
    (taken / "mine.txt").write_text("mine")
    assert main(["release", "--course", str(taken)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (taken / "mine.txt").read_text() == "mine"


def test_release_course_outside_the_repository(tmp_path, capsys):
    term = tmp_path / "courses" / "backprop-2026"
    assert main(["release", "--course", str(term)]) == 0
    assert "new course directory" in capsys.readouterr().out
    assert (term / "nbgrader_config.py").is_file()
    for a in course_mod.ASSIGNMENTS:
        assert (term / "release" / a / f"{a}.ipynb").is_file()
    with Gradebook(db_url(term)) as gb:
        assert sorted(a.name for a in gb.assignments) == list(course_mod.ASSIGNMENTS)
    # run again: the course is reused, nothing of it replaced
    (term / "source" / "NOTE.txt").write_text("mine")
    assert main(["release", "--course", str(term)]) == 0
    assert "new course directory" not in capsys.readouterr().out
    assert (term / "source" / "NOTE.txt").read_text() == "mine"


def test_python_m_grader_outside_make_finds_alembic(tmp_path):
    """`.venv/bin/python -m grader collect` with the venv not on PATH (a new gradebook
    needs nbgrader's `alembic` subprocess)."""
    course = course_mod.new_course(tmp_path / "course", source=FIXTURE_SOURCE)
    download = tmp_path / "dl"
    download.mkdir()
    shutil.copy(FIXTURE_SOURCE / "ps1" / "ps1.ipynb", download / "alice_ps1.ipynb")
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "collect", str(download), "--course", str(course)],
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "alice_ps1.ipynb -> submitted/alice/ps1/" in proc.stdout


def test_summary_in_a_log_prints_full_values(capsys):
    """The summary table written to a log or CI (not a terminal) cuts nothing."""
    from grader.cli.common import console as _console
    from grader.pipeline.autograde import AutogradeRun
    from grader.pipeline.results import GradeResult
    from grader.pipeline.summary import summary_tables

    results = [
        GradeResult(f"student{i}", a, "graded", score=s, max_score=m)
        for i in range(3)
        for a, s, m in [("01_partial_derivatives", 9.3, 12), ("05_backprop_W1", 10.4, 15)]
    ]
    run = AutogradeRun(results=results, graded=6, workers=2, seconds=440.2, gradebook_check="ok")
    console = _console()
    for table in summary_tables(run):
        console.print(table)
    out = capsys.readouterr().out
    assert "9.3/12" in out and "10.4/15" in out and "full marks" in out.replace("\n", " ")
    assert "…" not in out


def test_late_is_kept_in_students_grades_and_report(graded):
    """bob's Canvas file is `jonesbob_LATE_...`: the mark survives collect."""
    from grader.pipeline.lms import load_students
    from grader.pipeline.report import build_report

    root, _, _ = graded
    students = load_students(root)
    assert students[BOB].late == {"ps1"} and students[ALICE].late == set()
    got = rows(export(root, root / "late.csv"), "student_id")
    assert "ps1: late" in got[BOB]["notes"] and "late" not in got[ALICE]["notes"]
    page = build_report(root, root / "late-report").html.read_text(encoding="utf-8")
    late_section = page.split("<h2>Late submissions</h2>")[1].split("<h2>")[0]
    assert f"{BOB} (Jones, Bob)" in late_section and ALICE not in late_section


def test_report_counts_missing_submissions_as_grades_csv_does(graded):
    """tam and kim handed in nothing: grades.csv gives them 0, and the report says 3 of 5
    submitted, counts them as 0 in the mean (and says so) and lists them under attention."""
    from grader.pipeline.report import build_report

    root, _, _ = graded
    got = rows(export(root, root / "missing.csv"), "student_id")
    assert (got[TAM]["ps1"], got[KIM]["ps1"]) == ("0", "0")
    page = build_report(root, root / "missing-report").html.read_text(encoding="utf-8")
    scores = page.split("<h2>Scores</h2>")[1].split("<h2>")[0]
    assert "<th>mean (missing = 0)</th>" in scores and "as grades.csv does" in scores
    assert "<td>ps1</td><td>3 of 5</td><td>3.00</td>" in scores  # (6 + 3 + 6 + 0 + 0) / 5
    attention = page.split("<h2>Submissions that need attention</h2>")[1]
    for student in (TAM, KIM):
        assert f"{student}" in attention and "not submitted" in attention
    assert ALICE not in attention
    assert "<title>backprop-course class report: " in page


def test_resubmission_keeps_the_graded_notebook_aside(graded, tmp_path, capsys):
    """A later download's `jonesbob_LATE_23456_67899_ps1-1.ipynb` replaces bob's graded 3/6
    notebook: the graded one is kept in .grader/aside/ and the output says so."""
    root, _, _ = graded
    course = tmp_path / "course"
    shutil.copytree(root, course)
    graded_nb = (course / "submitted" / BOB / "ps1" / "ps1.ipynb").read_bytes()
    released = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
    later = tmp_path / "later.zip"
    with zipfile.ZipFile(later, "w") as zf:
        zf.writestr("jonesbob_LATE_23456_67899_ps1-1.ipynb", filled(released, "2 * x"))
    assert main(["collect", str(later), "--course", str(course), "--lms", "canvas"]) == 0
    out = capsys.readouterr().out
    assert "replaces the graded submission from " in out and "(3/6)" in out
    assert "1 set aside" in out
    (kept,) = (course / ".grader" / "aside" / BOB / "ps1").glob("replaced-*-ps1.ipynb")
    assert kept.read_bytes() == graded_nb
    assert (course / "submitted" / BOB / "ps1" / "ps1.ipynb").read_bytes() != graded_nb
    # the same download again: nothing replaced, nothing more set aside
    assert main(["collect", str(later), "--course", str(course), "--lms", "canvas"]) == 0
    assert "0 set aside" in capsys.readouterr().out
    assert len(list((course / ".grader" / "aside" / BOB / "ps1").iterdir())) == 1


def test_canvas_export_only_what_canvas_students_handed_in(tmp_path, capsys):
    """A course whose gradebook knows ps1 and ps2 (both released), Canvas's ps1 download
    graded, ps2 downloaded anonymously (`anon_...`): grades-canvas.csv has the ps1 column
    only, and nobody gets a 0 for ps2."""
    source = tmp_path / "source"
    shutil.copytree(FIXTURE_SOURCE, source)
    shutil.copytree(source / "ps1", source / "ps2")
    (source / "ps2" / "ps1.ipynb").rename(source / "ps2" / "ps2.ipynb")
    root = course_mod.new_course(tmp_path / "course", source=source)
    course_mod.generate_release(root, ["ps1", "ps2", "ps3"])  # ps3: no source, skipped
    released = nbformat.read(root / "release" / "ps1" / "ps1.ipynb", as_version=4)
    roster = tmp_path / "canvas_gradebook.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,ps1 (777),ps2 (778)\n"
        "    Points Possible,,,,,6.00,6.00\n"
        '"Smith, Alice",12345,S1,asmith,Sec 1,,\n'
        '"Nguyen, Tam",99999,S3,tnguyen,Sec 1,,\n',
        encoding="utf-8",
    )
    canvas = tmp_path / "ps1.zip"
    with zipfile.ZipFile(canvas, "w") as zf:
        zf.writestr("smithalice_12345_67890_ps1.ipynb", filled(released, "2 * x"))
    anonymous = tmp_path / "ps2.zip"
    with zipfile.ZipFile(anonymous, "w") as zf:
        zf.writestr("anon_x7k2q_555_ps2.ipynb", filled(released, "2 * x"))
    collect(canvas, course=root, lms="canvas", roster=roster)
    assert [r.score for r in autograde(root, "ps1", workers=1).results] == [6]
    # only 01 graded: grades.csv has no column of zeros for what nobody handed in
    generic = rows(export(root), "student_id")
    assert "ps2" not in generic[ALICE] and generic[ALICE]["ps1"] == "6"
    assert main(["export", "--course", str(root), "--format", "canvas"]) == 0
    out = capsys.readouterr().out
    assert "left out of grades-canvas.csv, no Canvas student handed them in: ps2" in out
    with (root / "grades-canvas.csv").open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0][5:] == ["ps1 (777)"]
    assert sorted(r[5] for r in table[2:]) == ["0", "6"]  # tam handed in nothing in ps1

    collect(anonymous, course=root, lms="canvas")
    assert main(["export", "--course", str(root), "--format", "canvas"]) == 0
    out = capsys.readouterr().out
    assert "ps2 left out of grades-canvas.csv: its Canvas download is anonymous" in out
    assert "SpeedGrader" in out
    with (root / "grades-canvas.csv").open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0][5:] == ["ps1 (777)"]
    assert "0" not in [c for r in table[2:] for c in r[6:]]


def test_release_in_a_course_folder_writes_that_course(tmp_path, monkeypatch, capsys):
    from grader.cli import COURSE_ENV

    root = course_mod.new_course(tmp_path / "course", source=FIXTURE_SOURCE).resolve()
    repo_release = course_mod.REPO_ROOT / "release"
    mtimes = {p: p.stat().st_mtime_ns for p in repo_release.rglob("*") if p.is_file()}
    monkeypatch.delenv(COURSE_ENV, raising=False)
    monkeypatch.chdir(root)
    assert main(["release"]) == 0
    out = capsys.readouterr().out
    assert f"{root / 'release' / 'ps1' / 'ps1'}.ipynb generated" in out
    assert (root / "release" / "ps1" / "ps1.ipynb").is_file()
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # the repository's untouched


def test_feedback_zips_named_for_each_lms_upload(graded, tmp_path, capsys):
    """`export --format moodle|canvas` puts the feedback pages in the zip each LMS's bulk
    feedback upload reads: Moodle's `{Full Name}_{participant id}_assignsubmission_file_/`
    folders, Canvas's `{name}_{user id}_{attachment id}_` re-upload names."""
    from grader.pipeline.feedback import feedback

    root, _, _ = graded
    report = feedback(root, "ps1")
    assert len(report.written) == 3
    out_dir = tmp_path / "out"
    assert (
        main(
            [
                "export",
                "--course",
                str(root),
                "--format",
                "moodle",
                "--output",
                str(out_dir / "grades.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Upload multiple feedback files in a zip" in out
    with zipfile.ZipFile(out_dir / "feedback-moodle-ps1.zip") as zf:
        assert zf.namelist() == ["Frank Miller_123456_assignsubmission_file_/ps1.html"]
        frank = zf.read(zf.namelist()[0])
    assert frank == (root / "feedback" / FRANK / "ps1" / "ps1.html").read_bytes()
    # Moodle's importer: explode('_', folder, 5): [name, participant id, plugin type, plugin]
    folder = "Frank Miller_123456_assignsubmission_file_".split("_", 4)
    assert folder[1] == "123456" and folder[2:4] == ["assignsubmission", "file"]
    assert (
        main(
            [
                "export",
                "--course",
                str(root),
                "--format",
                "canvas",
                "--output",
                str(out_dir / "grades.csv"),
            ]
        )
        == 0
    )
    assert "Re-Upload Submissions" in capsys.readouterr().out
    with zipfile.ZipFile(out_dir / "feedback-canvas-ps1.zip") as zf:
        names = sorted(zf.namelist())
    # the attachment ids of the download collect read (Canvas checks they are the user's)
    assert names == ["jonesbob_23456_67891_ps1.html", "smithalice_12345_67890_ps1.html"]


def test_summary_names_submissions_waiting_for_a_manual_grade(capsys):
    """A submission left for a person is in "needs attention", saying what to do."""
    from grader.cli.common import console as _console
    from grader.pipeline.autograde import AutogradeRun
    from grader.pipeline.results import GradeResult
    from grader.pipeline.summary import MANUAL_REASON, summary_tables

    results = [
        GradeResult("ada", "04_backprop_W2", "graded", score=9, max_score=9),
        GradeResult(
            "ben", "04_backprop_W2", "graded", score=7, max_score=9, needs_manual_grade=True
        ),
    ]
    run = AutogradeRun(results=results, graded=2, workers=1, seconds=3.0)
    console = _console()
    for table in summary_tables(run):
        console.print(table)
    out = capsys.readouterr().out.split("needs attention")[1]
    assert "ben" in out and "ada" not in out
    assert " ".join(out.split()).count("grade it in formgrader") == 1, out
    assert MANUAL_REASON.startswith("needs manual grading: grade it in formgrader")
