"""Verdicts a student cannot change: each graded submission checked outside the student's
process after nbgrader graded it.

Host side, in the grader's process:

- `submission`: `after_autograde`, the per-submission step (called by
  `grader.pipeline.hooks`) that runs the steps below and adds flags and reasons;
- `launch`: `verify_notebook` starts the verification process in the sandbox, reads back its
  observations and judges them into verdicts;
- `closure`: what that process may import, derived from the package layout;
- `gradebook`: out-of-process verdicts written into nbgrader's gradebook, and SQLite's
  integrity check;
- `static`: flags from an AST scan of the student's cells and from tampered test cells;
- `cells`: nbgrader cell metadata and one-line reasons for broken notebooks.

Inside the sandbox: `runner` (the verification process) and `boot` (starts it where
bubblewrap cannot run).
"""
