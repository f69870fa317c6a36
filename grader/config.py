"""A course directory's nbgrader configuration, loaded in-process."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

#: Seconds SQLite waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT = 120
#: When set, the gradebook URL instead of nbgrader_config.py's (`backprop-grader ... --db URL`).
DB_URL_ENV = "BACKPROP_GRADER_DB"


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
    db_url = os.environ.get(DB_URL_ENV) or config.CourseDirectory.get(
        "db_url", f"sqlite:///{course / 'gradebook.db'}"
    )
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

