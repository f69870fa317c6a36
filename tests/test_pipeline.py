"""The instructor pipeline end to end: real nbgrader, real kernels, a tiny fixture assignment.

One class is collected and graded once (module fixture) and shared by the tests below:
alice is right, bob flips a sign ([M3]), carol doubles ([M4]), dave leaves the stubs,
eve's notebook is not JSON, frank's code kills the kernel.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader import course as course_mod
from grader.cli import main
from grader.config import db_url
from grader.learner.selfcheck import selfcheck
from grader.pipeline.autograde import autograde, is_done
from grader.pipeline.collect import collect, place
from grader.pipeline.export import export
from grader.pipeline.feedback import feedback, page_text
from grader.pipeline.report import build_report, misconception_counts
from grader.pipeline.results import load_results

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "course" / "source"
EXPECTED = {"alice": 6, "bob": 3, "carol": 3, "dave": 0, "eve": 0, "frank": 0}


def student_notebook(released: nbformat.NotebookNode, double: str | None, square: str | None):
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        if cell.id == "double" and double:
            cell.source = f"def double(x):\n    return {double}"
        if cell.id == "square" and square:
            cell.source = f"def square(x):\n    return {square}"
    return nbformat.writes(nb)


def scores(course: Path) -> dict[tuple[str, str], float]:
    """(student, grade cell) -> score, straight from the gradebook."""
    with Gradebook(db_url(course)) as gb:
        out = {}
        for student in gb.students:
            try:
                sub = gb.find_submission_notebook("ps1", "ps1", student.id)
            except Exception:
                continue
            for grade in sub.grades:
                out[(student.id, grade.name)] = float(grade.score or 0)
        return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course with the class collected from a zip and autograded by 2 workers."""
    tmp = tmp_path_factory.mktemp("pipeline")
    root = course_mod.new_course(tmp / "course", source=FIXTURE_SOURCE)
    course_mod.generate_release(root, ["ps1"])
    released = nbformat.read(root / "release" / "ps1" / "ps1.ipynb", as_version=4)
    download = tmp / "download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.writestr("alice_ps1.ipynb", student_notebook(released, "2 * x", "x * x"))
        zf.writestr("bob/ps1.ipynb", student_notebook(released, "-2 * x", "x * x"))
        zf.writestr("carol_ps1-2.ipynb", student_notebook(released, "2 * x", "2 * x * x"))
        zf.writestr("carol_ps1-1.ipynb", student_notebook(released, None, None))  # older
        zf.writestr("dave_ps1.ipynb", student_notebook(released, None, None))
        zf.writestr("eve_ps1.ipynb", '{"cells": [')  # cut off: not JSON
        zf.writestr(
            "frank_ps1.ipynb", student_notebook(released, "__import__('os')._exit(1)", None)
        )
        zf.writestr("notes.txt", "not a notebook")
        zf.writestr("ps1.ipynb", student_notebook(released, None, None))  # whose?
    # The sequential reference: the same class graded by plain `nbgrader autograde`.
    reference = tmp / "reference"
    report = collect(download, course=root)
    shutil.copytree(root, reference)
    (reference / "nbgrader_config.py").write_text(
        (root / "nbgrader_config.py").read_text()  # it roots itself at its own folder
    )
    run = autograde(root, workers=2)
    return root, reference, report, run


def test_collect_places_lms_names_and_reports_the_rest(graded):
    root, _, report, _ = graded
    placed = {(p.student, p.assignment): p.source for p in report.placed}
    assert placed == {
        ("alice", "ps1"): "alice_ps1.ipynb",
        ("bob", "ps1"): "bob/ps1.ipynb",
        ("carol", "ps1"): "carol_ps1-2.ipynb",
        ("dave", "ps1"): "dave_ps1.ipynb",
        ("eve", "ps1"): "eve_ps1.ipynb",
        ("frank", "ps1"): "frank_ps1.ipynb",
    }
    problems = {u.source: u.reason for u in report.problems}
    assert problems["notes.txt"] == "not a notebook (.ipynb)"
    assert "superseded by carol_ps1-2.ipynb" in problems["carol_ps1-1.ipynb"]
    assert "no student id" in problems["ps1.ipynb"]
    assert (root / "submitted" / "bob" / "ps1" / "ps1.ipynb").is_file()
    with Gradebook(db_url(root)) as gb:
        assert sorted(s.id for s in gb.students) == sorted(EXPECTED)


@pytest.mark.parametrize(
    "relpath, expected",
    [
        ("alice_04_backprop_W2.ipynb", ("alice", "04_backprop_W2", 0)),
        ("mary_ann_04_backprop_W2-3.ipynb", ("mary_ann", "04_backprop_W2", 3)),
        ("dl/alice/04_backprop_W2.ipynb", ("alice", "04_backprop_W2", 0)),
        ("alice/04_backprop_W2/04_backprop_W2.ipynb", ("alice", "04_backprop_W2", 0)),
        ("alice_homework.ipynb", "the name names no assignment"),
        ("alice_04_backprop_W2.py", "not a notebook"),
    ],
)
def test_place_accepts_the_documented_patterns(relpath, expected):
    got = place(relpath, list(course_mod.ASSIGNMENTS))
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert isinstance(got, str) and got.startswith(expected)


def test_parallel_scores_equal_plain_sequential_nbgrader(graded):
    root, reference, _, run = graded
    assert {r.student: r.score for r in run.results} == EXPECTED
    # plain nbgrader exits 1 because of eve and frank; it grades the others
    course_mod.run_nbgrader(["autograde", "ps1"], reference, check=False)
    ours, theirs = scores(root), scores(reference)
    honest = {k: v for k, v in theirs.items() if k[0] not in ("eve", "frank")}
    assert len(honest) == 16
    assert {k: ours[k] for k in honest} == honest
    assert run.gradebook_check == "ok"
    with sqlite3.connect(root / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_broken_submissions_are_reported_and_scored_zero(graded):
    root, _, _, run = graded
    by = {r.student: r for r in run.results}
    assert by["eve"].status == "failed" and "JSON" in by["eve"].reason
    # plain nbgrader fails the whole submission when the kernel dies; a sandboxed Execute
    # (grader.pipeline.hooks) turns it into an error in that cell: either way 0 and a reason
    assert by["frank"].score == 0 and "kernel" in by["frank"].reason
    assert by["eve"].needs_manual_grade
    assert all(by[s].status == "graded" for s in ("alice", "bob", "carol", "dave"))
    bob = {c.grade_id: c for c in by["bob"].cells}
    assert bob["test_double"].tags == ["M3"] and not bob["test_double"].passed
    assert "sign flip" in bob["hidden_test_double"].message
    assert bob["test_square"].passed and bob["test_square"].tags == []


def test_rerun_skips_graded_and_resumes_an_interrupted_run(graded):
    root, _, _, _ = graded
    before = scores(root)
    # an interrupted run: carol's autograded notebook never got written
    (root / "autograded" / "carol" / "ps1" / "ps1.ipynb").unlink()
    again = autograde(root, workers=2)
    # carol resumes; what has no autograded notebook (eve's, not JSON) is retried
    retried = {f"{s}/ps1" for s in EXPECTED if not (root / "autograded" / s / "ps1").is_dir()}
    assert again.fresh == {"carol/ps1", "eve/ps1"} | retried
    assert again.skipped == len(EXPECTED) - len(again.fresh)
    assert scores(root) == before
    forced = autograde(root, workers=2, force=True, students=["alice", "bob"])
    assert forced.graded == 2 and scores(root) == before


def test_export_csv_has_the_right_totals(graded):
    root, _, _, _ = graded
    rows = {r["student_id"]: r for r in csv.DictReader(export(root).open())}
    assert {s: float(r["total"]) for s, r in rows.items()} == EXPECTED
    assert {float(r["ps1"]) for r in rows.values()} == set(map(float, EXPECTED.values()))
    assert rows["alice"]["max_total"] == "6"
    assert rows["eve"]["needs_manual_grade"] == "yes" and "JSON" in rows["eve"]["notes"]
    assert rows["alice"]["needs_manual_grade"] == ""


def test_feedback_hides_hidden_tests(graded):
    root, _, _, _ = graded
    report = feedback(root)
    assert report.leaks == []
    written = {p.parts[-3] for p in report.written}
    assert written >= {"alice", "bob", "carol", "dave"}
    assert "eve" not in written and "eve" in {m[0] for m in report.missing}
    bob = page_text(root / "feedback" / "bob" / "ps1" / "ps1.html")
    assert "[M3] sign flip" in bob  # the message stays
    assert "for x in (0, 5, -7):" not in bob  # the hidden test's code does not


def test_report_writes_html_and_plots(graded):
    root, _, _, run = graded
    out = build_report(root)
    page = out.html.read_text()
    names = [p.name for p in out.plots]
    assert names == ["scores.png", "test_pass_rates.png", "misconceptions.png"]
    for plot in out.plots:
        assert plot.stat().st_size > 5000 and plot.read_bytes()[:4] == b"\x89PNG"
        assert plot.name in page
    assert "eve" in page and "JSON" in page
    counts = misconception_counts(run.results)
    assert counts["M3"][0] == 1 and counts["M4"][0] == 1 and counts["M1"][0] == 0


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed")
def test_feedback_page_and_report_pass_axe_core_wcag_21_aa(graded):
    """bob's feedback page opens with a summary that names his mistake and links to its test,
    and it and the class report have no axe-core WCAG 2.1 A/AA violation in Chromium."""
    from playwright.sync_api import sync_playwright

    from tests.browser_tools import CHROMIUM_ARGS, axe_violations, chromium_path

    root, _, _, _ = graded
    page_path = root / "feedback" / "bob" / "ps1" / "ps1.html"
    if not page_path.exists():
        feedback(root, "ps1")
    report = build_report(root).html
    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            for path in (page_path, report):
                page = browser.new_page()
                page.goto(path.as_uri())
                if path == page_path:
                    summary = page.locator("li").filter(has_text="[M3]").first
                    assert summary.locator("a").get_attribute("href") == "#test_double"
                    assert page.locator("h1", has_text="Summary: 3 of 6 points").count() == 1
                found[path.name] = axe_violations(page)
                page.close()
        finally:
            browser.close()
    assert found == {"ps1.html": [], "index.html": []}, found


def test_selfcheck_scores_and_leaves_the_file_alone(graded, tmp_path, capsys):
    root, _, _, _ = graded
    # exit 0 at full marks, 1 below them (scripts and CI can use it)
    for student, total, code in [("alice", "6 / 6", 0), ("bob", "3 / 6", 1)]:
        mine = tmp_path / student / "ps1.ipynb"
        mine.parent.mkdir()
        shutil.copy(root / "submitted" / student / "ps1" / "ps1.ipynb", mine)
        before = hashlib.sha256(mine.read_bytes()).hexdigest()
        assert main(["selfcheck", str(mine), "--source", str(FIXTURE_SOURCE)]) == code
        out = capsys.readouterr().out
        assert f"Total: {total}" in out
        # one line before the run, so a learner knows it is running and for how long at most
        assert out.startswith("running your notebook ps1.ipynb in a fresh kernel, up to "), out
        assert hashlib.sha256(mine.read_bytes()).hexdigest() == before
        assert list(mine.parent.iterdir()) == [mine]
    assert "[M3] sign flip" in out


def test_selfcheck_restores_edited_tests(graded, tmp_path):
    root, _, _, _ = graded
    nb = nbformat.read(root / "submitted" / "bob" / "ps1" / "ps1.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.id == "test_double":
            cell.source = "pass  # the test is gone"
    path = tmp_path / "ps1.ipynb"
    nbformat.write(nb, path)
    assert selfcheck(path, source_dir=FIXTURE_SOURCE).score == 3


def test_cli_autograde_prints_a_summary(graded, capsys):
    root, _, _, _ = graded
    assert main(["autograde", "ps1", "--course", str(root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "already graded: skipped" in out
    assert "needs attention" in out and "eve" in out


def test_interrupted_run_resumes(graded, tmp_path):
    """Ctrl-C in the middle of `autograde`: exit 130, finished grades kept, the rerun
    grades only the rest, and the scores are those of an uninterrupted run."""
    root, _, _, _ = graded
    course = course_mod.new_course(tmp_path / "course", source=FIXTURE_SOURCE)
    shutil.copy(root / "gradebook.db", course / "gradebook.db")  # ps1 already released
    for i in range(8):
        src = root / "submitted" / ("alice" if i % 2 else "bob") / "ps1"
        shutil.copytree(src, course / "submitted" / f"s{i}" / "ps1")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "grader", "autograde", "--course", str(course), "--workers", "2"]
    cmd.append("--force")  # the resume command it prints must not regrade what finished
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # A first result (the deadline is a margin for a loaded machine, not an expected time:
    # 8 submissions on 2 workers never all finish before the first is recorded).
    deadline = time.monotonic() + 600
    while not load_results(course) and time.monotonic() < deadline:
        assert proc.poll() is None, f"autograde ended unasked:\n{proc.stdout.read()}"
        time.sleep(0.2)  # polling a file, not waiting for a duration
    assert load_results(course), "no submission was graded in 600 s"
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    resume = f"backprop-grader autograde --course {course} --workers 2"
    assert resume in out and f"{resume} --force" not in out, out
    recorded = load_results(course)
    done_first = {s for s in (f"s{i}" for i in range(8)) if is_done(course, s, "ps1", recorded)}
    assert 1 <= len(done_first) < 8
    rerun = autograde(course, workers=2)
    assert rerun.skipped == len(done_first)
    assert {r.student: r.score for r in rerun.results} == {
        f"s{i}": (6.0 if i % 2 else 3.0) for i in range(8)
    }


def test_bad_input_gets_one_clear_line(graded, tmp_path, capsys):
    root, _, _, _ = graded
    assert main(["autograde", "09_nope", "--course", str(root)]) == 2
    assert "no assignment '09_nope'" in capsys.readouterr().err
    assert main(["collect", str(tmp_path / "missing.zip"), "--course", str(root)]) == 2
    assert "missing.zip: no such file or folder" in capsys.readouterr().err
    assert main(["export", "--course", str(tmp_path)]) == 2
    assert "not a course directory" in capsys.readouterr().err
