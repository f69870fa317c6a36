"""The checks, for the instructor's code: the student package's, re-exported.

Test cells import `backprop_checks.checks` (the student package, `student/`); this module
gives the instructor's code (verification, selfcheck, the demo, the tests) the same API
under its old name:

    from grader import checks
    checks.check_grad_W2(grad_W2)                # visible: the data file's examples
    checks.check_grad_W2(grad_W2, hidden=True)   # hidden: grader.hidden, vs reference.py
    checks.judge(name, cases, observations, hidden=...)

Hidden checks get their cases and right answers from `grader.hidden` (randomised inputs of
many shapes, `grader/reference.py`, the misconception variants computed on each case).
"""

from __future__ import annotations

from backprop_checks.checks import *  # noqa: F403 - the check API, re-exported
from backprop_checks.checks import (  # noqa: F401 - re-exported by name
    CheckFailure,
    CheckResult,
    HiddenUnavailable,
    Truth,
    VisibleData,
    _inputs,
    check,
    extract,
    judge,
    run_check,
    truth_for,
)
