"""The class path: the student wheel and dist/handout/.

- the student package's data file (student/backprop_checks/visible.json) is what the
  instructor's code computes today (fails when stale, like release/);
- `backprop-grader handout` writes the wheel and one zip per assignment (release notebook,
  the companions it mentions, README, wheel); a bad --dest is one line and exit 2;
- the wheel holds only backprop_checks (no reference, no hidden cases, no numerical
  differentiation) and no line of any solution in source/;
- the student package's version is derived from its files: any change to one gives a new
  version, the wheel carries it, and every release notebook's setup cell names it (else
  `make release`, and `make handout` refuses);
- slow: the first zip unzipped into an empty course folder holds the class start-here, which
  runs in the student venv and prints the course table (points from source/, where each
  notebook is) without repository commands or dead links; a notebook released with other
  checks says so in one line with the pip command;
- slow: in a fresh venv with only the wheel (+ numpy, matplotlib, ipykernel), every release
  notebook filled with the source solutions passes all its visible test cells, the untouched
  one fails them with the stub message, importing a reference module fails, and the source
  notebooks' hidden test cells say they run at grading time (no traceback).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from backprop_checks import version
from nbclient import NotebookClient
from notebook_tools import ASSIGNMENTS, ROOT, SEED_NAME, source_path

from grader.handout import build, checks_version, data

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


# --------------------------------------------------------------------------- data


def test_visible_data_is_fresh():
    """student/backprop_checks/visible.json is what `make handout` writes from today's code."""
    committed = json.loads(data.DATA_PATH.read_text(encoding="utf-8"))
    fresh = json.loads(data.dumps(data.build_visible_data()))
    found = data.difference(fresh, committed)
    assert found is None, (
        f"{data.DATA_PATH.relative_to(ROOT)} is stale ({found}): run `make handout` and commit it"
    )


def _last_bits(value, rng: np.random.Generator):
    """JSON data with every float nudged by a few units in the last place, and every
    rounding-noise variant's value moved by up to half its noise bound: the data file as
    another CPU would build it."""
    if isinstance(value, dict):
        out = {k: _last_bits(v, rng) for k, v in value.items()}
        if "noise" in value:
            spec = out["value"]["ndarray"]
            spec["data"] = [
                x + float(rng.uniform(-0.5, 0.5)) * value["noise"] for x in spec["data"]
            ]
        return out
    if isinstance(value, list):
        return [_last_bits(v, rng) for v in value]
    if isinstance(value, float) and value:
        return float(np.nextafter(value, np.inf * int(rng.choice([-1, 1]))))
    return value


def test_visible_data_from_another_cpu_leaves_the_file_unchanged(tmp_path: Path):
    """Issue 26: `make handout` on another CPU rounds the last bits differently and its
    rounding-noise values land elsewhere within their bound; the data file is the same data,
    so write_visible_data leaves the committed bytes (and the checks' version) alone, while
    a real change is written."""
    committed = data.DATA_PATH.read_text(encoding="utf-8")
    other = _last_bits(json.loads(committed), np.random.default_rng(26))
    assert data.dumps(other) != committed
    assert any('"noise"' in line for line in committed.splitlines())
    path = tmp_path / "visible.json"
    path.write_text(committed, encoding="utf-8")
    data.write_visible_data(path, other)
    assert path.read_text(encoding="utf-8") == committed
    changed = json.loads(committed)
    changed["points"] = {**changed["points"], "extra": {}}
    data.write_visible_data(path, changed)
    assert json.loads(path.read_text(encoding="utf-8")) == changed


# --------------------------------------------------------------------------- version


def test_version_changes_with_any_file_of_the_package(tmp_path: Path):
    """The version is computed from the package's files: a copy has the same one, and a
    changed check, message or data file gives another (pip then upgrades the checks)."""
    package = data.STUDENT_DIR / "backprop_checks"
    assert version.version_of(package) == version.VERSION
    assert re.fullmatch(rf"{re.escape(version.BASE)}\+h[0-9a-f]{{12}}", version.VERSION)
    copy = tmp_path / "backprop_checks"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert version.version_of(copy) == version.VERSION
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "x.pyc").write_bytes(b"not part of the package")
    assert version.version_of(copy) == version.VERSION
    seen = {version.VERSION}
    for name in ("checks.py", "mistakes.py", "visible.json", "version.py"):
        path = copy / name
        kept = path.read_bytes()
        path.write_bytes(kept + b"\n")
        changed = version.version_of(copy)
        assert changed not in seen, f"a change in {name} left the version {changed}"
        seen.add(changed)
        path.write_bytes(kept)
    assert version.version_of(copy) == version.VERSION
    # the wheel's version (pip's) is the same computation, when pip builds it
    project = (data.STUDENT_DIR / "pyproject.toml").read_text()
    assert 'version = {attr = "backprop_checks.version.VERSION"}' in project
    assert 'dynamic = ["version"]' in project


def test_release_notebooks_name_the_current_checks(tmp_path: Path):
    """Every release notebook's setup cell says which checks it was released with: today's
    (`make release` writes it); the source notebooks say "source". A stale one is named."""
    for assignment in ASSIGNMENTS:
        for path, wanted in ((ROOT / "release", version.VERSION), (ROOT / "source", "source")):
            nb = nbformat.read(path / assignment / f"{assignment}.ipynb", as_version=4)
            setup = next(c for c in nb.cells if c.get("id") == "setup")
            found = checks_version.released_version(setup.source)
            assert found == wanted, (
                f"{path.name}/{assignment}: setup cell names checks {found}, today's are "
                f"{wanted}: run `make release`"
            )
    assert build.stale_release(ROOT / "release", version.VERSION, ASSIGNMENTS) == []
    copy = tmp_path / "release"
    shutil.copytree(ROOT / "release", copy)
    nb_path = copy / ASSIGNMENTS[1] / f"{ASSIGNMENTS[1]}.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        cell.source = checks_version.stamp_source(cell.source, "0.1.0+hold")
    nbformat.write(nb, nb_path)
    assert build.stale_release(copy, version.VERSION, ASSIGNMENTS) == [ASSIGNMENTS[1]]


#: What the class start-here and every assignment's setup cell say when the checks cannot be
#: imported: one wording on the class path.
CHECKS_MISSING = (
    "The checks are not installed in the environment this notebook runs in (or they are "
    "older than this notebook)"
)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_setup_cell_without_the_checks_says_what_to_do_in_one_line(assignment: str):
    """A student whose kernel is not the course environment runs the release notebook's setup
    cell: one ImportError line, worded as the class start-here, naming the environment and
    the README; not numpy's or backprop_checks' raw ModuleNotFoundError."""
    start = nbformat.read(ROOT / "notebooks" / "class" / "00_start_here.ipynb", as_version=4)
    joined = [re.sub(r'"\s*\n\s*f?"', "", c.source) for c in start.cells]  # "..." "..." -> one
    assert any(CHECKS_MISSING in text for text in joined)
    nb = nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.get("id") == "setup")
    assert len(setup.source.splitlines()) <= 20, "keep the setup cell short"
    code = "\n".join(ln for ln in setup.source.splitlines() if not ln.startswith("%"))
    block = "import sys\nsys.modules['backprop_checks'] = None  # not installed here\n"
    proc = subprocess.run(
        [sys.executable, "-c", block + code], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "ImportError: import of backprop_checks halted; None in sys.modules. " + CHECKS_MISSING
    ), proc.stderr
    assert "backprop-env" in last and "README.md" in last and "Restart Kernel" in last
    assert "ModuleNotFoundError" not in proc.stderr


def test_student_readme_says_same_version_is_fine_and_hand_in_after_run_all():
    """A student upgrading with the zip that brings the checks they have reads pip's "already
    installed with the same version": the README says that is fine; it says the notebook is
    handed in saved after Restart Kernel and Run All Cells, outputs included."""
    for first in (True, False):
        text = build.student_readme(
            ASSIGNMENTS[1],
            "backprop_course_checks-0.2.0-py3-none-any.whl",
            [],
            first=ASSIGNMENTS[1] if first else ASSIGNMENTS[0],
        )
        flat = " ".join(text.split())
        assert "*already installed* with the same version, that is fine" in flat
        hand_in = " ".join(text.split("## 3. Hand in")[1].split())
        assert "saved (*File -> Save*) after that *Restart Kernel and Run All Cells*" in hand_in
        assert "the outputs saved in it are fine" in hand_in


# --------------------------------------------------------------------------- handout


@pytest.fixture(scope="module")
def handout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/handout built by the real command into a temporary folder; the repository's
    student/ files (visible.json above all: the checks' version is a hash of them) are the
    same bytes after it as before (issue 26: no test writes into the working tree)."""
    dest = tmp_path_factory.mktemp("handout") / "handout"
    before = _student_files()
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "handout", "--dest", str(dest)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    after = _student_files()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"`grader handout` changed the repository's student/ files: {changed}"
    return dest


def _student_files() -> dict[str, bytes]:
    """{path: bytes} of the repository's student/ package files (no caches, no builds)."""
    root = data.STUDENT_DIR
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and "__pycache__" not in p.parts
        and ".egg-info" not in str(p)
        and "build" not in p.relative_to(root).parts
    }


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
            if companion.name == build.CLASS_START.name:
                continue  # the self-study start-here is never shipped (below: the class one)
            wanted = companion.name in release_text
            assert (f"{assignment}/{companion.name}" in names) == wanted, companion.name
        start = f"{assignment}/{build.CLASS_START.name}"
        assert (start in names) == (assignment == ASSIGNMENTS[0]), names
        if start in names:
            with zipfile.ZipFile(handout / f"{assignment}.zip") as zf:
                assert zf.read(start) == build.CLASS_START.read_bytes()
        assert not any("source" in n or n.endswith(".py") for n in names), names
        # one environment for the course: made once, then reused and upgraded
        assert f"python -m pip install {assignment}/{wheel.name} numpy" in readme
        assert f"python -m pip install --upgrade {assignment}/{wheel.name}" in readme
        assert "in this folder" not in readme.split("## 1.")[1].split("## 2.")[0]
        assert readme.count("python -m venv backprop-env") == 1
        assert f"`{assignment}.ipynb`" in readme and f"YOURID_{assignment}.ipynb" in readme
    assert build.wheel_version(wheel) == version.VERSION


@pytest.mark.slow
def test_handout_refuses_a_file_as_dest(tmp_path: Path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "handout", "--dest", str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
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
        info = f"backprop_course_checks-{version.VERSION}.dist-info"
        assert packages <= {"backprop_checks", info}, packages
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


# --------------------------------------------------------------------------- slow: the class start


@pytest.mark.slow
def test_released_with_other_checks_says_so_in_one_line(student_env):
    """In the student venv (a wheel, not the repository): a notebook released with the
    installed checks prints nothing; one released with other checks prints one line naming
    both versions and the pip command that installs its wheel."""
    code = (
        "import backprop_checks as b\n"
        "b.released_with(b.__version__)\n"
        "b.released_with('source')\n"
        "print('---')\n"
        "b.released_with('0.2.0+h0123456789ab')\n"
    )
    proc = student_env.run([str(student_env.python), "-c", code], cwd=student_env.root)
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stdout.split("---\n")
    assert before == ""
    lines = after.splitlines()
    assert len(lines) == 1, lines
    wheel = version.wheel_name("0.2.0+h0123456789ab")
    assert f"python -m pip install --upgrade {wheel}" in lines[0]
    assert version.VERSION in lines[0] and "restart the kernel" in lines[0]


#: What a class student never runs: the repository's commands and folders.
REPOSITORY_WORDS = ("make lab", "make selfcheck", "make release", "workspace/", "release/", ".venv")


@pytest.mark.slow
def test_class_start_here_in_an_unzipped_course_folder(
    handout: Path, student_env, tmp_path: Path, monkeypatch
):
    """01's zip and 02's, unzipped into an empty course folder: the class start-here in 01's
    folder runs in the student venv (the wheel, no repository) and prints the course table:
    every assignment with its points from source/, the total, and where each notebook is
    (01 next to it, 02 in ../02_sigmoid_derivative/, the others not yet); then the tags."""
    folder = tmp_path / "backprop-course"
    folder.mkdir()
    for assignment in ASSIGNMENTS[:2]:
        with zipfile.ZipFile(handout / f"{assignment}.zip") as zf:
            zf.extractall(folder)
    first = folder / ASSIGNMENTS[0]
    path = first / build.CLASS_START.name
    nb = nbformat.read(path, as_version=4)

    text = "\n".join(c.source for c in nb.cells)
    for word in REPOSITORY_WORDS:
        assert word not in text, f"the class start-here mentions {word!r}"
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" not in target:
            assert (first / target).is_file(), f"dead link {target}"

    _run_in_student_kernel(nb, student_env, first, monkeypatch)
    outputs = {c.id: c.get("outputs", []) for c in nb.cells if c.cell_type == "code"}
    errors = [o for outs in outputs.values() for o in outs if o.output_type == "error"]
    assert not errors, errors
    table = "".join(o.get("text", "") for o in outputs["at-a-glance"])
    points = data.test_points()
    for assignment in ASSIGNMENTS:
        row = re.search(rf"^{assignment}\s+(\d+)\s+(.+)$", table, re.M)
        assert row, f"{assignment} missing from the table:\n{table}"
        assert float(row[1]) == sum(points[assignment].values()), row[0]
        where = {
            ASSIGNMENTS[0]: f"{ASSIGNMENTS[0]}.ipynb",
            ASSIGNMENTS[1]: f"../{ASSIGNMENTS[1]}/{ASSIGNMENTS[1]}.ipynb",
        }.get(assignment, "not yet")
        assert row[2].startswith(where), row[0]
    total = re.search(r"^total\s+(\d+)$", table, re.M)
    assert total and float(total[1]) == sum(sum(p.values()) for p in points.values()) > 0
    assert version.VERSION in table
    tags = "".join(o.get("text", "") for o in outputs["tags"])
    assert [f"[M{k}]" for k in range(1, 14)] == re.findall(r"^\[M\d+\]", tags, re.M)
