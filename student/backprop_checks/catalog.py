"""What the checks are: the course's student functions, their cases, the misconceptions
they name, and the data file all of it is read from. Nothing here judges or computes an answer.

Sections, in order:

- the data file, `visible.json` (`DataError`, `function_data`, `visible_records`, `points`,
  `notebooks`, ...): written by the instructor's `make handout` from the functions' records
  (`grader/judge/functions/`); this module only reads it.
- each student function's public record (`Function`, `get`, `find`, `names`, `hint`): how the
  function is called and how its answer is read and named.
- the misconceptions (`MISCONCEPTIONS`, `TAG_HINTS`): the table of docs/course.md.
- the cases (`Case`, `visible_cases`, `build_args`, `SIGNATURES`, `DEFAULT_SEED`, ...): the
  inputs every check feeds to a student's function, plain data that pickles.
- the course at a glance (`show_course`, `tag_list`): what a class student's start-here
  notebook prints, from the data file.

This module and `backprop_checks.observe` (with `version` and `_trusted`, which they import)
are all the verification process imports of the package (`grader.verify.closure`): keep it
free of judging and naming.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from backprop_checks.version import VERSION

# ------------------------------------------------------------ the data file (visible.json)
# The package's data file, `visible.json`: what the checks know without any solution.
#
# `visible.json` is written by the instructor's `backprop-grader handout` (`make handout`)
# from the functions' records (`grader/judge/functions/`); this module only reads it::
#
#     {"format": 2,
#      "functions": {NAME: {the public half of its record (the section below),
#                           "cases": [its visible examples: inputs, right answers, the
#                                     known wrong answers on them]}},
#      "provided": {ASSIGNMENT: [the functions its locked cells provide]},
#      "points": {ASSIGNMENT: {grade_id: points}},
#      "notebooks": {ASSIGNMENT: {"title": ..., "write": [the functions the student writes]}}}
#
# Arrays come back as exact float64 `numpy.ndarray`s (a 0-d array for a stored shape of []).

FORMAT = 2


class DataError(RuntimeError):
    """visible.json is missing or from another version of the package."""


def decode(value: Any) -> Any:
    """The inverse of the handout's encoding: tagged arrays back to float64 ndarrays."""
    if isinstance(value, dict):
        if set(value) == {"ndarray"}:
            spec = value["ndarray"]
            arr = np.array(spec["data"], dtype=np.float64)
            return arr.reshape(tuple(int(s) for s in spec["shape"]))
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    try:
        text = resources.files("backprop_checks").joinpath("visible.json").read_text("utf-8")
    except FileNotFoundError as exc:
        raise DataError(
            "backprop_checks/visible.json is missing: reinstall the backprop-course-checks "
            "wheel your course handed out"
        ) from exc
    raw = json.loads(text)
    if raw.get("format") != FORMAT:
        raise DataError(
            f"visible.json has format {raw.get('format')!r}, this package reads {FORMAT}: "
            "reinstall the backprop-course-checks wheel your course handed out"
        )
    return raw


def function_names() -> list[str]:
    """The course's student functions, in teaching order."""
    return list(_raw()["functions"])


def function_data(name: str) -> dict[str, Any]:
    """The public half of one function's record, as stored (KeyError for another name)."""
    return {k: v for k, v in _raw()["functions"][name].items() if k != "cases"}


def visible_records(name: str) -> list[dict[str, Any]]:
    """The decoded records of one function's visible examples, in order: each a dict with
    id, kind, label, args, context, expected {component: array} and variants {component:
    [{tags, formula, gloss, value, and noise for a rounding-noise value}]}. Fresh objects on
    every call (callers may modify them).
    """
    functions = _raw()["functions"]
    if name not in functions:
        raise KeyError(name)
    out = []
    for rec in functions[name]["cases"]:
        rec = decode(rec)
        for comp_variants in rec["variants"].values():
            for v in comp_variants:
                v["tags"] = tuple(v["tags"])
        out.append(rec)
    return out


def provided() -> dict[str, frozenset[str]]:
    """{assignment: the functions its locked setup and provided cells define}: given by the
    notebook, not the student's there."""
    return {a: frozenset(names) for a, names in _raw()["provided"].items()}


def points(assignment: str) -> dict[str, float]:
    """{grade_id: points} of the assignment's graded cells ({} for an unknown one)."""
    return dict(_raw()["points"].get(assignment, {}))


def assignment_of(grade_id: str) -> str | None:
    """The assignment whose notebook has a graded cell grade_id, or None."""
    for assignment, cells in _raw()["points"].items():
        if grade_id in cells:
            return assignment
    return None


def notebooks() -> dict[str, dict[str, Any]]:
    """{assignment: {"title", "write": [functions], "points": the sum of its test cells'}},
    in course order: the course table of the class start-here (`show_course`)."""
    raw = _raw()
    return {
        a: {**info, "points": sum(raw["points"].get(a, {}).values())}
        for a, info in raw.get("notebooks", {}).items()
    }


# ------------------------------------------------------------ each function's public record
# What the checks know of each student function: the public half of its record.
#
# Every student function of the course has one record, written by the instructor in
# `grader/judge/functions/` (one module per notebook; docs/extending.md). Its public half, the
# fields of `Function` below, says how the function is called and how its answer is read and
# named; `make handout` copies it into this package's `visible.json`, next to the visible
# examples. The instructor half (how its inputs are drawn, its right answers, its known wrong
# formulas) stays in the instructor's package. No field here holds an answer.

#: What a function returns, and so how its answer is read (`Function.result`):
RESULTS: dict[str, str] = {
    "elementwise": "a number for numbers, an array of the input's shape for an array",
    "float": "one Python float",
    "array": "one numpy array",
    "pair": "a tuple of arrays, one per component",
    "gradients": "a dict of arrays, one per component (its keys)",
    "run": "a training run (params, losses), judged by its behaviour",
}


@dataclass(frozen=True, kw_only=True)
class Function:
    """The public half of a student function's record (shipped in visible.json).

    name: the function's name in the notebook ("grad_W2"); its check is `check_<name>`.
    notebook: the assignment whose student writes it ("04_backprop_W2"; the record module's).
    args: each argument, in call order, with what it is: {"H": "(n, h)", "delta2": "(n, o)"}.
    returns: what it returns, for its check's help: "(h, o)".
    about: one line of what it computes, for its check's help.
    hint: one sentence of where to look when the answer is wrong in no recognised way.
    result: how its answer is read, one of RESULTS.
    components: the names of its answer's parts ("result" for a single value; ("H",
        "Y_hat") for a pair; the dict's keys for gradients; none for a run).
    from_loss: its answer is (a gradient of) the loss: minus, twice or 1/n times the right
        answer is named M3, M4, M5.
    numerical: a finite difference: its right answer is the central difference at the
        case's eps (its own error included), compared to 1e-7 of its size, and an O(eps)
        error is named M13.
    derivative: a derivative in closed form (df_dx, sigmoid_prime): minus the right answer
        is named M3, a sign flip (as for a finite difference and an answer from the loss).
    nudges: the argument a numerical gradient nudges ("W"): left changed by about eps, M13.
    bias: the bias whose gradient it is ("b1" or "b2"): one row per sample is M9.
    nan_tag: the tag of an answer holding nan or inf ("M12" for a function built on exp).
    argument_hint: where to look when it raises on its arguments (a type or index error).
    tag_hints: {tag: where to look}, for a misconception worded for this function.
    titles: {tag: title}, a misconception's title worded for this function.
    """

    name: str
    notebook: str = ""
    args: dict[str, str]
    returns: str
    about: str
    hint: str
    result: str = "array"
    components: tuple[str, ...] = ("result",)
    from_loss: bool = False
    numerical: bool = False
    derivative: bool = False
    nudges: str = ""
    bias: str = ""
    nan_tag: str = ""
    argument_hint: str = ""
    tag_hints: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The public half as JSON-ready data (what `make handout` writes to visible.json)."""
        out: dict[str, Any] = {}
        for f in fields(Function):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_data(cls, raw: dict[str, Any]) -> Function:
        """The public half read back from visible.json."""
        known = {f.name for f in fields(Function)}
        kw = {k: v for k, v in raw.items() if k in known}
        kw["components"] = tuple(kw.get("components", ("result",)))
        return Function(**kw)

    def signature(self) -> str:
        """The call as the notebook writes it: "grad_W2(H, delta2)"."""
        return f"{self.name}({', '.join(self.args)})"


@cache
def _all() -> dict[str, Function]:
    return {n: Function.from_data(function_data(n)) for n in function_names()}


def names() -> tuple[str, ...]:
    """Every student function of the course, in teaching order."""
    return tuple(_all())


def get(name: str) -> Function:
    """The public record of student function `name` (KeyError naming the course's functions)."""
    found = _all().get(name)
    if found is None:
        raise KeyError(unknown_name_message(name))
    return found


def find(name: str) -> Function | None:
    """The public record of `name`, or None for a name that is not a student function."""
    return _all().get(name)


def hint(name: str) -> str:
    """Where to look when `name`'s answer is wrong in no recognised way ("" for another name)."""
    found = find(name)
    return found.hint if found else ""


# ------------------------------------------------------------ the misconceptions
# The table of docs/course.md: what each tag's message names, and where to look.

#: What each misconception's message names (docs/course.md's table of mistakes).
MISCONCEPTIONS: dict[str, str] = {
    "M1": "a missing or extra transpose",
    "M2": "wrong shape",
    "M3": "a sign flip",
    "M4": "twice the expected: the loss without the 1/2",
    "M5": "a mean where the course uses a sum",
    "M6": "the double-sigmoid mistake (as in the lecture notes): the sigmoid applied again to "
    "an activation",
    "M7": "a forgotten activation derivative",
    "M8": "a pre-activation vs activation mix-up (Z where H or Y_hat is due, or the reverse)",
    "M9": "the bias gradient is not summed over the samples",
    "M10": "a hard-coded answer: right on the visible example, wrong on randomised inputs",
    "M11": "your function changed its inputs",
    "M12": "a numerically unstable sigmoid",
    "M13": "a numerical gradient off by O(eps): a forward difference, or W left perturbed",
}

#: One sentence of where to look, per misconception.
TAG_HINTS: dict[str, str] = {
    "M1": "write the shapes under each factor: (n, h)^T (n, o) gives (h, o); move the .T to "
    "the factor that needs it.",
    "M2": "write the shape of every factor under the formula and check the product gives the "
    "shape the docstring promises.",
    "M3": "the loss is 1/2 (Y_hat - Y)^2, so its derivative is +(Y_hat - Y): check the order "
    "of the subtraction.",
    "M4": "the course's loss is 1/2 * sum((Y_hat - Y)^2); the 1/2 cancels the 2 from the "
    "square, so no factor 2 is left.",
    "M5": "the loss sums over the samples, so its gradient sums too: use .sum(...), not "
    ".mean(...), and do not divide by n.",
    "M6": "H and Y_hat are already sigmoids: their derivative factor is H * (1 - H) (or "
    "Y_hat * (1 - Y_hat)); applying sigmoid to them again is the lecture notes' mistake.",
    "M7": "every layer's error signal carries the sigmoid's derivative: multiply "
    "elementwise by Y_hat * (1 - Y_hat) (output) or H * (1 - H) (hidden).",
    "M8": "Z is the pre-activation (before the sigmoid) and H / Y_hat the activation "
    "(after it): check which one each formula needs.",
    "M9": "b is added to every sample, so its gradient adds up every sample's share: "
    ".sum(axis=0) over the n rows gives shape (h,) or (o,).",
    "M10": "compute the answer from the arguments; the hidden tests use other numbers and shapes.",
    "M11": "work on new arrays (x = x + 1, or W.copy()) instead of changing the arguments in "
    "place (+=, W[i] = ...).",
    "M12": "np.where(cond, a, b) computes both a and b on every entry before choosing, so "
    "an exp in either branch still overflows where it is not chosen: compute e = "
    "np.exp(-np.abs(z)) (never above 1) and build both branches from e, or clip the input "
    "of exp (np.clip(z, -500, 500)).",
    "M13": "use the central difference (fn(W + eps) - fn(W - eps)) / (2 eps), nudging one "
    "entry at a time, and put each entry back to its old value before moving to the next.",
}


# ------------------------------------------------------------ the cases
# The inputs every check feeds to a student's function: deterministic, serialisable cases.
#
# A case is a plain dict that pickles and crosses a process boundary::
#
#     {"name": "grad_W2",            # the student function
#      "id": "visible-1",            # unique within the function's cases
#      "kind": "visible" | "hidden",
#      "label": "visible example 1 (n=5, c=3, h=4, o=2)",
#      "args": {"H": ndarray, "delta2": ndarray},   # in call order
#      "context": {...}}             # data the judge needs and the call does not get
#
# An argument that is a function (numerical_derivative's `g`, numerical_gradient's `fn`) is
# described by data, {"callable": "poly", "coeffs": ...} or {"callable": "quadratic", ...};
# `build_args(case)` turns a case into the call's positional arguments, on either side of a
# process boundary. The visible cases come from the package's data file (`visible_cases`);
# the hidden ones are generated by the instructor's package at grading time.


class Case(TypedDict):
    """One case of a check (plain data: it pickles and crosses a process boundary; the
    module's section "the cases" shows an example). The one definition: the instructor's
    package imports it."""

    name: str  #: the student function, "grad_W2"
    id: str  #: unique within the function's cases, "visible-1"
    kind: str  #: "visible" or "hidden"
    label: str  #: for a message, "visible example 1 (n=5, c=3, h=4, o=2)"
    args: dict[str, Any]  #: the call's arguments by name, in call order
    context: dict[str, Any]  #: data the judge needs and the call does not get


SIGNATURES: dict[str, tuple[str, ...]]
"""Every student function of the course, in teaching order, with its arguments in call order
(from the functions' records, `grader/judge/functions/`, via the data file)."""
FUNCTIONS: tuple[str, ...]
"""The student functions, in teaching order."""


def __getattr__(attr: str) -> Any:
    """SIGNATURES and FUNCTIONS, read from the data file when first asked for (so that this
    package imports where the data file is still to be built: `make handout`)."""
    if attr not in ("SIGNATURES", "FUNCTIONS"):
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
    signatures = {n: tuple(function_data(n)["args"]) for n in function_names()}
    globals().update(SIGNATURES=signatures, FUNCTIONS=tuple(signatures))
    return globals()[attr]


#: The hidden flavour's default seed (fixed, so a grade can be reproduced).
DEFAULT_SEED = 20261125


# ------------------------------------------------------------ callables


class Poly:
    """g(x) = sum_k coeffs[k] x^k, for scalars or arrays (returns a float for a scalar x)."""

    def __init__(self, coeffs: np.ndarray) -> None:
        self.coeffs = [float(c) for c in coeffs]

    def __call__(self, x):
        y = 0.0
        for c in reversed(self.coeffs):
            y = y * x + c
        return float(y) if np.ndim(y) == 0 else y


class Quadratic:
    """fn(W) = 1/2 w.A w + b.w + k sum(w^3) with w = W flattened: a float for any W of `shape`."""

    def __init__(self, A: np.ndarray, b: np.ndarray, k: float, shape: tuple[int, ...]) -> None:
        self.A = np.array(A, dtype=float)
        self.b = np.array(b, dtype=float)
        self.k = float(k)
        self.shape = tuple(shape)

    def __call__(self, W) -> float:
        w = np.asarray(W, dtype=float)
        if w.size != self.b.size:
            raise ValueError(
                f"fn expects an array shaped like W {self.shape}, got shape {np.shape(W)}: "
                "pass the whole (nudged) W to fn, not one entry or a slice"
            )
        w = w.reshape(-1)
        return float(0.5 * w @ (self.A @ w) + self.b @ w + self.k * (w**3).sum())


def build_callable(desc: dict[str, Any], poly: type | None = None, quadratic: type | None = None):
    """The function a description stands for (see the module docstring). `poly` and
    `quadratic` are the classes to build (default: this module's; the instructor's
    subclasses add the derivatives)."""
    kind = desc.get("callable")
    if kind == "poly":
        return (poly or Poly)(desc["coeffs"])
    if kind == "quadratic":
        return (quadratic or Quadratic)(desc["A"], desc["b"], desc["k"], desc["shape"])
    raise ValueError(f"unknown callable description {desc!r}")


def is_callable_desc(value: Any) -> bool:
    return isinstance(value, dict) and "callable" in value


def build_args(case: Case, *, build=None) -> list[Any]:
    """The positional arguments of the call a case describes (fresh objects every time).

    `build` turns a callable's description into the function (default: `build_callable`;
    the instructor's package passes one whose functions also know their derivatives).
    """
    build = build or build_callable
    out = []
    for value in case["args"].values():
        if is_callable_desc(value):
            out.append(build(value))
        elif isinstance(value, np.ndarray):
            out.append(value.copy())
        else:
            out.append(value)
    return out


def input_shapes(case: Case) -> str:
    """The case's arguments for a message: "H (5, 4), delta2 (5, 2)"."""
    parts = []
    for key, value in case["args"].items():
        if is_callable_desc(value):
            if value["callable"] == "poly":
                parts.append(f"{key} = a cubic polynomial")
            elif value.get("k"):
                parts.append(f"{key} = a function of W with square and cube terms")
            else:
                parts.append(f"{key} = a quadratic function of W")
        elif isinstance(value, np.ndarray) and value.dtype.kind in "iu":
            parts.append(f"{key} {value.shape} of integers ({value.dtype})")
        elif isinstance(value, np.ndarray):
            parts.append(f"{key} {value.shape}")
        else:
            parts.append(f"{key} = {value!r}")
    return ", ".join(parts)


def is_replay(case: Case) -> bool:
    """Whether a case re-runs another with 0 or 1 epochs (train's replays: read together
    with the case they replay, not counted as an example of their own)."""
    return "replay_of" in case["context"]


def unknown_name_message(name: str) -> str:
    """What a check of a name that is not a student function says."""
    return f"no check for {name!r}: the course's functions are {', '.join(function_names())}"


# ------------------------------------------------------------ visible cases

_CASE_KEYS = ("name", "id", "kind", "label", "args", "context")


def _as_case(name: str, record: dict[str, Any]) -> Case:
    case = {"name": name, **{k: record[k] for k in _CASE_KEYS[1:]}}
    order = function_data(name)["args"]  # call order, whatever order the file keeps
    case["args"] = {k: case["args"][k] for k in order if k in case["args"]}
    for value in case["args"].values():  # shapes are tuples, as in the instructor's cases
        if is_callable_desc(value) and "shape" in value:
            value["shape"] = tuple(value["shape"])
    for key, dtype in case["context"].get("dtypes", {}).items():  # an integer W, say
        case["args"][key] = case["args"][key].astype(dtype)
    return case


def visible_cases(name: str) -> list[Case]:
    """The fixed examples of the visible flavour, in the order they are checked."""
    if name not in function_names():
        raise KeyError(unknown_name_message(name))
    return [_as_case(name, rec) for rec in visible_records(name)]


def visible_truth(name: str) -> dict[str, dict[str, Any]]:
    """{case id: its record} of the visible examples, from the data file: "expected"
    {component: array}, "variants" {component: [...]}, and for train "train" (the stored
    runs); see the section "the data file"."""
    return {rec["id"]: rec for rec in visible_records(name)}


# ------------------------------------------------------------ the course at a glance
# The course table of a class student's start-here notebook (`catalog.show_course()`).
#
# Everything comes from the installed checks' data file (`notebooks` above,
# written from the source notebooks when the handout is built): each notebook's title, the
# functions to write and its points, so the table is right before the later assignments have
# arrived. Whether each notebook is already in the student's course folder is looked up next
# to the start-here: `ID.ipynb` in the same folder (the first assignment's folder, where the
# start-here comes), `../ID/ID.ipynb` (an assignment unzipped or fetched next to that folder)
# or `ID/ID.ipynb` (the start-here kept in the course folder itself, as on a JupyterHub).


@dataclass(frozen=True)
class CourseRow:
    """One notebook of the course: id, title, points, functions to write, where it is."""

    assignment: str
    title: str
    points: float
    write: tuple[str, ...]
    found: Path | None  #: the notebook's path relative to the folder looked in, or None


def _found_in(assignment: str, folder: Path) -> Path | None:
    """Where the assignment's notebook is, relative to `folder`, or None when not there yet."""
    here = Path(f"{assignment}.ipynb")
    for rel in (here, Path("..") / assignment / here, Path(assignment) / here):
        if (folder / rel).is_file():
            return rel
    return None


def course_rows(folder: Path | str = ".") -> list[CourseRow]:
    """The course's notebooks in teaching order, each with where it is in `folder`."""
    folder = Path(folder)
    return [
        CourseRow(
            a, info["title"], float(info["points"]), tuple(info["write"]), _found_in(a, folder)
        )
        for a, info in notebooks().items()
    ]


def course_table(folder: Path | str = ".") -> str:
    """The course table as text, at most about 80 characters wide: per notebook a line (id,
    points, where it is), then its title and the functions to write, indented; the total."""
    found = course_rows(folder)
    if not found:
        return "this version of the checks holds no course table: upgrade them (see README.md)"
    width = max(len(r.assignment) for r in found) + 2
    lines = [f"{'notebook':<{width}}{'points':>6}   in your course folder"]
    for r in found:
        where = r.found.as_posix() if r.found else "not yet (comes with its assignment)"
        lines.append(f"{r.assignment:<{width}}{r.points:>6g}   {where}")
        lines.append(f"    {r.title}")
        lines.append(f"    you write: {', '.join(r.write)}")
    lines.append(f"{'total':<{width}}{sum(r.points for r in found):>6g}")
    return "\n".join(lines)


def show_course(folder: Path | str = ".") -> None:
    """Print the course table and the version of the checks installed."""
    print(course_table(folder))
    print(f"\nthe checks (backprop_checks {VERSION}) are installed: the test cells will run")


def tag_list() -> str:
    """The tags a failing test cell may carry, `[M1]` ... `[M13]`, each with the mistake it
    names (`MISCONCEPTIONS`), one per line."""
    table = MISCONCEPTIONS
    width = max(len(t) for t in table) + 2
    return "\n".join(f"{f'[{t}]':<{width + 1}} {text}" for t, text in table.items())
