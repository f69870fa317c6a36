"""The data file of the student package, from the functions' records: each function's public
half, its visible examples, their right answers and the known wrong answers (misconception
variants) on them; the functions each notebook provides; the points of each graded cell.

    backprop_checks/visible.json = build_visible_data()

The student package judges the visible examples with this data alone, so it needs no code
that computes a right answer. Arrays are stored as {"ndarray": {"shape": [...], "data":
[...]}} with floats written by `repr` (exact round trip); a 0-d array has shape []. The
layout is described in `backprop_checks.catalog`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
from backprop_checks import mistakes as naming
from backprop_checks.mistakes import inputs_of

from grader import course
from grader.judge import cases as _cases
from grader.judge import diagnose, expect, functions, netmath, reference
from grader.nbcells import grade_id, is_graded, nbgrader_meta, points

#: Where the data file lives in the repository (committed; a test fails when it is stale).
STUDENT_DIR = course.REPO_ROOT / "student"
DATA_PATH = STUDENT_DIR / "backprop_checks" / "visible.json"
FORMAT = 2


def encode(value: Any) -> Any:
    """A case value as JSON data (ndarrays tagged, tuples as lists)."""
    if isinstance(value, np.ndarray):
        arr = np.asarray(value, dtype=float)
        return {"ndarray": {"shape": list(arr.shape), "data": [float(v) for v in arr.ravel()]}}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in the handout data")


def _case_data(case: _cases.Case) -> dict[str, Any]:
    record = functions.get(case["name"])
    out: dict[str, Any] = {
        "id": case["id"],
        "kind": case["kind"],
        "label": case["label"],
        "args": encode(case["args"]),
        "context": encode(case["context"]),
    }
    if record.result == "run":  # judged by its behaviour, against runs stored here
        out["expected"], out["variants"] = {}, {}
        if not _cases.is_replay(case):
            out["train"] = _train_data(case)
        return out
    expected = expect.expected(case, hidden=False)
    out["expected"] = encode(expected)
    variants: dict[str, list[dict[str, Any]]] = {}
    for comp, exp in expected.items():
        found = diagnose.compute_variants(record.name, comp, inputs_of(case), case["context"], exp)
        variants[comp] = [
            {
                "tags": list(v.tags),
                "formula": v.formula,
                "gloss": v.gloss,
                "value": encode(v.value),
                **({"noise": v.noise} if v.noise else {}),
            }
            for v in found
        ]
    out["variants"] = variants
    return out


def _train_data(case: _cases.Case) -> dict[str, Any]:
    """What the visible train check looks up instead of computing: the course's starting
    weights (the case's seed, 0 and seed + 1), the gradients there, and gradient descent from
    each (from the case's own start also with every step factor a misconception gives)."""
    a = case["args"]
    X, Y, lr, seed = a["X"], a["Y"], a["lr"], a["seed"]
    c, h, o = X.shape[1], a["n_hidden"], Y.shape[1]
    starts = {s: reference.init_params(c, h, o, s) for s in dict.fromkeys((seed, 0, seed + 1))}
    factors = [1.0] + [f for f, _, _ in naming._factor_table(X.shape[0], o)]
    runs = []
    for s, start in starts.items():
        for f in factors if s == seed else [1.0]:
            params, losses = netmath.descent(X, Y, start, lr * f, a["epochs"])
            runs.append(
                {
                    "lr": lr * f,
                    "start": encode(start),
                    "final": encode(params[-1]),
                    "losses": [float(x) for x in losses],
                }
            )
    return {
        "init": {str(s): encode(p) for s, p in starts.items()},
        "runs": runs,
        "gradients": [
            {"params": encode(p), "gradients": encode(netmath.gradients(X, Y, p))}
            for p in starts.values()
        ],
    }


def _source_notebooks(source: Path) -> dict[str, nbformat.NotebookNode]:
    out = {}
    for assignment in course.ASSIGNMENTS:
        path = source / assignment / f"{assignment}.ipynb"
        if path.exists():
            out[assignment] = nbformat.read(path, as_version=4)
    return out


def test_points(
    source: Path = course.REPO_ROOT / "source", *, notebooks: dict | None = None
) -> dict[str, dict[str, float]]:
    """{assignment: {grade_id: points}} of every graded cell in the source notebooks."""
    out: dict[str, dict[str, float]] = {}
    for assignment, nb in (notebooks or _source_notebooks(source)).items():
        cells = out.setdefault(assignment, {})
        for cell in nb.cells:
            if is_graded(cell):
                cells[grade_id(cell)] = points(cell)
    return out


_DEF = re.compile(r"^def (\w+)", re.M)


def provided_functions(
    source: Path = course.REPO_ROOT / "source", *, notebooks: dict | None = None
) -> dict[str, list[str]]:
    """{assignment: the functions its locked setup and "provided" cells define (cell ids
    "setup", "provided..."), sorted}: given by the notebook, so never called "your ..."."""
    out = {}
    for assignment, nb in (notebooks or _source_notebooks(source)).items():
        names: set[str] = set()
        for cell in nb.cells:
            cid = str(cell.get("id", ""))
            if cell.cell_type == "code" and (cid == "setup" or cid.startswith("provided")):
                names.update(_DEF.findall(cell.source))
        out[assignment] = sorted(names)
    return out


_HEADING = re.compile(r"^#\s+(?:\d+\s*·\s*)?(.+)$", re.M)


def course_notebooks(
    source: Path = course.REPO_ROOT / "source", *, notebooks: dict | None = None
) -> dict[str, dict[str, Any]]:
    """{assignment: {"title": its first heading (number and $ signs dropped), "write": the
    functions the student writes (its solution cells' grade_ids, in order)}}: what the class
    start-here's course table lists (`backprop_checks.catalog.show_course`)."""
    out = {}
    for assignment, nb in (notebooks or _source_notebooks(source)).items():
        heading = _HEADING.search(nb.cells[0].source) if nb.cells else None
        out[assignment] = {
            "title": heading[1].replace("$", "").strip() if heading else assignment,
            "write": [
                grade_id(c)
                for c in nb.cells
                if c.cell_type == "code" and nbgrader_meta(c).get("solution")
            ],
        }
    return out


def build_visible_data() -> dict[str, Any]:
    """The whole data file as a JSON-ready dict: {"format", "functions", "provided",
    "points", "notebooks"}; "functions" holds each record's public half and its visible
    examples, "notebooks" each assignment's title and functions to write."""
    by_name = {
        record.name: {
            **record.public(),
            "cases": [_case_data(c) for c in _cases.visible_cases(record.name)],
        }
        for record in functions.records()
    }
    notebooks = _source_notebooks(course.REPO_ROOT / "source")
    return {
        "format": FORMAT,
        "functions": by_name,
        "provided": provided_functions(notebooks=notebooks),
        "points": test_points(notebooks=notebooks),
        "notebooks": course_notebooks(notebooks=notebooks),
    }


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"  # key order kept: args are in call order


#: How far two floats of the data file may differ and still be the same data: another CPU's
#: numpy or BLAS rounds the last bits differently.
RTOL = 1e-12


def difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where two data files (as JSON data) differ, or None when they hold the same data:
    equal keys, strings and shapes, floats equal to `RTOL` relative, and a rounding-noise
    variant's value (one with a "noise" bound, `backprop_checks.mistakes.Variant`) within
    its bound."""
    if isinstance(a, dict):
        if not isinstance(b, dict) or sorted(a) != sorted(b):
            return f"{where}: keys differ"
        if "noise" in a and "value" in a:
            limit = float(max(a["noise"], b["noise"]))
            x, y = a["value"]["ndarray"], b["value"]["ndarray"]
            if x["shape"] != y["shape"] or not np.allclose(
                x["data"], y["data"], rtol=0, atol=limit
            ):
                return f"{where}/value: differs beyond its noise bound {limit:g}"
            if not np.isclose(a["noise"], b["noise"], rtol=1e-6):
                return f"{where}/noise: {a['noise']!r} != {b['noise']!r}"
            a, b = (
                {k: v for k, v in a.items() if k not in ("noise", "value")},
                {k: v for k, v in b.items() if k not in ("noise", "value")},
            )
        for k in a:
            found = difference(a[k], b[k], f"{where}/{k}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return f"{where}: lengths differ"
        if a and all(isinstance(x, float) for x in a + b):
            if not np.allclose(a, b, rtol=RTOL, atol=1e-300):
                return f"{where}: values differ"
            return None
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, float) and isinstance(b, float):
        return None if np.isclose(a, b, rtol=RTOL, atol=1e-300) else f"{where}: {a!r} != {b!r}"
    return None if a == b else f"{where}: {a!r} != {b!r}"


def write_visible_data(path: Path = DATA_PATH, fresh: dict[str, Any] | None = None) -> Path:
    """Write the data file when its data changed, and return its path.

    A file that holds the same data (`difference`: the last bits another CPU rounds
    differently, rounding-noise values within their bounds) is left untouched, byte for
    byte, so `make handout` on another machine changes neither the file nor the checks'
    version (a hash of the package's files). fresh: the data to write (default: built now,
    `build_visible_data`)."""
    fresh = build_visible_data() if fresh is None else fresh
    text = dumps(fresh)
    if path.exists():
        kept = path.read_text(encoding="utf-8")
        if kept == text:
            return path
        try:
            same = difference(json.loads(text), json.loads(kept)) is None
        except (ValueError, KeyError, TypeError):
            same = False
        if same:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
