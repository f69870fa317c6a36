"""Adding a student function is writing one record (docs/extending.md).

In a copy of the repository (the tree, without .git and .venv), a toy function
`relu_prime(z)` is added by one new file, grader/judge/functions/nbNN_relu.py, and nothing
else (NN one past the course's last notebook, so the toy comes last however many notebooks
the course has); the handout data is rebuilt there (`backprop-grader handout`'s data step),
and a fresh interpreter that imports the copy (PYTHONPATH, the editable installs' finders
dropped) checks that its visible check passes a right answer and fails wrong ones, naming the
toy's misconceptions; that its hidden check passes the right answer on the randomised cases
and fails a wrong one; that `backprop_checks.checks.judge` on observations sent as JSON (as
the out-of-process verification sends them) gives the same verdicts; and that the demo class
and check_relu_prime's help come from the record.

A second copy adds relu_prime in the middle of an existing notebook instead: every other
function's hidden cases stay exactly as they were (hidden inputs are seeded by the name).

Slow: the same copy with a notebook NN_relu that uses it, added to ASSIGNMENTS, graded by
nbgrader's own CLI.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from grader import course

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "hidden_cases", ROOT / "benchmarks" / "hidden_cases.py"
)
hidden_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hidden_cases)
KEEP_OUT = (
    ".git",
    ".venv",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    "dist",
    "workspace",
    "build",
    "gradebook.db",
    "submitted",
    "autograded",
    "feedback",
    ".grader",
    ".exchange",
)

TOY_RECORD = '''
"""Notebook __TOY__: relu_prime."""

from __future__ import annotations

import numpy as np

from grader.judge.functions.record import ENTRYWISE_M1, Example, Function, Variant, nd


def _visible(rng):
    return [
        Example({"z": np.array([-2.0, -0.5, 0.0, 0.5, 3.0])}),
        Example({"z": np.array([[1.0, -1.0, 0.0], [0.0, 2.5, -4.0]])}),
    ]


def _hidden(rng):
    shapes = ((7,), (1,), (10_000,), (3, 4))
    out = [Example({"z": rng.normal(size=s)}, f"shape {s}") for s in shapes]
    out.append(Example({"z": float(rng.normal())}, "a scalar"))
    return out


def _variants(component, inputs, context):
    z = nd(inputs["z"])
    return [
        Variant(("M7",), "relu(z) = max(z, 0)", "the function itself, not its slope",
                np.maximum(z, 0.0)),
        Variant((), "1 where z >= 0", "z = 0 counted as positive; the slope there is 0",
                (z >= 0).astype(float)),
    ]


relu_prime = Function(
    name="relu_prime",
    args={"z": "a number or an array of any shape"},
    returns="an array shaped like z (a number for a number)",
    about="the slope of relu(z) = max(z, 0): 1 where z > 0, else 0",
    result="elementwise",
    hint="the slope of max(z, 0) is 1 where z > 0 and 0 elsewhere, z = 0 included.",
    tag_hints={"M1": ENTRYWISE_M1, "M7": "relu_prime is the slope: 1 where z > 0, not max(z, 0)."},
    visible=_visible,
    hidden=_hidden,
    expected=lambda case: (np.asarray(case["args"]["z"], dtype=float) > 0).astype(float),
    hidden_truth="expected",
    variants=_variants,
    wrong={"M7": "return np.maximum(z, 0.0)"},
)

RECORDS = [relu_prime]
'''

REBUILD = """
from grader.handout import data
print(data.write_visible_data())
"""

CHECK = """
import json
import numpy as np
import backprop_checks, grader
from backprop_checks import checks
import pickle, tempfile
from pathlib import Path
from backprop_checks.observe import observe_cases
from grader.verify.launch import read_results
from grader.judge import cases
from grader.pipeline import demo

def right(z):
    return (np.asarray(z, dtype=float) > 0).astype(float)

def relu(z):
    return np.maximum(z, 0.0)

def at_zero_one(z):
    return (np.asarray(z, dtype=float) >= 0).astype(float)

def verdict(fn, hidden=False):
    r = checks.run_check("relu_prime", fn, hidden=hidden)
    return {"passed": r.passed, "tags": r.misconceptions, "message": r.message, "n": r.n_cases}

def judged(fn):  # the verification's path: observations pickled, read back, judged here
    case_list = cases.hidden_cases("relu_prime", seed=7)
    sent = Path(tempfile.mkdtemp()) / "results.pkl"
    with sent.open("wb") as f:
        pickle.dump(("relu_prime", {"hidden": observe_cases(fn, case_list)}), f, protocol=4)
    back = read_results(sent)["relu_prime"]["hidden"]
    r = checks.judge("relu_prime", case_list, back, hidden=True)
    return {"passed": r.passed, "tags": r.misconceptions, "message": r.message}

checks.check_relu_prime(right)  # prints its one line
out = {
    "files": [backprop_checks.__file__, grader.__file__],
    "visible": {f.__name__: verdict(f) for f in (right, relu, at_zero_one)},
    "hidden": {f.__name__: verdict(f, hidden=True) for f in (right, relu)},
    "judged": {f.__name__: judged(f) for f in (right, relu)},
    "doc": checks.check_relu_prime.__doc__,
    "demo": demo.WRONG.get("relu_prime"),
    "functions": list(cases.FUNCTIONS),
}
print("JSON" + json.dumps(out))
"""


def next_notebook(assignments: tuple[str, ...] | list[str], modules: list[str]) -> str:
    """The toy's notebook id: the number after every assignment's and records module's."""
    numbers = [int(a[:2]) for a in assignments] + [int(m[2:4]) for m in modules]
    return f"{max(numbers, default=0) + 1:02d}_relu"


#: The toy's notebook id and its records module, after the course's own.
TOY = next_notebook(
    course.ASSIGNMENTS,
    [p.stem for p in (ROOT / "grader" / "judge" / "functions").glob("nb[0-9][0-9]_*.py")],
)
TOY_MODULE = f"nb{TOY}.py"


def add_assignment(course_py: Path, assignment: str) -> None:
    """Append an id to the ASSIGNMENTS tuple of a copy's grader/course.py, however it is laid
    out (found by parsing the file, not by matching its text)."""
    text = course_py.read_text()
    [node] = [
        n
        for n in ast.parse(text).body
        if isinstance(n, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(t, ast.Name) and t.id == "ASSIGNMENTS"
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
        )
    ]
    assert isinstance(node.value, ast.Tuple) and node.value.elts, "ASSIGNMENTS is not a tuple"
    last = node.value.elts[-1]
    lines = text.splitlines(keepends=True)
    end_line = lines[last.end_lineno - 1].encode()[: last.end_col_offset].decode()  # a byte offset
    at = sum(len(line) for line in lines[: last.end_lineno - 1]) + len(end_line)
    course_py.write_text(f'{text[:at]},\n    "{assignment}"{text[at:]}')


def write_toy_record(copy: Path) -> None:
    """The toy's records module, the one file that adds relu_prime."""
    module = copy / "grader" / "judge" / "functions" / TOY_MODULE
    module.write_text(TOY_RECORD.replace("__TOY__", TOY))


def copy_repository(dest: Path) -> Path:
    """The repository's tree at dest (no .git, .venv, caches or build outputs)."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*KEEP_OUT), symlinks=True)
    return dest


def run_in(copy: Path, code: str, *, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter that imports grader and backprop_checks from the copy."""
    prelude = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in repr(f)]\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(copy / "student")])}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=copy,
        env=env,
        timeout=timeout,
    )


def add_toy(copy: Path) -> None:
    """The one file that adds relu_prime (the toy's records module), then the handout data
    rebuilt in the copy (from nothing: the build does not read the data file it replaces)."""
    write_toy_record(copy)
    (copy / "student" / "backprop_checks" / "visible.json").unlink()
    proc = run_in(copy, REBUILD)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((copy / "student" / "backprop_checks" / "visible.json").read_text())
    assert list(data["functions"])[-1] == "relu_prime"
    assert data["functions"]["relu_prime"]["notebook"] == TOY


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = copy_repository(tmp_path_factory.mktemp("extend") / "repo")
    add_toy(copy)
    return copy


def test_a_record_alone_adds_a_function(extended: Path):
    before = (ROOT / "student" / "backprop_checks" / "visible.json").read_text()
    proc = run_in(extended, CHECK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    printed, _, payload = proc.stdout.partition("JSON")
    out = json.loads(payload)
    assert all(f.startswith(str(extended)) for f in out["files"]), out["files"]
    assert out["functions"][-1] == "relu_prime"
    assert printed.strip() == "relu_prime: right on all 2 visible examples."

    visible = out["visible"]
    assert visible["right"]["passed"]
    assert not visible["relu"]["passed"] and visible["relu"]["tags"] == ["M7"]
    first = visible["relu"]["message"].splitlines()[0]
    assert first.startswith(
        "relu_prime: [M7] a forgotten activation derivative: your answer "
        "equals relu(z) = max(z, 0) (the function itself, not its slope)"
    )
    assert "Where to look: relu_prime is the slope: 1 where z > 0" in visible["relu"]["message"]
    ge = visible["at_zero_one"]
    assert not ge["passed"] and ge["tags"] == []
    assert "your answer equals 1 where z >= 0 (z = 0 counted as positive" in ge["message"]

    hidden = out["hidden"]
    assert hidden["right"]["passed"] and hidden["right"]["n"] == 2 + 5
    assert "right on all 7 hidden test cases" in hidden["right"]["message"]
    assert not hidden["relu"]["passed"] and hidden["relu"]["tags"] == ["M7"]
    assert out["judged"]["right"]["passed"]
    assert out["judged"]["relu"]["tags"] == ["M7"]
    assert out["judged"]["relu"]["message"].splitlines()[0] == first

    assert out["doc"].startswith("Check your relu_prime(z): the slope of relu(z) = max(z, 0)")
    assert "z: a number or an array of any shape" in out["doc"]
    assert out["demo"] == {"M7": "return np.maximum(z, 0.0)"}
    # the repository itself is untouched
    assert (ROOT / "student" / "backprop_checks" / "visible.json").read_text() == before
    assert not (ROOT / "grader" / "judge" / "functions" / TOY_MODULE).exists()


def test_the_toy_comes_after_every_notebook_of_the_course():
    assert next_notebook(("01_a", "05_b"), ["nb01_a", "nb05_b"]) == "06_relu"
    assert next_notebook(("01_a", "06_tanh"), ["nb01_a", "nb06_tanh"]) == "07_relu"
    assert next_notebook(("01_a",), ["nb01_a", "nb02_draft"]) == "03_relu"  # not yet listed
    assert TOY not in course.ASSIGNMENTS and TOY > max(course.ASSIGNMENTS)
    from grader.judge import cases

    assert "relu_prime" not in cases.FUNCTIONS, "the course has a relu_prime: rename the toy"


@pytest.mark.parametrize(
    "layout",
    [
        'ASSIGNMENTS: tuple[str, ...] = (\n    "01_a",\n    "05_b",\n)\nX = 1\n',
        'ASSIGNMENTS = ("01_a", "05_b")  # in order\n',
        'ASSIGNMENTS = (\n    "01_a",\n    "05_b"  # the last\n)\n',
    ],
)
def test_the_toy_is_appended_to_assignments_however_they_are_written(tmp_path: Path, layout):
    course_py = tmp_path / "course.py"
    course_py.write_text(layout)
    add_assignment(course_py, "06_relu")
    namespace: dict = {}
    exec(course_py.read_text(), namespace)
    assert namespace["ASSIGNMENTS"] == ("01_a", "05_b", "06_relu")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"result": "elementwize"}, "result 'elementwize' is not one of elementwise, float, array"),
        ({"tag_hints": {"M99": "x"}}, "['M99'] are not misconceptions (M1-"),
        ({"nudges": "W"}, "nudges names 'W', not an argument"),
        ({"hidden_truth": "solution"}, "hidden_truth is 'reference' or 'expected'"),
        ({"components": ("a", "b")}, "has the one component 'result': leave components out"),
    ],
)
def test_a_broken_record_is_refused_with_what_to_change(change, said):
    from dataclasses import replace

    from grader.judge import functions
    from grader.judge.functions.record import RecordError

    record = replace(functions.get("sigmoid"), **change)
    with pytest.raises(RecordError) as info:
        record.validate("grader/judge/functions/nb02_sigmoid_derivative.py")
    message = str(info.value)
    assert (
        message.startswith("grader/judge/functions/nb02_sigmoid_derivative.py: record 'sigmoid': ")
        and said in message
    ), message


# ------------------------------------------------- a function in the middle of a notebook

#: Every function's hidden cases, digested (benchmarks/hidden_cases.py dump, the copy's own).
DIGEST_HIDDEN = """
import runpy
sys.argv = ["hidden_cases.py", "dump"]
runpy.run_path("benchmarks/hidden_cases.py", run_name="__main__")
"""


def insert_in_the_middle(copy: Path, notebook_module: str, after: str) -> None:
    """relu_prime's record added to an existing notebook's module, right after `after` in its
    RECORDS (its helpers renamed so they do not replace the notebook's own)."""
    module = copy / "grader" / "judge" / "functions" / notebook_module
    body = TOY_RECORD.split("from grader.judge.functions.record import", 1)[1]
    body = body.split("\n", 1)[1].split("RECORDS = ")[0]  # the helpers and the record
    for helper in ("_visible", "_hidden", "_variants"):
        body = body.replace(f"{helper}", f"_relu{helper}")
    text = module.read_text()
    head, records = text.split("\nRECORDS = ")
    listed = [n.strip() for n in records.strip().strip("[]").split(",")]
    listed.insert(listed.index(after) + 1, "relu_prime")
    imports = "from grader.judge.functions.record import ENTRYWISE_M1, nd\n"
    module.write_text(f"{head}\n{imports}{body}\nRECORDS = [{', '.join(listed)}]\n")


def _hidden_digest(root: Path) -> dict:
    proc = run_in(root, DIGEST_HIDDEN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_a_function_added_in_the_middle_changes_no_other_hidden_case(tmp_path: Path):
    """Hidden inputs are seeded by the function's name, not its place: relu_prime added right
    after the second notebook's first function (moving every later function one place on)
    leaves every other function's hidden cases exactly as they were."""
    notebook = course.ASSIGNMENTS[1]
    module = f"nb{notebook}.py"
    from grader.judge.functions import records

    first = next(r.name for r in records() if r.notebook == notebook)
    copy = copy_repository(tmp_path / "repo")
    insert_in_the_middle(copy, module, first)
    before, after = _hidden_digest(ROOT), _hidden_digest(copy)
    order = after["functions"]
    assert order.index("relu_prime") == before["functions"].index(first) + 1
    assert [f for f in order if f != "relu_prime"] == before["functions"]
    assert len(after["cases"]["relu_prime"]) == 2 + 5
    moved = order[order.index("relu_prime") + 1 :]
    assert moved, "relu_prime must have functions after it"
    changed, alone = hidden_cases.compare(before, after)
    assert changed == [], f"hidden cases changed by adding a function elsewhere: {changed}"
    assert alone == ["relu_prime: only after"]


def test_the_comparison_names_a_function_whose_hidden_cases_changed(tmp_path: Path):
    """`benchmarks/hidden_cases.py compare` exits 1 naming the function whose cases moved
    (one of its arguments changed in an after dump), and 0 on two equal dumps."""
    before = hidden_cases.dump()
    name = before["functions"][1]
    after = json.loads(json.dumps(before))
    after["cases"][name][0][2] = "0" * 64
    paths = []
    for label, data in (("before", before), ("after", after)):
        paths.append(tmp_path / f"{label}.json")
        paths[-1].write_text(json.dumps(data))
    script = [sys.executable, str(ROOT / "benchmarks" / "hidden_cases.py"), "compare"]
    proc = subprocess.run([*script, *map(str, paths)], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == f"{name}: hidden cases changed\n", proc
    same = subprocess.run([*script, str(paths[0]), str(paths[0])], capture_output=True, text=True)
    assert same.returncode == 0, same
    assert same.stdout == f"same hidden cases: {len(before['functions'])} functions\n"
    bad = subprocess.run(
        [*script, str(paths[0]), str(tmp_path / "none.json")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "dump > FILE" in bad.stderr


# --------------------------------------------------------------------------- slow: nbgrader


def _cell(kind: str, source: str, grade_id: str, points: int = 0) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.id = grade_id
    cell.metadata["nbgrader"] = {
        "grade": kind == "tests",
        "grade_id": grade_id,
        "locked": kind != "solution",
        "points": points,
        "schema_version": 3,
        "solution": kind == "solution",
        "task": False,
    }
    return cell


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        _cell("setup", "import numpy as np", "setup"),
        _cell(
            "solution",
            'def relu_prime(z):\n    """1 where z > 0, else 0; shaped like z."""\n'
            "    ### BEGIN SOLUTION\n    return (np.asarray(z, dtype=float) > 0).astype(float)\n"
            "    ### END SOLUTION",
            "relu_prime",
        ),
        _cell(
            "tests",
            "from backprop_checks import checks\nchecks.check_relu_prime(relu_prime)",
            "test_relu_prime",
            1,
        ),
        _cell(
            "tests",
            "# Hidden tests run when the notebook is graded.\n### BEGIN HIDDEN TESTS\n"
            "checks.check_relu_prime(relu_prime, hidden=True)\n### END HIDDEN TESTS",
            "hidden_test_relu_prime",
            2,
        ),
    ]
    return nb


def _nbgrader(copy: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(copy / "student")])}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_a_new_notebook_using_the_new_function_is_graded_by_nbgrader(tmp_path: Path):
    copy = copy_repository(tmp_path / "repo")
    write_toy_record(copy)
    add_assignment(copy / "grader" / "course.py", TOY)
    proc = run_in(copy, "from grader import course; print(list(course.ASSIGNMENTS))")
    assert proc.returncode == 0, proc.stderr
    assert ast.literal_eval(proc.stdout.strip()) == [*course.ASSIGNMENTS, TOY]
    (copy / "source" / TOY).mkdir()
    nbformat.write(_notebook(), copy / "source" / TOY / f"{TOY}.ipynb")
    # The sandbox starts kernels with a cleared environment, so a sandboxed kernel would
    # import the installed packages, not this copy: here kernels run unsandboxed.
    with (copy / "nbgrader_config.py").open("a") as f:
        f.write('\nc.SandboxedExecute.mode = "off"\n')
    proc = run_in(copy, REBUILD)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((copy / "student" / "backprop_checks" / "visible.json").read_text())
    assert data["points"][TOY] == {"test_relu_prime": 1.0, "hidden_test_relu_prime": 2.0}

    proc = _nbgrader(copy, "generate_assignment", TOY, "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    released = nbformat.read(copy / "release" / TOY / f"{TOY}.ipynb", as_version=4)
    assert "check_relu_prime(relu_prime, hidden=True)" not in nbformat.writes(released)
    source = nbformat.read(copy / "source" / TOY / f"{TOY}.ipynb", as_version=4)
    wrong = nbformat.from_dict(source)
    wrong.cells[1].source = "def relu_prime(z):\n    return np.maximum(z, 0.0)\n"
    for student, nb in (("right", source), ("wrong", wrong)):
        folder = copy / "submitted" / student / TOY
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{TOY}.ipynb")
    proc = _nbgrader(copy, "autograde", TOY, "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{copy / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission_notebook(TOY, TOY, s).score for s in ("right", "wrong")}
    assert scores == {"right": 3.0, "wrong": 0.0}
    graded = nbformat.read(copy / "autograded" / "wrong" / TOY / f"{TOY}.ipynb", 4)
    errors = [o for c in graded.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and "[M7]" in errors[0].evalue
    for student in ("right", "wrong"):  # the post-grading verification ran and agreed
        record = json.loads((copy / ".grader" / "verified" / student / f"{TOY}.json").read_text())
        assert record["error"] == "" and record["flags"] == [], record
