"""Every assignment of the course (grader.course.ASSIGNMENTS) has its source and release
notebook: a deleted notebook fails here, by name, instead of turning the notebook tests into
fewer green ones."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
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


#: "Three traps ...:" followed by a bullet list: the number a sentence announces.
_COUNTED_LIST = re.compile(
    r"\b(Two|Three|Four|Five|Six)\b[^.:\n]*:\n\n((?:[*-] .*\n(?:  .*\n)*)+)", re.IGNORECASE
)
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def test_a_list_announced_with_a_number_has_that_many_items():
    """01 once said "Two traps this notebook's tests look for:" above three bullets."""
    paths = [notebook_tools.source_path(a) for a in course.ASSIGNMENTS]
    paths += sorted((notebook_tools.ROOT / "notebooks").rglob("*.ipynb"))
    counted = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for m in _COUNTED_LIST.finditer(cell.source + "\n"):
                items = len(re.findall(r"^[*-] ", m.group(2), re.MULTILINE))
                counted.append((path.name, cell.id, m.group(1), items))
                assert items == _NUMBERS[m.group(1).lower()], (
                    f"{path.name}, cell {cell.id}: {m.group(0).splitlines()[0]!r} is followed "
                    f"by {items} items"
                )
    assert ("01_partial_derivatives.ipynb", "numerical-gradient-idea", "Four", 4) in counted


def test_release_notebooks_speak_to_a_class_student_too():
    """A class student reads the release notebooks from a zip: no "self-study" jargon; where a
    self-study place is named (the workspace), the zip's place is named first."""
    for assignment in course.ASSIGNMENTS:
        path = notebook_tools.ROOT / "release" / assignment / f"{assignment}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            text = " ".join(cell.source.split())
            assert "self-study" not in text, f"{assignment}, cell {cell.id}: {text[:200]}"
            if "workspace" in text and cell.id == "summary":
                assert "in the same folder as this notebook" in text, text
