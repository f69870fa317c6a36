"""The inputs every check feeds to a student's function: deterministic, serialisable cases.

A case is a plain dict that pickles and crosses a process boundary::

    {"name": "grad_W2",            # the student function
     "id": "visible-1",            # unique within the function's cases
     "kind": "visible" | "hidden",
     "label": "visible example 1 (n=5, c=3, h=4, o=2)",
     "args": {"H": ndarray, "delta2": ndarray},   # in call order
     "context": {...}}             # data the judge needs and the call does not get

Each function's record (`grader.judge.functions`) draws its examples; this module numbers
and labels them: the visible ones from numpy.random.default_rng(2024), the hidden ones from
default_rng([seed, a stable hash of the function's name]) (`hidden_stream`), so a function
added anywhere, in any notebook, changes no other function's hidden inputs. An argument array
of another dtype than float64 (an integer W) is named in the case's context,
{"dtypes": {"W": "int64"}}, so the student package's visible cases (stored as floats) get it
back. An argument that is a function (numerical_derivative's `g`) is described by data
(`grader.judge.inputs`); `build_args(case)` turns a case into the call's positional arguments.
This module never imports
`grader.judge.reference`.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from backprop_checks import catalog as _student
from backprop_checks.catalog import DEFAULT_SEED, Case, is_replay  # one definition each

from grader.judge import functions
from grader.judge.functions import FUNCTIONS, SIGNATURES
from grader.judge.inputs import (  # noqa: F401 - the cases' material, named here too
    HIDDEN_SHAPES,
    VISIBLE_SHAPES,
    XOR_SEEDS,
    XOR_SETTINGS,
    XOR_X,
    XOR_Y,
    Example,
    Poly,
    Quadratic,
    build_callable,
)

__all__ = [
    "DEFAULT_SEED",
    "FUNCTIONS",
    "SIGNATURES",
    "Case",
    "build_args",
    "build_callable",
    "hidden_cases",
    "hidden_stream",
    "is_replay",
    "replay_cases",
    "unknown_name_message",
    "visible_cases",
]

#: The seed of the visible examples' numbers (fixed: they are shipped as data).
VISIBLE_SEED = 2024


def build_args(case: Case) -> list[Any]:
    """The positional arguments of the call a case describes (fresh objects every time)."""
    return _student.build_args(case, build=build_callable)


def unknown_name_message(name: str) -> str:
    return f"no check for {name!r}: the course's functions are {', '.join(FUNCTIONS)}"


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


def _numbered(name: str, kind: str, examples: list[Example]) -> list[Case]:
    order = SIGNATURES[name]
    out: list[Case] = []
    for ex in examples:
        k = len(out) + 1
        if kind == "visible":
            label = f"visible example {k}" + (f" ({ex.label})" if ex.label else "")
        else:
            label = f"randomised inputs ({ex.label})"
        args = {key: ex.args[key] for key in order if key in ex.args}  # in call order
        context = ex.context
        dtypes = {
            key: str(v.dtype)
            for key, v in args.items()
            if isinstance(v, np.ndarray) and v.dtype != np.float64
        }
        if dtypes:  # kept as data: the handout stores every array's numbers as floats
            context = {**context, "dtypes": dtypes}
        case = {
            "name": name,
            "id": f"{kind}-{k}",
            "kind": kind,
            "label": label,
            "args": args,
            "context": context,
        }
        out.append(case)
        if ex.replays:
            out.extend(replay_cases(case))
    return out


def _record(name: str) -> functions.Function:
    if name not in SIGNATURES:
        raise KeyError(unknown_name_message(name))
    return functions.get(name)


def visible_cases(name: str) -> list[Case]:
    """The fixed examples of the visible flavour, in the order they are checked."""
    record = _record(name)
    return _numbered(name, "visible", record.visible(np.random.default_rng(VISIBLE_SEED)))


def hidden_stream(name: str) -> int:
    """The function's own random stream beside the seed: CRC-32 of its name (stable across
    Python runs and machines, unlike hash(); independent of the order of the records)."""
    return zlib.crc32(name.encode("utf-8"))


def hidden_cases(name: str, seed: int = DEFAULT_SEED) -> list[Case]:
    """The hidden flavour's cases: the visible examples first, then randomised inputs of many
    shapes (n = 1, 2, 10, 10,000; o > 1; h = 1), generated from `seed` and the function's
    name (`hidden_stream`)."""
    record = _record(name)
    rng = np.random.default_rng([seed, hidden_stream(name)])
    return visible_cases(name) + _numbered(name, "hidden", record.hidden(rng))
