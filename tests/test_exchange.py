"""JupyterHub's path, end to end, with nbgrader's real exchange and two student accounts.

A temporary exchange directory and two student homes (HOME and USER per student); the
students run nbgrader from a venv that holds only the student wheel (tests/student_env.py),
the instructor from the course's own environment:

    instructor  nbgrader release_assignment
    students    nbgrader fetch_assignment -> fill (alice right, bob with the double-sigmoid
                mistake [M6]) -> nbgrader validate -> nbgrader submit
    instructor  nbgrader collect -> backprop-grader autograde -> backprop-grader feedback
                -> nbgrader release_feedback
    students    nbgrader fetch_feedback: a page that names bob's mistake, no hidden test code
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_tools import source_path

from grader import course

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

ASSIGNMENT = "04_backprop_W2"
COURSE_ID = "backprop-course"
DOUBLE_SIGMOID = '''def output_delta(Y_hat, Y):
    """delta2, with the sigmoid applied again to Y_hat (the lecture notes' mistake)."""
    return (Y_hat - Y) * sigmoid(Y_hat) * (1 - sigmoid(Y_hat))
'''


def _exchange_flags(exchange: Path) -> list[str]:
    return [f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE_ID}"]


def _instructor(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    proc = course.run_nbgrader(args, root, check=False, timeout=600)
    assert proc.returncode == 0, (
        f"nbgrader {args[0]}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def _fill(path: Path, *, mistake: bool) -> None:
    """Write the source solutions into the fetched notebook's solution cells (by grade_id)."""
    nb = nbformat.read(path, as_version=4)
    source = nbformat.read(source_path(ASSIGNMENT), as_version=4)
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = DOUBLE_SIGMOID if (mistake and gid == "output_delta") else solutions[gid]
    nbformat.write(nb, path)


def _hidden_lines() -> list[str]:
    """Every line of the source notebook's hidden test blocks that is code."""
    nb = nbformat.read(source_path(ASSIGNMENT), as_version=4)
    lines = []
    for cell in nb.cells:
        for block in re.findall(
            r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S
        ):
            lines += [ln.strip() for ln in block.splitlines() if ln.strip() and "import" not in ln]
    return lines


@pytest.mark.slow
def test_jupyterhub_exchange_end_to_end(student_env, tmp_path: Path):
    root = course.new_course(tmp_path / "course")
    course.generate_release(root, [ASSIGNMENT])
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    flags = _exchange_flags(exchange)
    _instructor(["release_assignment", ASSIGNMENT, *flags], root)

    homes = {}
    for student, mistake in (("alice", False), ("bob", True)):
        home = tmp_path / "home" / student
        home.mkdir(parents=True)
        homes[student] = home
        env = student_env.env(home=home, user=student)

        def nbg(*args: str, home=home, env=env) -> subprocess.CompletedProcess[str]:
            return student_env.run(["nbgrader", *args, *flags], cwd=home, env=env, timeout=600)

        proc = nbg("fetch_assignment", ASSIGNMENT)
        assert proc.returncode == 0, proc.stderr
        notebook = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        _fill(notebook, mistake=mistake)
        proc = student_env.run(
            ["nbgrader", "validate", str(notebook)], cwd=home, env=env, timeout=600
        )
        shown = proc.stdout + proc.stderr
        if mistake:
            assert "VALIDATION FAILED" in shown and "[M6]" in shown, shown[-3000:]
        else:
            assert "Success! Your notebook passes all the tests." in shown, shown[-3000:]
        assert "ModuleNotFoundError" not in shown
        # one OS account runs every student here: name the student as a hub's shared
        # "jovyan" account would (nbgrader's --student); on a hub it is the login name
        proc = nbg("submit", ASSIGNMENT, f"--student={student}")
        assert proc.returncode == 0, proc.stderr

    _instructor(["collect", ASSIGNMENT, *flags], root)
    for student in homes:
        assert (root / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()

    grader_cli = [sys.executable, "-m", "grader"]
    for step in (["autograde", ASSIGNMENT], ["feedback", ASSIGNMENT]):
        proc = subprocess.run(
            [*grader_cli, *step, "--course", str(root)],
            capture_output=True,
            text=True,
            env=course.tool_env(),
            timeout=900,
        )
        assert proc.returncode == 0, f"backprop-grader {step[0]}:\n{proc.stdout}\n{proc.stderr}"
    _instructor(["release_feedback", ASSIGNMENT, *flags], root)

    hidden = _hidden_lines()
    assert hidden
    pages = {}
    for student, home in homes.items():
        env = student_env.env(home=home, user=student)
        proc = student_env.run(
            ["nbgrader", "fetch_feedback", ASSIGNMENT, f"--student={student}", *flags],
            cwd=home,
            env=env,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        found = list((home / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        assert len(found) == 1, found
        pages[student] = found[0].read_text(encoding="utf-8")
    for student, page in pages.items():
        shown = [ln for ln in hidden if ln in page]
        assert not shown, f"{student}'s feedback shows hidden test code: {shown}"
    # bob's graded test cell failed with the mistake named; alice's did not fail
    assert "CheckFailure: output_delta: [M6]" in pages["bob"], "bob's page names [M6]"
    assert "double-sigmoid" in pages["bob"]
    assert "CheckFailure: output_delta" not in pages["alice"]
    assert f"{ASSIGNMENT} (Score: 9.0 / 9.0)" in pages["alice"]
    assert f"{ASSIGNMENT} (Score: 6.0 / 9.0)" in pages["bob"]
