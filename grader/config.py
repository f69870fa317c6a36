"""A course directory's nbgrader configuration, loaded in-process, and its gradebook: the
database URL nbgrader_config.py names, which `--db URL` writes there once (set_db_url) so
every command, `nbgrader` and formgrader read the same one."""

from __future__ import annotations

import os
import re
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

#: Seconds SQLite waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT = 120
#: Read by the nbgrader_config.py of courses made before `--db` was kept in the course: the
#: gradebook's URL instead of the file's. Nothing sets it any more (the cluster's workers
#: clear it); `--db URL` writes the URL into the course's nbgrader_config.py instead.
DB_URL_ENV = "BACKPROP_GRADER_DB"
#: The lines `--db URL` writes at the end of a course's nbgrader_config.py (set_db_url).
DB_BLOCK_BEGIN = "# >>> the gradebook of this course (written by backprop-grader --db URL)"
DB_BLOCK_END = "# <<< the gradebook of this course"


class CourseError(RuntimeError):
    """The course directory is not usable; the message says what to do."""


def require_course(course: Path) -> Path:
    """`course`, resolved, when it is a course directory (holds nbgrader_config.py).

    Raises:
        CourseError: it is not; the message says what to do.
    """
    course = Path(course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise CourseError(
            f"{course} is not a course directory (no nbgrader_config.py); cd into your "
            "course folder (release --course DIR makes one) or pass --course DIR"
        )
    return course


def course_config(course: Path) -> Config:
    """The course's nbgrader_config.py as a Config, rooted at `course`.

    The SQLite gradebook URL gets a busy timeout so parallel workers wait for each
    other's short write transactions instead of failing with "database is locked".

    Raises:
        CourseError: `course` has no nbgrader_config.py.
    """
    course = require_course(course)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    # nbgrader_config.py says which gradebook, and nothing else does: nbgrader's own tools
    # (formgrader, `nbgrader autograde`) read the same file.
    db_url = config.CourseDirectory.get("db_url", f"sqlite:///{course / 'gradebook.db'}")
    config.CourseDirectory.db_url = with_busy_timeout(str(db_url))
    return config


def with_busy_timeout(db_url: str) -> str:
    """`db_url` with SQLite's busy timeout set (other databases are left alone)."""
    if not db_url.startswith("sqlite:") or "timeout=" in db_url:
        return db_url
    sep = "&" if "?" in db_url else "?"
    return f"{db_url}{sep}timeout={SQLITE_BUSY_TIMEOUT}"


def db_url(course: Path) -> str:
    """The course gradebook's SQLAlchemy URL (with the busy timeout)."""
    return str(course_config(course).CourseDirectory.db_url)


def assignments_of(course: Path) -> list[str]:
    """Assignment ids that have a source folder in the course, sorted."""
    source = Path(course) / "source"
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))


# ---------------------------------------------------------------- the course's gradebook


def safe_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ***, without the SQLite busy
    timeout this module adds."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url.split("@")[-1]
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.difference_update_query(["timeout"])
    return parsed.render_as_string(hide_password=True)


def check_db_url(url: str, cwd: Path | None = None) -> str:
    """`url` as a course keeps it: a SQLite file's path made absolute (from `cwd`, default
    the current folder), since nbgrader reads a relative one from wherever it runs.

    Raises:
        ValueError: `url` is not a database URL (the message shows one that is).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(
            f"--db {url!r} is not a database URL: give e.g. "
            "postgresql+psycopg://grader:PASSWORD@host/backprop or sqlite:////path/gradebook.db"
        ) from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            path = (Path(cwd) if cwd else Path.cwd()).resolve() / path
            url = parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def same_db(a: str, b: str) -> bool:
    """Whether two URLs name one database (SQLite's busy timeout and spelling aside)."""
    from sqlalchemy.engine import make_url

    def key(url: str) -> tuple:
        u = make_url(url)
        query = {k: v for k, v in u.query.items() if k != "timeout"}
        return (u.get_backend_name(), u.username, u.host, u.port, u.database, sorted(query.items()))

    return key(a) == key(b)


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def gradebook_contents(url: str) -> tuple[int, int] | None:
    """(students, submissions) in the nbgrader gradebook at `url`; None when there is no
    gradebook there (a SQLite file that does not exist: this never creates one).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or read.
    """
    from sqlalchemy import create_engine, inspect, text

    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            count = {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0)
                for t in ("student", "submitted_assignment")
                if t in tables
            }
    finally:
        engine.dispose()
    return count.get("student", 0), count.get("submitted_assignment", 0)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _without_db_block(text: str) -> str:
    pattern = re.escape(DB_BLOCK_BEGIN) + r".*?" + re.escape(DB_BLOCK_END) + r"[^\n]*\n?"
    return re.sub(r"\n*" + pattern, "\n", text, flags=re.DOTALL).rstrip("\n") + "\n"


def forget_db_url(course: Path) -> bool:
    """Take the `--db` block out of a course's nbgrader_config.py (a new course copied from
    one that had it starts on its own gradebook.db); whether there was one."""
    path = Path(course) / "nbgrader_config.py"
    text = path.read_text(encoding="utf-8")
    if DB_BLOCK_BEGIN not in text:
        return False
    _write_config(path, _without_db_block(text))
    return True


def _write_config(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)


def set_db_url(course: Path, url: str) -> str:
    """Make `url` the course's gradebook for good: written at the end of its
    nbgrader_config.py (between DB_BLOCK_BEGIN and DB_BLOCK_END), which every command,
    `nbgrader` and formgrader read. Returns a line for the instructor ("" when the course
    already used `url`).

    Moving a course off a gradebook that holds students or grades would hide them (nbgrader
    does not copy them), so that is refused; a gradebook with only the assignments in it
    (what `release --course` writes) or none at all is replaced.

    Raises:
        ValueError: `url` is not a database URL.
        CourseError: the course's gradebook holds students or grades, or cannot be read, or
            nbgrader_config.py sets db_url after the block; nothing is changed.
    """
    from sqlalchemy.exc import SQLAlchemyError

    course = require_course(course)
    url = check_db_url(url)
    config_file = course / "nbgrader_config.py"
    current = db_url(course)
    if same_db(current, url):
        return ""
    try:
        held = gradebook_contents(current)
    except SQLAlchemyError as exc:
        raise CourseError(
            f"--db: this course's gradebook is {safe_url(current)} ({config_file}), which "
            f"cannot be read to check it holds no grades ({type(exc).__name__}); start its "
            "database, or drop --db to use it, or change db_url in that file by hand"
        ) from exc
    if held and any(held):
        students, graded = held
        raise CourseError(
            f"--db: this course's gradebook is {safe_url(current)} ({config_file}), which "
            f"holds {_count(students, 'student')} and {_count(graded, 'submission')}; "
            f"--db {safe_url(url)} would "
            "leave them behind. Drop --db to keep using it, or, to start this course over on "
            "the other database, set c.CourseDirectory.db_url in that file and run collect "
            "and autograde again"
        )
    block = "\n".join(
        [
            DB_BLOCK_BEGIN,
            "# Every backprop-grader command, `nbgrader` and formgrader use this database. To move",
            "# the course, change the URL (the grades already given stay in the old database).",
            f"c.CourseDirectory.db_url = {url!r}",
            DB_BLOCK_END,
        ]
    )
    before = config_file.read_text(encoding="utf-8")
    _write_config(config_file, _without_db_block(before).rstrip("\n") + "\n\n" + block + "\n")
    if not same_db(db_url(course), url):
        _write_config(config_file, before)
        raise CourseError(
            f"--db: {config_file} sets c.CourseDirectory.db_url again after the lines --db "
            "writes at its end; set the URL there by hand"
        )
    note = (
        f"this course's gradebook is now {safe_url(url)}, kept in {config_file}: every "
        "later command, nbgrader and formgrader use it without --db"
    )
    old = _sqlite_file(current)
    if old is not None and old.exists():
        note += f" ({old.name}, which held no student, is no longer read)"
    return note
