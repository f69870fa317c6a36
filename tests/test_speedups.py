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
