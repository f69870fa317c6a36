"""nbgrader's cell metadata, read in one place (grader.nbcells), and the per-assignment
numbers the summary and the class report share (grader.pipeline.summary.assignment_stats).
No kernel, no nbgrader command."""

from __future__ import annotations

import json

import nbformat
import pytest

from grader import nbcells
from grader.course import REPO_ROOT
from grader.pipeline.collect import grade_ids
from grader.pipeline.results import GradeResult
from grader.pipeline.summary import assignment_stats


def _cell(meta, **extra) -> dict:
    return {"cell_type": "code", "source": "", "metadata": meta, **extra}


def test_nbgrader_metadata_is_read_from_nodes_and_plain_json_alike():
    meta = {"grade_id": "test_df_dz", "grade": True, "solution": False, "points": 2, "locked": True}
    node = nbformat.v4.new_code_cell("", metadata={"nbgrader": meta})
    for cell in (node, _cell({"nbgrader": meta})):
        assert nbcells.grade_id(cell) == "test_df_dz"
        assert nbcells.is_graded(cell) and nbcells.is_test(cell) and nbcells.is_locked(cell)
        assert not nbcells.is_solution(cell)
        assert nbcells.points(cell) == 2.0


@pytest.mark.parametrize(
    "meta",
    [{}, {"nbgrader": None}, {"nbgrader": "oops"}, {"nbgrader": {"grade_id": 7}}, None, "x"],
    ids=["none", "null", "a string", "a number id", "no metadata", "metadata a string"],
)
def test_a_damaged_cell_reads_as_having_no_nbgrader_metadata(meta):
    cell = _cell(meta)
    assert nbcells.grade_id(cell) is None and nbcells.points(cell) == 0.0
    assert not (nbcells.is_graded(cell) or nbcells.is_solution(cell) or nbcells.is_locked(cell))


def test_points_that_are_not_a_number_count_zero():
    assert nbcells.points(_cell({"nbgrader": {"grade": True, "points": "many"}})) == 0.0
    assert nbcells.points(_cell({"nbgrader": {"grade": True, "points": None}})) == 0.0


def test_collect_reads_the_grade_ids_of_a_file_and_nothing_from_junk():
    path = REPO_ROOT / "source" / "04_backprop_W2" / "04_backprop_W2.ipynb"
    nb = nbformat.read(path, as_version=4)
    ids = grade_ids(path.read_bytes())
    assert ids == set(nbcells.grade_ids(nb.cells)) and "test_grad_W2" in ids
    named = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if nbcells.nbgrader_meta(c)]
    assert nbcells.grade_ids(nb.cells) == named
    for junk in (b'{"cells": [', b"[1, 2]", b'{"cells": "x"}', json.dumps({"cells": [1]}).encode()):
        assert grade_ids(junk) == set()


def _result(student, assignment, score, top=4.0, **kw) -> GradeResult:
    return GradeResult(student, assignment, kw.pop("status", "graded"), score, top, **kw)


def test_assignment_stats_are_the_numbers_summary_and_report_show():
    results = [
        _result("a", "02", 4.0),
        _result("b", "02", 1.0, flags=["edited a test cell"]),
        _result("c", "02", 0.0, status="failed", needs_manual_grade=True),
        _result("a", "01", 3.0, top=3.0),
    ]
    stats = assignment_stats(results)
    assert [s.assignment for s in stats] == ["01", "02"]
    two = stats[1]
    assert (two.submissions, two.mean, two.median, two.max_score) == (3, 5 / 3, 1.0, 4.0)
    assert (two.full_marks, two.failed, two.manual, two.flagged) == (1, 1, 1, 1)
    assert [s.assignment for s in assignment_stats(results, ["02", "03", "01"])] == ["02", "01"]
    assert assignment_stats([]) == []
