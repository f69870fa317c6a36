"""Shared fixtures: one real nbgrader course, graded once per test session.

`graded` builds a temporary course directory from the repository's source/, generates the
release with `nbgrader generate_assignment`, submits every source notebook (solutions in) as
student "solution" and every release notebook as handed out as student "stub", and runs
`nbgrader autograde` on each assignment: real nbgrader, real kernels, real gradebook.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import course

# nbgrader shells out to alembic and jupyter: run them from this interpreter's venv even when
# pytest was started as .venv/bin/python without the venv on PATH (make test puts it there).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

STUDENTS = ("solution", "stub")


@dataclass
class GradedCourse:
    """A course graded by nbgrader, with the scores read back from its gradebook."""

    root: Path
    assignments: list[str]
    autograde_output: dict[str, str] = field(default_factory=dict)

    def _gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(f"sqlite:///{self.root / 'gradebook.db'}")

    def score(self, student: str, assignment: str) -> tuple[float, float]:
        """(score, max_score) of the student's notebook for the assignment."""
        with self._gradebook() as gb:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            return float(nb.score), float(nb.max_score)

    def cell_scores(self, student: str, assignment: str) -> dict[str, tuple[float, float]]:
        """{grade_id: (score, max_score)} for every graded cell of the student's notebook."""
        with self._gradebook() as gb:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            return {g.name: (float(g.score), float(g.max_score)) for g in nb.grades}

    def autograded_notebook(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment / f"{assignment}.ipynb"


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory) -> GradedCourse:
    assignments = [a for a in course.ASSIGNMENTS if (course.REPO_ROOT / "source" / a).is_dir()]
    if not assignments:
        pytest.skip("source/ holds no assignment yet")
    root = course.new_course(tmp_path_factory.mktemp("graded") / "course")
    course.generate_release(root, assignments)
    result = GradedCourse(root, assignments)
    for assignment in assignments:
        for student, origin in (("solution", "source"), ("stub", "release")):
            target = root / "submitted" / student / assignment
            target.mkdir(parents=True)
            shutil.copy2(root / origin / assignment / f"{assignment}.ipynb", target)
        proc = course.run_nbgrader(["autograde", assignment], root, check=False)
        result.autograde_output[assignment] = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"nbgrader autograde {assignment} crashed:\n{proc.stderr}"
    return result


@pytest.fixture(scope="session")
def executed_source(tmp_path_factory: pytest.TempPathFactory):
    """run(assignment) -> (notebook, seconds): the source notebook (solutions in) executed
    once per session in a fresh kernel, in a folder of its own."""
    from notebook_tools import execute, source_path

    runs: dict[str, tuple] = {}

    def run(assignment: str):
        if assignment not in runs:
            cwd = tmp_path_factory.mktemp(f"run-{assignment}")
            runs[assignment] = execute(source_path(assignment), cwd=cwd)
        return runs[assignment]

    return run


@pytest.fixture(scope="session")
def student_env(tmp_path_factory: pytest.TempPathFactory):
    """A fresh venv with only the student wheel (+ numpy, matplotlib, ipykernel, nbgrader),
    built once per session (about a minute; tests/student_env.py)."""
    from student_env import build_student_env

    return build_student_env(tmp_path_factory.mktemp("student-env"))
