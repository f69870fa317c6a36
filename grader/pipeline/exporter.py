"""nbconvert's notebook exporter, validating the notebook where it matters.

nbconvert validates the whole notebook against nbformat's schema after every preprocessor
(`Exporter._validate_preprocessor`): nbgrader's Autograde runs two passes (5 sanitizing
steps, then the course's 9 grading steps), so 14 validations of every notebook, about a
tenth of a grading worker's own CPU (docs/performance.md). `ValidateWhereItMatters`
(`Autograde.exporter_class` in `hooks.execution_config`) keeps the ones that can fail:

- after a pass's first step: the submitted notebook, as the student's file left it, is
  first checked there (a notebook invalid in a way clearing outputs does not fix fails at
  the same step as before);
- after a step that runs the notebook (`ExecutePreprocessor` and its subclasses, such as
  `SandboxedExecute`): the outputs a student's code produced enter the notebook there;
- right before a step that writes the gradebook (`SaveAutoGrades`, `AssignLatePenalties`):
  nothing is recorded from a notebook that is not valid;
- after a pass's last step: what nbgrader writes to disk is valid.

The steps in between are nbgrader's and the course's own rewriting of a valid notebook
(clearing outputs, metadata and ignored patterns, capping outputs, copying the released
cells back, checking cell metadata); a notebook one of them made invalid still fails, at
the next validation, before anything is recorded. nbformat's check on writing a notebook is
unchanged.

Reading the notebook (`from_file`, once per pass) skips nbformat's validation on reading:
that check only logs an invalid notebook ("Notebook JSON is invalid", never raised) and
repairs missing or repeated cell ids, which nbconvert's `_preprocess` repairs again
(`nbformat.validator.normalize`) before the first step, after which the notebook is validated
and an invalid one fails. The first pass reads the student's file, which
`grader.pipeline.failures.unreadable` has already validated (an invalid one is never given
to nbgrader); the second reads what the first pass wrote, validated before it was written.
So only the log line of a notebook no route gives to nbgrader is gone, and 2 of about 17
validations of the whole notebook per graded submission.
"""

from __future__ import annotations

from typing import Any

from nbconvert.exporters import NotebookExporter


def validation_matters(preprocessors: list[Any], preprocessor: Any) -> bool:
    """Whether the notebook is validated after `preprocessor`, one of the pass's steps
    `preprocessors` (in order): see the module docstring."""
    from nbconvert.preprocessors import ExecutePreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    at = next((i for i, p in enumerate(preprocessors) if p is preprocessor), None)
    if at is None or at in (0, len(preprocessors) - 1):
        return True
    if isinstance(preprocessor, ExecutePreprocessor):
        return True
    return isinstance(preprocessors[at + 1], (SaveAutoGrades, AssignLatePenalties))


class ValidateWhereItMatters(NotebookExporter):
    """nbconvert's NotebookExporter, validating after the steps `validation_matters` names."""

    #: How many validations every exporter of this process ran and skipped, together (one
    #: count per worker process, read by benchmarks/worker_cpu.py and the tests).
    counts = {"validated": 0, "skipped": 0}

    def from_file(self, file_stream: Any, resources: Any = None, **kw: Any) -> Any:
        """nbconvert's `from_file` (the notebook read as version 4), without nbformat's
        validation on reading (module docstring): `nbformat.reads` less its `validate`."""
        from grader.verify.cells import reads_unvalidated

        return self.from_notebook_node(
            reads_unvalidated(file_stream.read()), resources=resources, **kw
        )

    def _validate_preprocessor(self, nbc: Any, preprocessor: Any) -> None:
        if validation_matters(self._preprocessors, preprocessor):
            self.counts["validated"] += 1
            super()._validate_preprocessor(nbc, preprocessor)
        else:
            self.counts["skipped"] += 1
