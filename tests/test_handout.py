"""The class path: the student wheel and dist/handout/.

- the student package's data file (student/backprop_checks/visible.json) is what the
  instructor's code computes today (fails when stale, like release/);
- `backprop-grader handout` writes the wheel and one zip per assignment (release notebook,
  the companions it mentions, README, wheel); a bad --dest is one line and exit 2;
- the wheel holds only backprop_checks (no reference, no hidden cases, no numerical
  differentiation) and no line of any solution in source/;
- slow: in a fresh venv with only the wheel (+ numpy, matplotlib, ipykernel), every release
  notebook filled with the source solutions passes all its visible test cells, the untouched
  one fails them with the stub message, importing a reference module fails, and the source
  notebooks' hidden test cells say they run at grading time (no traceback).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from notebook_tools import ASSIGNMENTS, ROOT, SEED_NAME, source_path

from grader.handout import data

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


# --------------------------------------------------------------------------- data


def _same(a, b, where: str = "") -> None:
    """Equal JSON data; floats equal to 1e-12 relative (another BLAS may round differently)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{where}: keys differ"
        for k in a:
            _same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: lengths differ"
        if a and all(isinstance(x, float) for x in a + b):
            assert np.allclose(a, b, rtol=1e-12, atol=1e-300), f"{where}: values differ"
        else:
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert np.isclose(a, b, rtol=1e-12, atol=1e-300), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_visible_data_is_fresh():
    """student/backprop_checks/visible.json is what `make handout` writes from today's code."""
    committed = json.loads(data.DATA_PATH.read_text(encoding="utf-8"))
    fresh = json.loads(data.dumps(data.build_visible_data()))
    try:
        _same(fresh, committed)
    except AssertionError as exc:
        raise AssertionError(
            f"{data.DATA_PATH.relative_to(ROOT)} is stale ({exc}): run `make handout` and commit it"
        ) from None


# --------------------------------------------------------------------------- handout


@pytest.fixture(scope="module")
def handout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/handout built by the real command into a temporary folder."""
    dest = tmp_path_factory.mktemp("handout") / "handout"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "handout", "--dest", str(dest)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return dest


def _wheel(handout: Path) -> Path:
    wheels = list(handout.glob("backprop_course_checks-*-py3-none-any.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.mark.slow
def test_handout_has_a_wheel_and_a_zip_per_assignment(handout: Path):
    wheel = _wheel(handout)
    assert sorted(p.name for p in handout.glob("*.zip")) == [f"{a}.zip" for a in ASSIGNMENTS]
    for assignment in ASSIGNMENTS:
        with zipfile.ZipFile(handout / f"{assignment}.zip") as zf:
            names = zf.namelist()
            readme = zf.read(f"{assignment}/README.md").decode()
            shipped = zf.read(f"{assignment}/{assignment}.ipynb")
        assert f"{assignment}/{wheel.name}" in names
        # the release notebook as committed (which a test keeps equal to nbgrader's output)
        assert shipped == (ROOT / "release" / assignment / f"{assignment}.ipynb").read_bytes()
        release_text = shipped.decode()
        for companion in (ROOT / "notebooks").glob("*.ipynb"):
            wanted = companion.name in release_text
            assert (f"{assignment}/{companion.name}" in names) == wanted, companion.name
        assert not any("source" in n or n.endswith(".py") for n in names), names
        assert f"pip install {wheel.name}" in readme
        assert f"`{assignment}.ipynb`" in readme and f"YOURID_{assignment}.ipynb" in readme


@pytest.mark.slow
def test_handout_refuses_a_file_as_dest(tmp_path: Path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "handout", "--dest", str(target)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "give a folder" in proc.stderr
    assert target.read_text() == "mine"


def solution_lines() -> set[str]:
    """Every non-trivial line inside a BEGIN/END SOLUTION block of source/, whitespace and
    comments removed."""
    out = set()
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(source_path(assignment), as_version=4)
        for cell in nb.cells:
            for block in SOLUTION.findall(cell.source):
                for line in block.splitlines():
                    norm = re.sub(r"\s+", "", line.split("#", 1)[0])
                    if len(norm) >= 10 and not re.fullmatch(r"return[\w,]+", norm):  # returns names
                        out.add(norm)
    return out


@pytest.mark.slow
def test_wheel_holds_no_solution(handout: Path):
    lines = solution_lines()
    assert len(lines) > 20  # the course's solutions were found
    with zipfile.ZipFile(_wheel(handout)) as zf:
        names = zf.namelist()
        packages = {n.split("/")[0] for n in names}
        assert packages <= {"backprop_checks", "backprop_course_checks-0.1.0.dist-info"}, packages
        for banned in ("reference", "numeric", "netmath", "expect", "_hidden", ".ipynb"):
            assert not [n for n in names if banned in n], banned
        for name in names:
            raw = zf.read(name).decode("utf-8", errors="replace")
            text = re.sub(r"\s+", "", raw)
            shown = [ln for ln in lines if ln in text]
            assert not shown, f"{name} contains solution lines {shown}"
            assert not SEED_NAME.search(raw) and "COURSE_SPEC" not in raw, name
            if name.endswith(".py"):
                assert not _computes_answers(raw), f"{name}: {_computes_answers(raw)}"


def _computes_answers(code: str) -> list[str]:
    """Code (not text) that could compute a graded function's answer: a finite difference
    (x + eps, x - eps) or an exponential (the sigmoid's)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            names = [n.id for n in (node.left, node.right) if isinstance(n, ast.Name)]
            if any("eps" in n for n in names):
                found.append(f"line {node.lineno}: +- eps")
        if isinstance(node, ast.Attribute) and node.attr in ("exp", "expit", "tanh", "log1p"):
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


# --------------------------------------------------------------------------- slow: a student venv


def _run_in_student_kernel(nb, student_env, cwd: Path, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(student_env.jupyter_path))
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="backprop-student",
        allow_errors=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()


def _filled(assignment: str) -> nbformat.NotebookNode:
    """The release notebook with each solution cell replaced by the source's (by grade_id)."""
    release = nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbformat.read(source_path(assignment), as_version=4)
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = solutions[meta["grade_id"]]
    return release


def _visible_tests(nb) -> dict[str, list[str]]:
    """{grade_id: [error texts]} of every visible test cell."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta["grade_id"].startswith("test_"):
            out[meta["grade_id"]] = [
                f"{o.ename}: {o.evalue}"
                for o in cell.get("outputs", [])
                if o.output_type == "error"
            ]
    return out


@pytest.mark.slow
def test_student_env_has_no_reference(student_env):
    """Only the wheel is there: no grader package, no reference module, anywhere."""
    for module in ("grader", "grader.judge.reference", "reference", "backprop_checks.reference"):
        proc = student_env.run(
            [str(student_env.python), "-c", f"import {module}"], cwd=student_env.root
        )
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, module
    proc = student_env.run(
        [str(student_env.python), "-c", "from backprop_checks import checks; print(checks)"],
        cwd=student_env.root,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_notebooks_in_the_student_env(assignment, student_env, tmp_path, monkeypatch):
    filled = _filled(assignment)
    _run_in_student_kernel(filled, student_env, tmp_path, monkeypatch)
    results = _visible_tests(filled)
    assert results and all(not errs for errs in results.values()), results

    stub = nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    _run_in_student_kernel(stub, student_env, tmp_path, monkeypatch)
    stub_results = _visible_tests(stub)
    assert stub_results.keys() == results.keys(), stub_results
    for grade_id, errs in stub_results.items():
        assert errs, f"{grade_id} passed on the untouched stub"
        assert "CheckFailure" in errs[0] and "still the stub" in errs[0], (grade_id, errs)


@pytest.mark.slow
def test_hidden_cells_in_the_student_env_say_when_they_run(student_env, tmp_path, monkeypatch):
    """The source notebook (solutions and hidden tests in) in the student venv: the hidden
    test cells print that they run at grading time, and nothing raises."""
    assignment = "04_backprop_W2"
    nb = nbformat.read(source_path(assignment), as_version=4)
    _run_in_student_kernel(nb, student_env, tmp_path, monkeypatch)
    hidden = [
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("hidden_test_")
    ]
    assert hidden
    for cell in hidden:
        outs = cell.get("outputs", [])
        assert not [o for o in outs if o.output_type == "error"], cell.metadata["nbgrader"]
        text = "".join(o.get("text", "") for o in outs)
        assert "when your notebook is graded" in text, text
        assert "points" in text, text
