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

`SubmissionWriter` is the cluster instructor's batched reader and writer of submission
records.
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


class SubmissionWriter:
    """The instructor's side of cluster grading: submission records read and upserted into
    one gradebook `gb` (one engine, one session for the whole run), many per transaction.

    nbgrader's API costs tens of round trips per submission (each `update_or_create_*` runs
    its own query and commit, and every object it returns reloads nbgrader's computed
    columns: a score subquery per row). This writes the same rows through nbgrader's own
    tables as a few statements per submission: the student, the submission (created as
    nbgrader's `add_submission` creates it: one notebook row per notebook of the
    assignment, a grade per grade or task cell, a comment per solution or task cell), then
    each notebook's, grade's and comment's fields. Records are keyed by names, so a record
    written twice is one submission.

    `write` puts a batch in one transaction, each submission in its own savepoint: a record
    that cannot be written (an assignment the gradebook does not have, a value the database
    refuses) is rolled back alone and named in the answer, the others are committed. On
    SQLite (no reliable savepoints through pysqlite) each submission is its own transaction.
    """

    def __init__(self, gb: Any) -> None:
        self.gb = gb
        self.db = gb.db
        self._savepoints = gb.engine.dialect.name != "sqlite"
        self._structure: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------ reading

    def record(self, assignment: str, student: str) -> dict[str, Any] | None:
        """What `submission_record` returns, in four queries (None: no such submission)."""
        from nbgrader.api import (
            Assignment,
            BaseCell,
            Comment,
            Grade,
            Notebook,
            Student,
            SubmittedAssignment,
            SubmittedNotebook,
        )
        from sqlalchemy import select

        sa, st = SubmittedAssignment, Student
        row = self.db.execute(
            select(
                sa.id,
                *(getattr(sa, k) for k in _SUBMISSION_FIELDS),
                *(getattr(st, k) for k in _STUDENT_FIELDS),
            )
            .join(Assignment, Assignment.id == sa.assignment_id)
            .join(st, st.id == sa.student_id)
            .where(Assignment.name == assignment, st.id == student)
        ).first()
        if row is None:
            return None
        n_sub = len(_SUBMISSION_FIELDS)
        sn = SubmittedNotebook
        notebooks: dict[str, dict[str, Any]] = {}
        names: dict[str, str] = {}
        for nb_id, name, *fields in self.db.execute(
            select(sn.id, Notebook.name, *(getattr(sn, k) for k in _SUBMITTED_NOTEBOOK_FIELDS))
            .join(Notebook, Notebook.id == sn.notebook_id)
            .where(sn.assignment_id == row[0])
        ):
            names[nb_id] = name
            notebooks[name] = {
                **dict(zip(_SUBMITTED_NOTEBOOK_FIELDS, fields, strict=True)),
                "grades": {},
                "comments": {},
            }
        for model, fields_, key in (
            (Grade, _GRADE_FIELDS, "grades"),
            (Comment, _COMMENT_FIELDS, "comments"),
        ):
            for nb_id, cell, *fields in self.db.execute(
                select(model.notebook_id, BaseCell.name, *(getattr(model, k) for k in fields_))
                .join(BaseCell, BaseCell.id == model.cell_id)
                .where(model.notebook_id.in_(list(names)))
            ):
                notebooks[names[nb_id]][key][cell] = dict(zip(fields_, fields, strict=True))
        return {
            "student": dict(zip(_STUDENT_FIELDS, row[1 + n_sub :], strict=True)),
            **dict(zip(_SUBMISSION_FIELDS, row[1 : 1 + n_sub], strict=True)),
            "notebooks": notebooks,
        }

    # ------------------------------------------------------------ writing

    def write(self, items: list[tuple[str, str, dict[str, Any]]]) -> dict[tuple[str, str], str]:
        """Upsert each (assignment, student, record) and commit; returns the ones that could
        not be written, (assignment, student) -> why (the others are committed).

        Raises:
            sqlalchemy.exc.OperationalError, InterfaceError: the database or the connection
                went away (nothing of this batch is committed on PostgreSQL).
        """
        from sqlalchemy.exc import SQLAlchemyError

        failed: dict[tuple[str, str], str] = {}
        for assignment, student, record in items:
            try:
                if self._savepoints:
                    with self.db.begin_nested():
                        self._upsert(assignment, student, record)
                else:
                    self._upsert(assignment, student, record)
                    self.db.commit()
            except (SQLAlchemyError, LookupError, ValueError, TypeError) as exc:
                if _connection_lost(exc):
                    self.db.rollback()
                    raise
                if not self._savepoints:
                    self.db.rollback()
                failed[(assignment, student)] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self.db.commit()
        return failed

    def _assignment(self, name: str) -> dict[str, Any]:
        """The assignment's ids (cached for the run): its id and, per notebook, its id and
        its cells' ids by kind."""
        if name in self._structure:
            return self._structure[name]
        from nbgrader.api import Assignment, BaseCell, Notebook
        from sqlalchemy import select

        assignment_id = self.db.execute(
            select(Assignment.id).where(Assignment.name == name)
        ).scalar()
        if assignment_id is None:
            raise LookupError(f"the gradebook has no assignment {name!r}")
        notebooks = {
            nb_id: {"name": nb_name, "GradeCell": {}, "SolutionCell": {}, "TaskCell": {}}
            for nb_id, nb_name in self.db.execute(
                select(Notebook.id, Notebook.name).where(Notebook.assignment_id == assignment_id)
            )
        }
        for cell_id, cell, nb_id, kind in self.db.execute(
            select(BaseCell.id, BaseCell.name, BaseCell.notebook_id, BaseCell.type).where(
                BaseCell.notebook_id.in_(list(notebooks))
            )
        ):
            if kind in notebooks[nb_id]:
                notebooks[nb_id][kind][cell] = cell_id
        self._structure[name] = {"id": assignment_id, "notebooks": notebooks}
        return self._structure[name]

    def _upsert(self, assignment: str, student: str, record: dict[str, Any]) -> None:
        from nbgrader import utils
        from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook
        from sqlalchemy import insert, select, update

        structure = self._assignment(assignment)
        db = self.db
        if db.execute(select(Student.id).where(Student.id == student)).first() is None:
            db.execute(insert(Student).values(id=student))
        fields = {k: record[k] for k in _SUBMISSION_FIELDS if record[k] is not None}
        if "timestamp" in fields:
            fields["timestamp"] = utils.parse_utc(fields["timestamp"])
        sa = SubmittedAssignment
        sub_id = db.execute(
            select(sa.id).where(sa.assignment_id == structure["id"], sa.student_id == student)
        ).scalar()
        if sub_id is None:
            sub_id = self._add_submission(structure, student, fields)
        elif fields:
            db.execute(update(sa).where(sa.id == sub_id).values(**fields))
        sn = SubmittedNotebook
        rows = db.execute(select(sn.id, sn.notebook_id).where(sn.assignment_id == sub_id)).all()
        notebooks, grades, comments = [], [], []
        for sn_id, nb_id in rows:
            nb = structure["notebooks"].get(nb_id)
            saved = record["notebooks"].get(nb["name"]) if nb else None
            if saved is None:
                continue
            notebooks.append({"_id": sn_id, **{k: saved[k] for k in _SUBMITTED_NOTEBOOK_FIELDS}})
            graded = {**nb["GradeCell"], **nb["TaskCell"]}
            commented = {**nb["SolutionCell"], **nb["TaskCell"]}
            for cell, values in saved["grades"].items():
                if cell in graded:
                    grades.append({"_nb": sn_id, "_cell": graded[cell], **values})
            for cell, values in saved["comments"].items():
                if cell in commented:
                    comments.append({"_nb": sn_id, "_cell": commented[cell], **values})
        _update_many(db, sn, notebooks, lambda b: sn.id == b("_id"))
        for model, values in ((Grade, grades), (Comment, comments)):
            _update_many(
                db,
                model,
                values,
                lambda b, m=model: (m.notebook_id == b("_nb")) & (m.cell_id == b("_cell")),
            )

    def _add_submission(self, structure: dict[str, Any], student: str, fields: dict) -> str:
        """Insert a submission as nbgrader's `add_submission` does; returns its id."""
        from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook, new_uuid
        from sqlalchemy import insert

        sub_id = new_uuid()
        self.db.execute(
            insert(SubmittedAssignment).values(
                id=sub_id, assignment_id=structure["id"], student_id=student, **fields
            )
        )
        notebooks, grades, comments = [], [], []
        for nb_id, nb in structure["notebooks"].items():
            sn_id = new_uuid()
            notebooks.append({"id": sn_id, "assignment_id": sub_id, "notebook_id": nb_id})
            for kind in ("GradeCell", "TaskCell"):
                grades += [
                    {"id": new_uuid(), "notebook_id": sn_id, "cell_id": c}
                    for c in nb[kind].values()
                ]
            for kind in ("SolutionCell", "TaskCell"):
                comments += [
                    {"id": new_uuid(), "notebook_id": sn_id, "cell_id": c}
                    for c in nb[kind].values()
                ]
        for model, rows in ((SubmittedNotebook, notebooks), (Grade, grades), (Comment, comments)):
            if rows:
                self.db.execute(insert(model.__table__), rows)
        return sub_id


def _update_many(db: Any, model: Any, rows: list[dict[str, Any]], where: Any) -> None:
    """UPDATE `model` once per row (one executemany per set of columns); `where(bindparam)`
    gives the row's condition from its "_"-prefixed keys."""
    from sqlalchemy import bindparam, update

    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if not k.startswith("_"))), []).append(row)
    for columns, group in groups.items():
        stmt = (
            update(model.__table__)
            .where(where(bindparam))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        params = [
            {
                **{k: v for k, v in row.items() if k.startswith("_")},
                **{f"v_{c}": row[c] for c in columns},
            }
            for row in group
        ]
        db.connection().execute(stmt, params)


def _connection_lost(exc: BaseException | None) -> bool:
    """The database or the connection went away (not a problem of one record): `exc` or an
    exception it was raised from or while handling."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (OperationalError, InterfaceError)) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        ):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
