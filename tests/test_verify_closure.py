"""What the verification process may import: derived from the package layout, never the
checks, the naming of mistakes nor grader.judge; and the process itself keeps to it.

Kernel-free: the closure is an `ast` walk, and the verification process is a plain Python
process (with and without bubblewrap), not a kernel.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.sandbox.plan import Limits, bwrap_status
from grader.verify import boot, launch
from grader.verify.closure import (
    FORBIDDEN,
    RUNNER,
    ClosureError,
    import_closure,
    package_roots,
    runner_closure,
)

#: A line of backprop_checks/catalog.py the tests add an import after.
ANCHOR = "import numpy as np"


def _student_copy(tmp_path: Path) -> dict[str, Path]:
    """The package roots with a temporary copy of the student package."""
    roots = package_roots()
    copy = tmp_path / "backprop_checks"
    shutil.copytree(roots["backprop_checks"], copy, ignore=shutil.ignore_patterns("__pycache__"))
    return {**roots, "backprop_checks": copy}


def _add_line(path: Path, after: str, line: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert after in text, f"{after!r} not in {path}"
    path.write_text(text.replace(after, f"{after}\n{line}", 1), encoding="utf-8")


def test_the_runner_gets_what_it_needs_and_never_the_checks_or_the_judge():
    closure = runner_closure()
    assert RUNNER in closure.modules
    for needed in ("observe.py", "catalog.py", "_trusted.py", "visible.json"):
        assert needed in closure.files["backprop_checks"]
    assert {"__init__.py", "verify/__init__.py", "verify/runner.py"} <= set(closure.files["grader"])
    for name in closure.modules:
        assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), name
    assert not any(f.startswith("judge/") for f in closure.files["grader"])
    for kept_out in ("checks.py", "mistakes.py", "judging.py"):
        assert kept_out not in closure.files["backprop_checks"]


def test_a_new_import_in_a_kernel_side_module_is_followed(tmp_path: Path):
    roots = _student_copy(tmp_path)
    pkg = roots["backprop_checks"]
    (pkg / "extra.py").write_text("from . import more\n\nNAME = 'extra.json'\n", encoding="utf-8")
    (pkg / "more.py").write_text("X = 1\n", encoding="utf-8")
    (pkg / "extra.json").write_text("{}", encoding="utf-8")
    (pkg / "unused.py").write_text("Y = 2\n", encoding="utf-8")
    _add_line(pkg / "catalog.py", ANCHOR, "import backprop_checks.extra")

    closure = import_closure(RUNNER, roots)

    assert {"backprop_checks.extra", "backprop_checks.more"} <= set(closure.modules)
    assert {"extra.py", "more.py", "extra.json"} <= set(closure.files["backprop_checks"])
    assert "unused.py" not in closure.files["backprop_checks"]
    # and the overlay the sandbox mounts holds exactly those files
    overlay = launch._overlay_package(tmp_path / "box", closure)
    copy = Path(overlay[str(pkg)])
    assert (
        sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
        == (closure.files["backprop_checks"])
    )


def test_a_type_checking_import_is_not_followed(tmp_path: Path):
    roots = _student_copy(tmp_path)
    _add_line(
        roots["backprop_checks"] / "catalog.py",
        ANCHOR,
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from backprop_checks import checks",
    )
    assert "backprop_checks.checks" not in import_closure(RUNNER, roots).modules


@pytest.mark.parametrize(
    "line, forbidden",
    [
        ("from backprop_checks.checks import judge", "backprop_checks.checks"),
        ("from backprop_checks import mistakes", "backprop_checks.mistakes"),
        ("from backprop_checks.judging import Truth", "backprop_checks.judging"),
        ("import grader.judge.reference", "grader.judge"),
    ],
)
def test_a_forbidden_import_stops_grading_and_names_the_import(
    tmp_path: Path, line: str, forbidden: str
):
    roots = _student_copy(tmp_path)
    _add_line(roots["backprop_checks"] / "catalog.py", ANCHOR, line)
    with pytest.raises(ClosureError) as info:
        import_closure(RUNNER, roots)
    message = str(info.value)
    assert forbidden in message
    assert "backprop_checks.catalog imports" in message and "catalog.py line" in message
    assert "Move what backprop_checks.catalog needs" in message


def test_boot_refuses_modules_outside_the_closure():
    closure = runner_closure()
    block = boot.Block(set(closure.files), set(closure.modules))
    assert block.find_spec("backprop_checks.observe") is None
    assert block.find_spec("numpy") is None
    for name in ("backprop_checks.checks", "grader.judge.reference", "grader.verify.launch"):
        with pytest.raises(ImportError, match="not available during verification"):
            block.find_spec(name)


HONEST = """
import numpy as np

def sigmoid(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
"""
# Right answers only while the process cannot see the checks nor the reference.
PROBE = """
seen = []
for module in ("backprop_checks.checks", "backprop_checks.mistakes", "grader.judge.reference"):
    try:
        __import__(module)
        seen.append(module)
    except ImportError:
        pass

def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1 - s) + (1000.0 if seen else 0.0)
"""


@pytest.mark.parametrize("mode", ["off", "require"])
def test_the_verification_process_keeps_to_the_closure(tmp_path: Path, mode: str):
    if mode == "require" and not bwrap_status().usable:
        pytest.skip("bubblewrap cannot run here")
    nb = new_notebook(cells=[new_code_cell(HONEST), new_code_cell(PROBE)])
    nbformat.write(nb, tmp_path / "ps.ipynb")
    run = launch.verify_notebook(
        nb,
        tmp_path,
        ["sigmoid", "sigmoid_prime"],
        limits=Limits(),
        course=tmp_path,
        mode=mode,
        cell_timeout=30,
    )
    assert run.error == ""
    for name in ("sigmoid", "sigmoid_prime"):
        verdict = run.verdicts[name]
        assert (verdict.visible, verdict.hidden) == (True, True), verdict.message


REPO = Path(__file__).parent.parent


def _setup_imports(source: str) -> set[str]:
    """The modules a setup cell's import statements name (magics translated by IPython)."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    names = set()
    for node in ast.walk(ast.parse(TransformerManager().transform_cell(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_runner_warms_up_what_every_setup_cell_imports():
    """A cold verification process (no bubblewrap) imports these before any cell's time limit
    starts; a setup cell that imports more would spend its seconds there (issue: under load
    the alarm stopped it before `import numpy as np`, and every function failed on a
    NameError)."""
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys\nfrom grader.verify.runner import warm_up\nwarm_up()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(
        json.loads(
            subprocess.run(
                [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        )
    )
    closure = runner_closure()
    notebooks = sorted(REPO.glob("release/*/*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        setup = [c for c in nb.cells if c.cell_type == "code"][0]
        missing = {
            name
            for name in _setup_imports(setup.source)
            if name not in loaded
            and name not in sys.stdlib_module_names
            and name not in closure.modules
        }
        assert not missing, f"{path.name}'s setup cell imports {missing}: add them to warm_up"


@pytest.mark.slow
@pytest.mark.parametrize("mode, warm", [("off", False), ("require", False), ("require", True)])
def test_a_released_notebook_verifies_with_a_short_cell_limit(
    tmp_path: Path, mode: str, warm: bool
):
    """An honest notebook 02 (its real setup cell: `%matplotlib inline`, matplotlib, numpy)
    verifies with a 2 s cell limit, cold (through boot without bubblewrap, or `-m` in it)
    and forked from the warm zygote: the runner's imports are not charged to the setup cell."""
    from tests.attacks import student_copy

    if mode == "require" and not bwrap_status().usable:
        pytest.skip("bubblewrap cannot run here")
    name = "02_sigmoid_derivative"
    nb = student_copy(
        nbformat.read(REPO / "source" / name / f"{name}.ipynb", as_version=4),
        nbformat.read(REPO / "release" / name / f"{name}.ipynb", as_version=4),
    )
    nbformat.write(nb, tmp_path / f"{name}.ipynb")
    functions = ["sigmoid", "sigmoid_prime", "sigmoid_prime_from_output"]
    run = launch.verify_notebook(
        nb,
        tmp_path,
        functions,
        limits=Limits(),
        course=tmp_path,
        mode=mode,
        cell_timeout=2,
        warm=warm,
    )
    assert run.error == ""
    for function in functions:
        verdict = run.verdicts[function]
        assert (verdict.visible, verdict.hidden) == (True, True), (function, verdict.message)
