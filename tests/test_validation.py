"""nbconvert's validation after every grading step, cut to the ones that matter
(grader.pipeline.exporter): which steps are followed by one, and that a notebook made
invalid before the gradebook is written still fails before it is written."""

from __future__ import annotations

import nbformat
import pytest
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets.utils.importstring import import_item

from grader.pipeline import hooks
from grader.pipeline.exporter import ValidateWhereItMatters, validation_matters


def _validated_after(classes: list[type]) -> list[str]:
    steps = [cls() for cls in classes]
    return [type(p).__name__ for p in steps if validation_matters(steps, p)]


def test_the_grading_passes_validate_where_it_matters():
    """nbgrader's sanitizing pass and the course's grading pass (hooks.py's list): 6
    validations of the 14 nbconvert makes."""
    sanitize = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
    assert _validated_after(sanitize) == ["ClearOutput", "CheckCellMetadata"]
    grading = [import_item(name) for name in hooks.AUTOGRADE_PREPROCESSORS]
    assert _validated_after(grading) == [
        "SandboxedExecute",  # the student's outputs come in
        "RememberHandScores",  # right before SaveAutoGrades writes the gradebook
        "SaveAutoGrades",  # right before AssignLatePenalties writes it
        "CheckCellMetadata",  # what nbgrader writes to disk
    ]


def test_execution_config_names_the_exporter():
    config = hooks.execution_config(hooks.__file__)
    assert import_item(config.Autograde.exporter_class) is ValidateWhereItMatters


class _Recorded(SaveAutoGrades):
    """Stands for SaveAutoGrades (the gradebook's writer): notes that it was called."""

    calls: list[str] = []

    def preprocess(self, nb, resources):
        self.calls.append("gradebook written")
        return nb, resources


class _Breaks(ClearOutput):
    """A step in the middle that leaves an invalid output behind."""

    def preprocess(self, nb, resources):
        nb.cells[0].outputs = [new_output("stream", name="stdout", text="x")]
        nb.cells[0].outputs[0]["name"] = 5  # a stream's name must be a string
        return nb, resources


@pytest.mark.parametrize("last", [True, False])
def test_an_invalid_notebook_never_reaches_the_gradebook(last):
    nb = new_notebook(cells=[new_code_cell("1 + 1")])
    exporter = ValidateWhereItMatters()
    steps = [Preprocessor(), _Breaks(), Preprocessor(), _Recorded()]
    if not last:
        steps.append(Preprocessor())
    exporter._preprocessors = steps
    _Recorded.calls.clear()
    with pytest.raises(nbformat.ValidationError):
        exporter._preprocess(nb, {})
    assert _Recorded.calls == []


def test_a_pass_reads_its_notebook_without_validating_it_twice(tmp_path, caplog):
    """`ValidateWhereItMatters.from_file` skips nbformat's check on reading (which only logs
    and repairs cell ids): an invalid notebook still fails after the pass's first step,
    before the gradebook is written, and nothing is logged on reading it."""
    nb = new_notebook(cells=[new_code_cell("1 + 1")])
    nb.cells[0].outputs = [new_output("stream", name="stdout", text="x")]
    nb.cells[0].outputs[0]["name"] = 5  # a stream's name must be a string
    path = tmp_path / "invalid.ipynb"
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    exporter = ValidateWhereItMatters()
    exporter._preprocessors = [Preprocessor(), _Recorded()]
    _Recorded.calls.clear()
    caplog.set_level("ERROR")
    caplog.clear()  # nbformat.writes above logged the invalid notebook
    with open(path, encoding="utf-8") as f, pytest.raises(nbformat.ValidationError):
        exporter.from_file(f)
    assert _Recorded.calls == []
    assert "Notebook JSON is invalid" not in caplog.text  # nbformat.read would log it
    assert "Notebook is invalid after preprocessor" in caplog.text


def test_a_graded_notebook_reads_as_nbformat_reads_it(tmp_path):
    """`cells.read_graded` (the autograded notebook, read without nbformat's check on
    reading): the same notebook as nbformat.read gives."""
    from grader.verify.cells import read_graded

    nb = new_notebook(cells=[new_code_cell("x = 1", outputs=[new_output("stream", text="1\n")])])
    nb.cells[0].metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "x"}
    path = tmp_path / "graded.ipynb"
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    assert read_graded(path) == nbformat.read(path, as_version=4)
    assert isinstance(read_graded(path).cells[0].metadata, nbformat.NotebookNode)
