"""Static flags: what a student's cells reach into, and test or locked cells tampered with.

A student's code runs in the same kernel as nbgrader's tests, so it can patch numpy, the
`grader` package, IPython's exception handling or its input/AST transformers, and turn
every later test cell into a no-op. Verification (`grader.verify.launch`) makes such
patches useless for the score; these flags make them visible to the instructor:

- `scan_notebook` / `scan_source`: an AST scan of solution and extra cells that reach into
  `sys.modules`, `builtins`, IPython's shell (`get_ipython`, input/AST transformers, custom
  exception handlers), the `grader` package (importing the reference solution
  `grader.judge.reference` included), numpy's attributes, or the file system outside the
  working folder;
- `compare_cells`: test or locked cells that were edited, deleted or stripped of their
  nbgrader metadata (compared with the gradebook's copy).
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any

import nbformat

from grader.verify.cells import is_test_cell, nbgrader_meta, normal_source, strip_hidden

_IPYTHON_ATTRS = {
    "input_transformers_cleanup": "registers an IPython input transformer",
    "input_transformers_post": "registers an IPython input transformer",
    "input_transformer_manager": "changes IPython's input transformers",
    "ast_transformers": "registers an IPython AST transformer",
    "set_custom_exc": "replaces IPython's exception handling (set_custom_exc)",
    "showtraceback": "changes IPython's traceback display",
    "_showtraceback": "changes IPython's traceback display",
    "showsyntaxerror": "changes IPython's traceback display",
    "CustomTB": "replaces IPython's exception handling",
    "run_cell": "calls or changes IPython's run_cell",
    "events": "registers IPython event callbacks",
    "register_magic_function": "registers an IPython magic",
}
_SYS_ATTRS = {
    "modules": "reaches into sys.modules",
    "meta_path": "changes the import system (sys.meta_path)",
    "path_hooks": "changes the import system (sys.path_hooks)",
    "settrace": "installs a tracer (sys.settrace)",
    "setprofile": "installs a profiler (sys.setprofile)",
    "excepthook": "changes sys.excepthook",
    "displayhook": "changes sys.displayhook",
}
_FS_CALLS = {
    "remove",
    "unlink",
    "rmdir",
    "removedirs",
    "rename",
    "replace",
    "system",
    "popen",
    "chdir",
    "rmtree",
    "kill",
    "_exit",
    "execv",
    "execve",
    "fork",
    "chmod",
    "symlink",
    "link",
    "truncate",
}
_RISKY_MODULES = {
    "builtins": "imports builtins",
    "IPython": "imports IPython",
    "importlib": "uses importlib",
    "ctypes": "uses ctypes",
    "subprocess": "starts processes (subprocess)",
    "shutil": "uses shutil (file operations)",
    "gc": "uses gc (object graph access)",
    "inspect": "uses inspect (frame access)",
    "socket": "uses the network (socket)",
    "sqlite3": "opens SQLite databases",
}
_PATH_RE = re.compile(r"^(/|~|\.\./|\.\.$)")


#: The caches below are keyed by a cell's source; cells longer than this are worked out each
#: time instead, so a student's megabytes of code are not kept for the worker's life.
_CACHED_CELL_CHARS = 20_000


def _per_cell(cached: Any, source: str) -> Any:
    """`cached(source)`, from its cache for a cell of ordinary size, else computed afresh."""
    return cached(source) if len(source) <= _CACHED_CELL_CHARS else cached.__wrapped__(source)


@functools.lru_cache(maxsize=4096)
def _to_python(source: str) -> str:
    """Cell source with IPython syntax (magics, !commands) turned into Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - fall back to the raw source
        return source


def _parse(source: str) -> ast.Module | None:
    code = _per_cell(_to_python, source)
    if "get_ipython()" in code and "get_ipython" not in source:
        code = source  # magics only: nothing the student wrote in Python
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def module_aliases(sources: list[str]) -> dict[str, str]:
    """name -> module for every `import m as name` in the given cells (e.g. np -> numpy)."""
    aliases: dict[str, str] = {}
    for source in sources:
        for name, module in _per_cell(_cell_aliases, source):
            aliases[name] = module
    return aliases


@functools.lru_cache(maxsize=4096)
def _cell_aliases(source: str) -> tuple[tuple[str, str], ...]:
    """(name, module) of each `import` in one cell, in the order of the cell's tree.

    Cached by source: the instructor's cells, most of every notebook's code, are the same in
    every student's notebook of an assignment, and walking their trees was most of a
    notebook's static scan (benchmarks/run_cpu.py, docs/performance.md)."""
    tree = _parse(source)
    pairs = []
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Import):
            for a in node.names:
                pairs.append(
                    (a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0])
                )
    return tuple(pairs)


def scan_source(source: str, aliases: dict[str, str] | None = None) -> list[str]:
    """What a cell's code reaches into (sorted, de-duplicated one-line findings).

    Args:
        source: the cell's code.
        aliases: modules imported elsewhere in the notebook (e.g. {"np": "numpy"}).
    """
    found: set[str] = set()
    tree = _parse(source)
    if tree is None:
        return []
    aliases = dict(aliases or {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[(a.asname or a.name).split(".")[0]] = a.name
                _import_finding(a.name, found)
        elif isinstance(node, ast.ImportFrom) and node.module:
            _import_finding(node.module, found)
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                _import_finding(f"{node.module}.{a.name}", found)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id == "get_ipython":
                found.add("uses IPython's shell (get_ipython)")
            elif node.id == "__builtins__":
                found.add("reaches into __builtins__")
            elif node.id in ("exec", "eval", "compile", "__import__"):
                found.add(f"runs dynamic code ({node.id})")
            elif node.id in ("globals", "setattr", "delattr"):
                found.add(f"uses {node.id}()")
        elif isinstance(node, ast.Attribute):
            base = node.value.id if isinstance(node.value, ast.Name) else ""
            module = aliases.get(base, base)
            if node.attr in _IPYTHON_ATTRS:
                found.add(_IPYTHON_ATTRS[node.attr])
            if module == "sys" and node.attr in _SYS_ATTRS:
                found.add(_SYS_ATTRS[node.attr])
            if module in ("os", "shutil", "pathlib", "os.path") and node.attr in _FS_CALLS:
                found.add(f"calls {module}.{node.attr} (file system or process)")
            if node.attr in ("__globals__", "__code__", "__dict__", "__subclasses__"):
                found.add(f"uses {node.attr}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                    module = aliases.get(t.value.id, "")
                    if module:
                        found.add(f"patches {module}.{t.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if _PATH_RE.match(text) and len(text) < 300 and "\n" not in text and " " not in text:
                found.add(f"refers to a path outside its folder ({text[:60]!r})")
    return sorted(found)


def _import_finding(name: str, found: set[str]) -> None:
    top = name.split(".")[0]
    if name.startswith("grader.judge.reference") or name == "grader.judge.reference":
        found.add("imports the reference solution (grader.judge.reference)")
    elif top == "grader":
        found.add(f"imports the grader package ({name})")
    elif top == "backprop_checks":
        found.add(f"imports the checks package ({name})")
    elif top in _RISKY_MODULES:
        found.add(_RISKY_MODULES[top])
    elif name in ("os._exit",):
        found.add("imports os._exit")


def scan_notebook(nb: nbformat.NotebookNode, known: set[str] | None = None) -> list[str]:
    """Findings for every cell the student wrote (solution and unlocked cells).

    Args:
        nb: the submitted notebook.
        known: normalised sources of the released notebook's cells (left alone: the
            instructor wrote them).
    """
    flags = []
    known = known or set()
    aliases = module_aliases([c.source for c in nb.cells if c.get("cell_type") == "code"])
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        m = nbgrader_meta(cell)
        if m.get("locked") or is_test_cell(cell) or normal_source(cell.get("source", "")) in known:
            continue  # restored from the gradebook, or the instructor's own code
        where = m.get("grade_id") or f"cell {i + 1}"
        for finding in scan_source(cell.get("source", ""), aliases):
            flags.append(f"{where}: {finding}")
    return flags


def compare_cells(submitted: nbformat.NotebookNode, source_cells: dict[str, str]) -> list[str]:
    """Test and locked cells that were edited, deleted or lost their nbgrader metadata.

    Args:
        submitted: the student's notebook as handed in.
        source_cells: grade_id -> source of every test and locked cell (from the gradebook).
    """
    flags = []
    seen: dict[str, str] = {}
    for cell in submitted.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid:
            seen[gid] = cell.get("source", "")
    all_sources = "\n".join(c.get("source", "") for c in submitted.cells)
    for gid, src in source_cells.items():
        handed_out = normal_source(strip_hidden(src))  # what the release shows of the cell
        if gid not in seen:
            if handed_out and handed_out in normal_source(all_sources):
                flags.append(f"{gid}: test or locked cell lost its nbgrader metadata")
            else:
                flags.append(f"{gid}: test or locked cell deleted")
        elif normal_source(seen[gid]) not in (normal_source(src), handed_out):
            flags.append(f"{gid}: test or locked cell edited (graded with the original)")
    return flags
