"""Copying gradebook records between two nbgrader gradebooks, through nbgrader's own API.

Cluster grading (grader.pipeline.cluster) grades each submission on a Dask worker into a
private SQLite gradebook and copies the outcome into the course's gradebook in the
instructor's process, so workers never connect to the course's database. Two records
travel, as plain picklable dicts:

- an assignment's definition (what `nbgrader generate_assignment` recorded: notebooks,
  grade, solution, task and source cells with their checksums and the due date), copied
  into the worker's private gradebook so nbgrader grades there exactly as it would in the
  course's gradebook;
- a submission's record (timestamp, extension, per notebook: flagged and late penalty; per
  cell: auto and manual scores, extra credit, needs-manual-grade, auto and manual comments),
  copied to the worker before grading (so a regrade keeps an instructor's manual score, as
  nbgrader's own regrade does) and back afterwards.

Records are keyed by names (assignment, notebook, cell, student), never by database ids, and
writing one is an upsert: writing the same record twice leaves one submission, not two.

`open_gradebook` opens (creating when new) a gradebook from Python alone: nbgrader's own
`Gradebook` stamps a new database by running the `alembic` program found on PATH, which a
Dask worker started as `.venv/bin/dask worker ...` does not have.
"""

from __future__ import annotations

from typing import Any

_ASSIGNMENT_FIELDS = ("duedate",)
_NOTEBOOK_FIELDS = ("kernelspec",)
_GRADED_CELL_FIELDS = ("max_score", "cell_type")
_SOURCE_CELL_FIELDS = ("cell_type", "locked", "source", "checksum")
_STUDENT_FIELDS = ("first_name", "last_name", "email", "lms_user_id")
_SUBMISSION_FIELDS = ("timestamp", "extension")
_SUBMITTED_NOTEBOOK_FIELDS = ("flagged", "late_submission_penalty")
_GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
_COMMENT_FIELDS = ("auto_comment", "manual_comment")


def open_gradebook(db_url: str) -> Any:
    """nbgrader's `Gradebook` for `db_url`; a new database gets nbgrader's tables and its
    alembic revision first, from Python (alembic's API), so no program is looked up on PATH.

    A database that has tables already is opened as nbgrader opens it.
    """
    from alembic.script import ScriptDirectory
    from nbgrader import dbutil
    from nbgrader.api import Base, Gradebook
    from sqlalchemy import create_engine, inspect, text

    table = "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"
    engine = create_engine(db_url, future=True)
    try:
        if not inspect(engine).get_table_names():
            head = ScriptDirectory(dbutil.ALEMBIC_DIR).get_current_head()
            with engine.begin() as conn:
                Base.metadata.create_all(bind=conn)
                conn.execute(text(table))
                conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    finally:
        engine.dispose()
    return Gradebook(db_url)


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def assignment_definition(gb: Any, assignment: str) -> dict[str, Any]:
    """The assignment as recorded in gradebook `gb` (raises nbgrader's MissingEntry)."""
    a = gb.find_assignment(assignment)
    notebooks = []
    for nb in a.notebooks:
        notebooks.append(
            {
                "name": nb.name,
                **_fields(nb, _NOTEBOOK_FIELDS),
                "grade_cells": [
                    {"name": c.name, **_fields(c, _GRADED_CELL_FIELDS)} for c in nb.grade_cells
                ],
                "solution_cells": [{"name": c.name} for c in nb.solution_cells],
                "task_cells": [
                    {"name": c.name, **_fields(c, _GRADED_CELL_FIELDS)} for c in nb.task_cells
                ],
                "source_cells": [
                    {"name": c.name, **_fields(c, _SOURCE_CELL_FIELDS)} for c in nb.source_cells
                ],
            }
        )
    notebooks.sort(key=lambda n: n["name"])
    for nb in notebooks:
        for kind in ("grade_cells", "solution_cells", "task_cells", "source_cells"):
            nb[kind].sort(key=lambda c: c["name"])
    return {"name": a.name, **_fields(a, _ASSIGNMENT_FIELDS), "notebooks": notebooks}


def write_assignment_definition(gb: Any, definition: dict[str, Any]) -> None:
    """Record `definition` (from assignment_definition) in gradebook `gb`."""
    name = definition["name"]
    gb.update_or_create_assignment(name, **{k: definition[k] for k in _ASSIGNMENT_FIELDS})
    for nb in definition["notebooks"]:
        gb.update_or_create_notebook(nb["name"], name, **{k: nb[k] for k in _NOTEBOOK_FIELDS})
        for c in nb["grade_cells"]:
            gb.update_or_create_grade_cell(
                c["name"], nb["name"], name, **{k: c[k] for k in _GRADED_CELL_FIELDS}
            )
        for c in nb["solution_cells"]:
            gb.update_or_create_solution_cell(c["name"], nb["name"], name)
        for c in nb["task_cells"]:
            gb.update_or_create_task_cell(
                c["name"], nb["name"], name, **{k: c[k] for k in _GRADED_CELL_FIELDS}
            )
        for c in nb["source_cells"]:
            gb.update_or_create_source_cell(
                c["name"], nb["name"], name, **{k: c[k] for k in _SOURCE_CELL_FIELDS}
            )
    gb.db.commit()


def submission_record(gb: Any, assignment: str, student: str) -> dict[str, Any] | None:
    """A submission's record in gradebook `gb`, or None when there is no such submission."""
    from nbgrader.api import MissingEntry

    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return None
    notebooks = {}
    for nb in sub.notebooks:
        notebooks[nb.name] = {
            **_fields(nb, _SUBMITTED_NOTEBOOK_FIELDS),
            "grades": {g.name: _fields(g, _GRADE_FIELDS) for g in nb.grades},
            "comments": {c.name: _fields(c, _COMMENT_FIELDS) for c in nb.comments},
        }
    return {
        "student": _fields(sub.student, _STUDENT_FIELDS),
        **_fields(sub, _SUBMISSION_FIELDS),
        "notebooks": notebooks,
    }


def write_submission_record(
    gb: Any, assignment: str, student: str, record: dict[str, Any], *, with_student: bool = False
) -> None:
    """Upsert a submission's record (from submission_record) into gradebook `gb`.

    The student is created when missing; `with_student` also copies their name, e-mail and
    LMS id (the worker's private copy; the course's gradebook keeps its own). Commits once
    at the end; nbgrader's update_or_create_* commit the rows they create on the way.
    """
    student_fields = record["student"] if with_student else {}
    gb.update_or_create_student(student, **student_fields)
    kwargs = {k: record[k] for k in _SUBMISSION_FIELDS if record[k] is not None}
    sub = gb.update_or_create_submission(assignment, student, **kwargs)
    for nb in sub.notebooks:
        saved = record["notebooks"].get(nb.name)
        if saved is None:
            continue
        for k in _SUBMITTED_NOTEBOOK_FIELDS:
            setattr(nb, k, saved[k])
        for grade in nb.grades:
            for k, v in saved["grades"].get(grade.name, {}).items():
                setattr(grade, k, v)
        for comment in nb.comments:
            for k, v in saved["comments"].get(comment.name, {}).items():
                setattr(comment, k, v)
    gb.db.commit()
