"""The checks that the notebooks' test cells call, one per student function.

    from backprop_checks import checks
    checks.check_grad_W2(grad_W2)                # visible: the fixed examples
    checks.check_grad_W2(grad_W2, hidden=True)   # hidden: randomised shapes, at grading time

There is one `check_NAME` per student function, made from its record
(`backprop_checks.catalog`): `help(checks.check_grad_W2)` says what it checks.

A check returns None and prints one short line when the function is right; otherwise it
raises `CheckFailure` (an AssertionError) whose message names the misconception with a tag
such as `[M3]` (the course's table of mistakes), states expected vs got on which input
shapes, and says where to look. Nothing is ever written to stderr.

Each check is three steps that can run apart (a sandbox may call the student's function in
another process and send the observations back):

    cases = backprop_checks.catalog.visible_cases(name)
    obs = [backprop_checks.observe.observe(fn, build_args(c), ...) for c in cases]
    result = judge(name, cases, obs, hidden=False)    # -> CheckResult, raises nothing

The right answers come from a `Truth` (`backprop_checks.judging`): for the visible examples
the package's data file; for hidden checks the instructor's package (`grader.judge.hidden`),
present only where notebooks are graded. Where it is absent a hidden check prints that it
runs at grading time and passes. No module of this package computes a right answer of any
student function.

The package, by purpose (each module's docstring lists its sections):

    catalog    what the checks are: the functions' records, the misconceptions, the
               cases, the data file (visible.json), the start-here's course table
    observe    one call of the student's function, recorded (what the verification
               process imports, with catalog)
    mistakes   naming what went wrong: the explanations, the known wrong answers, blame
    verdict    what the student reads: CheckResult, CheckFailure, the message
    judging    observations -> CheckResult: the right answers (Truth), reading the returned
               values, judging each case, the training check
    checks     this module: check_NAME, what the test cells call
    version    the version from the package's files; released_with, for the setup cells
    figures    a figure with its description, for the notebooks
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from backprop_checks import catalog
from backprop_checks.judging import (
    HiddenUnavailable,
    Truth,
    VisibleData,
    extract,
    hidden_elsewhere_message,
    instructor,
    judge,
    truth_for,
)
from backprop_checks.mistakes import Explanation, notebook_of, provided_in
from backprop_checks.observe import Observation, observe_cases
from backprop_checks.verdict import CheckFailure, CheckResult, Verdict, message_of

__all__ = [
    "PROVIDED",
    "CheckFailure",
    "CheckResult",
    "HiddenUnavailable",
    "Truth",
    "VisibleData",
    "check",
    "extract",
    "hidden_elsewhere_message",
    "judge",
    "own_helpers",
    "provided_in",
    "run_check",
    "truth_for",
]  # and one check_NAME per student function, made below

#: The functions each notebook gives in its locked setup and "provided" cells (not the
#: student's there), read from the source notebooks by `make handout`.
PROVIDED: dict[str, frozenset[str]] = catalog.provided()


# --------------------------------------------------------------------------- running


def run_check(
    name: str, fn: Any, *, hidden: bool = False, seed: int = catalog.DEFAULT_SEED
) -> CheckResult:
    """Build the cases, observe fn on each, judge: the CheckResult (raises nothing on a wrong
    answer)."""
    truth = truth_for(name, hidden=hidden)
    if hidden:
        case_list = instructor().hidden_cases(name, seed)
    else:
        case_list = catalog.visible_cases(name)
    observations = observe_cases(fn, case_list)
    case_list = case_list[: len(observations)]  # an untouched stub is called only once
    result = judge(name, case_list, observations, hidden=hidden, truth=truth)
    result = _with_helpers(name, fn, case_list, observations, result, truth)
    result.stdout = _printed(observations)
    return result


def _code_names(code: types.CodeType) -> set[str]:
    """The global names a code object (and the functions, lambdas, comprehensions nested in
    it) refers to."""
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= _code_names(const)
    return out


def own_helpers(name: str, fn: Any) -> dict[str, tuple[Any, str]]:
    """The student's other functions of the same notebook that fn calls, directly or through
    one another, in teaching order: {helper: (the function, the student function it is
    called through, "" when fn calls it itself)}. Found from the names fn's code uses,
    resolved in its globals (the notebook's namespace); provided functions are not the
    student's and are left out."""
    notebook = notebook_of(name)
    if notebook is None:
        return {}
    found: dict[str, tuple[Any, str]] = {}
    todo: list[tuple[Any, str]] = [(fn, "")]
    while todo:
        f, via = todo.pop(0)
        code = getattr(f, "__code__", None)
        glb = getattr(f, "__globals__", None)
        if not isinstance(code, types.CodeType) or not isinstance(glb, dict):
            continue
        for ref in sorted(_code_names(code)):
            g = glb.get(ref)
            if ref == name or ref in found or not callable(g) or notebook_of(ref) != notebook:
                continue
            found[ref] = (g, via)
            todo.append((g, via or ref))
    return {k: found[k] for k in catalog.FUNCTIONS if k in found}


def _with_helpers(
    name: str,
    fn: Any,
    case_list: list[catalog.Case],
    observations: list[Observation],
    result: CheckResult,
    truth: Truth,
) -> CheckResult:
    """A failing verdict of a function that calls the student's other functions of the
    notebook, re-read in their light: when one fails its own visible check, that helper is
    named (fix it first); when they all pass, an exception raised inside one of them is
    blamed on the call that gave it its arguments."""
    if result.passed:
        return result
    helpers = own_helpers(name, fn)
    for helper, (helper_fn, via) in helpers.items():
        own = _helper_result(helper, helper_fn)
        if not own.passed:
            return _blame_helper(name, case_list, result, helper, via, own)
    if not helpers:
        return result
    sound = frozenset(helpers)
    return judge(name, case_list, observations, hidden=result.hidden, truth=truth, sound=sound)


def _helper_result(helper: str, fn: Any) -> CheckResult:
    """A helper's own visible check, run silently (its prints stay captured)."""
    truth = truth_for(helper, hidden=False)
    cases = catalog.visible_cases(helper)
    observations = observe_cases(fn, cases)
    cases = cases[: len(observations)]
    result = judge(helper, cases, observations, hidden=False, truth=truth)
    return _with_helpers(helper, fn, cases, observations, result, truth)


def _blame_helper(
    name: str,
    cases: list[catalog.Case],
    result: CheckResult,
    helper: str,
    via: str,
    own: CheckResult,
) -> CheckResult:
    """The composite function's verdict when a helper it calls fails its own check: the
    helper is named with what its check says; the function itself gets no tag."""
    said = own.message.splitlines()[0].removeprefix(f"{helper}: ").rstrip(".")
    through = f" (through your {via})" if via else ""
    text = (
        f"your {name} calls your {helper}{through}, which fails its own check ({said}): "
        f"fix {helper} first, then run this cell again."
    )
    hint = (
        f"{name} is graded with your own {helper}, as it runs in your notebook: once {helper} "
        "passes its check, check this one again."
    )
    case = next((c for c in cases if c["id"] == result.case_id), cases[0])
    verdict = Verdict(False, [Explanation((), text, hint)])
    message, hint = message_of(name, case, verdict, result.hidden)
    return CheckResult(name, False, message, [], hint, result.hidden, result.n_cases, case["id"])


#: Most characters of a student's own prints shown by one check.
PRINT_LIMIT = 10_000


def _printed(observations: list[Observation]) -> str:
    """What the student's function printed to stdout over all calls, capped at PRINT_LIMIT
    (stderr stays captured: nbgrader scores any stderr output as a failure)."""
    text = "".join(o.stdout for o in observations)
    if len(text) > PRINT_LIMIT:
        cut = len(text) - PRINT_LIMIT
        text = text[:PRINT_LIMIT] + f"\n... ({cut} more characters printed by your function)\n"
    return text


def check(name: str, fn: Any, *, hidden: bool = False, seed: int = catalog.DEFAULT_SEED) -> None:
    """Run one check: print one line when fn is right, raise CheckFailure when it is not.

    What fn itself prints (its debugging prints) is shown first, on stdout. A hidden check
    where the instructor's package is absent (a student's environment) prints that it runs at
    grading time and returns.
    """
    __tracebackhide__ = True  # noqa: F841 - IPython and pytest hide this frame
    try:
        result = run_check(name, fn, hidden=hidden, seed=seed)
    except HiddenUnavailable as exc:
        print(exc)
        return
    if result.stdout:
        sys.stdout.write(result.stdout if result.stdout.endswith("\n") else result.stdout + "\n")
    if not result.passed:
        raise CheckFailure(result)
    print(result.message)


# --------------------------------------------------------------------------- check_NAME


def _check_doc(spec: catalog.Function) -> str:
    """The docstring of check_NAME, from the function's record."""
    args = "\n".join(f"            {arg}: {what}" for arg, what in spec.args.items())
    return f"""Check your {spec.signature()}: {spec.about}.

        The check calls your {spec.name} as {spec.signature()} with
{args}
        and it returns {spec.returns}.

        Args:
            {spec.name}: your function.
            hidden: run the hidden tests (randomised inputs of many shapes, after the
                visible examples) instead of the visible examples alone; they run where
                your notebook is graded, and elsewhere say so and return.
            seed: the hidden inputs' seed (the course's by default, so a grade can be
                reproduced).

        Prints one line when {spec.name} is right. When it is not, raises CheckFailure (an
        AssertionError) whose message names the mistake (a tag such as [M3] for a known
        misconception), shows expected and got on which inputs, and says where to look.
        """


def _make_check(name: str):
    """check_NAME(NAME, *, hidden=False, seed=DEFAULT_SEED) for one student function."""
    signature = inspect.Signature(
        [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="Any"),
            inspect.Parameter(
                "hidden", inspect.Parameter.KEYWORD_ONLY, default=False, annotation="bool"
            ),
            inspect.Parameter(
                "seed",
                inspect.Parameter.KEYWORD_ONLY,
                default=catalog.DEFAULT_SEED,
                annotation="int",
            ),
        ],
        return_annotation="None",
    )

    def check_function(*args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True  # noqa: F841 - IPython and pytest hide this frame
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments
        check(name, given[name], hidden=given["hidden"], seed=given["seed"])

    check_function.__name__ = check_function.__qualname__ = f"check_{name}"
    check_function.__module__ = __name__
    check_function.__doc__ = _check_doc(catalog.get(name))
    check_function.__signature__ = signature  # type: ignore[attr-defined]
    return check_function


for _name in catalog.FUNCTIONS:
    globals()[f"check_{_name}"] = _make_check(_name)
    __all__.append(f"check_{_name}")
del _name
