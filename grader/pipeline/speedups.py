"""What nbgrader pays again at every call, paid once per grading worker process.

`speed_up_nbgrader()` is called once in each grading worker (a local worker's initializer,
a Dask worker's plugin), never in the instructor's process. Grades are unchanged: the same
statements run against the same gradebook, the same schema judges the same metadata.

- **One SQLAlchemy engine per gradebook URL** (`share_engines`): nbgrader's `Gradebook`
  makes a new engine at every open (about 14 opens per graded notebook), each with an empty
  cache of compiled statements, so every query of nbgrader's ORM was compiled again: the
  largest part of a worker's own CPU per notebook (docs/performance.md). Each open also
  asked the database for every table (`create_all`); on a shared engine that is done once.
  Each close disposed the engine, so each open also made a new connection (on PostgreSQL a
  new server process); on a shared engine the pooled connection is kept.
- **A gradebook's tables and course row checked once** (`open_gradebooks_once`, part of
  `share_engines`): every open also listed the database's tables (to know whether to stamp
  alembic's version on a new database) and looked up, and committed, the course's row: two
  queries and a commit per open, 28 of the ~120 statements of a graded notebook. On a
  shared engine whose first open did both, later opens only make their session.
- **The released cells read at once** (`OverwriteCellsAtOnce`, the sanitizing pass's
  `OverwriteCells` in `hooks.execution_config`): nbgrader's step looks up each nbgrader
  cell of the submission in the gradebook, one query per cell and another per graded cell
  (about 18 per notebook); here they are read in four queries and each lookup of
  that notebook is answered from them (the same objects of the same session).
- **nbgrader's cell-metadata schema checked once** (`check_schema_once`): its
  `CheckCellMetadata` step (run twice per notebook) calls `jsonschema.validate` for every
  nbgrader cell, which checks the schema itself against the JSON Schema metaschema before
  it validates the cell; here the schema is checked once and its validator kept.
"""

from __future__ import annotations

from typing import Any

from nbgrader.preprocessors import OverwriteCells


def speed_up_nbgrader() -> None:
    """Every change of this module, in this process (safe to call again)."""
    share_engines()
    check_schema_once()


def share_engines() -> None:
    """From now on in this process, every nbgrader `Gradebook` opened on the same URL (and
    engine options) shares one SQLAlchemy engine: its pool, and its cache of compiled
    statements, which nbgrader's queries otherwise fill again at every open.

    Called once per grading worker process (local workers and Dask workers); safe to call
    again. A `Gradebook`'s close() ends its session and returns its connection to the shared
    pool instead of disposing the engine (nbgrader's close): the connection is kept for the
    next open (one per worker process on PostgreSQL, checked before each use).
    """
    from nbgrader import api

    if getattr(api.create_engine, "backprop_shared", False):
        return
    made: dict[tuple, Any] = {}
    original = api.create_engine

    def create_engine(url: Any, *args: Any, **kwargs: Any) -> Any:
        key = (str(url), args, tuple(sorted(kwargs.items())))
        if key not in made:
            # A pooled connection is kept between opens: checked before each use, so a
            # database server restarted between two notebooks costs a reconnect, not an error.
            ping = {} if str(url).startswith("sqlite") else {"pool_pre_ping": True}
            made[key] = original(url, *args, **{**ping, **kwargs})
        return made[key]

    create_engine.backprop_shared = True  # type: ignore[attr-defined]
    api.create_engine = create_engine

    # Gradebook() also runs create_all on every open: a query per table to find the
    # tables that exist. On a shared engine that has run it once, the tables are there.
    metadata = api.Base.metadata
    create_all = metadata.create_all
    checked: set[int] = set()

    def create_all_once(bind: Any, tables: Any = None, checkfirst: bool = True) -> None:
        shared = any(bind is engine for engine in made.values())
        if shared and tables is None and checkfirst and id(bind) in checked:
            return
        create_all(bind=bind, tables=tables, checkfirst=checkfirst)
        if shared and tables is None and checkfirst:
            checked.add(id(bind))

    metadata.create_all = create_all_once  # type: ignore[method-assign]

    # Gradebook.close() disposes its engine: on a shared engine that closed the pooled
    # connection, so every open connected again (a new SQLite connection; on PostgreSQL a
    # new server process, its caches cold, at every one of ~14 opens per notebook). On a
    # shared engine, closing ends the Gradebook's session (its connection goes back to the
    # pool, its transaction rolled back, as dispose did) and keeps the pool.
    close = api.Gradebook.close

    def close_keeping_pool(self: Any) -> None:
        if any(self.engine is engine for engine in made.values()):
            self.db.remove()
        else:
            close(self)

    api.Gradebook.close = close_keeping_pool  # type: ignore[method-assign]
    open_gradebooks_once(lambda engine: any(engine is e for e in made.values()))


def open_gradebooks_once(shared: Any) -> None:
    """From now on in this process, a `Gradebook` opened on a shared engine (`shared(engine)`
    is true) whose tables and course row an earlier open of this process checked only makes
    its session, as nbgrader's `__init__` does, without those checks again.

    nbgrader's `Gradebook.__init__` runs, at every open: the engine (shared: the same one), a
    session, `inspect(engine).get_table_names()` (whether the database is new, to stamp
    alembic's version), `create_all` (once per shared engine: `share_engines`), and
    `check_course` (finds the course's row, adds it when missing, commits). After the first
    open of an engine and course id in this process, the tables, the version and the row
    are there: the worker's gradebook is never removed while it grades (which the shared
    engine's pooled connection and `create_all` once already rely on), and nothing in
    nbgrader deletes a course. So a later open sets the same attributes (`engine`, `db`,
    `course_id`, `authenticator`) without the two queries and the commit; the first open of
    each (engine, course id), and every open of an engine that is not shared, is nbgrader's
    own. `tests/test_speedups.py` checks the attributes are nbgrader's and the queries gone.
    """
    from nbgrader import api

    if getattr(api.Gradebook.__init__, "backprop_once", False):
        return
    init = api.Gradebook.__init__
    ready: set[tuple[int, str]] = set()  # (id of a shared engine, course id): checked

    def init_once(
        self: Any, db_url: str, course_id: str = "default_course", authenticator: Any = None
    ) -> None:
        engine = api.create_engine(db_url, echo=False, future=True)  # shared: no new engine
        if shared(engine) and (id(engine), course_id) in ready:
            self.engine = engine
            self.db = api.scoped_session(api.sessionmaker(autoflush=True, bind=engine, future=True))
            self.course_id = course_id
            self.authenticator = authenticator
            return
        init(self, db_url, course_id, authenticator)
        if shared(self.engine):
            ready.add((id(self.engine), course_id))

    init_once.backprop_once = True  # type: ignore[attr-defined]
    api.Gradebook.__init__ = init_once  # type: ignore[method-assign]


class _CellsAtOnce:
    """A Gradebook whose `find_source_cell` and `find_graded_cell` of one notebook are
    answered from its cells, read once; everything else is the Gradebook's own."""

    def __init__(self, gradebook: Any, notebook: str, assignment: str) -> None:
        from nbgrader.api import GradeCell, MissingEntry, TaskCell

        self._gradebook, self._key = gradebook, (notebook, assignment)
        self._source: dict[str, Any] = {}
        self._graded: dict[str, Any] = {}
        try:
            source = gradebook.find_notebook(notebook, assignment)
        except MissingEntry:  # nbgrader's own lookups then say so, cell by cell
            return
        self._source = {c.name: c for c in source.source_cells}
        # find_graded_cell: the grade cell of that name, else the task cell (queried as
        # nbgrader queries them: each whole, not its base row first and the rest per cell)
        for cls in (TaskCell, GradeCell):
            rows = gradebook.db.query(cls).filter(cls.notebook_id == source.id).all()
            self._graded.update({c.name: c for c in rows})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gradebook, name)

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> Any:
        if (notebook, assignment) == self._key and name in self._source:
            return self._source[name]
        return self._gradebook.find_source_cell(name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> Any:
        if (notebook, assignment) == self._key and name in self._graded:
            return self._graded[name]
        return self._gradebook.find_graded_cell(name, notebook, assignment)


class OverwriteCellsAtOnce(OverwriteCells):
    """nbgrader's `OverwriteCells`, the notebook's released cells read from the gradebook at
    its first cell instead of one query per cell (module docstring): the same cells, the same
    changes to the submission."""

    def preprocess(self, nb: Any, resources: Any) -> Any:
        self._at_once: _CellsAtOnce | None = None
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: Any, resources: Any, cell_index: int) -> Any:
        if self._at_once is None:  # self.gradebook: nbgrader's, opened by preprocess
            self._at_once = _CellsAtOnce(self.gradebook, self.notebook_id, self.assignment_id)
            self.gradebook = self._at_once
        return super().preprocess_cell(cell, resources, cell_index)


def check_schema_once() -> None:
    """From now on in this process, nbgrader's metadata validation builds one validator per
    schema (the schema checked against its metaschema once) instead of one per cell.

    Raises the same errors as `jsonschema.validate` (the best-matching ValidationError of
    the cell's metadata; a SchemaError for a broken schema, at its first use).
    """
    import jsonschema
    from nbgrader.nbgraderformat import common

    if getattr(common.jsonschema, "backprop_cached", False):
        return
    validators: dict[int, tuple[Any, Any]] = {}  # id(schema) -> (schema, validator)

    def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
        if cls is not None or args or kwargs:
            return jsonschema.validate(instance, schema, cls, *args, **kwargs)
        kept = validators.get(id(schema))
        if kept is None or kept[0] is not schema:
            cls_ = jsonschema.validators.validator_for(schema)
            cls_.check_schema(schema)
            kept = validators[id(schema)] = (schema, cls_(schema))  # keeps the schema alive
        error = jsonschema.exceptions.best_match(kept[1].iter_errors(instance))
        if error is not None:
            raise error

    class _Jsonschema:
        """nbgrader.nbgraderformat.common's `jsonschema`, with `validate` cached."""

        backprop_cached = True

        def __getattr__(self, name: str) -> Any:
            return getattr(jsonschema, name)

    shim = _Jsonschema()
    shim.validate = validate  # type: ignore[attr-defined]
    common.jsonschema = shim
