"""The inputs every check feeds to a student's function: deterministic, serialisable cases.

A case is a plain dict that pickles and crosses a process boundary::

    {"name": "grad_W2",            # the student function
     "id": "visible-1",            # unique within the function's cases
     "kind": "visible" | "hidden",
     "label": "the visible example",
     "args": {"H": ndarray, "delta2": ndarray},   # in call order
     "context": {...}}             # data the judge needs and the call does not get

An argument that is a function (numerical_derivative's `g`, numerical_gradient's `fn`) is
described by data, {"callable": "poly", "coeffs": ...} or {"callable": "quadratic", ...};
`build_args(case)` turns a case into the call's positional arguments, on either side of the
boundary. This module never imports `grader.judge.reference`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from backprop_checks import cases as _student
from backprop_checks.cases import (  # one definition, shared with the student package
    DEFAULT_SEED,
    FUNCTIONS,
    SIGNATURES,
    Case,
)

from grader.judge import netmath

# (n, c, h, o) of the visible examples: all sizes differ in the first, so a transposed or
# misshapen answer shows which dimension is wrong; the second is the lecture notes' 2 inputs, 4
# columns, 2 hidden units.
VISIBLE_SHAPES: tuple[tuple[int, int, int, int], ...] = ((5, 3, 4, 2), (2, 4, 2, 1))
# The hidden flavour: n = 1, 2, 10, 10,000; o > 1; h = 1.
HIDDEN_SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (5, 3, 4, 2),  # the visible example's shapes with new numbers (catches hard-coding)
    (1, 3, 2, 2),
    (2, 4, 2, 1),
    (10, 3, 5, 2),
    (10, 2, 1, 3),
    (10_000, 3, 2, 2),
)

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
#: XOR training settings of the hidden train check (the reference learns XOR from 50 of 50 seeds).
XOR_SETTINGS = {"n_hidden": 4, "lr": 2.0, "epochs": 3000}
XOR_SEEDS = (0, 1)


# --------------------------------------------------------------------------- callables


class Poly(_student.Poly):
    """The student package's g(x), which also knows its derivatives (for the right answers)."""

    def derivative(self, x: float) -> float:
        return float(sum(k * c * x ** (k - 1) for k, c in enumerate(self.coeffs) if k))

    def second_derivative(self, x: float) -> float:
        return float(
            sum(k * (k - 1) * c * x ** (k - 2) for k, c in enumerate(self.coeffs) if k > 1)
        )


class Quadratic(_student.Quadratic):
    """The student package's fn(W), which also knows its gradient (for the right answers)."""

    def gradient(self, W: np.ndarray) -> np.ndarray:
        w = np.asarray(W, dtype=float).reshape(-1)
        return (self.A @ w + self.b + 3.0 * self.k * w**2).reshape(self.shape)


def build_callable(desc: dict[str, Any]):
    """The function a description stands for, with its derivative or gradient."""
    kind = desc.get("callable")
    if kind == "poly":
        return Poly(desc["coeffs"])
    if kind == "quadratic":
        return Quadratic(desc["A"], desc["b"], desc["k"], desc["shape"])
    raise ValueError(f"unknown callable description {desc!r}")


def build_args(case: Case) -> list[Any]:
    """The positional arguments of the call a case describes (fresh objects every time)."""
    return _student.build_args(case, build=build_callable)


# --------------------------------------------------------------------------- builders


def _network(rng: np.random.Generator, n: int, c: int, h: int, o: int, *, rounded: bool) -> Case:
    net = {
        "X": rng.normal(size=(n, c)),
        "Y": rng.uniform(size=(n, o)),
        "W1": rng.normal(size=(c, h)),
        "b1": rng.normal(scale=0.5, size=h),
        "W2": rng.normal(size=(h, o)),
        "b2": rng.normal(scale=0.5, size=o),
    }
    if rounded:  # readable numbers in the visible examples
        net = {k: np.round(v, 2) for k, v in net.items()}
    return net


def _network_case(name: str, net: dict[str, np.ndarray], cid: str, kind: str, label: str) -> Case:
    f = netmath.layers(net["X"], net["W1"], net["b1"], net["W2"], net["b2"])
    g = netmath.backprop_variant(**net)
    pool = {**net, **f, "delta2": g["delta2"], "delta1": g["delta1"]}
    args = {key: pool[key] for key in SIGNATURES[name]}
    return {"name": name, "id": cid, "kind": kind, "label": label, "args": args, "context": net}


def _shape_label(n: int, c: int, h: int, o: int) -> str:
    return f"n={n}, c={c}, h={h}, o={o}"


def _visible(name: str) -> list[Case]:
    rng = np.random.default_rng(2024)
    cases: list[Case] = []

    def add(args: dict[str, Any], context: dict[str, Any] | None = None) -> None:
        k = len(cases) + 1
        cases.append(
            {
                "name": name,
                "id": f"visible-{k}",
                "kind": "visible",
                "label": f"visible example {k}",
                "args": args,
                "context": context or {},
            }
        )

    if name in ("df_dx", "df_dz"):
        add({"x": 2.0, "z": 3.0})
        add({"x": np.array([-1.0, 0.0, 0.5, 2.0]), "z": np.array([3.0, -1.0, 2.0, 0.25])})
    elif name == "numerical_derivative":
        add({"g": {"callable": "poly", "coeffs": np.array([1.0, -2.0, 0.0, 1.0])}, "x": 1.5})
        add({"g": {"callable": "poly", "coeffs": np.array([0.0, 3.0, 0.5, -0.25])}, "x": -0.4})
    elif name == "numerical_gradient":
        for shape in ((2, 3), (3,)):
            add({"fn": _quadratic_desc(rng, shape, rounded=True), "W": _round(rng, shape)})
    elif name == "sigmoid":
        add({"z": np.array([-1000.0, -20.0, -2.0, -0.5, 0.0, 0.5, 2.0, 20.0, 1000.0])})
        add({"z": np.array([[-1.0, 0.0, 1.0], [3.0, -3.0, 0.25]])})
    elif name == "sigmoid_prime":
        add({"z": np.array([-1000.0, -4.0, -1.0, 0.0, 0.5, 3.0, 1000.0])})
        add({"z": np.array([[-2.0, 0.0], [1.0, 0.75]])})
    elif name == "sigmoid_prime_from_output":
        add({"a": np.array([0.01, 0.1, 0.25, 0.5, 0.8, 0.99])})
        add({"a": np.array([[0.2, 0.5, 0.7], [0.9, 0.35, 0.05]])})
    elif name == "train":
        X = np.round(rng.normal(size=(6, 3)), 2)
        Y = np.round(rng.uniform(size=(6, 2)), 2)
        # seed 3, not the default 0: a train that ignores its seed starts from other weights
        add({"X": X, "Y": Y, "n_hidden": 3, "lr": 0.5, "epochs": 30, "seed": 3})
        cases.extend(replay_cases(cases[-1]))
    elif name in SIGNATURES:
        for n, c, h, o in VISIBLE_SHAPES:
            net = _network(rng, n, c, h, o, rounded=True)
            k = len(cases) + 1
            cases.append(
                _network_case(
                    name,
                    net,
                    f"visible-{k}",
                    "visible",
                    f"visible example {k} ({_shape_label(n, c, h, o)})",
                )
            )
    else:
        raise KeyError(unknown_name_message(name))
    return cases


def _round(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.round(rng.normal(size=shape), 2)


def _quadratic_desc(rng: np.random.Generator, shape: tuple[int, ...], *, rounded: bool) -> dict:
    size = int(np.prod(shape))
    M = rng.normal(size=(size, size))
    A = M @ M.T / size + np.eye(size)  # symmetric, diagonal >= 1 (so forward differences show)
    b = rng.normal(size=size)
    if rounded:
        A, b = np.round(A, 2), np.round(b, 2)
        A = (A + A.T) / 2
    return {"callable": "quadratic", "A": A, "b": b, "k": 0.2, "shape": tuple(shape)}


def _hidden(name: str, seed: int) -> list[Case]:
    rng = np.random.default_rng([seed, FUNCTIONS.index(name)])
    cases: list[Case] = []

    def add(args: dict[str, Any], label: str, context: dict[str, Any] | None = None) -> None:
        k = len(cases) + 1
        cases.append(
            {
                "name": name,
                "id": f"hidden-{k}",
                "kind": "hidden",
                "label": f"randomised inputs ({label})",
                "args": args,
                "context": context or {},
            }
        )

    if name in ("df_dx", "df_dz"):
        add({"x": float(rng.normal()), "z": float(rng.normal())}, "scalars")
        for shape in ((4,), (1,), (2,), (10,), (10_000,), (3, 2)):
            add(
                {"x": rng.normal(size=shape) * 2, "z": rng.normal(size=shape) * 2}, f"shape {shape}"
            )
    elif name == "numerical_derivative":
        for eps in (None, None, 1e-3, 1e-4):
            while True:
                coeffs, x = rng.normal(size=4), float(rng.uniform(-2, 2))
                if abs(Poly(coeffs).second_derivative(x)) > 1.0:
                    break
            args: dict[str, Any] = {"g": {"callable": "poly", "coeffs": coeffs}, "x": x}
            if eps is not None:
                args["eps"] = eps
            add(args, "a cubic" + (f", eps={eps}" if eps else ""))
    elif name == "numerical_gradient":
        for shape, eps in (
            ((2, 3), None),
            ((1,), None),
            ((4,), None),
            ((3, 2), 1e-4),
            ((2, 2, 2), None),
            ((1, 1), 1e-3),
        ):
            args = {"fn": _quadratic_desc(rng, shape, rounded=False), "W": rng.normal(size=shape)}
            if eps is not None:
                args["eps"] = eps
            add(args, f"W {shape}" + (f", eps={eps}" if eps else ""))
    elif name == "sigmoid":
        for shape in ((9,), (1,), (2,), (10,), (10_000,), (5, 3)):
            add({"z": rng.normal(size=shape) * 8}, f"shape {shape}")
        add({"z": float(rng.normal())}, "a scalar")
        add(
            {"z": np.array([-1e308, -745.0, -710.0, -1000.0, 710.0, 745.0, 1000.0, 1e308])},
            "extremes",
        )
    elif name == "sigmoid_prime":
        for shape in ((7,), (1,), (2,), (10,), (10_000,), (4, 3)):
            add({"z": rng.normal(size=shape) * 4}, f"shape {shape}")
        add({"z": np.array([-1000.0, -710.0, 710.0, 1000.0])}, "extremes")
    elif name == "sigmoid_prime_from_output":
        for shape in ((6,), (1,), (2,), (10,), (10_000,), (3, 4)):
            add({"a": rng.uniform(size=shape)}, f"shape {shape}")
        add({"a": np.array([0.0, 1.0, 0.5])}, "0, 1 and 1/2")
    elif name == "train":
        for s in XOR_SEEDS:
            add({"X": XOR_X.copy(), "Y": XOR_Y.copy(), **XOR_SETTINGS, "seed": s}, f"XOR, seed={s}")
        X, Y = rng.normal(size=(10, 3)), rng.uniform(size=(10, 2))
        add(
            {"X": X, "Y": Y, "n_hidden": 3, "lr": 0.5, "epochs": 5, "seed": 7},
            "n=10, o=2, 5 epochs",
        )
        X, Y = rng.normal(size=(10, 2)), rng.uniform(size=(10, 3))
        add({"X": X, "Y": Y, "n_hidden": 1, "lr": 0.5, "epochs": 20, "seed": 3}, "h=1, o=3")
        cases.extend(replay_cases(cases[-1]))
    elif name in SIGNATURES:
        for n, c, h, o in HIDDEN_SHAPES:
            net = _network(rng, n, c, h, o, rounded=False)
            k = len(cases) + 1
            cases.append(
                _network_case(
                    name,
                    net,
                    f"hidden-{k}",
                    "hidden",
                    f"randomised inputs ({_shape_label(n, c, h, o)})",
                )
            )
    else:
        raise KeyError(unknown_name_message(name))
    return cases


def replay_cases(case: Case) -> list[Case]:
    """Two extra calls of train that show its own steps: the same arguments with 0 epochs
    (the starting weights) and with 1 epoch (one update). Their context names the case they
    replay ({"replay_of": id, "epochs": 0 or 1}); the judge reads a train's losses against them.
    """
    out = []
    for epochs, what in ((0, "0 epochs: the starting weights"), (1, "1 epoch: one update")):
        out.append(
            {
                "name": case["name"],
                "id": f"{case['id']}-epochs{epochs}",
                "kind": case["kind"],
                "label": f"{case['label']} with {what}",
                "args": {**case["args"], "epochs": epochs},
                "context": {"replay_of": case["id"], "epochs": epochs},
            }
        )
    return out


def is_replay(case: Case) -> bool:
    """Whether a case is one of `replay_cases` (not counted as an example of its own)."""
    return "replay_of" in case["context"]


def unknown_name_message(name: str) -> str:
    return f"no check for {name!r}: the course's functions are {', '.join(FUNCTIONS)}"


def visible_cases(name: str) -> list[Case]:
    """The fixed examples of the visible flavour, in the order they are checked."""
    return _visible(name)


def hidden_cases(name: str, seed: int = DEFAULT_SEED) -> list[Case]:
    """The hidden flavour's cases: the visible examples first, then randomised inputs of many
    shapes (n = 1, 2, 10, 10,000; o > 1; h = 1), generated from `seed`."""
    return _visible(name) + _hidden(name, seed)
