"""The course directory works with nbgrader's own commands (real CLI, real gradebook)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader import course

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow


def nbgrader_cell(
    kind: str, source: str, grade_id: str, *, points: int = 0
) -> nbformat.NotebookNode:
    """A code cell with nbgrader metadata: kind is "solution" or "tests"."""
    cell = nbformat.v4.new_code_cell(source)
    cell.id = grade_id
    cell.metadata["nbgrader"] = {
        "grade": kind == "tests",
        "grade_id": grade_id,
        "locked": kind == "tests",
        "points": points,
        "schema_version": 3,
        "solution": kind == "solution",
        "task": False,
    }
    return cell


def test_generate_assignment_on_a_tiny_assignment(tmp_path: Path):
    source = tmp_path / "source" / "tiny"
    source.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbgrader_cell(
            "solution",
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            "double",
        ),
        nbgrader_cell(
            "tests",
            "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n"
            "### END HIDDEN TESTS",
            "test_double",
            points=2,
        ),
    ]
    nbformat.write(nb, source / "tiny.ipynb")

    root = course.new_course(tmp_path / "course", source=tmp_path / "source")
    course.generate_release(root, ["tiny"])

    released = nbformat.read(root / "release" / "tiny" / "tiny.ipynb", as_version=4)
    solution, tests = released.cells
    assert "raise NotImplementedError()" in solution.source
    assert "return 2 * x" not in solution.source
    assert "assert double(2) == 4" in tests.source
    assert "double(-3)" not in tests.source
    assert tests.metadata["nbgrader"]["points"] == 2
    assert [c.id for c in released.cells] == ["double", "test_double"]

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment("tiny")
        cells = [(c.name, c.max_score) for nb in assignment.notebooks for c in nb.grade_cells]
    assert cells == [("test_double", 2.0)]
