"""What `grader.pipeline.speedups` changes in a grading worker: the same gradebook, fewer
statements. Each test runs in a process of its own (the changes are process-wide, and this
pytest process must keep nbgrader as it is)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # nbgrader's Gradebook and SQLAlchemy, in a process of its own

_OPENS = """
import json, sys
from nbgrader import api
from sqlalchemy import event
from grader.pipeline.gradebook_records import open_gradebook
from grader.pipeline.speedups import speed_up_nbgrader

url = sys.argv[1]
open_gradebook(url).close()  # nbgrader's tables and alembic's version
statements = []

def count_open(course_id="default_course"):
    start = len(statements)
    gb = api.Gradebook(url, course_id=course_id)
    n = len(statements) - start
    attrs = {k: type(v).__name__ for k, v in vars(gb).items()}
    gb.update_or_create_student(f"s{len(statements)}")  # the session works
    gb.close()
    return n, attrs

plain = api.Gradebook(url)  # nbgrader's own open, before the worker's changes
nbgraders = {k: type(v).__name__ for k, v in vars(plain).items()}
plain.close()
speed_up_nbgrader()
first = api.Gradebook(url)
event.listen(first.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
first.close()
opens = [count_open() for _ in range(3)]
other = count_open("another_course")  # another course: checked (and added) once
other_again = count_open("another_course")
print(json.dumps({
    "nbgraders": nbgraders,
    "opens": opens,
    "other": other,
    "other_again": other_again,
}))
"""


def test_a_worker_checks_a_gradebooks_tables_and_course_once(tmp_path):
    """`speedups.open_gradebooks_once`: after the first open of a shared engine and course,
    opening nbgrader's Gradebook runs no statement (nbgrader's own open lists the tables
    and looks up and commits the course's row every time), sets the same attributes as
    nbgrader's, and its session reads and writes the same gradebook; another course id is
    checked, and its row added, at its first open."""
    from nbgrader.api import Course, Gradebook

    db = tmp_path / "gradebook.db"
    url = f"sqlite:///{db}"
    out = subprocess.run(
        [sys.executable, "-c", _OPENS, url], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    for count, attrs in seen["opens"]:
        assert count == 0  # without open_gradebooks_once: the table list and the course's row
        assert attrs == seen["nbgraders"]
    count, attrs = seen["other"]
    assert count >= 2 and attrs == seen["nbgraders"]  # nbgrader's own open: it checks
    assert seen["other_again"][0] == 0
    with Gradebook(url) as gb:  # another process sees what the sessions wrote
        assert len(gb.students) == 5
        assert {c.id for c in gb.db.query(Course)} == {
            "default_course",
            "another_course",
        }


def _released_notebook():
    """A notebook of 12 locked test cells (2 points each) and a solution cell, with nbgrader's
    metadata and checksums as released."""
    from nbformat.v4 import new_code_cell, new_notebook
    from nbgrader.utils import compute_checksum

    cells = [new_code_cell("def f(x):\n    return x\n")]
    cells[0].metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "f_solution",
        "schema_version": 3,
    }
    for i in range(12):
        cell = new_code_cell(f"assert f({i}) == {i}\n")
        cell.metadata["nbgrader"] = {
            "grade": True,
            "solution": False,
            "locked": True,
            "points": 2,
            "grade_id": f"test_f_{i}",
            "schema_version": 3,
        }
        cells.append(cell)
    for cell in cells:
        cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    return new_notebook(cells=cells)


def test_the_released_cells_read_at_once_restore_what_nbgraders_step_restores(tmp_path):
    """`speedups.OverwriteCellsAtOnce` (the sanitizing pass of `backprop-grader autograde`):
    on a submission with an edited test cell, changed points, a cell the gradebook does not
    know and a test cell turned into markdown, it makes exactly nbgrader's OverwriteCells'
    changes, with a fraction of its queries (nbgrader's: one per cell and one per graded
    cell)."""
    import copy

    from nbgrader.preprocessors import OverwriteCells
    from sqlalchemy import event

    from grader.pipeline import hooks
    from grader.pipeline.gradebook_records import open_gradebook
    from grader.pipeline.speedups import OverwriteCellsAtOnce

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    released = _released_notebook()
    with open_gradebook(url) as gb:
        gb.update_or_create_assignment("a")
        gb.update_or_create_notebook("a", "a")
        for cell in released.cells:
            meta = cell.metadata["nbgrader"]
            gb.update_or_create_source_cell(
                meta["grade_id"], "a", "a", cell_type=cell.cell_type, locked=meta["locked"],
                source=cell.source, checksum=meta["checksum"],
            )  # fmt: skip
            if meta["grade"]:
                gb.update_or_create_grade_cell(
                    meta["grade_id"], "a", "a", max_score=meta["points"], cell_type="code"
                )
        gb.db.commit()
        engine = gb.engine
    submitted = copy.deepcopy(released)
    submitted.cells[1].source = "pass\n"  # an edited test cell
    submitted.cells[2].metadata["nbgrader"]["points"] = 50
    submitted.cells[3].cell_type = "markdown"
    del submitted.cells[3]["outputs"], submitted.cells[3]["execution_count"]
    submitted.cells[4].metadata["nbgrader"]["grade_id"] = "not_in_the_gradebook"
    resources = {"nbgrader": {"notebook": "a", "assignment": "a", "db_url": url}}

    def run(cls):
        statements = []
        listen = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(engine.__class__, "before_cursor_execute", listen)
        try:
            nb, _ = cls().preprocess(copy.deepcopy(submitted), copy.deepcopy(resources))
        finally:
            event.remove(engine.__class__, "before_cursor_execute", listen)
        # the cells' queries (a Gradebook's open checks its tables and course: not counted)
        return nb, sum(s.startswith("SELECT") and "_cell" in s for s in statements)

    theirs, their_queries = run(OverwriteCells)
    ours, our_queries = run(OverwriteCellsAtOnce)
    assert ours == theirs
    assert theirs.cells[1].source == released.cells[1].source  # nbgrader restored it
    assert "grade_id" not in theirs.cells[4].metadata["nbgrader"]
    assert our_queries <= their_queries / 2, (our_queries, their_queries)
    assert "grader.pipeline.speedups.OverwriteCellsAtOnce" in hooks.SANITIZE_PREPROCESSORS
