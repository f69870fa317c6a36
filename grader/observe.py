"""Observing a call of a student's function: the student package's `backprop_checks.observe`,
re-exported for the instructor's code (same classes, so observations made on either side
are judged alike)."""

from __future__ import annotations

from backprop_checks.observe import *  # noqa: F403 - re-exported
from backprop_checks.observe import (  # noqa: F401 - re-exported by name
    ErrorInfo,
    Observation,
    Returned,
    describe,
    from_json,
    observe,
    observe_cases,
    to_json,
)
