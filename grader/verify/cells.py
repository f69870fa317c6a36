"""Reading graded notebooks: nbgrader's cell metadata, the functions a notebook's test cells
grade, and one-line reasons for a broken notebook.

`run_problems` reads what the sandbox wrote into an autograded notebook's outputs (a cell
out of time or memory, a kernel that died, output that was cut: `grader.sandbox.output`);
`renamed_notebooks` finds a submission saved under another name.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from grader.nbcells import is_test as is_test_cell  # noqa: F401 - verify's name for it
from grader.nbcells import nbgrader_meta
from grader.sandbox.output import (
    CUT_NOTE_RE,
    ENAME_KERNEL_DIED,
    ENAME_NOT_RUN,
    ENAME_NOTEBOOK_TIME,
    ENAMES_TIMEOUT,
)

#: grade_id prefixes of the test cells of a function NAME (docs/grading.md).
VISIBLE_PREFIX = "test_"
HIDDEN_PREFIX = "hidden_test_"


def graded_functions(grade_ids: list[str]) -> list[str]:
    """Student functions that have test cells among grade_ids, in order."""
    from grader.judge.cases import SIGNATURES

    names: list[str] = []
    for gid in grade_ids:
        for prefix in (HIDDEN_PREFIX, VISIBLE_PREFIX):
            if gid.startswith(prefix):
                name = gid[len(prefix) :]
                if name in SIGNATURES and name not in names:
                    names.append(name)
                break
    return names


def read_graded(path: Path) -> nbformat.NotebookNode:
    """A notebook nbgrader wrote (autograded/), read as `nbformat.read(path, as_version=4)`
    reads it but without its validation on reading, which only logs what is invalid and
    repairs cell ids: nbconvert validated this notebook, its ids repaired, right before
    writing it (grader.pipeline.exporter), so that check would find nothing to say or do.

    Raises:
        what nbformat.read raises for a file that is not a notebook (OSError, NotJSONError...).
    """
    with open(path, encoding="utf8") as f:
        return reads_unvalidated(f.read())


def reads_unvalidated(text: str) -> nbformat.NotebookNode:
    """`nbformat.reads(text, as_version=4)` without its validation on reading (which only logs
    what is invalid and repairs cell ids): for a notebook validated where it matters
    (`read_graded`, grader.pipeline.exporter)."""
    return nbformat.convert(nbformat.reader.reads(text), 4)


def read_notebook(path: Path, *, graded: bool = False) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or None and a one-line reason it cannot be read; `graded`: one nbgrader
    wrote, read by `read_graded`."""
    if not path.exists():
        return None, f"no {path.name}"
    try:
        nb = read_graded(path) if graded else nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is a reason
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        return None, f"{path.name} cannot be read ({type(exc).__name__}: {first})"
    return nb, ""


_HIDDEN_RE = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M
)


def strip_hidden(src: str) -> str:
    """A test cell's source as released: the hidden-tests block removed."""
    return _HIDDEN_RE.sub("", src)


def normal_source(src: str) -> str:
    """A cell's source without trailing spaces and outer blank lines (compared, not run)."""
    return "\n".join(line.rstrip() for line in src.strip().splitlines())


def run_problems(nb: nbformat.NotebookNode) -> list[str]:
    """One-line problems read from an autograded notebook's outputs (time, memory, death,
    output cut), in cell order; within a cell a cut output first (a flood of output is what
    makes a cell run out of time)."""
    problems: list[str] = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        where = nbgrader_meta(cell).get("grade_id") or f"cell {i + 1}"
        outputs = cell.get("outputs", [])
        streams = [o for o in outputs if o.get("output_type") == "stream"]
        for out in [*streams, *(o for o in outputs if o.get("output_type") != "stream")]:
            kind = out.get("output_type")
            if kind == "error":
                ename = out.get("ename", "")
                if ename in (ENAME_KERNEL_DIED, ENAME_NOTEBOOK_TIME):
                    problems.append(f"{where}: {out.get('evalue', '')}")
                elif ename == "CellTimeoutError":
                    problems.append(f"{where}: ran past the per-cell time limit")
                elif ename == "MemoryError":
                    problems.append(f"{where}: ran out of memory (MemoryError)")
            elif kind == "stream":
                m = CUT_NOTE_RE.search(str(out.get("text", "")))
                if m:
                    problems.append(f"{where}: output cut ({m.group(1)} bytes over the cap)")
    return list(dict.fromkeys(problems))


#: Errors of a cell whose own code a limit stopped: its time limit (the interrupt,
#: nbgrader's CellTimeoutError) or memory. A test cell with one keeps the kernel's 0.
OWN_LIMIT_ENAMES = frozenset({*ENAMES_TIMEOUT, "MemoryError"})
#: Errors of a cell the kernel could not finish or run for the whole notebook's sake: the
#: notebook's limit, a dead kernel, not run after either. Such a test cell is scored by
#: verification (which ran the notebook's cells), with a flag that names the limit.
NOTEBOOK_LIMIT_ENAMES = frozenset({ENAME_KERNEL_DIED, ENAME_NOTEBOOK_TIME, ENAME_NOT_RUN})
#: What a function stopped after a timeout says when a later cell calls it
#: (grader.sandbox.quarantine).
_STOPPED_TEXT = "did not finish within the"


def limit_stopped(nb: nbformat.NotebookNode) -> dict[int, str]:
    """{index: what stopped it} for the code cells of an executed notebook that a limit
    stopped in the kernel: "own" (the cell's time limit or memory, or a function stopped
    after a timeout; a test cell keeps its 0), "notebook" (the cell running when the
    notebook's limit ran out or the kernel died) or "not run" (a later cell).

    Verification runs the "own" and "notebook" cells for a few seconds only (one time
    limit, not two) and the "not run" ones as usual.
    """
    out: dict[int, str] = {}
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            ename = o.get("ename")
            if ename in OWN_LIMIT_ENAMES or _STOPPED_TEXT in str(o.get("evalue", "")):
                out[i] = "own"
                break
            if ename in NOTEBOOK_LIMIT_ENAMES:
                out[i] = "not run" if ename == ENAME_NOT_RUN else "notebook"
    return out


def renamed_notebooks(folder: Path, expected: str) -> list[str]:
    """Notebooks in a submission folder other than the expected one (a renamed file)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob("*.ipynb") if p.name != expected)
