"""Shared fixtures: one real nbgrader course, graded once per test session.

`graded` builds a temporary course directory from the repository's source/, generates the
release with `nbgrader generate_assignment`, hands in for every assignment of the course the
release notebook with the instructor's solutions typed in (student "solution") and the
release notebook as handed out (student "stub"), and grades those 10 submissions once with
the course's route (`grader.pipeline.autograde`, 2 workers: nbgrader's Autograde converter,
sandboxed kernels, out-of-process verification): real nbgrader, real kernels, real gradebook.
test_notebooks_common.py and test_adversarial.py share it; it is read-only (a test that
writes copies it first), and its teardown fails a test session that changed it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import course

# nbgrader shells out to alembic and jupyter: run them from this interpreter's venv even when
# pytest was started as .venv/bin/python without the venv on PATH (make test puts it there).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

STUDENTS = ("solution", "stub")


def _session_fixtures(item: pytest.Item) -> set[str]:
    """The session-scoped fixtures of this conftest that the test uses (as resolved for it: a
    module's own fixture of the same name, like test_pipeline's `graded`, does not count)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    used = set()
    for name, defs in info.name2fixturedefs.items():
        last = defs[-1]
        if last.scope == "session" and getattr(last.func, "__module__", "") == __name__:
            used.add(name)
    return used


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    """Schedule the suite for pytest-xdist (`make test` runs `-n 2 --dist loadgroup`).

    Each test file is one unit of work (its module fixtures are built once), and files that
    share a session fixture of this conftest (`graded`, `executed_source`, `student_env`) are
    one unit, so that fixture is built by one worker only. Units with a slow test go first,
    so the long ones start early and the many quick tests fill in at the end. Without xdist
    the marks do nothing and only the order changes. pytest-xdist turns the marks into node
    ids ending in `@<unit>`: test_layout.py's `test_xdist_gives_each_worker_whole_files` fails
    when an upgrade stops that (pytest 9.2 with pytest-xdist 3.8 did, silently).
    """
    files = sorted({item.path for item in items})
    parent = {f: f for f in files}

    def root(f):
        while parent[f] != f:
            f = parent[f]
        return f

    first_user: dict[str, object] = {}
    for item in items:
        for name in _session_fixtures(item):
            other = first_user.setdefault(name, item.path)
            parent[root(item.path)] = root(other)
    slow_units = {root(item.path) for item in items if item.get_closest_marker("slow")}
    for item in items:
        unit = root(item.path)
        item.add_marker(pytest.mark.xdist_group(unit.stem))
    order = {f: i for i, f in enumerate(files)}
    items.sort(key=lambda it: (root(it.path) not in slow_units, order[root(it.path)]))
    # a wrapper, so the marks are on before pytest-xdist's own hook reads them into node ids
    return (yield)


@dataclass
class GradedCourse:
    """A course graded by nbgrader, with the scores read back from its gradebook."""

    root: Path
    assignments: list[str]
    #: (student, assignment) -> the pipeline's GradeResult (score, flags, reason)
    results: dict[tuple[str, str], object] = field(default_factory=dict)

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


def _digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under root (what a test must not change in a shared course)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith("-journal")
    }


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """The course's 10 honest submissions (solution and stub of each assignment), graded
    once per session; read-only (copy it with shutil.copytree to change anything)."""
    import nbformat
    from nbgrader.api import Gradebook
    from notebook_tools import ASSIGNMENTS, missing_notebooks

    from grader.pipeline.autograde import autograde
    from tests.attacks import student_copy

    missing = missing_notebooks()
    if missing:
        pytest.fail(f"the course's notebooks are missing: {', '.join(missing)}")
    root = course.new_course(tmp_path_factory.mktemp("graded") / "course")
    course.generate_release(root, ASSIGNMENTS)
    for a in ASSIGNMENTS:
        source = nbformat.read(root / "source" / a / f"{a}.ipynb", as_version=4)
        release = nbformat.read(root / "release" / a / f"{a}.ipynb", as_version=4)
        for student, nb in (("solution", student_copy(source, release)), ("stub", release)):
            (root / "submitted" / student / a).mkdir(parents=True)
            nbformat.write(nb, root / "submitted" / student / a / f"{a}.ipynb")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:  # as `collect` does
        for student in STUDENTS:
            gb.update_or_create_student(student)
    run = autograde(root, workers=2)
    results = {(r.student, r.assignment): r for r in run.results}
    before = _digest(root)
    yield GradedCourse(root, list(ASSIGNMENTS), results)
    after = _digest(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, (
        "a test changed the shared graded course (tests/conftest.py `graded`); copy it "
        f"with shutil.copytree before writing. Changed: {changed}"
    )


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
