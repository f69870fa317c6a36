"""The version of the checks a notebook is released with, written into its setup cell.

Each source notebook's locked setup cell ends with `released_with("source")`
(`backprop_checks.version.released_with`). `nbgrader generate_assignment`, configured in
nbgrader_config.py to run `StampChecksVersion` first, writes there the version of the
student package it runs with (`backprop_checks.__version__`, derived from the package's
files), before nbgrader computes the cells' checksums and saves them in the gradebook: the
release notebook then says, in one line, when the checks installed next to it are not the
ones it came with. `make release`, `make handout`'s zips, and an instructor's own
`nbgrader generate_assignment` all go through it, so release/ is stale (a test says
`make release`) whenever the student package changes.
"""

from __future__ import annotations

import re

from backprop_checks.version import VERSION
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors.base import NbGraderPreprocessor

#: The call in a setup cell, with the version it passes (group "version").
CALL = re.compile(r"""released_with\((?P<q>["'])(?P<version>[^"'\n]*)(?P=q)\)""")


def stamp_source(source: str, version: str = VERSION) -> str:
    """A cell's source with every `released_with("...")` passing `version`."""
    return CALL.sub(lambda m: f'released_with("{version}")', source)


def released_version(source: str) -> str | None:
    """The version a cell's `released_with(...)` passes, or None when it has none."""
    found = CALL.search(source)
    return found["version"] if found else None


class StampChecksVersion(NbGraderPreprocessor):
    """nbgrader preprocessor: the setup cell's `released_with(...)` gets the current version."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type == "code" and "released_with(" in cell.source:
            cell.source = stamp_source(cell.source)
        return cell, resources
