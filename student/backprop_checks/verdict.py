"""A check's verdict: what the student reads (`CheckResult`, `CheckFailure`) and how the
verdicts of a check's cases become it (`result_of`: the first failing case, its message)."""

from __future__ import annotations

import os
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop_checks import catalog, mistakes
from backprop_checks.mistakes import Explanation, close, fmt_values, largest_difference

_GRADER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class CheckFailure(AssertionError):
    """A student's function is wrong; the message says how. `.result` is the CheckResult.

    In IPython (a notebook's test cell) the traceback shows the student's frames (the test
    cell) and the message, without the grader's own frames (`_render_traceback_`).
    """

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result

    def _render_traceback_(self) -> list[str]:
        """IPython's hook for showing this exception: the traceback without grader frames."""
        tb = _without_grader_frames(self.__traceback__)
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                return list(shell.InteractiveTB.structured_traceback(type(self), self, tb, 0))
        except Exception:  # noqa: BLE001 - fall back to the plain format
            pass
        import traceback

        return "".join(traceback.format_exception(type(self), self, tb)).splitlines()


def _without_grader_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback chain without frames of the grader package or of IPython itself."""
    keep = []
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        parts = path.split(os.sep)
        if not path.startswith(_GRADER_DIR) and "IPython" not in parts:
            keep.append(tb)
        tb = tb.tb_next
    out = None
    for t in reversed(keep):
        out = types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


@dataclass
class CheckResult:
    """The verdict of one check.

    name: the student function ("grad_W2"). passed: whether every case was right.
    message: what the student reads (first line: the headline with any [Mk] tags).
    misconceptions: the matched tags, e.g. ["M1"]. hint: one sentence of where to look.
    hidden: which flavour ran. n_cases: how many cases were judged.
    case_id: the case the message is about ("" when passed).
    stdout: what the student's function printed during the check (their own debugging
    prints; `check` shows it in the test cell).
    """

    name: str
    passed: bool
    message: str
    misconceptions: list[str] = field(default_factory=list)
    hint: str = ""
    hidden: bool = False
    n_cases: int = 0
    case_id: str = ""
    stdout: str = ""

    def _repr_html_(self) -> str:  # rendered when a notebook displays a result
        import html

        colour = "#2e7d32" if self.passed else "#c62828"
        return f'<pre style="color:{colour}">{html.escape(self.message)}</pre>'


@dataclass
class Verdict:
    """One case's verdict: ok, why not (explanations), the values shown (component, expected,
    got) and the components the student returned (for M10)."""

    ok: bool
    explanations: list[Explanation] = field(default_factory=list)
    shown: list[tuple[str, Any, Any]] = field(default_factory=list)  # (component, expected, got)
    got: dict[str, np.ndarray] = field(default_factory=dict)


def _hardcoded(case_list, verdicts) -> tuple[int, Explanation] | None:
    """M10: a failing randomised case whose answer equals the answer to a visible example."""
    visible = [(c, v) for c, v in zip(case_list, verdicts, strict=True) if c["kind"] == "visible"]
    if not visible or not all(v.ok for _, v in visible):
        return None
    for i, (case, verdict) in enumerate(zip(case_list, verdicts, strict=True)):
        if case["kind"] != "hidden" or verdict.ok:
            continue
        for comp, arr in verdict.got.items():
            for _, vis in visible:
                old = vis.got.get(comp)
                if old is not None and old.shape == arr.shape and close(arr, old, rtol=1e-9):
                    return i, mistakes.explain_hardcoded(case["name"], comp)
    return None


def _merged_headlines(explanations: list[Explanation]) -> list[str]:
    """One line per explanation, except that explanations with the same tags are one line:
    the tags and titles once, then what each found ("[M12] ...: nan at z = -1000; numpy
    warned ...")."""
    out: list[str] = []
    by_tags: dict[tuple[str, ...], int] = {}
    for e in explanations:
        if e.tags and e.tags in by_tags:
            out[by_tags[e.tags]] = out[by_tags[e.tags]].rstrip(".") + "; " + e.text
            continue
        if e.tags:
            by_tags[e.tags] = len(out)
        out.append(e.headline())
    return out


def message_of(name: str, case: catalog.Case, verdict: Verdict, hidden: bool) -> tuple[str, str]:
    heads = _merged_headlines(verdict.explanations)
    first = f"{name}: {heads[0]}"
    where = "hidden tests, " if hidden and case["kind"] == "hidden" else ""
    lines = [
        first,
        *heads[1:],
        f"  on {where}{case['label']}; inputs: {catalog.input_shapes(case)}.",
    ]
    for comp, exp, got in verdict.shown[:2]:
        label = "" if comp == "result" else f"{comp} "
        shown_exp, shown_got = fmt_values(exp), fmt_values(got)
        digits = 4
        while shown_exp == shown_got and digits < 17:  # enough digits to see the difference
            digits += 3
            shown_exp = fmt_values(exp, digits=digits)
            shown_got = fmt_values(got, digits=digits)
        lines.append(f"  expected {label}{shown_exp}")
        lines.append(f"  got      {label}{shown_got}")
        if exp.shape == got.shape and exp.size > 1:  # one number: the two lines above say it
            lines.append(f"  {label}{largest_difference(exp, got)}")
    hint = next((e.hint for e in verdict.explanations if e.hint), catalog.hint(name))
    if hint:
        lines.append(f"Where to look: {hint}")
    return "\n".join(lines), hint


def _tags(explanations: list[Explanation]) -> list[str]:
    out: list[str] = []
    for e in explanations:
        for t in e.tags:
            if t not in out:
                out.append(t)
    return out


def result_of(
    name: str, cases: list[catalog.Case], verdicts: list[Verdict], hidden: bool
) -> CheckResult:
    n = sum(1 for c in cases if not catalog.is_replay(c))
    failing = [i for i, v in enumerate(verdicts) if not v.ok]
    if not failing:
        if hidden:
            msg = f"{name}: right on all {n} hidden test cases (randomised inputs, many shapes)."
        elif n == 1:
            msg = f"{name}: right on the visible example."
        else:
            msg = f"{name}: right on all {n} visible examples."
        return CheckResult(name, True, msg, [], "", hidden, n, "")
    hard = _hardcoded(cases, verdicts) if hidden else None
    if hard is not None:
        i, expl = hard
        verdicts[i].explanations.insert(0, expl)
    else:
        i = failing[0]
    message, hint = message_of(name, cases[i], verdicts[i], hidden)
    tags = _tags(verdicts[i].explanations)
    return CheckResult(name, False, message, tags, hint, hidden, n, cases[i]["id"])
