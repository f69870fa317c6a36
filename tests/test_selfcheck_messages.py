"""What selfcheck and autograde say for a test cell, read from the executed cells' outputs
(no kernel): a timeout is named as the function running too long, and a test of a function
whose cell does not compile is blamed on that cell's SyntaxError, not on the NameError it
leads to. Both read a cell with grader.pipeline.failures.cell_message."""

from __future__ import annotations

import nbformat
from traitlets.config import Config

from grader.pipeline.failures import cell_message, definition_errors
from grader.pipeline.results import failure_messages, tags_in


def _cell(grade_id: str, outputs: list[dict], *, solution: bool = False, grade: bool = True):
    meta = {"nbgrader": {"grade_id": grade_id, "solution": solution, "grade": grade, "points": 1}}
    cell = nbformat.v4.new_code_cell("", metadata=meta)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _error(ename: str, evalue: str, traceback: list[str] | None = None) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback or []}


def test_an_endless_loop_is_reported_as_a_timeout_not_keyboardinterrupt():
    visible = _cell("test_df_dz", [_error("KeyboardInterrupt", "")])
    hidden = _cell(
        "hidden_test_df_dz",
        [
            _error(
                "CheckFailure",
                "df_dz: your function raised TimeoutError: df_dz did not finish within "
                "the 60 s time limit in an earlier cell, so it is not run again",
            )
        ],
    )
    for cell in (visible, hidden):
        assert cell_message(cell, timeout=60.0) == (
            "your df_dz ran longer than 60 s (an endless loop?)"
        )


def test_a_syntax_error_in_the_solution_cell_is_reported_for_its_tests():
    solution = _cell(
        "df_dx",
        [
            _error(
                "SyntaxError",
                "invalid syntax (3141592653.py, line 2)",
                [
                    "\x1b[0;36m  Cell \x1b[0;32mIn[3], line 2\x1b[0m\n    return 6 * x * z +\n",
                    "\x1b[0;31mSyntaxError\x1b[0m\x1b[0;31m:\x1b[0m invalid syntax\n",
                ],
            )
        ],
        solution=True,
        grade=False,
    )
    broken = definition_errors([solution])
    assert broken == {"df_dx": "SyntaxError at line 2: invalid syntax"}
    test = _cell("test_df_dx", [_error("NameError", "name 'df_dx' is not defined")])
    assert cell_message(test, timeout=60.0, broken=broken) == (
        "the cell that defines df_dx did not run: SyntaxError at line 2: invalid syntax; fix "
        "it, run it, then this test"
    )
    other = _cell("test_df_dz", [_error("NameError", "name 'df_dz' is not defined")])
    assert cell_message(other, timeout=60.0, broken=broken) == (
        "NameError: name 'df_dz' is not defined"
    )


def _stderr(text: str) -> dict:
    return {"output_type": "stream", "name": "stderr", "text": text}


def test_every_output_of_a_cell_is_a_line_in_order_without_colour_codes():
    cell = _cell(
        "test_grad_W2",
        [
            _stderr("\x1b[0;31mRuntimeWarning: overflow\x1b[0m\n"),
            _error("CheckFailure", "grad_W2: \x1b[1mwrong sign\x1b[0m [M3]"),
        ],
    )
    message = cell_message(cell)
    assert message.splitlines() == [
        "wrote to stderr: RuntimeWarning: overflow",
        "CheckFailure: grad_W2: wrong sign [M3]",
    ]
    assert tags_in(message) == ["M3"]
    stub = _cell("test_df_dz", [_error("NotImplementedError", "")])
    assert cell_message(stub) == "not answered yet: the function still raises NotImplementedError"
    assert cell_message(_cell("test_df_dz", [])) == ""
    hung = _cell("test_df_dz", [_error("CellTimeoutError", "")])
    assert cell_message(hung) == "your df_dz ran longer than the time limit (an endless loop?)"


def test_autograde_reads_an_autograded_notebook_as_selfcheck_reads_its_cells(tmp_path):
    """results.failure_messages (the autograde results, the report, grades.csv) says what
    selfcheck says for each cell: one definition of the words."""
    solution = _cell(
        "df_dx",
        [_error("SyntaxError", "invalid syntax (1.py, line 2)")],
        solution=True,
        grade=False,
    )
    cells = [
        solution,
        _cell("test_df_dx", [_error("NameError", "name 'df_dx' is not defined")]),
        _cell("test_df_dz", [_stderr("careful\n"), _error("AssertionError", "off by 2x [M4]")]),
        _cell("test_sigmoid", [_error("KeyboardInterrupt", "")]),
        _cell("test_passes", []),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    path = tmp_path / "ps1.ipynb"
    nbformat.write(nb, path)

    config = Config()
    config.Execute.timeout = 30  # the course's per-cell limit, named in a timeout's message
    messages = failure_messages(path, config)
    broken = definition_errors(cells)
    for cell in cells[1:]:
        gid = cell.metadata["nbgrader"]["grade_id"]
        expected = cell_message(cell, timeout=30.0, broken=broken)
        assert messages.get(gid, "") == expected, gid
    assert messages["test_df_dx"].startswith("the cell that defines df_dx did not run: Syntax")
    assert messages["test_df_dz"] == "wrote to stderr: careful\nAssertionError: off by 2x [M4]"
    assert messages["test_sigmoid"] == "your sigmoid ran longer than 30 s (an endless loop?)"
    assert "test_passes" not in messages


def test_an_empty_notebook_is_named_empty_and_a_cut_off_one_damaged(tmp_path):
    from grader.pipeline.failures import unreadable

    empty, cut = tmp_path / "empty.ipynb", tmp_path / "cut.ipynb"
    empty.write_bytes(b"")
    cut.write_text('{"cells": [', encoding="utf-8")
    assert unreadable(empty) == "the notebook is empty (0 bytes): ask for it again"
    assert unreadable(cut).startswith("the notebook is not valid JSON (cut off or damaged)")
