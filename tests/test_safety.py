"""Every grading route is safe: plain nbgrader, one hard time limit, safe feedback pages.

Real nbgrader commands (`nbgrader autograde`, `nbgrader generate_feedback`, what the
formgrader's buttons run), real sandboxed kernels, real verification, real chromium.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader import course
from grader.config import course_config
from grader.pipeline import hooks
from grader.pipeline.export import export
from grader.pipeline.feedback import FEEDBACK_PREPROCESSORS, hidden_lines, math_to_mathml
from grader.pipeline.report import build_report
from grader.pipeline.verified import current_record, unverified_reason
from grader.sandbox import VERIFIES_GRADES
from grader.sandbox.plan import bwrap_status
from tests.attacks import ASSIGNMENT, student_copy

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "course" / "source"
BWRAP = bwrap_status().usable

#: All three functions wrong, every check replaced by one that passes, a file written
#: into the course folder and the instructor's source notebook read and printed.
ATTACK = """def output_delta(Y_hat, Y):
    return (Y - Y_hat) * Y_hat * (1.0 - Y_hat)


def grad_W2(H, delta2):
    return (H.T @ delta2).T


def grad_b2(delta2):
    return delta2


import os
import backprop_checks.checks as _gc

for _name in dir(_gc):
    if _name.startswith("check"):
        setattr(_gc, _name, lambda *a, **k: print("right on every case."))
_root = os.path.abspath(os.path.join(os.getcwd(), "..", "..", ".."))
try:
    with open(os.path.join(_root, "pwned.txt"), "w") as _f:
        _f.write("written by a student")
    print("WROTE INTO THE COURSE")
except OSError as _e:
    print("write failed:", type(_e).__name__)
try:
    _src = os.path.join(_root, "source", "04_backprop_W2", "04_backprop_W2.ipynb")
    print("SOURCE:", open(_src).read())
except OSError as _e:
    print("read failed:", type(_e).__name__)
"""


def _gid(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _course(tmp: Path, assignment: str, extra: str = "", source: Path | None = None) -> Path:
    root = course.new_course(tmp / "course", source=source)
    if extra:
        with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
            f.write("\n" + extra + "\n")
    course.generate_release(root, [assignment])
    return root


def _honest(root: Path, assignment: str) -> nbformat.NotebookNode:
    src = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    rel = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    return student_copy(src, rel)


def _submit(root: Path, student: str, assignment: str, nb: nbformat.NotebookNode) -> None:
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def _scores(root: Path, student: str, assignment: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: float(g.score or 0) for g in nb.grades}


def _outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])


# --------------------------------------------------------------------------- the wiring


def test_nbgrader_config_registers_the_course_route():
    """nbgrader_config.py itself (what plain nbgrader and the formgrader read) registers the
    sandboxed Execute, the verification hook and the feedback preprocessors: the same
    lists `backprop-grader` uses, each importable."""
    import importlib

    assert getattr(hooks.post_convert, VERIFIES_GRADES) is True  # SandboxedExecute asks for it
    config = course_config(course.REPO_ROOT)
    assert list(config.Autograde.autograde_preprocessors) == hooks.AUTOGRADE_PREPROCESSORS
    assert config.Autograde.post_convert_hook == hooks.POST_CONVERT_HOOK
    assert list(config.GenerateFeedback.preprocessors) == FEEDBACK_PREPROCESSORS
    for dotted in [
        *hooks.AUTOGRADE_PREPROCESSORS,
        hooks.POST_CONVERT_HOOK,
        *FEEDBACK_PREPROCESSORS,
    ]:
        module, name = dotted.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), dotted


def test_math_becomes_mathml_and_code_is_left_alone():
    md = (
        "The slope $\\sigma'(z) = \\sigma(z)(1-\\sigma(z))$ and\n"
        "$$\\frac{\\partial L}{\\partial W}$$ but `$HOME` costs $5."
    )
    out = math_to_mathml(md)
    assert out.count("<math") == 2 and 'display="block"' in out
    assert "`$HOME`" in out and "costs $5." in out


# --------------------------------------------------------------------------- plain nbgrader


@dataclass
class Plain:
    root: Path
    output: str


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Plain:
    """A class graded by plain `nbgrader autograde` (the formgrader button's route)."""
    root = _course(tmp_path_factory.mktemp("plain"), ASSIGNMENT, "c.Execute.timeout = 20")
    honest = _honest(root, ASSIGNMENT)
    _submit(root, "honest", ASSIGNMENT, honest)
    attack = nbformat.from_dict(json.loads(json.dumps(honest)))
    for cell in attack.cells:
        if _gid(cell) in ("output_delta", "grad_W2", "grad_b2"):
            cell.source = ATTACK if _gid(cell) == "output_delta" else "pass"
    _submit(root, "attacker", ASSIGNMENT, attack)
    proc = course.run_nbgrader(["autograde", ASSIGNMENT], root, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Plain(root, proc.stdout + proc.stderr)


def test_plain_nbgrader_autograde_sandboxes_and_verifies(plain: Plain):
    """The attack got 9/9 under nbgrader's own Execute: here it gets 0, is flagged, and
    (with bubblewrap) neither writes into the course nor reads source/."""
    attacker = _scores(plain.root, "attacker", ASSIGNMENT)
    assert attacker and all(v == 0 for v in attacker.values()), attacker
    assert sum(_scores(plain.root, "honest", ASSIGNMENT).values()) == 9
    record = current_record(plain.root, "attacker", ASSIGNMENT)
    assert record is not None and record.kernel == "" and record.error == ""
    assert any(f.startswith("verdict changed") for f in record.flags), record.flags
    assert "verdict changed" in plain.output  # said on nbgrader's own terminal
    honest = current_record(plain.root, "honest", ASSIGNMENT)
    assert honest is not None and honest.flags == []
    graded = plain.root / "autograded" / "attacker" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    text = _outputs_text(graded)
    if not BWRAP:
        assert "SANDBOX OFF" in plain.output and honest.sandbox
        pytest.skip("bubblewrap cannot run here: the course folder is not hidden (said loudly)")
    assert honest.sandbox == ""
    # the write lands in the empty tmpfs that hides the course, and vanishes with it
    assert not (plain.root / "pwned.txt").exists()
    assert "read failed" in text and "SOURCE:" not in text
    assert "BEGIN HIDDEN TESTS" not in text


def test_export_and_report_carry_what_plain_nbgrader_found(plain: Plain):
    rows = {r["student_id"]: r for r in csv.DictReader(export(plain.root).open())}
    assert rows["attacker"]["total"] == "0" and "flagged: " in rows["attacker"]["notes"]
    assert rows["honest"]["total"] == "9" and "flagged" not in rows["honest"]["notes"]
    page = build_report(plain.root).html.read_text(encoding="utf-8")
    assert "verdict changed" in page  # the report lists what verification found
    assert ("SANDBOX OFF" in page) is (not BWRAP)
    assert rows["honest"]["grading_checks"] == (
        "" if BWRAP else f"{ASSIGNMENT}: graded without the sandbox"
    )


def test_plain_generate_feedback_hides_hidden_tests_and_grader_paths(plain: Plain):
    proc = course.run_nbgrader(["generate_feedback", ASSIGNMENT], plain.root, check=False)
    assert proc.returncode == 0, proc.stderr
    import grader

    secret = hidden_lines(plain.root, ASSIGNMENT)
    machine = [str(Path(grader.__file__).resolve().parent), sys.prefix, str(plain.root)]
    for student in ("honest", "attacker"):
        page = plain.root / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        text = page.read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in text and "hidden=True" not in text
        assert [s for s in secret if s in text] == []
        assert [m for m in machine if m in text] == [], student
        assert "<math" in text and "\\frac" not in text  # math is MathML, not raw LaTeX
    attacker = (
        plain.root / "feedback" / "attacker" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    ).read_text()
    assert "grad_W2" in attacker and "Error" in attacker  # the failures are still explained


# --------------------------------------------------------------------------- unsafe route


def test_grades_written_without_verification_are_flagged(tmp_path: Path):
    """A route without the course's hook (here: nbgrader told to drop it) leaves grades
    without a verification record: export and report say so, and regrading clears it."""
    from grader.pipeline.autograde import autograde

    root = _course(tmp_path, "ps1", source=FIXTURE_SOURCE)
    released = nbformat.read(root / "release" / "ps1" / "ps1.ipynb", as_version=4)
    _submit(root, "alice", "ps1", released)
    proc = course.run_nbgrader(
        ["autograde", "ps1", "--Autograde.post_convert_hook=None"], root, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "!!! NOT VERIFIED: this nbgrader configuration has no" in proc.stderr
    assert unverified_reason(root, "alice", "ps1").startswith("NOT VERIFIED")
    rows = list(csv.DictReader(export(root).open()))
    assert rows[0]["grading_checks"] == "ps1: NOT VERIFIED" and "NOT VERIFIED" in rows[0]["notes"]
    page = build_report(root).html.read_text(encoding="utf-8")
    assert "did not go through the course's verification" in page
    assert "alice / ps1: NOT VERIFIED" in page
    autograde(root, "ps1", workers=1, force=True)
    assert unverified_reason(root, "alice", "ps1") == ""
    assert list(csv.DictReader(export(root).open()))[0]["grading_checks"] in (
        "",
        "ps1: graded without the sandbox",
    )


# --------------------------------------------------------------------------- one time limit

#: The per-cell limit is what the test is about (a hanging function costs it once): short,
#: with room for a cold kernel's setup cell (numpy, matplotlib) on a loaded machine without
#: bubblewrap. The notebook's limit is not under test: it has the machine's margin (a kernel
#: start under load took more than 30 s), and the test checks the run stayed within it.
CELL_LIMIT, NOTEBOOK_LIMIT = 10, 300
LIMITS = (
    f"c.Execute.timeout = {CELL_LIMIT}\nc.SandboxedExecute.notebook_timeout = {NOTEBOOK_LIMIT}\n"
    "c.SandboxedExecute.verify_reserve = 60"
)


@pytest.mark.parametrize(
    "assignment, function, unaffected",
    [
        ("02_sigmoid_derivative", "sigmoid", "sigmoid_prime_from_output"),
        ("04_backprop_W2", "grad_W2", "grad_b2"),
    ],
)
def test_a_hanging_function_costs_one_timeout_within_one_limit(
    tmp_path: Path, assignment: str, function: str, unaffected: str
):
    from grader.pipeline.autograde import autograde

    root = _course(tmp_path, assignment, LIMITS)
    nb = _honest(root, assignment)
    for cell in nb.cells:
        if _gid(cell) == function:
            args = re.search(rf"def {function}\(([^)]*)\)", cell.source).group(1)
            cell.source = f"def {function}({args}):\n    while True:\n        pass\n"
    _submit(root, "looper", assignment, nb)
    run = autograde(root, assignment, workers=1)
    result = run.results[0]
    graded = nbformat.read(root / "autograded" / "looper" / assignment / f"{assignment}.ipynb", 4)
    timeouts = [
        i
        for i, c in enumerate(graded.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("ename") == "CellTimeoutError"
    ]
    assert len(timeouts) == 1, timeouts  # one timeout, not one per cell that calls it
    text = _outputs_text(root / "autograded" / "looper" / assignment / f"{assignment}.ipynb")
    assert f"{function} did not finish within the {CELL_LIMIT} s time limit" in text
    assert "ran longer than its limit" not in text  # the notebook's limit never ran out
    record = current_record(root, "looper", assignment)
    assert record is not None and record.limit == NOTEBOOK_LIMIT
    # the notebook's whole time, verification included, within its one limit (+ a few
    # seconds for nbgrader to write its files after the deadline)
    assert record.seconds <= record.limit + 10, record
    scores = _scores(root, "looper", assignment)
    assert scores[f"test_{function}"] == 0 and scores[f"hidden_test_{function}"] == 0
    assert scores[f"test_{unaffected}"] > 0 and scores[f"hidden_test_{unaffected}"] > 0, scores
    assert result.flags == [] or all("verdict changed" not in f for f in result.flags), result


# --------------------------------------------------------------------------- offline math


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed")
def test_feedback_math_renders_offline_in_chromium(plain: Plain, tmp_path: Path):
    """A feedback page opened with every network request refused: formulas are drawn (MathML
    boxes with a size), no raw `$...$` is left in the prose. The screenshot is kept."""
    import playwright.sync_api as playwright  # in requirements.txt: never skipped

    page_path = plain.root / "feedback" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    if not page_path.exists():
        course.run_nbgrader(["generate_feedback", ASSIGNMENT], plain.root)
    shot = Path(__file__).parent.parent / ".pytest_cache" / "feedback_offline.png"
    shot.parent.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True)
            blocked: list[str] = []
            context.route(
                re.compile(r"^https?://"),
                lambda route: (blocked.append(route.request.url), route.abort()),
            )
            page = context.new_page()
            page.goto(page_path.as_uri())
            boxes = page.evaluate(
                "Array.from(document.querySelectorAll('.text_cell_render math'))"
                ".map(m => [m.getBoundingClientRect().width, m.getBoundingClientRect().height])"
            )
            prose = page.evaluate(
                "Array.from(document.querySelectorAll('.text_cell_render'))"
                ".map(e => e.innerText).join('\\n')"
            )
            page.locator("math").nth(5).scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert len(boxes) > 10 and all(w > 0 and h > 0 for w, h in boxes), boxes[:5]
    assert not re.search(r"\$[^$\n]*\\[a-z]+", prose), "raw LaTeX left in the prose"
    assert shot.stat().st_size > 10_000
