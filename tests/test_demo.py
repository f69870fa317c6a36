"""The demo class: every misconception of the spec has a student, and each wrong answer the
demo writes is named by the grader as the misconception it stands for.

Fast: the checks run in this process (no kernel, nbgrader or server), the class's plans are
built from the committed release notebooks."""

from __future__ import annotations

import re
import textwrap

import nbformat
import numpy as np
import pytest
from backprop_checks import checks

from grader import course
from grader.judge import cases
from grader.judge import reference as ref
from grader.pipeline import demo

WRONG_ANSWERS = [
    (function, tag) for function, bodies in demo.WRONG.items() for tag in bodies if tag[0] == "M"
]


def as_function(name: str, body: str):
    """The solution cell a demo student hands in, defined with the notebook's names in scope."""
    scope = {"np": np, "sigmoid": ref.sigmoid, "forward": ref.forward}
    args = ", ".join("eps=1e-5" if a == "eps" else a for a in cases.SIGNATURES[name])
    exec(f"def {name}({args}):\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}", scope)
    return scope[name]


def spec_misconceptions() -> list[str]:
    """The misconceptions docs/course.md defines, from its table's rows (`| M3 | ... |`)."""
    text = (course.REPO_ROOT / "docs" / "course.md").read_text(encoding="utf-8")
    return re.findall(r"^\| (M\d+) \|", text, re.M)


def test_every_misconception_has_a_student():
    """The class the demo builds (its students' plans, from the release notebooks' functions)
    has, for each misconception of the spec, a student who makes that mistake."""
    spec = spec_misconceptions()
    assert spec == [f"M{k}" for k in range(1, len(spec) + 1)] and len(spec) >= 13, spec
    functions = {}
    for a in course.ASSIGNMENTS:
        nb = nbformat.read(course.REPO_ROOT / "release" / a / f"{a}.ipynb", as_version=4)
        meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
        functions[a] = [m["grade_id"] for m in meta if m.get("solution")]
    profiles = demo.class_profiles(list(course.ASSIGNMENTS), functions, students=30)
    made = {
        tag: student
        for student, plan in profiles
        for a in course.ASSIGNMENTS
        for tag in plan[a].values()
        if tag in spec
    }
    assert [m for m in spec if m not in made] == [], "misconceptions no demo student makes"
    # and every mistake the demo writes is one the spec names (or a plain wrong answer)
    unknown = {t for bodies in demo.WRONG.values() for t in bodies if t[0] == "M"} - set(spec)
    assert not unknown, f"demo answers tagged with misconceptions the spec lacks: {unknown}"


@pytest.mark.parametrize(("function", "tag"), WRONG_ANSWERS, ids=lambda v: str(v))
def test_the_grader_names_each_demo_mistake(function: str, tag: str):
    fn = as_function(function, demo.WRONG[function][tag])
    result = checks.run_check(function, fn, hidden=True)
    assert not result.passed
    assert tag in result.misconceptions, result.message
