"""What selfcheck says for a test cell, read from the executed cells' outputs (no kernel):
a timeout is named as the function running too long, and a test of a function whose cell
does not compile is blamed on that cell's SyntaxError, not on the NameError it leads to."""

from __future__ import annotations

import nbformat

from grader.learner.selfcheck import definition_errors, graded_cell_message


def _cell(grade_id: str, outputs: list[dict], *, solution: bool = False, grade: bool = True):
    meta = {"nbgrader": {"grade_id": grade_id, "solution": solution, "grade": grade,
                         "points": 1}}  # fmt: skip
    cell = nbformat.v4.new_code_cell("", metadata=meta)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _error(ename: str, evalue: str, traceback: list[str] | None = None) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback or []}


def test_an_endless_loop_is_reported_as_a_timeout_not_keyboardinterrupt():
    visible = _cell("test_df_dz", [_error("KeyboardInterrupt", "")])
    hidden = _cell("hidden_test_df_dz", [_error(
        "CheckFailure", "df_dz: your function raised TimeoutError: df_dz did not finish within "
        "the 60 s time limit in an earlier cell, so it is not run again")])
    for cell in (visible, hidden):
        assert graded_cell_message(cell, 60.0, {}) == (
            "your df_dz ran longer than 60 s (an endless loop?)"
        )


def test_a_syntax_error_in_the_solution_cell_is_reported_for_its_tests():
    solution = _cell(
        "df_dx",
        [_error("SyntaxError", "invalid syntax (3141592653.py, line 2)", [
            "\x1b[0;36m  Cell \x1b[0;32mIn[3], line 2\x1b[0m\n    return 6 * x * z +\n",
            "\x1b[0;31mSyntaxError\x1b[0m\x1b[0;31m:\x1b[0m invalid syntax\n",
        ])],
        solution=True,
        grade=False,
    )
    broken = definition_errors([solution])
    assert broken == {"df_dx": "SyntaxError at line 2: invalid syntax"}
    test = _cell("test_df_dx", [_error("NameError", "name 'df_dx' is not defined")])
    assert graded_cell_message(test, 60.0, broken) == (
        "the cell that defines df_dx did not run: SyntaxError at line 2: invalid syntax; fix "
        "it, run it, then this test"
    )
    other = _cell("test_df_dz", [_error("NameError", "name 'df_dz' is not defined")])
    assert graded_cell_message(other, 60.0, broken) == "NameError: name 'df_dz' is not defined"
