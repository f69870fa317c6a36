"""`selfcheck NOTEBOOK`: grade your own notebook, hidden tests included, without an instructor.

The learner's notebook is read, never written. A copy gets the test (and other locked)
cells of its source notebook back, matched by nbgrader `grade_id` (what nbgrader's
OverwriteCells does at grading time, so an edited test cell does not count), then runs in
a fresh kernel with the same execution settings as autograde (`grader.pipeline.hooks`).
Every test cell is scored with nbgrader's own rule (`nbgrader.utils.determine_grade`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.config import course_config
from grader.course import ASSIGNMENTS, REPO_ROOT
from grader.nbcells import grade_id, is_graded, is_locked, nbgrader_meta, points
from grader.pipeline import hooks
from grader.pipeline.failures import cell_message, cell_timeout, definition_errors
from grader.pipeline.results import CellResult, tags_in


class SelfCheckError(RuntimeError):
    """The notebook cannot be self-checked; the message says what to do."""


@dataclass
class SelfCheckResult:
    notebook: Path
    assignment: str
    cells: list[CellResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  #: missing test cells, a dead kernel
    #: one quiet line when the code ran without the bubblewrap sandbox ("" when it did)
    sandbox_note: str = ""

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cells)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells)


def find_source(nb: nbformat.NotebookNode, name: str, source_dir: Path) -> Path:
    """The instructor notebook `nb` was released from: by file name, else by its cell ids."""
    for a in ASSIGNMENTS:
        if name.startswith(a) and (source_dir / a / f"{a}.ipynb").exists():
            return source_dir / a / f"{a}.ipynb"
    ids = {grade_id(c) for c in nb.cells} - {None}
    fits = []
    for path in sorted(source_dir.glob("*/*.ipynb")):
        src_ids = {grade_id(c) for c in nbformat.read(path, as_version=4).cells} - {None}
        if ids and ids & src_ids and len(ids & src_ids) >= len(src_ids) // 2:
            fits.append(path)
    if len(fits) != 1:
        raise SelfCheckError(
            f"cannot tell which assignment {name} is: name it after one of "
            f"{', '.join(ASSIGNMENTS)} (e.g. 04_backprop_W2.ipynb)"
        )
    return fits[0]


def with_source_tests(
    nb: nbformat.NotebookNode, source: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[str]]:
    """A copy of `nb` whose test and locked cells are the source's (matched by grade_id).

    Returns:
        the copy (outputs cleared) and the grade_ids of test cells missing from `nb`.
    """
    by_id = {grade_id(c): c for c in source.cells if grade_id(c)}
    out = nbformat.from_dict(nb)
    seen = set()
    for cell in out.cells:
        gid = grade_id(cell)
        src = by_id.get(gid)
        if src is not None:
            seen.add(gid)
            if is_graded(src) or is_locked(src):
                cell.cell_type = src.cell_type
                cell.source = src.source
                cell.metadata["nbgrader"] = dict(nbgrader_meta(src))
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    missing = [gid for gid, c in by_id.items() if is_graded(c) and gid not in seen]
    return out, missing


@contextmanager
def _quiet_sandbox_banner():
    """Keep the instructor's "SANDBOX OFF" banner (stderr and the grader.sandbox.plan log) off a
    learner's terminal while their notebook runs; any other stderr output is passed on."""
    import io
    import sys
    from contextlib import redirect_stderr

    from grader.sandbox import plan

    logger = plan.log
    was_disabled, logger.disabled = logger.disabled, True
    buffer = io.StringIO()
    try:
        with redirect_stderr(buffer):
            yield
    finally:
        logger.disabled = was_disabled
        rest = [
            line
            for line in buffer.getvalue().splitlines()
            if line.strip() and not line.startswith("!!!")
        ]
        if rest:
            print("\n".join(rest), file=sys.stderr)


def sandbox_note(config) -> str:
    """One quiet line for a learner when notebooks run without bubblewrap here, else ""."""
    from grader.sandbox.plan import bwrap_status

    settings = config.get("SandboxedExecute", {})
    if settings.get("mode", "auto") == "off":
        return "your notebook ran without the bubblewrap sandbox (turned off in the course config)"
    if bwrap_status(str(settings.get("bwrap", "bwrap"))).usable:
        return ""
    return (
        "your notebook ran without the bubblewrap sandbox (not available here): "
        "fine for checking your own work"
    )


@contextmanager
def _environment(extra: dict[str, str]):
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def selfcheck(
    notebook: Path,
    *,
    source_dir: Path = REPO_ROOT / "source",
    timeout: int | None = None,
    announce: Callable[[str], None] | None = None,
) -> SelfCheckResult:
    """Run a learner's notebook with its hidden tests in a fresh kernel and score each test.

    Args:
        notebook: the learner's .ipynb (read only).
        source_dir: the instructor notebooks (default: the course's source/).
        timeout: seconds per cell (default: the course's nbgrader_config.py).
        announce: called with one line before the notebook runs (the CLI prints it).

    Raises:
        SelfCheckError: the file is missing, not a notebook, or matches no assignment.
    """
    from nbgrader.utils import determine_grade

    notebook = Path(notebook)
    if not notebook.is_file():
        raise SelfCheckError(f"{notebook} does not exist; pass the path of your .ipynb file")
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:
        raise SelfCheckError(
            f"{notebook} is not a readable notebook ({type(exc).__name__}); re-download it "
            "from release/ and copy your answers over"
        ) from exc
    source_path = find_source(nb, notebook.stem, Path(source_dir))
    graded, missing = with_source_tests(nb, nbformat.read(source_path, as_version=4))
    result = SelfCheckResult(notebook, source_path.stem)
    result.problems += [
        f"test cell {gid} is missing from your notebook: 0 points" for gid in missing
    ]

    config = course_config(REPO_ROOT)
    config.merge(hooks.execution_config(REPO_ROOT, timeout=timeout))
    steps = [hooks.execute_preprocessor()(config=config)]
    steps += [pp(config=config) for pp in hooks.post_execute_preprocessors()]
    result.sandbox_note = sandbox_note(config)
    limit = cell_timeout(config)
    if announce is not None:
        per_cell = f", up to {limit:g} s per cell" if limit else ""
        announce(f"running your notebook {notebook.name} in a fresh kernel{per_cell} ...")
    with (
        tempfile.TemporaryDirectory(prefix="selfcheck-") as tmp,
        _environment(hooks.execution_env()),
        _quiet_sandbox_banner(),
    ):
        resources = {"metadata": {"path": tmp}}
        try:
            for step in steps:
                graded, resources = step.preprocess(graded, resources)
        except Exception as exc:  # a dead kernel or an unresponsive one
            result.problems.append(
                f"the run stopped: {type(exc).__name__} (os._exit, a crash or an endless loop?);"
                " tests that did not run score 0"
            )
    broken = definition_errors(graded.cells)
    for cell in graded.cells:
        if cell.cell_type != "code" or not is_graded(cell):
            continue
        ran = cell.get("execution_count") is not None
        score = determine_grade(cell)[0] if ran else 0.0
        message = cell_message(cell, timeout=limit, broken=broken) or ("" if ran else "did not run")
        result.cells.append(
            CellResult(
                grade_id(cell), float(score or 0), points(cell), message.strip(), tags_in(message)
            )
        )
    worth = {grade_id(c): points(c) for c in nbformat.read(source_path, as_version=4).cells}
    for gid in missing:
        result.cells.append(CellResult(gid, 0.0, worth.get(gid, 0.0), "missing from your notebook"))
    return result


def render(result: SelfCheckResult, console) -> None:
    """Print the per-question table and the total with rich."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"selfcheck: {result.notebook.name} ({result.assignment})")
    table.add_column("test cell")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("diagnosis", overflow="fold")
    for c in result.cells:
        verdict = "[green]passed[/]" if c.passed else "[red]failed[/]"
        first = c.message.splitlines()[0] if c.message else ""
        table.add_row(c.grade_id, f"{c.score:g}/{c.max_score:g}", verdict, escape(first))
    console.print(table)
    for problem in result.problems:
        console.print(f"[yellow]note:[/] {escape(problem)}")
    console.print(f"[bold]Total: {result.score:g} / {result.max_score:g}[/]")
    if result.sandbox_note:
        console.print(f"[dim]{escape(result.sandbox_note)}[/]")
