"""Every assignment of the course (grader.course.ASSIGNMENTS) has its source and release
notebook: a deleted notebook fails here, by name, instead of turning the notebook tests into
fewer green ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import notebook_tools
import pytest

from grader import course
from grader.judge import functions


def test_every_assignment_has_its_source_and_release_notebook():
    missing = notebook_tools.missing_notebooks()
    assert not missing, (
        f"missing: {', '.join(missing)}: restore the source notebook from git, then run "
        "`make release` to regenerate release/"
    )


def test_the_notebook_tests_cover_every_assignment():
    assert notebook_tools.ASSIGNMENTS == list(course.ASSIGNMENTS)


def test_every_assignment_has_records_and_every_record_an_assignment():
    """The notebook tests take each notebook's functions from its records: a notebook without
    records, or a records module whose notebook is not in ASSIGNMENTS, is named here."""
    taught = {r.notebook for r in functions.records()}
    without = [a for a in course.ASSIGNMENTS if a not in taught]
    assert not without, (
        f"{without} have no records: write grader/judge/functions/nb<id>.py (docs/extending.md)"
    )
    stray = sorted(taught - set(course.ASSIGNMENTS))
    assert not stray, f"records of {stray}, not in ASSIGNMENTS: add the id to grader/course.py"


def test_a_deleted_notebook_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The check above can fail: in a copy of the repository's notebooks with one source and
    one release notebook deleted, it names exactly those two."""
    for folder in ("source", "release"):
        shutil.copytree(course.REPO_ROOT / folder, tmp_path / folder)
    gone = [
        "source/03_feedforward/03_feedforward.ipynb",
        "release/05_backprop_W1/05_backprop_W1.ipynb",
    ]
    for rel in gone:
        (tmp_path / rel).unlink()
    monkeypatch.setattr(notebook_tools, "ROOT", tmp_path)
    assert notebook_tools.missing_notebooks() == gone
