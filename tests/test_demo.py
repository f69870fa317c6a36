"""The demo class: every misconception of the spec has a student, and each wrong answer the
demo writes is named by the grader as the misconception it stands for."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from backprop_checks import checks

from grader.judge import cases
from grader.judge import reference as ref
from grader.pipeline import demo

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

WRONG_ANSWERS = [
    (function, tag) for function, bodies in demo.WRONG.items() for tag in bodies if tag[0] == "M"
]


def as_function(name: str, body: str):
    """The solution cell a demo student hands in, defined with the notebook's names in scope."""
    scope = {"np": np, "sigmoid": ref.sigmoid, "forward": ref.forward}
    args = ", ".join("eps=1e-5" if a == "eps" else a for a in cases.SIGNATURES[name])
    exec(f"def {name}({args}):\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}", scope)
    return scope[name]


def test_every_misconception_has_a_student():
    tags = {tag for bodies in demo.WRONG.values() for tag in bodies}
    assert set(demo.DEMO_MISCONCEPTIONS) == {f"M{k}" for k in range(1, 14)} <= tags


@pytest.mark.parametrize(("function", "tag"), WRONG_ANSWERS, ids=lambda v: str(v))
def test_the_grader_names_each_demo_mistake(function: str, tag: str):
    fn = as_function(function, demo.WRONG[function][tag])
    result = checks.run_check(function, fn, hidden=True)
    assert not result.passed
    assert tag in result.misconceptions, result.message
