"""Grades an instructor can stand behind: scores given by hand survive every regrade, and the
same submission gets the same grade and the same flags every run.

One small class of 04_backprop_W2 (an honest student, a function that never returns, a
`while True` cell, a 100 MB print, a memory hog, and a student whose first submission is
caught by verification and who then resubmits honestly), graded three times with real
nbgrader and its real SQLite gradebook: our route, plain `nbgrader autograde --force` with
the course's nbgrader_config.py (the formgrader's button), our route with `--force` again.
Scores and a comment are given by hand between runs with nbgrader's API (what formgrader's
Save writes). Then every feedback page of both routes is searched for paths of the grading machine.
After each regrade the Canvas file is exported: a regrade of an unchanged notebook leaves a
score given by hand confirmed, a resubmission marks it for review again; formgrader's Save
on it (then one more regrade) makes it final.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from grader import course
from grader.pipeline.export import IncompleteGrades, export, export_canvas
from grader.pipeline.lms import StudentRecord, save_students
from grader.pipeline.results import class_results
from tests.attacks import (
    ASSIGNMENT,
    add_after,
    ast_transformer,
    honest_full,
    infinite_loop,
    memory_bomb,
    set_solution,
    student_copy,
)

pytestmark = pytest.mark.slow

#: The per-cell limit: short, so the looping student's hang costs seconds, not minutes, in each
#: of the fixture's gradings; long enough that an honest cell (the `setup` cell's imports) is
#: not stopped on a loaded machine: 3 s stopped it in every run of `benchmarks/flaky.py --runs 3
#: --parallel 3 --no-bwrap` (six suites side by side, load 20-40 on 2 cores). The notebook's
#: limit stays generous: this test is about the per-cell limit.
CELL_SECONDS = 20
CONFIG = f"c.Execute.timeout = {CELL_SECONDS}\nc.SandboxedExecute.notebook_timeout = 600\n"
#: Scores given by hand: (student, grade_id) -> score.
MANUAL = {
    ("honest", "hidden_test_grad_W2"): 1.5,  # the kernel and verification both say 2
    ("loop", "test_grad_W2"): 0.5,  # stopped by the time limit: 0 automatically
    ("resubmit", "hidden_test_grad_W2"): 1.0,  # verification says 0, the kernel said 2
}
COMMENT = "TA: half marks for the idea"
#: A comment given by hand on the first submission of the student who resubmits.
RESUBMIT_COMMENT = "TA: you rebuilt the checks instead of the gradient"
#: The students whose notebook is the same in every run.
SAME = ("honest", "loop", "big_print", "memory", "toploop")


def _grades(root: Path) -> dict[tuple[str, str], tuple]:
    """(student, grade_id) -> (auto_score, manual_score, score, needs_manual_grade)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(ASSIGNMENT).submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out[(sub.student_id, g.name)] = (
                        g.auto_score,
                        g.manual_score,
                        g.score,
                        g.needs_manual_grade,
                    )
    return out


def _records(root: Path) -> dict[str, dict]:
    """student -> its verification record (flags, notes, reason)."""
    return {
        p.parent.name: json.loads(p.read_text(encoding="utf-8"))
        for p in (root / ".grader" / "verified").glob(f"*/{ASSIGNMENT}.json")
    }


def _set_manual(root: Path, student: str, gid: str, score: float) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        gb.find_grade(gid, ASSIGNMENT, ASSIGNMENT, student).manual_score = score
        gb.db.commit()


@dataclass
class Runs:
    root: Path
    grades: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    plain_output: str = ""
    #: after each run: ("written", {student: grade}) or ("refused", [pending lines])
    canvas: list[tuple[str, object]] = field(default_factory=list)
    #: the export after formgrader's Save of the score, before the comment is edited
    comment_only: tuple[str, object] = ("", None)


#: The Canvas students (the others are left out of grades-canvas.csv).
CANVAS = {"honest": "1001", "loop": "1002", "resubmit": "1003"}


def _canvas(root: Path) -> tuple[str, object]:
    """Export grades-canvas.csv (never with --allow-incomplete): what it wrote or refused."""
    try:
        made = export_canvas(root)
    except IncompleteGrades as exc:
        return "refused", [p.line() for p in exc.pending]
    with made.paths[0].open(encoding="utf-8") as f:
        return "written", {r["Student"]: r[ASSIGNMENT] for r in csv.DictReader(f)}


def _submit(root: Path, student: str, nb: nbformat.NotebookNode) -> None:
    folder = root / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    from nbgrader.api import Gradebook

    from grader.pipeline.autograde import autograde

    root = course.new_course(tmp_path_factory.mktemp("manual") / "course")
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write("\n" + CONFIG)
    course.generate_release(root, [ASSIGNMENT])
    src = nbformat.read(root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    rel = nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    honest = honest_full(student_copy(src, rel))
    loop = honest_full(honest)
    set_solution(loop, "grad_W2", "def grad_W2(H, delta2):\n    while True:\n        pass\n")
    big = honest_full(honest)
    add_after(big, "hidden_test_output_delta", "print('x' * 100_000_000)\n")
    for student, nb in [
        ("honest", honest),
        ("loop", loop),
        ("big_print", big),
        ("memory", memory_bomb(honest)),
        ("toploop", infinite_loop(honest)),
        ("resubmit", ast_transformer(honest)),
    ]:
        _submit(root, student, nb)
    save_students(root, {s: StudentRecord(s, "canvas", uid, s) for s, uid in CANVAS.items()})
    out = Runs(root)

    def snapshot() -> None:
        out.grades.append(_grades(root))
        out.records.append(_records(root))
        out.canvas.append(_canvas(root))

    autograde(root, ASSIGNMENT, workers=2)
    snapshot()
    for (student, gid), score in MANUAL.items():
        _set_manual(root, student, gid, score)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        gb.find_comment("grad_W2", ASSIGNMENT, ASSIGNMENT, "loop").manual_comment = COMMENT
        gb.find_comment(
            "grad_W2", ASSIGNMENT, ASSIGNMENT, "resubmit"
        ).manual_comment = RESUBMIT_COMMENT
        gb.db.commit()
    proc = course.run_nbgrader(["autograde", ASSIGNMENT, "--force"], root, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out.plain_output = proc.stdout + proc.stderr
    snapshot()
    _submit(root, "resubmit", honest)  # the honest resubmission, after overrides
    autograde(root, ASSIGNMENT, workers=2, force=True)
    snapshot()
    # formgrader's Save of the resubmitted cell (its GradeHandler.put: the score, mark cleared),
    # then plain nbgrader regrades that student's unchanged notebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grade = gb.find_grade("hidden_test_grad_W2", ASSIGNMENT, ASSIGNMENT, "resubmit")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.db.commit()
    out.comment_only = _canvas(root)  # the comment for the first notebook is still there
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:  # formgrader: comment edited
        gb.find_comment("grad_W2", ASSIGNMENT, ASSIGNMENT, "resubmit").manual_comment = "TA: ok"
        gb.db.commit()
    proc = course.run_nbgrader(
        ["autograde", ASSIGNMENT, "--student", "resubmit", "--force"], root, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out.grades.append(_grades(root))
    out.canvas.append(_canvas(root))
    return out


def test_scores_and_comments_given_by_hand_survive_every_regrade(runs: Runs):
    """Plain nbgrader --force and ours --force: every manual score and comment stays."""
    from nbgrader.api import Gradebook

    for run in runs.grades[1:]:
        for key, score in MANUAL.items():
            assert run[key][1] == score and run[key][2] == score, (key, run[key])
    with Gradebook(f"sqlite:///{runs.root / 'gradebook.db'}") as gb:
        comment = gb.find_comment("grad_W2", ASSIGNMENT, ASSIGNMENT, "loop")
        assert comment.manual_comment == COMMENT
    # totals count the hand's score: the report's (class_results) and grades.csv's
    totals = {r.student: r.score for r in class_results(runs.root)}
    assert totals["honest"] == pytest.approx(9 - 2 + 1.5)
    cells = {k[1]: v[2] for k, v in runs.grades[-1].items() if k[0] == "loop"}
    assert totals["loop"] == pytest.approx(sum(cells.values()))
    rows = {r["student_id"]: r for r in csv.DictReader(export(runs.root).open())}
    assert float(rows["honest"][ASSIGNMENT]) == pytest.approx(8.5), rows["honest"]
    assert float(rows["loop"][ASSIGNMENT]) == pytest.approx(totals["loop"]), rows["loop"]


def test_a_regrade_keeps_a_hand_score_confirmed_until_the_notebook_changes(runs: Runs):
    """nbgrader marks every cell with a manual score for review on each autograde; the
    course clears the mark when the notebook is the one the score was given for."""
    unchanged = runs.grades[1]  # plain nbgrader --force, nothing resubmitted
    for key in MANUAL:
        assert unchanged[key][3] is False, (key, unchanged[key])
    state, rows = runs.canvas[1]
    assert state == "written" and rows.keys() >= CANVAS.keys(), runs.canvas[1]
    assert rows["honest"] == "8.5"  # 9 - 2 + the hand's 1.5
    for student in ("loop", "resubmit"):
        total = sum(v[2] for k, v in unchanged.items() if k[0] == student)
        assert float(rows[student]) == pytest.approx(total), (student, rows)
    # ours --force after an honest resubmission: only that student's hand score is in doubt
    after = runs.grades[2]
    assert after[("honest", "hidden_test_grad_W2")][3] is False
    assert after[("loop", "test_grad_W2")][3] is False
    assert after[("resubmit", "hidden_test_grad_W2")][3] is True
    assert after[("resubmit", "hidden_test_grad_W2")][1:3] == (1.0, 1.0)  # score untouched
    assert runs.canvas[2] == (
        "refused",
        [
            "resubmit: 04_backprop_W2: needs manual grading: resubmitted after a score given by "
            "hand (hidden_test_grad_W2): resubmitted after a comment given by hand (grad_W2)"
        ],
    ), runs.canvas[2]
    assert runs.records[2]["resubmit"]["notes"] == [
        "hidden_test_grad_W2: needs manual grading: resubmitted after a score given by hand",
        "grad_W2 (comment): needs manual grading: resubmitted after a comment given by hand",
    ], runs.records[2]["resubmit"]
    # the score saved again, the comment for the old notebook not yet edited: still named
    assert runs.comment_only == (
        "refused",
        [
            "resubmit: 04_backprop_W2: needs manual grading: resubmitted after a comment given by "
            "hand (grad_W2)"
        ],
    ), runs.comment_only
    # formgrader's Save on it, then a regrade of the unchanged notebook: it stays final
    final = runs.grades[3]
    assert final[("resubmit", "hidden_test_grad_W2")][1:] == (1.0, 1.0, False)
    state, rows = runs.canvas[3]
    assert state == "written", rows
    resub = sum(v[2] for k, v in final.items() if k[0] == "resubmit")
    assert float(rows["resubmit"]) == pytest.approx(resub) and rows["honest"] == "8.5"


def test_a_disagreement_with_a_hand_score_is_a_note_not_a_flag(runs: Runs):
    plain = runs.records[1]["resubmit"]
    assert not [f for f in plain["flags"] if "hidden_test_grad_W2" in f], plain["flags"]
    assert any(
        n.startswith("hidden_test_grad_W2: scored 1 of 2 by hand (kept)") for n in plain["notes"]
    ), {k: plain[k] for k in ("flags", "notes", "reason", "error", "seconds")}
    # the cells nobody scored by hand are still corrected and flagged, in plain words
    changed = [f for f in plain["flags"] if f.startswith("verdict changed: test_grad_W2 1 -> 0")]
    assert changed and "in the student's kernel" in changed[0], plain["flags"]
    assert "note: hidden_test_grad_W2" in runs.plain_output  # said on nbgrader's terminal


def test_same_submission_same_grades_and_flags_every_run(runs: Runs):
    for student in SAME:
        flags = [run[student]["flags"] for run in runs.records]
        reasons = [run[student]["reason"] for run in runs.records]
        assert flags[0] == flags[1] == flags[2], (student, flags)
        assert reasons[0] == reasons[1] == reasons[2], (student, reasons)
        assert not [f for f in flags[0] if "verdict changed" in f], (student, flags[0])
        auto = [{k: v[0] for k, v in run.items() if k[0] == student} for run in runs.grades]
        assert auto[0] == auto[1] == auto[2], (student, auto)
    loop = runs.records[0]["loop"]
    assert loop["reason"] == "test_grad_W2: ran past the per-cell time limit", loop
    big = runs.records[0]["big_print"]["flags"]
    assert big == ["broken: cell 13: output cut (99900001 bytes over the cap)"], big
    top = runs.grades[0]
    assert all(v[0] == top[("honest", k[1])][0] for k, v in top.items() if k[0] == "toploop")
    # the honest resubmission after overrides: no flag left from the first submission
    final = runs.records[2]["resubmit"]
    assert final["flags"] == [], final  # its note: the hand score needs review (test above)
    first = runs.records[0]["resubmit"]["flags"]
    assert any(f.startswith("verdict changed: hidden_test_grad_W2 2 -> 0") for f in first)


def test_verification_does_not_run_a_function_that_timed_out_again(runs: Runs, tmp_path):
    """The loop student's graded notebook verified with a 60 s limit per cell and per call:
    the function the kernel stopped (`RunInfo.hung`) raises at once, and the cell a limit
    stopped gets `SHORT_CELL` seconds; without both this takes 60 s or more."""
    import time

    from grader.sandbox.plan import Limits
    from grader.verify import launch
    from grader.verify.cells import limit_stopped

    graded = runs.root / "autograded" / "loop" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(graded, as_version=4)
    start = time.monotonic()
    run = launch.verify_notebook(
        nb,
        graded.parent,
        ["output_delta", "grad_W2", "grad_b2"],
        limits=Limits(),
        course=runs.root,
        mode="auto",
        cell_timeout=60,
        stopped_cells=[i for i, kind in limit_stopped(nb).items() if kind != "not run"],
        hung=["grad_W2"],
    )
    seconds = time.monotonic() - start
    assert seconds < 60, seconds
    verdict = run.verdicts["grad_W2"]
    assert (verdict.visible, verdict.hidden) == (False, False)
    assert "grad_W2 did not finish within the time limit" in verdict.message, verdict
    assert run.verdicts["output_delta"].visible and run.verdicts["grad_b2"].hidden


@pytest.mark.parametrize("route", ["plain", "ours"])
def test_feedback_pages_show_no_paths_of_the_grading_machine(runs: Runs, route: str):
    import backprop_checks

    import grader
    from grader.pipeline.feedback import feedback

    if route == "plain":
        proc = course.run_nbgrader(
            ["generate_feedback", ASSIGNMENT, "--force"], runs.root, check=False
        )
        assert proc.returncode == 0, proc.stderr
    else:
        assert not feedback(runs.root, ASSIGNMENT, workers=1).leaks
    machine = [
        "site-packages",
        "grader/",
        "backprop_checks/",
        "/tmp/backprop-sandbox",
        str(runs.root),
        str(Path(grader.__file__).resolve().parent.parent),
        str(Path(backprop_checks.__file__).resolve().parent),
    ]
    for student in (*SAME, "resubmit"):
        page = runs.root / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        text = page.read_text(encoding="utf-8")
        assert [m for m in machine if m in text] == [], (route, student)
    loop = (runs.root / "feedback" / "loop" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert f"ran longer than the {CELL_SECONDS} s time limit and was stopped" in loop
