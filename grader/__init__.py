"""backprop-course's instructor package, split by where the code runs.

- `judge/`: the reference implementation, the hidden cases, the right answers and the
  misconception variants (imported by the grading kernel's hidden checks);
- `sandbox/`: what runs student code in bubblewrap with resource limits;
- `verify/`: each graded function re-run and re-judged in a fresh sandboxed process;
- `pipeline/`: the instructor's steps (collect, autograde, feedback, export, report);
- `learner/`: a learner's workspace and selfcheck;
- `handout/`: builds the student package's data;
- `cli/`: the `backprop-grader` command line;
- `course.py`, `config.py`: the course directory and its nbgrader configuration.

Imports flow one way: cli -> {learner, handout} -> pipeline -> verify -> sandbox -> judge
-> backprop_checks (the student package); course and config sit below every layer above
judge (tests/test_layout.py checks it).
"""

__version__ = "0.1.0"
