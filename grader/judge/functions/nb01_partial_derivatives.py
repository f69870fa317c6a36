"""Notebook 01_partial_derivatives: df_dx, df_dz, numerical_derivative, numerical_gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.judge.functions.record import ENTRYWISE_M1, Example, Function, Variant, nd
from grader.judge.inputs import Poly, build_callable, quadratic_desc, rounded_normal

EPS = 1e-5  # the step of the reference-free right answers (central differences)


def _f(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    return 3.0 * x**2 * z + 2.0 * x * z**2


def _xz(case: dict) -> tuple[np.ndarray, np.ndarray]:
    return nd(case["args"]["x"]), nd(case["args"]["z"])


def _xz_visible(rng: np.random.Generator) -> list[Example]:
    return [
        Example({"x": 2.0, "z": 3.0}),
        Example({"x": np.array([-1.0, 0.0, 0.5, 2.0]), "z": np.array([3.0, -1.0, 2.0, 0.25])}),
    ]


def _xz_hidden(rng: np.random.Generator) -> list[Example]:
    out = [Example({"x": float(rng.normal()), "z": float(rng.normal())}, "scalars")]
    for shape in ((4,), (1,), (2,), (10,), (10_000,), (3, 2)):
        x = rng.normal(size=shape) * 2
        out.append(Example({"x": x, "z": rng.normal(size=shape) * 2}, f"shape {shape}"))
    return out


#: Where to look for M3 in df_dx and df_dz.
_XZ_M3 = (
    "both terms of f(x, z) = 3 x^2 z + 2 x z^2 have a plus sign, and differentiating a term "
    "keeps its sign: check the signs in your formula (a leading minus?)."
)

_XZ_ARGUMENTS = (
    "check the arguments' types in the docstring; the checks call your function with plain "
    "numbers and with numpy arrays (x and z of one shape), so use operations that work on both."
)


def _df_dx_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    x, z = nd(inputs["x"]), nd(inputs["z"])
    return [
        Variant((), "3 x^2 + 4 x z", "that is df/dz; hold z fixed", 3 * x**2 + 4 * x * z),
        Variant((), "6 x z", "the derivative of 2 x z^2 is missing", 6 * x * z),
        Variant((), "2 z^2", "the derivative of 3 x^2 z is missing", 2 * z**2),
        Variant((), "6 x z + 4 x z", "2 x z^2 differentiated by z, not x", 10 * x * z),
        Variant((), "f(x, z) itself", "not its derivative", _f(x, z)),
    ]


def _df_dz_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    x, z = nd(inputs["x"]), nd(inputs["z"])
    return [
        Variant((), "6 x z + 2 z^2", "that is df/dx; hold x fixed", 6 * x * z + 2 * z**2),
        Variant((), "3 x^2", "the derivative of 2 x z^2 is missing", 3 * x**2),
        Variant((), "4 x z", "the derivative of 3 x^2 z is missing", 4 * x * z),
        Variant((), "6 x z + 4 x z", "3 x^2 z differentiated by x, not z", 10 * x * z),
        Variant((), "f(x, z) itself", "not its derivative", _f(x, z)),
    ]


def _df_dx_expected(case: dict) -> np.ndarray:
    x, z = _xz(case)
    return (_f(x + EPS, z) - _f(x - EPS, z)) / (2 * EPS)


def _df_dz_expected(case: dict) -> np.ndarray:
    x, z = _xz(case)
    return (_f(x, z + EPS) - _f(x, z - EPS)) / (2 * EPS)


df_dx = Function(
    name="df_dx",
    args={"x": "a number or an array", "z": "a number, or an array shaped like x"},
    returns="a number for numbers, an array shaped like x for arrays",
    about="the partial derivative of f(x, z) = 3 x^2 z + 2 x z^2 with respect to x",
    result="elementwise",
    derivative=True,
    hint="differentiate f(x, z) = 3 x^2 z + 2 x z^2 treating z as a constant.",
    argument_hint=_XZ_ARGUMENTS,
    tag_hints={"M1": ENTRYWISE_M1, "M3": _XZ_M3},
    visible=_xz_visible,
    hidden=_xz_hidden,
    expected=_df_dx_expected,
    variants=_df_dx_variants,
    wrong={"wrong formula": "return 6 * x * z + 2 * z"},
)

df_dz = Function(
    name="df_dz",
    args={"x": "a number or an array", "z": "a number, or an array shaped like x"},
    returns="a number for numbers, an array shaped like x for arrays",
    about="the partial derivative of f(x, z) = 3 x^2 z + 2 x z^2 with respect to z",
    result="elementwise",
    derivative=True,
    hint="differentiate f(x, z) = 3 x^2 z + 2 x z^2 treating x as a constant.",
    argument_hint=_XZ_ARGUMENTS,
    tag_hints={"M1": ENTRYWISE_M1, "M3": _XZ_M3},
    visible=_xz_visible,
    hidden=_xz_hidden,
    expected=_df_dz_expected,
    variants=_df_dz_variants,
    wrong={"sign flip": "return -(3 * x**2 + 4 * x * z)"},
)


# --------------------------------------------------------------------------- numerical

#: The eps of the visible examples that tell an answer which ignores eps (0.5 for the
#: gradient): the central difference at it is off the exact slope by about g'''(x) eps^2 / 6,
#: far beyond the checks' allowance (1e-7 of the slope's size).
LARGE_EPS = 0.25

#: The steps other than eps a central difference is named with (the notebook's plot of the
#: error against the step spans 1e-13 to 1e-1).
STEPS = tuple(10.0**-k for k in range(1, 16))


def _numeric(args: dict[str, Any], label: str = "") -> Example:
    """An example of a finite difference: its context holds the function (as data) and the
    step, for the known wrong answers (`_derivative_variants`, `_gradient_variants`)."""
    fn = args.get("g", args.get("fn"))
    return Example(args, label, context={"callable": fn, "eps": float(args.get("eps", EPS))})


def _step_gloss(h: float, eps: float) -> str:
    """Why a central difference with step h (from eps / 10 up), where eps is due, is off:
    too large, or too small to carry the central difference's own error at a large eps."""
    if h > eps:
        return (
            f"a step larger than the eps it is given ({eps:g}): the central difference's "
            "error grows like the step squared; use eps as the step"
        )
    return (
        f"a step smaller than the eps it is given ({eps:g}): the answer due is the central "
        "difference at step eps itself, its own error (about the third derivative times "
        "eps^2 / 6) included; use eps as the step"
    )


def _rounding_gloss(eps: float, difference: str) -> str:
    """Why a central difference with a step far below eps is off: rounding."""
    return (
        f"a step smaller than the eps it is given ({eps:g}): {difference} then cancels most "
        "of its digits, a rounding error that grows like 1e-16 / h; use eps as the step"
    )


def _off(value: float | np.ndarray, right: float | np.ndarray) -> bool:
    """Whether a finite difference is told apart from the right answer, the central
    difference at eps (the check's allowance: 1e-7 of its size, `mistakes.numeric_limit`)."""
    scale = 1.0 + float(np.max(np.abs(right)))
    return float(np.max(np.abs(np.asarray(value) - right))) > 1e-7 * scale


def _other_step(h: float, eps: float) -> bool:
    return abs(h - eps) > 1e-9 * eps


#: The constant C of `rounding_bound`.
ROUNDING_C = 4.0


def rounding_bound(magnitude: float, h: float) -> float:
    """How far a central difference with a step h far below eps can land from the exact
    slope from rounding alone, on any CPU and however the loop is written: C * eps_m * F / h.

    Why: with h far below eps the truncation error (h^2 times the third derivative) is nil
    and what is left is rounding. Each of the two evaluations f(x + h), f(x - h) is a sum of
    terms, and however it is summed (numpy's SIMD paths, OpenBLAS kernels, the student's own
    loop) it is off by at most a few eps_m * F, with eps_m = 2.2e-16 the machine epsilon and
    F the sum of the absolute values of the terms (`magnitude`); their difference divided by
    2 h is then off by about eps_m * F / h. Measured on this course's visible and hidden
    examples, with each value of f also moved by up to 3 units in the last place (another
    CPU), the error stayed below 2.3 eps_m * F / h; C = 4 leaves room. (The nudge x + h is
    itself rounded, so the step taken is not exactly 2 h: `_small_step_variant` adds that.)
    """
    return ROUNDING_C * float(np.finfo(float).eps) * magnitude / h


def _small_step_variant(
    eps: float, exact: float | np.ndarray, at: float | np.ndarray, magnitude, what: str
) -> Variant | None:
    """Any central difference with a step h far below eps (eps / 10 and less) as one
    rounding-noise variant (`Variant.noise`): the exact slope, matched within the rounding
    bound of the smallest such step of `STEPS` that is at most a tenth of the slope's size.

    Its digits are noise (they depend on the CPU and on the loop), so they are neither stored
    nor compared; nor is the step named: the noise of the steps a decade apart overlaps, so
    which h it was cannot be read from one answer. A wider bound would swallow other
    mistakes; `backprop_checks.mistakes.known_mistake` tries this variant after every exact
    one. None when no such step's rounding shows (the answer then passes) or all are too
    wide. magnitude(h): F for step h (`rounding_bound`).
    """
    scale = 1.0 + float(np.max(np.abs(exact)))
    # the rounded nudge: the step taken differs from 2 h by up to an ulp of the entry
    size = max(1.0, float(np.max(np.abs(at))))
    chosen = None
    for h in STEPS:
        if h >= eps / 10:
            continue
        slope = float(np.max(np.abs(exact))) * float(np.finfo(float).eps) * size / h
        bound = rounding_bound(magnitude(h), h) + slope
        if bound <= 0.1 * scale:
            chosen = bound
    if chosen is None or chosen <= 1e-7 * scale:
        return None
    plural = "s" if np.ndim(exact) else ""
    return Variant(
        (),
        f"the central difference{plural} with a step h far below eps",
        _rounding_gloss(eps, what),
        nd(np.asarray(exact, dtype=float)),
        chosen,
    )


#: The smallest step a function that ignores its eps is expected to take (`_fixed_step_variant`).
FIXED_STEP_LOW = 1e-8


def _fixed_step_variant(
    eps: float,
    exact: float | np.ndarray,
    right: float | np.ndarray,
    at: float | np.ndarray,
    magnitude,
    truncation,
    gradient: bool,
) -> Variant | None:
    """The answer of a function that ignores its eps and takes a small step of its own,
    anywhere from eps / 10 down to FIXED_STEP_LOW or below: the exact slope, matched within
    the truncation error of the step eps / 10 plus the rounding bound of the smallest step
    covered (`Variant.noise`, as in `_small_step_variant`).

    Only where the central difference at eps stands apart from the exact slope (a large
    eps, a third derivative far from zero) by ten times that bound or more, so that no
    answer within it is the one due; None elsewhere, and where the bound cannot reach down
    to FIXED_STEP_LOW (then the mistake is named by the same steps on every case it is
    named on). magnitude(h): F for step h (`rounding_bound`); truncation(h): how far the
    central difference with step h is from the exact slope, rounding aside.
    """
    if not _off(exact, right):
        return None  # the exact slope passes here: nothing to name
    gap = float(np.max(np.abs(np.asarray(right) - exact)))
    size = max(1.0, float(np.max(np.abs(at))))
    top = eps / 10
    chosen = None
    for h in STEPS:  # from the largest step down, while the bound stays far below the gap
        if h > top:
            continue
        slope = float(np.max(np.abs(exact))) * float(np.finfo(float).eps) * size / h
        bound = truncation(top) + rounding_bound(max(magnitude(h), magnitude(top)), h) + slope
        if bound > 0.1 * gap:
            break
        chosen = (h, bound)
    if chosen is None or chosen[0] > FIXED_STEP_LOW:
        return None
    if gradient:
        due = (
            "the central differences (fn(W + eps) - fn(W - eps)) / (2 eps), which differ "
            f"from the exact slopes by up to {gap:.3g} here (the third derivative times "
            "eps^2 / 6)"
        )
    else:
        due = (
            "the central difference (g(x + eps) - g(x - eps)) / (2 eps), which differs from "
            f"the exact slope by {gap:.3g} here (about g'''(x) eps^2 / 6)"
        )
    return Variant(
        (),
        f"the exact slope{'s' if gradient else ''}, the same whatever eps is",
        "your function ignores its eps argument and takes a small step of its own: called "
        f"with eps = {eps:g} it must return {due}; use eps as the step",
        nd(np.asarray(exact, dtype=float)),
        chosen[1],
    )


def _half_step(
    value: float | np.ndarray, right: float | np.ndarray, *, gradient: bool
) -> list[Variant]:
    """The central difference with step eps / 2, (g(x + eps/2) - g(x - eps/2)) / eps, where
    it is told apart from the right answer (a large eps)."""
    if not _off(value, right):
        return []
    s = "s" if gradient else ""
    quotient = "fn(W + eps/2) - fn(W - eps/2)" if gradient else "g(x + eps/2) - g(x - eps/2)"
    return [
        Variant(
            (),
            f"the central difference{s} with step h = eps/2",
            f"({quotient}) / eps spans eps in all, where the central difference spans 2 eps: "
            "nudge by +eps and -eps, and divide by 2 eps",
            nd(value),
        )
    ]


def _derivative_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    g, eps = build_callable(context["callable"]), float(context["eps"])
    x = float(inputs["x"])
    out = [
        Variant(
            ("M13",),
            "the forward difference (g(x + eps) - g(x)) / eps",
            "",
            nd((g(x + eps) - g(x)) / eps),
        )
    ]
    exact, right = g.derivative(x), g.central(x, eps)
    for h in STEPS:
        if h < eps / 10:  # rounding noise: one variant, matched within its bound
            continue
        value = (g(x + h) - g(x - h)) / (2 * h)
        if _other_step(h, eps) and _off(value, right):
            gloss = _step_gloss(h, eps)
            out.append(Variant((), f"the central difference with step h = {h:g}", gloss, nd(value)))
    out += _half_step((g(x + eps / 2) - g(x - eps / 2)) / eps, right, gradient=False)
    magnitude = lambda h: max(g.magnitude(x + h), g.magnitude(x - h))  # noqa: E731
    truncation = lambda h: abs(g.central(x, h) - exact)  # noqa: E731
    fixed = _fixed_step_variant(eps, exact, right, x, magnitude, truncation, gradient=False)
    small = _small_step_variant(eps, exact, x, magnitude, "g(x + h) - g(x - h)")
    return out + [v for v in (fixed, small) if v]


def _derivative_visible(rng: np.random.Generator) -> list[Example]:
    return [
        _numeric({"g": {"callable": "poly", "coeffs": np.array([1.0, -2.0, 0.0, 1.0])}, "x": 1.5}),
        _numeric(
            {"g": {"callable": "poly", "coeffs": np.array([0.0, 3.0, 0.5, -0.25])}, "x": -0.4}
        ),
        # a large eps: g(x) = 2 x^3 - x + 1/2 has g'(1/2) = 1/2, and its central difference
        # at eps = 1/4 is 1/2 + 2 eps^2 = 0.625: an answer that ignores eps gives 1/2
        _numeric(
            {
                "g": {"callable": "poly", "coeffs": np.array([0.5, -1.0, 0.0, 2.0])},
                "x": 0.5,
                "eps": LARGE_EPS,
            }
        ),
    ]


def _derivative_hidden(rng: np.random.Generator) -> list[Example]:
    out = []
    for eps in (None, None, 1e-3, 1e-4):
        while True:  # a curved cubic at x, so a forward difference shows
            coeffs, x = rng.normal(size=4), float(rng.uniform(-2, 2))
            if abs(Poly(coeffs).second_derivative(x)) > 1.0:
                break
        args: dict[str, Any] = {"g": {"callable": "poly", "coeffs": coeffs}, "x": x}
        if eps is not None:
            args["eps"] = eps
        out.append(_numeric(args, "a cubic" + (f", eps={eps}" if eps else "")))
    for eps in (0.3, 0.5):  # a large eps, a cubic whose third derivative shows at it
        while True:
            coeffs, x = rng.normal(size=4), float(rng.uniform(-2, 2))
            if abs(coeffs[3]) > 0.5 and abs(Poly(coeffs).second_derivative(x)) > 1.0:
                break
        args = {"g": {"callable": "poly", "coeffs": coeffs}, "x": x, "eps": eps}
        out.append(_numeric(args, f"a cubic, eps={eps}"))
    return out


def _central(fn, W: np.ndarray, h: float) -> np.ndarray:
    """The central differences of fn with step h, nudging a copy of W of W's own dtype (an
    integer W's nudges are cut to whole numbers, as in a student's W.copy())."""
    work, out = W.copy(), np.zeros(W.shape)
    for ix in np.ndindex(W.shape):
        old = work[ix]
        work[ix] = old + h
        up = fn(work)
        work[ix] = old - h
        down = fn(work)
        work[ix] = old
        out[ix] = (up - down) / (2 * h)
    return out


def _gradient_variants(component: str, inputs: dict[str, Any], context: dict) -> list[Variant]:
    fn, eps = build_callable(context["callable"]), float(context["eps"])
    W = np.asarray(inputs["W"])
    Wf = W.astype(float)
    forward = np.zeros(W.shape)
    for ix in np.ndindex(W.shape):
        nudged = Wf.copy()
        nudged[ix] += eps
        forward[ix] = (fn(nudged) - fn(Wf)) / eps
    out = [Variant(("M13",), "the forward differences (fn(W + eps) - fn(W)) / eps", "", forward)]
    exact, right = fn.gradient(Wf), fn.central(Wf, eps)
    for h in STEPS:
        if h < eps / 10:  # rounding noise: one variant, matched within its bound
            continue
        value = _central(fn, Wf, h)
        if _other_step(h, eps) and _off(value, right):
            gloss = _step_gloss(h, eps)
            out.append(Variant((), f"the central differences with step h = {h:g}", gloss, value))
    out += _half_step(_central(fn, Wf, eps / 2), right, gradient=True)
    magnitude = lambda h: max(fn.magnitude(Wf + h), fn.magnitude(Wf - h))  # noqa: E731
    truncation = lambda h: float(np.max(np.abs(fn.central(Wf, h) - exact)))  # noqa: E731
    fixed = _fixed_step_variant(eps, exact, right, Wf, magnitude, truncation, gradient=True)
    small = _small_step_variant(eps, exact, Wf, magnitude, "fn(W + h) - fn(W - h)")
    out += [v for v in (fixed, small) if v]
    if W.dtype.kind in "iu":  # an integer W: the copy and the result keep its dtype
        kept = f"W holds integers ({W.dtype}), and W.copy() (or nudging W itself) keeps that dtype"
        on_int = _central(fn, W, eps)
        out.append(
            Variant(
                (),
                "the central differences taken on an integer copy of W",
                f"{kept}: old + eps is cut back to a whole number, so each nudge moves the entry "
                "by 0 or 1, not by eps; work on np.array(W, dtype=float)",
                on_int,
            )
        )
        if _off(np.trunc(on_int), on_int):
            out.append(
                Variant(
                    (),
                    "the central differences taken on an integer copy of W, stored in an integer "
                    "array",
                    f"{kept}, as does np.zeros_like(W): old + eps is cut back to a whole number "
                    "and so is every slope; work on np.array(W, dtype=float) and store the slopes "
                    "in np.zeros(W.shape)",
                    np.trunc(on_int),
                )
            )
        out.append(
            Variant(
                (),
                "the slopes cut to whole numbers",
                f"W holds integers ({W.dtype}), and np.zeros_like(W) keeps that dtype: every slope "
                "stored in it lost its fraction; store the slopes in np.zeros(W.shape), "
                "a float array",
                np.trunc(_central(fn, Wf, eps)),
            )
        )
    return out


#: An integer W of the visible examples: zeros, positive and negative entries.
INTEGER_W = np.array([[2, 0], [-1, 3]])


def _gradient_visible(rng: np.random.Generator) -> list[Example]:
    out = []
    for shape in ((2, 3), (3,)):
        fn = quadratic_desc(rng, shape, rounded=True)
        out.append(_numeric({"fn": fn, "W": rounded_normal(rng, shape)}))
    fn = quadratic_desc(rng, INTEGER_W.shape, rounded=True)
    out.append(_numeric({"fn": fn, "W": INTEGER_W.copy()}, "W of integers"))
    # a large eps: each central difference is the exact slope plus k eps^2 = 0.05
    fn = quadratic_desc(rng, (2, 2), rounded=True)
    eps = 2 * LARGE_EPS
    out.append(_numeric({"fn": fn, "W": rounded_normal(rng, (2, 2)), "eps": eps}))
    return out


def _gradient_hidden(rng: np.random.Generator) -> list[Example]:
    out = []
    for shape, eps in (
        ((2, 3), None),
        ((1,), None),
        ((4,), None),
        ((3, 2), 1e-4),
        ((2, 2, 2), None),
        ((1, 1), 1e-3),
    ):
        fn = quadratic_desc(rng, shape, rounded=False)
        args: dict[str, Any] = {"fn": fn, "W": rng.normal(size=shape)}
        if eps is not None:
            args["eps"] = eps
        out.append(_numeric(args, f"W {shape}" + (f", eps={eps}" if eps else "")))
    fn = quadratic_desc(rng, (3,), rounded=False)
    # a zero, a positive and a negative entry: every way a cast to integers cuts a nudge
    W = np.array([0, rng.integers(1, 4), -rng.integers(1, 4)], dtype=np.int64)
    out.append(_numeric({"fn": fn, "W": W}, f"W {W.shape} of integers"))
    for shape, eps in (((3, 2), 0.25), ((4,), 0.4)):  # a large eps: off the exact slopes
        fn = quadratic_desc(rng, shape, rounded=False)
        args = {"fn": fn, "W": rng.normal(size=shape), "eps": eps}
        out.append(_numeric(args, f"W {shape}, eps={eps}"))
    return out


numerical_derivative = Function(
    name="numerical_derivative",
    args={
        "g": "a function of one number (the checks pass cubics)",
        "x": "a number",
        "eps": "a small number (default 1e-5)",
    },
    returns="a float",
    about="the central-difference slope of g at x",
    result="float",
    numerical=True,
    hint="return (g(x + eps) - g(x - eps)) / (2 * eps) as a float.",
    argument_hint="check the arguments in the docstring: g is a function of one number, x a "
    "number and eps a small number; return a float.",
    tag_hints={
        "M3": "the central difference is (g(x + eps) - g(x - eps)) / (2 eps): check the order "
        "of the subtraction.",
        "M13": "use the central difference (g(x + eps) - g(x - eps)) / (2 * eps), not the "
        "forward difference (g(x + eps) - g(x)) / eps.",
    },
    titles={
        "M13": "a numerical derivative off by O(eps): a forward difference where the central "
        "one is due",
    },
    visible=_derivative_visible,
    hidden=_derivative_hidden,
    variants=_derivative_variants,
    expected=lambda case: build_callable(case["args"]["g"]).central(
        case["args"]["x"], float(case["args"].get("eps", EPS))
    ),
    hidden_truth="expected",  # the central difference at eps in closed form, free of rounding
    wrong={"M13": "return float((g(x + eps) - g(x)) / eps)"},
)

numerical_gradient = Function(
    name="numerical_gradient",
    args={
        "fn": "a function of an array shaped like W, returning a float",
        "W": "an array of any shape (unchanged afterwards)",
        "eps": "a small number (default 1e-5)",
    },
    returns="an array shaped like W",
    about="dfn/dW by central differences, one entry of W at a time",
    numerical=True,
    nudges="W",
    hint="work on a float copy, np.array(W, dtype=float) (W may hold integers); nudge one "
    "entry at a time by +eps and -eps, restore it, and store the central difference at that "
    "entry in a float array.",
    argument_hint="check the arguments in the docstring: fn takes an array shaped like W and "
    "returns a float; W is a numpy array of any shape.",
    tag_hints={
        "M3": "the central difference is (fn(W + eps) - fn(W - eps)) / (2 eps) at each entry: "
        "check the order of the subtraction.",
        "M1": ENTRYWISE_M1,
    },
    visible=_gradient_visible,
    hidden=_gradient_hidden,
    variants=_gradient_variants,
    expected=lambda case: build_callable(case["args"]["fn"]).central(
        case["args"]["W"], float(case["args"].get("eps", EPS))
    ),
    hidden_truth="expected",  # the central differences at eps in closed form, free of rounding
    wrong={
        "M13": """
            W = np.array(W, dtype=float)
            base = fn(W)
            grad = np.zeros_like(W)
            for i in np.ndindex(W.shape):
                old = W[i]
                W[i] = old + eps
                grad[i] = (fn(W) - base) / eps
                W[i] = old
            return grad
        """,
        "M11": """
            grad = np.zeros(np.shape(W))
            for i in np.ndindex(W.shape):
                old = W[i]
                W[i] = old + eps
                up = fn(W)
                W[i] = old - eps
                down = fn(W)
                grad[i] = (up - down) / (2 * eps)
            return grad
        """,
    },
)

RECORDS = [df_dx, df_dz, numerical_derivative, numerical_gradient]
