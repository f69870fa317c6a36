"""Checks every course notebook shares, parametrised over the course's assignments.

- release/ is exactly what `python -m grader release` produces from source/ (regenerated into a
  temporary folder with real nbgrader and compared cell by cell);
- notebooks are stored in git without outputs or execution counts;
- each source notebook follows the test-cell contract of docs/grading.md (solution cell, visible
  test right after it, hidden test after that, points on every test cell, readable cell ids, a
  locked setup cell first), and its intro states its total;
- graded by real nbgrader, each source notebook (solutions in) scores full marks and each release
  notebook as handed out (stubs untouched) scores 0 without a crash;
- each source notebook runs top to bottom in a fresh kernel without an error or a stderr line,
  with its plots, in a few seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from notebook_tools import (
    ASSIGNMENTS,
    ROOT,
    figure_count,
    problems,
    source_path,
    source_total,
)

from grader.judge import functions
from grader.learner import workspace

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

#: The functions students write in each notebook, in teaching order: the names of its records
#: (grader/judge/functions/nbNN_<topic>.py, docs/extending.md); a new notebook adds no line here.
SPEC_FUNCTIONS: dict[str, list[str]] = {
    a: [r.name for r in functions.records() if r.notebook == a] for a in ASSIGNMENTS
}
#: Points per notebook, from its source notebook's test cells (a missing one is named by
#: tests/test_course_files.py).
TOTALS = {a: source_total(a) for a in ASSIGNMENTS if source_path(a).is_file()}


#: A readable id: words joined by - or _ (not nbformat's random 8-hex default).
READABLE_ID = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*")
RANDOM_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){0,4}[0-9a-f]*")


def stored_notebooks() -> list[Path]:
    """Every notebook kept in git: source/, release/ and notebooks/."""
    found: list[Path] = []
    for folder in ("source", "release", "notebooks"):
        found += sorted(
            p for p in (ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
        )
    return found


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    return dict(cell.metadata.get("nbgrader", {}))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


@pytest.fixture(scope="module")
def regenerated_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """release/ regenerated from source/ by the same library call as `python -m grader release`."""
    dest = tmp_path_factory.mktemp("release")
    written = workspace.build_release(dest)
    assert written == ASSIGNMENTS
    return dest


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_grader_release_produces(regenerated_release: Path, assignment: str):
    committed_path = ROOT / "release" / assignment / f"{assignment}.ipynb"
    assert committed_path.is_file(), (
        f"release/{assignment} is missing: run `make release` (python -m grader release)"
    )
    committed = read(committed_path)
    fresh = read(regenerated_release / assignment / f"{assignment}.ipynb")

    def summary(nb: nbformat.NotebookNode) -> list[tuple]:
        return [(c.id, c.cell_type, c.source, nbgrader_meta(c)) for c in nb.cells]

    stale = f"release/{assignment} is out of date with source/: run `make release`"
    assert [c.id for c in committed.cells] == [c.id for c in fresh.cells], stale
    for got, want in zip(summary(committed), summary(fresh), strict=True):
        assert got == want, f"{stale} (cell {want[0]!r} differs)"
    # Everything in the release folder is generated: no extra or missing files.
    committed_files = sorted(p.name for p in committed_path.parent.iterdir())
    fresh_files = sorted(p.name for p in (regenerated_release / assignment).iterdir())
    assert committed_files == fresh_files, stale


@pytest.mark.parametrize("path", stored_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_without_outputs(path: Path):
    nb = read(path)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {cell.id!r} has stored outputs"
            assert cell.execution_count is None, f"{path.name}: cell {cell.id!r} has a count"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_follows_the_test_cell_contract(assignment: str):
    nb = read(ROOT / "source" / assignment / f"{assignment}.ipynb")
    cells = nb.cells
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids)), f"duplicate cell ids in {assignment}"
    for cell_id in ids:
        assert READABLE_ID.fullmatch(cell_id) and not RANDOM_ID.fullmatch(cell_id), (
            f"{assignment}: cell id {cell_id!r} is not a stable readable id"
        )

    code_cells = [c for c in cells if c.cell_type == "code"]
    setup = code_cells[0]
    assert setup.id == "setup" and nbgrader_meta(setup).get("locked"), (
        f"{assignment}: the first code cell must be the locked `setup` cell"
    )
    assert "import numpy" in setup.source and "matplotlib" in setup.source, (
        f"{assignment}: the setup cell must import numpy and matplotlib "
        "(`import numpy as np`, `import matplotlib.pyplot as plt`)"
    )

    for cell in cells:
        meta = nbgrader_meta(cell)
        if meta:
            assert meta["schema_version"] == 3 and meta["grade_id"] == cell.id, (
                f"{assignment}: cell {cell.id!r} has nbgrader metadata with schema_version "
                f"{meta.get('schema_version')} and grade_id {meta.get('grade_id')!r}: both must "
                "be 3 and the cell's id (docs/extending.md shows the metadata)"
            )
        if meta.get("grade"):
            assert meta.get("points", 0) > 0, f"{assignment}: {cell.id} has no points"

    solutions = [c.id for c in code_cells if nbgrader_meta(c).get("solution")]
    assert solutions == SPEC_FUNCTIONS[assignment], (
        f"{assignment}: solution cells {solutions}, its records "
        f"(grader/judge/functions/nb{assignment}.py) are {SPEC_FUNCTIONS[assignment]}: one "
        "solution cell per record, in the records' order"
    )
    for name in solutions:
        k = ids.index(name)
        sol, visible, hidden = cells[k], cells[k + 1], cells[k + 2]
        assert re.search(rf"^def {name}\(", sol.source, re.M), f"{name}: no `def {name}(`"
        assert '"""' in sol.source.split("### BEGIN SOLUTION")[0], f"{name}: docstring hidden"
        assert "### BEGIN SOLUTION" in sol.source and "### END SOLUTION" in sol.source, (
            f"{name}: put the body between `### BEGIN SOLUTION` and `### END SOLUTION`"
        )
        assert visible.id == f"test_{name}", f"{name}: the visible test must follow the stub"
        assert nbgrader_meta(visible).get("grade") and nbgrader_meta(visible).get("locked"), (
            f"{visible.id}: a visible test cell is graded and locked (docs/extending.md)"
        )
        assert f"checks.check_{name}({name})" in visible.source, (
            f"{visible.id}: the cell must call `checks.check_{name}({name})`"
        )
        assert "reference" not in visible.source, f"{name}: visible tests never use reference"
        assert hidden.id == f"hidden_test_{name}", f"{name}: the hidden test must come next"
        assert nbgrader_meta(hidden).get("grade") and nbgrader_meta(hidden).get("locked"), (
            f"{hidden.id}: a hidden test cell is graded and locked (docs/extending.md)"
        )
        before, _, rest = hidden.source.partition("### BEGIN HIDDEN TESTS")
        call = f"checks.check_{name}({name}, hidden=True)"
        assert "### END HIDDEN TESTS" in rest and call in rest, (
            f"{hidden.id}: `{call}` between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`"
        )
        assert before.strip().startswith("#"), f"{name}: students should see a comment"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_intro_states_the_total(assignment: str):
    nb = read(source_path(assignment))
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and intro.id == "intro", (
        f"{assignment}: the first cell must be a markdown cell with the id `intro`"
    )
    stated = re.search(r"\*\*Total: (\d+) points\.\*\*", intro.source)
    assert stated, f"{assignment}: the intro must state the total as **Total: N points.**"
    points = sum(
        nbgrader_meta(c).get("points", 0) for c in nb.cells if nbgrader_meta(c).get("grade")
    )
    assert float(stated.group(1)) == points, (
        f"{assignment}: the intro states {stated.group(1)} points, its test cells hold {points:g}"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_scores_full_marks(graded, assignment: str):
    total = TOTALS[assignment]
    cells = graded.cell_scores("solution", assignment)
    lost = {name: s for name, s in cells.items() if s[0] != s[1]}
    assert not lost, f"{assignment}: the solutions lose points in {lost}"
    assert graded.score("solution", assignment) == (total, total)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_notebook_as_handed_out_scores_zero(graded, assignment: str):
    assert graded.autograded_notebook("stub", assignment).is_file(), "autograde made no notebook"
    cells = graded.cell_scores("stub", assignment)
    visible = [c for c in cells if c.startswith("test_")]
    assert len(visible) == len(SPEC_FUNCTIONS[assignment]) and len(cells) == 2 * len(visible)
    assert all(score == 0 for score, _ in cells.values()), f"stubs earned points: {cells}"
    assert graded.score("stub", assignment) == (0.0, TOTALS[assignment])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_runs_clean(executed_source, assignment: str):
    nb, _ = executed_source(assignment)
    assert problems(nb) == [], f"{assignment} in a fresh kernel: {problems(nb)}"
    assert figure_count(nb) >= 3, (
        f"{assignment}: {figure_count(nb)} figures; a notebook draws at least 3 plots "
        "(backprop_checks.figures.show in cells that run in a fresh kernel)"
    )
