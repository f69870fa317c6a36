"""Every assignment of the course (grader.course.ASSIGNMENTS) has its source and release
notebook: a deleted notebook fails here, by name, instead of turning the notebook tests into
fewer green ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import notebook_tools
import pytest

from grader import course


def test_every_assignment_has_its_source_and_release_notebook():
    missing = notebook_tools.missing_notebooks()
    assert not missing, (
        f"missing: {', '.join(missing)}: restore the source notebook from git, then run "
        "`make release` to regenerate release/"
    )


def test_the_notebook_tests_cover_every_assignment():
    assert notebook_tools.ASSIGNMENTS == list(course.ASSIGNMENTS)
    assert list(notebook_tools.TOTALS) == list(course.ASSIGNMENTS)


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
