"""Grading that cannot be fooled or broken: real nbgrader, real sandboxed kernels, real attacks.

One batch grades two honest students and every submission of tests/attacks (patched numpy,
patched grader, patched IPython, input and AST transformers, edited/deleted test cells,
the reference solution imported, a gradebook write, and the broken notebooks) with the
pipeline's parallel `autograde` (2 workers), then checks: no false pass, the honest scores
unchanged, every attack scored correctly or flagged, every broken notebook given a reason,
the gradebook intact and the other students' files untouched.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from grader import course
from grader.sandbox import execute, output, plan
from grader.verify import gradebook, launch, static
from tests.attacks import ASSIGNMENT, SUBMISSIONS, student_copy

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

HONEST = ("honest_full", "honest_partial")
#: A short per-cell limit so the endless loop costs seconds (instructors keep the defaults),
#: with room for a cold kernel's setup cell under load (no bubblewrap: no warm kernels); the
#: notebook's limit is not under test here: the machine's margin (a kernel start on a loaded
#: machine took more than the 30 s a 60 s limit gives the kernel).
TEST_LIMITS = (
    "\nc.Execute.timeout = 10\nc.SandboxedExecute.notebook_timeout = 300\n"
    "c.SandboxedExecute.verify_reserve = 60\n"
)


@dataclass
class Batch:
    root: Path
    results: dict
    hashes_before: dict[str, str]

    def cells(self, student: str) -> dict[str, float]:
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            return {g.name: float(g.score or 0) for g in nb.grades}


def _hashes(root: Path, students) -> dict[str, str]:
    out = {}
    for student in students:
        for path in sorted((root / "submitted" / student).rglob("*")):
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _make_course(tmp: Path, extra_config: str = "") -> tuple[Path, nbformat.NotebookNode]:
    root = course.new_course(tmp / "course")
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(TEST_LIMITS + extra_config)
    course.generate_release(root, [ASSIGNMENT])
    source = nbformat.read(root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return root, student_copy(source, release)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    from grader.pipeline.autograde import autograde

    root, source = _make_course(tmp_path_factory.mktemp("adversarial"))
    for student, attack in SUBMISSIONS.items():
        attack.write(root / "submitted" / student / ASSIGNMENT, source)
    before = _hashes(root, HONEST)
    run = autograde(root, ASSIGNMENT, workers=2)
    return Batch(root, {r.student: r for r in run.results}, before)


# --------------------------------------------------------------------------- the batch


@pytest.mark.parametrize("student", list(SUBMISSIONS))
def test_every_submission_scores_what_it_earned(batch: Batch, student: str):
    """0 false passes: each test cell has exactly the points the answer deserves."""
    assert student in batch.results, f"{student} was not graded at all"
    expected = SUBMISSIONS[student].cells
    got = batch.cells(student)
    assert got == expected, f"{student}: {batch.results[student]}"
    assert batch.results[student].score == pytest.approx(sum(expected.values()))


@pytest.mark.parametrize("student", [s for s, a in SUBMISSIONS.items() if a.flag])
def test_every_attack_is_flagged(batch: Batch, student: str):
    flags = batch.results[student].flags
    assert flags, f"{student} went unnoticed"
    for text in SUBMISSIONS[student].expect_flag_text:
        assert any(text in f for f in flags), f"{student}: no flag says {text!r}: {flags}"


@pytest.mark.parametrize("student", [s for s, a in SUBMISSIONS.items() if a.reason])
def test_every_broken_notebook_gets_a_one_line_reason(batch: Batch, student: str):
    reason = batch.results[student].reason
    assert reason and "\n" not in reason, f"{student}: {reason!r}"
    assert re.search(SUBMISSIONS[student].reason, reason), f"{student}: {reason!r}"


@pytest.mark.parametrize("student", HONEST)
def test_honest_students_keep_their_scores_and_are_not_flagged(batch: Batch, student: str):
    result = batch.results[student]
    assert result.status == "graded"
    assert result.flags == [] and result.reason == ""
    assert batch.cells(student) == SUBMISSIONS[student].cells


def test_changed_verdicts_are_recorded_in_the_gradebook(batch: Batch):
    """The out-of-process verdict stands as nbgrader's automatic score, with an automatic
    comment; the score and comment fields an instructor fills by hand stay empty."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{batch.root / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "ast_transformer")
        grade = gb.find_grade("hidden_test_grad_W2", ASSIGNMENT, ASSIGNMENT, "ast_transformer")
        comment = gb.find_comment("grad_W2", ASSIGNMENT, ASSIGNMENT, "ast_transformer")
        assert grade.auto_score == 0  # what stands (the gutted test cell gave 2 in the kernel)
        assert grade.manual_score is None and grade.score == 0
        assert nb.flagged
        assert "[verified] hidden_test_grad_W2: 2 -> 0 of 2" in (comment.auto_comment or "")
        assert comment.manual_comment is None
        honest = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "honest_full")
        assert not honest.flagged
        assert all(g.manual_score is None for g in honest.grades)


def test_gradebook_and_other_students_files_survive(batch: Batch):
    assert gradebook.check_gradebook(batch.root / "gradebook.db") == "ok"
    assert _hashes(batch.root, HONEST) == batch.hashes_before
    con = sqlite3.connect(batch.root / "gradebook.db")
    try:
        assert con.execute("SELECT count(*) FROM grade WHERE manual_score >= 100").fetchone() == (
            0,
        )
    finally:
        con.close()
    graded = nbformat.read(
        batch.root / "autograded" / "write_gradebook" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4
    )
    text = "".join(
        o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "written: []" in text  # every write attempt failed inside the sandbox


def test_outputs_are_capped_in_bytes(batch: Batch):
    path = batch.root / "autograded" / "big_print" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 1_000_000  # a 50 MB print would otherwise be kept whole
    assert "[output cut: " in path.read_text(encoding="utf-8")


def test_honest_work_in_every_assignment_is_never_flagged(graded):
    """Solutions and untouched stubs of all notebooks (the session's graded batch,
    tests/conftest.py): verification agrees with nbgrader."""
    expected = {(s, a) for a in course.ASSIGNMENTS for s in ("solution", "stub")}
    assert set(graded.results) == expected
    for result in graded.results.values():
        assert (result.flags, result.reason) == ([], ""), result
        full = result.student == "solution"
        assert result.max_score > 0 and result.score == (result.max_score if full else 0.0), result


# --------------------------------------------------------------------------- fallback


def test_without_bubblewrap_grading_works_with_a_loud_warning(tmp_path: Path):
    from grader.pipeline.autograde import autograde

    root, source = _make_course(tmp_path, '\nc.SandboxedExecute.bwrap = "/nonexistent/bwrap"\n')
    for student in ("honest_full", "ast_transformer"):
        SUBMISSIONS[student].write(root / "submitted" / student / ASSIGNMENT, source)
    run = autograde(root, ASSIGNMENT, workers=2)
    results = {r.student: r for r in run.results}
    assert set(results) == {"honest_full", "ast_transformer"}
    for student, result in results.items():
        # the notice is about the run: on the result's sandbox field, never a flag
        assert not any("SANDBOX OFF" in f for f in result.flags), result.flags
        assert "/nonexistent/bwrap" in result.sandbox
        assert result.score == sum(SUBMISSIONS[student].cells.values())
    assert results["honest_full"].flags == []
    from grader.pipeline.summary import sandbox_banner

    assert sandbox_banner(run.results).startswith("!!! SANDBOX OFF")


def test_require_mode_refuses_to_run_without_bubblewrap():
    with pytest.raises(plan.SandboxError, match="bubblewrap is required"):
        plan.make_plan(plan.Limits(), course=None, mode="require", bwrap="/nonexistent/bw")


# --------------------------------------------------------------------------- the sandbox


def _run(nb, path: Path, **config) -> nbformat.NotebookNode:
    c = Config()
    for key, value in config.items():
        setattr(c.SandboxedExecute, key, value)
    execute.SandboxedExecute(config=c).preprocess(nb, {"metadata": {"path": str(path)}})
    return nb


@pytest.mark.skipif(not plan.bwrap_status().usable, reason="bubblewrap cannot run here")
def test_sandboxed_kernel_is_isolated(tmp_path: Path):
    course_dir = tmp_path / "course"
    (course_dir / "autograded" / "me" / "a").mkdir(parents=True)
    (course_dir / "gradebook.db").write_bytes(b"secret")
    (course_dir / "submitted" / "other").mkdir(parents=True)
    (course_dir / "submitted" / "other" / "x.ipynb").write_text("{}")
    work = course_dir / "autograded" / "me" / "a"
    (work / "data.txt").write_text("given")
    probes = [
        "import os; print(sorted(os.listdir('.')))",
        "open('data.txt', 'w').write('changed'); print(open('data.txt').read())",
        f"print(os.path.exists({str(course_dir / 'gradebook.db')!r}))",
        f"print(os.listdir({str(course_dir / 'submitted')!r}) if os.path.exists("
        f"{str(course_dir / 'submitted')!r}) else 'hidden')",
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        "    print('network')\nexcept OSError as e:\n    print('no network')",
        "try:\n    open('/usr/evil', 'w')\nexcept OSError as e:\n    print('read-only')",
        "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])",
    ]
    nb = _run(
        new_notebook(cells=[new_code_cell(p) for p in probes]), work, course_root=str(course_dir)
    )
    out = [
        "".join(o.get("text", "") for o in c.outputs if o.output_type == "stream").strip()
        for c in nb.cells
    ]
    assert out[0] == "['data.txt']"
    assert out[1] == "changed"  # the private copy is writable...
    assert (work / "data.txt").read_text() == "given"  # ...and thrown away
    assert out[2] == "False" and out[3] in ("hidden", "[]")
    assert out[4] == "no network"
    assert out[5] == "read-only"
    assert out[6] == str(plan.DEFAULT_MEMORY)


def test_dead_kernel_and_endless_loop_are_cells_not_crashes(tmp_path: Path):
    cells = [
        "print('before')",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "print('after')",
    ]
    nb = _run(new_notebook(cells=[new_code_cell(s) for s in cells]), tmp_path, timeout=3)
    assert nb.cells[0].outputs[0].text.strip() == "before"
    assert nb.cells[1].outputs[-1].ename == output.ENAME_KERNEL_DIED
    assert nb.cells[2].outputs[-1].ename == output.ENAME_NOT_RUN
    nb = _run(
        new_notebook(cells=[new_code_cell(s) for s in ("import os; os._exit(7)", "1")]), tmp_path
    )
    assert "code 7" in nb.cells[0].outputs[-1].evalue
    assert nb.cells[1].outputs[-1].ename == output.ENAME_NOT_RUN


# --------------------------------------------------------------------------- small parts


def test_output_cap_keeps_what_grading_reads():
    cell = nbformat.from_dict(
        {
            "cell_type": "code",
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": "x" * 300_000},
                {"output_type": "stream", "name": "stderr", "text": "warning " * 50_000},
                {
                    "output_type": "display_data",
                    "data": {"text/plain": "y" * 50_000},
                    "metadata": {},
                },
                {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["t" * 200_000]},
            ],
        }
    )
    cut = output.cap_cell_outputs(cell, 100_000)
    kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
    assert ("stream", "stderr") in kinds and ("error", None) in kinds  # still a failure
    assert ("display_data", None) not in kinds
    assert sum(output.output_bytes(o) for o in cell.outputs) < 110_000
    assert f"[output cut: {cut} bytes]" in cell.outputs[-1].text


def test_a_large_figure_is_an_image_not_text_to_the_output_cap():
    """A dense plot's PNG of more than the 100 kB text budget (notebook 01's vector field, drawn
    by a cold kernel: no bubblewrap, no warm zygote) is kept whole: its `text/html` twin (the
    `<img>` with alt text of `backprop_checks.figures.show`) counts as an image, not text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from backprop_checks.figures import figure_bundle

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(np.random.default_rng(0).random((100, 100)))  # noise: a PNG that hardly shrinks
    data, metadata = figure_bundle(fig, "Random noise, 100 by 100 squares.")
    plt.close(fig)
    assert len(data["text/html"]) > 150_000
    out = nbformat.from_dict({"output_type": "display_data", "data": data, "metadata": metadata})
    assert output.is_image("text/html", data["text/html"])
    assert output.output_bytes(out) == len(data["text/plain"])
    cell = nbformat.from_dict({"cell_type": "code", "outputs": [out]})
    assert output.cap_cell_outputs(cell, 100_000) == 0
    assert cell.outputs[0].data == data  # nothing cut, no note
    # A student's own HTML stays text: more than the budget is cut.
    html = {"text/html": "<p>" + "x" * 300_000}
    big = nbformat.from_dict({"output_type": "display_data", "data": html, "metadata": {}})
    cell = nbformat.from_dict({"cell_type": "code", "outputs": [big]})
    assert output.cap_cell_outputs(cell, 100_000) > 0


def test_forged_verification_results_are_not_unpickled(tmp_path: Path):
    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["touch", str(tmp_path / "pwned")],))

    path = tmp_path / "result.pkl"
    path.write_bytes(pickle.dumps(("grad_W2", {"visible": [Evil()]})))
    assert launch.read_results(path) == {}
    assert not (tmp_path / "pwned").exists()


def test_gradebook_integrity_check_finds_damage(tmp_path: Path):
    db = tmp_path / "gradebook.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
    con.commit()
    con.close()
    assert gradebook.check_gradebook(db) == "ok"
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    db.write_bytes(bytes(data))
    assert gradebook.check_gradebook(db) != "ok"


@pytest.mark.parametrize("assignment", course.ASSIGNMENTS)
def test_instructor_solutions_raise_no_flags(assignment: str):
    """The reference solutions (what an honest student writes) trip no static flag."""
    nb = nbformat.read(course.REPO_ROOT / "source" / assignment / f"{assignment}.ipynb", 4)
    aliases = static.module_aliases([c.source for c in nb.cells if c.cell_type == "code"])
    solutions = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert solutions, f"{assignment}: no solution cell"
    for cell in solutions:
        assert static.scan_source(cell.source, aliases) == [], cell.source


def test_static_scan_names_what_a_cell_reaches_into():
    found = static.scan_source(
        "import sys\nsys.modules['backprop_checks.checks'] = None\nnp.allclose = lambda *a: True\n"
        "get_ipython().ast_transformers.append(x)\nfrom grader.judge.reference import grad_W2\n"
        "open('/etc/passwd')\n",
        {"np": "numpy"},
    )
    text = " | ".join(found)
    for needle in ("sys.modules", "numpy.allclose", "AST transformer", "reference", "/etc/passwd"):
        assert needle in text, text


def test_limits_parse_and_describe():
    assert plan.parse_size("2G") == 2 * 1024**3
    assert plan.parse_size("512M") == 512 * 1024**2
    with pytest.raises(ValueError, match="not a size"):
        plan.parse_size("lots")
    assert "memory 2 GiB" in plan.Limits().describe()


def test_notebook_budget_and_cpu_cap_stop_the_notebook(tmp_path: Path):
    """What the limits did, not how long it took: the budget (5 s, of which 3 s for the
    kernel) cuts the cell running when it runs out and stops the rest with one
    NotebookTimeLimit; which cell that is depends on how fast the kernel started (a loaded
    machine spends the budget sooner: when the start took it all, no cell is cut and the
    first cell already reports the limit)."""
    cells = ["import time; time.sleep(3)", *["time.sleep(30)"] * 3, "print('never')"]
    nb = new_notebook(cells=[new_code_cell(s) for s in cells])
    nb = _run(nb, tmp_path, timeout=60, notebook_timeout=5)
    names = [c.outputs[-1].get("ename") if c.outputs else None for c in nb.cells]
    # No 30 s sleep ran to its end (three would take 90 s), and 'never' was never printed:
    # every one of those cells ends in an error.
    assert all(names[1:]), names
    assert not [o for o in nb.cells[-1].outputs if o.output_type == "stream"], nb.cells[-1]
    # In order: cells that finished or were cut short when the budget ran out, then the one
    # limit reported once, then cells not run.
    stopped = names.index(output.ENAME_NOTEBOOK_TIME)
    assert set(names[:stopped]) <= {None, "CellTimeoutError", output.ENAME_KERNEL_DIED}, names
    assert names[stopped + 1 :] == [output.ENAME_NOT_RUN] * (len(names) - stopped - 1), names
    assert "limit of 5 s" in nb.cells[stopped].outputs[-1].evalue
    # The CPU cap ends an endless loop (the per-cell timeout is only a backstop, far off: on
    # a loaded machine 4 CPU seconds take many more wall-clock seconds).
    nb = new_notebook(cells=[new_code_cell(s) for s in ("while True:\n    pass", "1")])
    nb = _run(nb, tmp_path, timeout=600, cpu_time_limit=4)
    assert "CPU time" in nb.cells[0].outputs[-1].evalue
    assert nb.cells[1].outputs[-1].ename == output.ENAME_NOT_RUN


def test_a_kernel_start_that_outlasts_the_budget_reports_the_limit(tmp_path: Path):
    """A kernel that has not answered when the notebook's limit (4 s) runs out is killed by
    the wrapper; on a loaded machine that is a slow start. The notebook says it ran past its
    limit (the first cell) and runs nothing else, instead of the grading raising 'Kernel died
    before replying to kernel_info'. The start is made slow on purpose (a 60 s exec_line)."""
    cells = ["print('first')", "print('second')"]
    nb = new_notebook(cells=[new_code_cell(s) for s in cells])
    slow = ["--IPKernelApp.exec_lines=import time; time.sleep(60)"]
    nb = _run(nb, tmp_path, notebook_timeout=4, extra_arguments=slow)
    first, second = (c.outputs for c in nb.cells)
    assert [o.get("ename") for o in first] == [output.ENAME_NOTEBOOK_TIME], first
    assert "limit of 4 s" in first[-1].evalue
    assert [o.get("ename") for o in second] == [output.ENAME_NOT_RUN], second
