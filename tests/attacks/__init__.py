"""Adversarial submissions for 04_backprop_W2, built from the real source notebook.

Every attack starts from an honest student's copy (the released notebook with the
instructor's solutions typed in: `student_copy`) and writes a WRONG answer
into `grad_W2` (the transpose of the right one, misconception M1), then adds its attack:
a correct grader must give grad_W2's two test cells 0 points (3 of the notebook's 9), and
notice the attack. The broken notebooks (invalid JSON, a wrong nbformat version, a missing
or renamed file, an endless loop, os._exit, a memory bomb, a 50 MB print) must each get a
score and a one-line reason without holding up the others.

`SUBMISSIONS` maps a student id to an `Attack`: how to write the submission folder and what
the grader must do with it (`cells`: grade_id -> points expected after verification;
`flag`: the attack must be flagged; `reason`: a regular expression the one-line reason
must match).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ASSIGNMENT = "04_backprop_W2"
ALL_CELLS = (
    "test_output_delta",
    "hidden_test_output_delta",
    "test_grad_W2",
    "hidden_test_grad_W2",
    "test_grad_b2",
    "hidden_test_grad_b2",
)
POINTS = {gid: (2.0 if gid.startswith("hidden") else 1.0) for gid in ALL_CELLS}

WRONG_GRAD_W2 = '''def grad_W2(H, delta2):
    """dL/dW2, written wrong on purpose: the transpose, shape (o, h)."""
    return (H.T @ delta2).T
'''
WRONG_GRAD_B2 = '''def grad_b2(delta2):
    """dL/db2, written wrong on purpose: not summed over the samples (M9)."""
    return delta2
'''


def full(**zeros: float) -> dict[str, float]:
    """Expected points per test cell: full marks except the cells named (given points)."""
    return {gid: zeros.get(gid, POINTS[gid]) for gid in ALL_CELLS}


#: grad_W2 wrong: its two cells score 0, the rest full.
W2_WRONG = full(test_grad_W2=0.0, hidden_test_grad_W2=0.0)
NOTHING = {gid: 0.0 for gid in ALL_CELLS}


@dataclass
class Attack:
    """One submission: how to write it, and what grading must make of it."""

    write: Callable[[Path, nbformat.NotebookNode], None]
    cells: dict[str, float]
    flag: bool = False
    reason: str = ""  #: regex the one-line reason must match ("" = no reason needed)
    note: str = ""
    expect_flag_text: list[str] = field(default_factory=list)  #: each in one of its flags


# --------------------------------------------------------------------------- helpers


def _gid(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _index(nb, gid: str) -> int:
    for i, cell in enumerate(nb.cells):
        if _gid(cell) == gid:
            return i
    raise KeyError(gid)


def set_solution(nb, gid: str, source: str) -> None:
    nb.cells[_index(nb, gid)].source = source


def add_after(nb, gid: str, source: str) -> None:
    """A new (student-added, metadata-free) code cell right after cell `gid`."""
    nb.cells.insert(_index(nb, gid) + 1, nbformat.v4.new_code_cell(source))


def wrong(nb) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    set_solution(nb, "grad_W2", WRONG_GRAD_W2)
    return nb


def student_copy(source, release) -> nbformat.NotebookNode:
    """What an honest student hands in: the released notebook (no hidden tests) with each
    solution cell's stub replaced by the instructor's solution (markers removed)."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    solutions = {
        _gid(c): c.source
        for c in source.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        if _gid(cell) in solutions:
            lines = solutions[_gid(cell)].splitlines()
            cell.source = "\n".join(line for line in lines if line.strip() not in MARKERS)
    return nb


MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def save(folder: Path, nb, name: str = ASSIGNMENT + ".ipynb") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


def _with(builder: Callable[[nbformat.NotebookNode], nbformat.NotebookNode]):
    def write(folder: Path, source: nbformat.NotebookNode) -> None:
        save(folder, builder(source))

    return write


# --------------------------------------------------------------------------- honest


def honest_full(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def honest_partial(nb):
    nb = honest_full(nb)
    set_solution(nb, "grad_b2", WRONG_GRAD_B2)
    return nb


# --------------------------------------------------------------------------- attacks


def patch_numpy(nb):
    """Rebind numpy's comparison functions so every closeness test says yes."""
    nb = wrong(nb)
    set_solution(
        nb,
        "grad_W2",
        "np.allclose = lambda *a, **k: True\n"
        "np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)\n"
        "np.array_equal = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n\n" + WRONG_GRAD_W2,
    )
    return nb


def patch_grader_imported(nb):
    """Import backprop_checks.checks and replace the check with one that always passes."""
    nb = wrong(nb)
    set_solution(
        nb,
        "grad_W2",
        WRONG_GRAD_W2 + "\nimport backprop_checks.checks as _gc\n"
        "_gc.check_grad_W2 = lambda *a, **k: print('grad_W2: right on every case.')\n",
    )
    return nb


def patch_grader_preseeded(nb):
    """Before any test cell imports it, plant a fake backprop_checks.checks in sys.modules."""
    nb = wrong(nb)
    set_solution(
        nb,
        "output_delta",
        nb.cells[_index(nb, "output_delta")].source + "\n\nimport sys as _sys, types as _types\n"
        "_fake = _types.ModuleType('backprop_checks.checks')\n"
        "_fake.__getattr__ = lambda name: (lambda *a, **k: None)\n"
        "_sys.modules['backprop_checks.checks'] = _fake\n",
    )
    return nb


def patch_ipython_exceptions(nb):
    """Swallow every exception and hide every traceback in the kernel."""
    nb = wrong(nb)
    set_solution(
        nb,
        "grad_W2",
        WRONG_GRAD_W2 + "\n_ip = get_ipython()\n"
        "_ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        "_ip.showtraceback = lambda *a, **k: None\n",
    )
    return nb


def ast_transformer(nb):
    """Rewrite every later cell that mentions `checks` into `pass`."""
    nb = wrong(nb)
    set_solution(
        nb,
        "output_delta",
        nb.cells[_index(nb, "output_delta")].source + "\n\nimport ast as _ast\n\n"
        "class _Gut(_ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        if 'checks' in _ast.unparse(node):\n"
        "            return _ast.Module(body=[_ast.Pass()], type_ignores=[])\n"
        "        return node\n\n"
        "get_ipython().ast_transformers.append(_Gut())\n",
    )
    return nb


def input_transformer(nb):
    """An input transformer that turns the source of every test cell into `pass`."""
    nb = wrong(nb)
    set_solution(
        nb,
        "output_delta",
        nb.cells[_index(nb, "output_delta")].source + "\n\ndef _blank(lines):\n"
        "    return ['pass\\n'] if any('check' in l for l in lines) else lines\n\n"
        "get_ipython().input_transformers_cleanup.append(_blank)\n",
    )
    return nb


def edit_tests(nb):
    """Replace the test cells' code with `pass`."""
    nb = wrong(nb)
    for gid in ("test_grad_W2", "hidden_test_grad_W2"):
        nb.cells[_index(nb, gid)].source = "pass"
    return nb


def delete_tests(nb):
    """Delete grad_W2's test cells (and give grad_b2 a correct answer as usual)."""
    nb = wrong(nb)
    for gid in ("test_grad_W2", "hidden_test_grad_W2"):
        del nb.cells[_index(nb, gid)]
    return nb


def strip_test_metadata(nb):
    """Strip the nbgrader metadata of grad_W2's test cells and blank them."""
    nb = wrong(nb)
    for gid in ("test_grad_W2", "hidden_test_grad_W2"):
        cell = nb.cells[_index(nb, gid)]
        cell.metadata = {}
        cell.source = "pass"
    return nb


def import_reference(nb):
    """Return the reference solution's answer instead of computing one."""
    nb = wrong(nb)
    set_solution(
        nb,
        "grad_W2",
        "from grader.judge import reference as _ref\n\n"
        "def grad_W2(H, delta2):\n"
        '    """dL/dW2 from the reference solution."""\n'
        "    return _ref.grad_W2(H, delta2)\n",
    )
    return nb


def write_gradebook(nb):
    """Try to give itself full marks in the gradebook and to overwrite another student."""
    nb = wrong(nb)
    add_after(
        nb,
        "grad_b2",
        "import os, sqlite3, glob\n"
        "_root = os.path.abspath(os.path.join(os.getcwd(), '..', '..', '..'))\n"
        "_done = []\n"
        "_dbs = glob.glob(os.path.join(_root, '*.db'))\n"
        "for _db in _dbs + [os.path.join(_root, 'gradebook.db')]:\n"
        "    try:\n"
        "        _c = sqlite3.connect(_db)\n"
        "        _c.execute('UPDATE grade SET manual_score = 100')\n"
        "        _c.commit()\n"
        "        _done.append(_db)\n"
        "    except Exception as _e:\n"
        "        print('gradebook:', type(_e).__name__)\n"
        "for _f in glob.glob(os.path.join(_root, 'submitted', '*', '*', '*.ipynb')):\n"
        "    try:\n"
        "        open(_f, 'w').write('{}')\n"
        "        _done.append(_f)\n"
        "    except Exception as _e:\n"
        "        print('other student:', type(_e).__name__)\n"
        "print('written:', _done)\n",
    )
    return nb


def infinite_loop(nb):
    nb = honest_full(nb)
    add_after(nb, "hidden_test_output_delta", "while True:\n    pass\n")
    return nb


def os_exit(nb):
    nb = honest_full(nb)
    add_after(nb, "hidden_test_output_delta", "import os\nos._exit(1)\n")
    return nb


def memory_bomb(nb):
    nb = honest_full(nb)
    add_after(nb, "hidden_test_output_delta", "_blob = np.ones((60_000, 60_000))\n")
    return nb


def big_print(nb):
    nb = honest_full(nb)
    add_after(nb, "hidden_test_output_delta", "print('x' * 50_000_000)\n")
    return nb


def invalid_json(folder: Path, source) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(honest_full(source))
    (folder / f"{ASSIGNMENT}.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")


def wrong_nbformat(folder: Path, source) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads(nbformat.writes(honest_full(source)))
    data["nbformat"] = 99
    (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(data), encoding="utf-8")


def missing(folder: Path, source) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("I could not finish.\n", encoding="utf-8")


def renamed(folder: Path, source) -> None:
    save(folder, honest_full(source), name=f"{ASSIGNMENT} (1).ipynb")


SUBMISSIONS: dict[str, Attack] = {
    "honest_full": Attack(_with(honest_full), full()),
    "honest_partial": Attack(
        _with(honest_partial), full(test_grad_b2=0.0, hidden_test_grad_b2=0.0)
    ),
    "patch_numpy": Attack(_with(patch_numpy), W2_WRONG, flag=True),
    "patch_grader_imported": Attack(_with(patch_grader_imported), W2_WRONG, flag=True),
    "patch_grader_preseeded": Attack(_with(patch_grader_preseeded), W2_WRONG, flag=True),
    "patch_ipython_exceptions": Attack(_with(patch_ipython_exceptions), W2_WRONG, flag=True),
    "ast_transformer": Attack(_with(ast_transformer), W2_WRONG, flag=True),
    "input_transformer": Attack(_with(input_transformer), W2_WRONG, flag=True),
    "edit_tests": Attack(_with(edit_tests), W2_WRONG, flag=True),
    "delete_tests": Attack(_with(delete_tests), W2_WRONG, flag=True),
    "strip_test_metadata": Attack(_with(strip_test_metadata), W2_WRONG, flag=True),
    "import_reference": Attack(
        _with(import_reference),
        W2_WRONG,
        flag=True,
        expect_flag_text=["imports the reference solution (grader.judge.reference)"],
    ),
    "write_gradebook": Attack(_with(write_gradebook), W2_WRONG, flag=True),
    "invalid_json": Attack(invalid_json, NOTHING, reason=r"(?i)json|cannot be read"),
    "wrong_nbformat": Attack(wrong_nbformat, NOTHING, reason=r"(?i)nbformat|version|read"),
    "missing": Attack(missing, NOTHING, reason=r"(?i)no 04_backprop_W2\.ipynb|missing"),
    "renamed": Attack(renamed, NOTHING, reason=r"(?i)renamed"),
    "infinite_loop": Attack(_with(infinite_loop), full(), reason=r"(?i)time limit|longer"),
    "os_exit": Attack(
        _with(os_exit),
        full(test_grad_W2=0, hidden_test_grad_W2=0, test_grad_b2=0, hidden_test_grad_b2=0),
        reason=r"(?i)kernel exited",
    ),
    "memory_bomb": Attack(_with(memory_bomb), full(), reason=r"(?i)memory"),
    "big_print": Attack(_with(big_print), full(), reason=r"(?i)output cut"),
}
