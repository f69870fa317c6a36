"""Verdicts a student cannot change: each graded function re-run and re-judged in a fresh
sandboxed process after the notebook ran (`launch`), so a notebook that patches the checks
or the gradebook in its own kernel cannot pass."""
