"""`collect` never exits 0 having placed nothing, unpacks zips inside the download, and names
a file that is not a zip for what it is (no kernel; a real course, and a real nbgrader
gradebook where something is placed: that test is slow, nbgrader runs `alembic` to open it)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from grader import course as course_mod
from grader.cli import main
from grader.pipeline.download import NESTED_ZIP_DEPTH, read_download, what_it_is
from grader.pipeline.lms import StudentRecord, is_test_student, load_students

FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "course" / "source"
#: a notebook of the fixture assignment ps1 as a student hands it in (its cells' ids)
NOTEBOOK = (FIXTURE_SOURCE / "ps1" / "ps1.ipynb").read_bytes()


def zipped(files: dict[str, bytes]) -> bytes:
    """A zip of files, the same bytes every time (a fixed date: pytest-xdist's workers each
    collect the parameters below, and must get the same test ids)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


@pytest.fixture
def course(tmp_path):
    return course_mod.new_course(tmp_path / "course", source=FIXTURE_SOURCE)


LOGIN_PAGE = (
    b"\n<!DOCTYPE html>\n<html lang='en'><head><title>\n  Log In | Canvas LMS\n</title></head>"
    b"<body><form action='/login'>...</form></body></html>"
)


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (
            LOGIN_PAGE,
            'this is an HTML page (titled "Log In | Canvas LMS"), probably a login '
            "or error page saved instead of the download",
        ),
        (b"", "it is empty (0 bytes): the download did not finish"),
        (zipped({"a.ipynb": NOTEBOOK})[:200], "begins as a zip does but is cut off"),
        (b"\x1f\x8b\x08\x00rest", "a gzip archive (.gz, .tar.gz), not a zip"),
        (b"7z\xbc\xaf\x27\x1crest", "a 7-Zip archive"),
        (b"Rar!\x1a\x07\x00", "a RAR archive"),
        (b"%PDF-1.7\n", "a PDF document"),
        (NOTEBOOK, "a single notebook, not a zip: put it in a folder"),
        (b'{"a": 1}', "a JSON file, not a zip"),
        (b"Student,ID\nSmith,1\n", "a text file, not a zip (it begins: 'Student,ID')"),
        (b"\x00\x01\x02\x03binary", "not a zip (it begins with the bytes 00 01 02 03"),
    ],
)
def test_what_a_file_that_is_not_a_zip_is(head, said):
    assert said in what_it_is(head)


def test_zips_inside_the_download_are_unpacked_into_folders(tmp_path):
    student_zip = zipped({"ps1.ipynb": NOTEBOOK, "__MACOSX/._ps1.ipynb": b"fork"})
    again = zipped(
        {
            "smithalice_12345_67890_ps1.ipynb": NOTEBOOK,
            "jonesbob_23456_67891_work.zip": student_zip,
            "fake.zip": LOGIN_PAGE,
        }
    )
    deep = zipped({"x.ipynb": NOTEBOOK})
    for _ in range(NESTED_ZIP_DEPTH):
        deep = zipped({"d.zip": deep})
    outer = tmp_path / "download.zip"
    outer.write_bytes(zipped({"submissions.zip": again, "deep.zip": deep}))
    got = read_download(outer)
    paths = [p for p, _ in got.files]
    assert "submissions/smithalice_12345_67890_ps1.ipynb" in paths
    assert "submissions/jonesbob_23456_67891_work/ps1.ipynb" in paths  # a student's own zip
    assert not any("__MACOSX" in p for p in paths)
    assert "unpacked the zip inside it, submissions.zip (3 files)" in got.notes
    assert "HTML page" in got.not_zips["submissions/fake.zip"]
    left = [n for n in got.notes if "left packed" in n]
    assert len(left) == 1 and left[0].startswith("deep/d/d/d.zip: a zip 4 levels deep")


def test_test_student_is_canvas_s_own_account():
    def canvas(name: str) -> StudentRecord:
        return StudentRecord("x", "canvas", "1", name)

    assert is_test_student(canvas("Student, Test"))  # the gradebook export's sortable name
    assert is_test_student(canvas("studenttest"))  # the download's squashed name
    assert is_test_student(canvas("Test Student"))
    assert not is_test_student(canvas("Student, Tess"))
    assert not is_test_student(StudentRecord("x", "moodle", "1", "Student, Test"))
    assert not is_test_student(None)


def test_collect_that_places_nothing_exits_1_and_says_why(course, tmp_path, capsys):
    moodle = tmp_path / "moodle.zip"
    moodle.write_bytes(zipped({"Frank Miller_123456_assignsubmission_file_/ps1.ipynb": NOTEBOOK}))
    assert main(["collect", str(moodle), "--course", str(course), "--lms", "canvas"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"backprop-grader collect: placed no notebook from {moodle}: its notebooks are named "
        "as Moodle names them, not as Canvas does: run collect again with --lms moodle"
    )
    papers = tmp_path / "papers.zip"
    papers.write_bytes(zipped({"essay.pdf": b"%PDF-1.7", "notes.txt": b"hi"}))
    assert main(["collect", str(papers), "--course", str(course)]) == 1
    assert "it holds no notebook (.ipynb), only 2 other files" in capsys.readouterr().err
    unnamed = tmp_path / "unnamed"
    unnamed.mkdir()
    (unnamed / "homework.ipynb").write_text("{}")
    assert main(["collect", str(unnamed), "--course", str(course)]) == 1
    assert "none of its 1 notebooks could be placed" in capsys.readouterr().err
    assert not (course / "submitted").exists() and not (course / "students.csv").exists()


def test_a_login_page_saved_as_zip_is_named_as_such(course, tmp_path, capsys):
    page = tmp_path / "submissions.zip"
    page.write_bytes(LOGIN_PAGE)
    assert main(["collect", str(page), "--course", str(course)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"backprop-grader collect: {page} is not a zip file: this is an HTML page (titled "
        '"Log In | Canvas LMS"), probably a login or error page saved instead of the download'
    )
    assert main(["collect", str(tmp_path / "nowhere.zip"), "--course", str(course)]) == 2
    assert "no such file or folder" in capsys.readouterr().err


@pytest.mark.slow  # nbgrader's Gradebook starts `alembic` each time it opens
def test_a_zip_inside_the_download_is_collected(course, tmp_path, capsys):
    """The Canvas download zipped again, holding one student's own zip of their notebook."""
    own = zipped({"ps1.ipynb": NOTEBOOK})
    canvas = zipped(
        {"smithalice_12345_67890_ps1.ipynb": NOTEBOOK, "jonesbob_LATE_23456_67891_my work.zip": own}
    )
    outer = tmp_path / "all.zip"
    outer.write_bytes(zipped({"submissions.zip": canvas}))
    assert main(["collect", str(outer), "--course", str(course)]) == 0
    out = capsys.readouterr().out
    assert "unpacked the zip inside it, submissions.zip (2 files)" in out
    assert "(canvas naming)" in out
    for student in ("smithalice-12345", "jonesbob-23456"):
        placed = course / "submitted" / student / "ps1" / "ps1.ipynb"
        assert placed.read_bytes() == NOTEBOOK
    bob = load_students(course)["jonesbob-23456"]
    assert bob.lms_id == "23456" and bob.late == {"ps1"} and bob.attachment_ids == {"ps1": "67891"}
