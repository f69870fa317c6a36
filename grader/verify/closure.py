"""What the verification process may import, derived from the package layout.

The verification runner (`grader.verify.runner`) runs in a sandbox that holds copies of
only the files it needs: the runner's import closure within the course's packages (`grader`
and the student package `backprop_checks`), found by walking the modules' `import`
statements with `ast` (function bodies included, `if TYPE_CHECKING:` blocks left out),
plus the data files those modules name (a string constant that is the name of a file
beside the module, e.g. `visible.json`). A new import in a kernel-side module is followed
by itself; imports made by name at run time (`importlib.import_module("...")`) are not.

The closure must never reach `FORBIDDEN`: the checks and the naming of mistakes of the
student package, and `grader.judge` (the reference solution and the hidden cases); the
judging happens on the host. When it does, `closure` raises `ClosureError` naming the
chain of imports that leads there, so grading stops before it starts.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from grader.config import CourseError

#: The module the verification process runs.
RUNNER = "grader.verify.runner"
#: Modules (and their submodules) the verification process must never import.
FORBIDDEN = (
    "grader.judge",
    "backprop_checks.checks",
    "backprop_checks.judging",
    "backprop_checks.mistakes",
)


class ClosureError(CourseError):
    """The runner's import closure reaches a forbidden module; the message says which
    import does it and what to do."""


@dataclass
class Closure:
    """The runner's import closure: modules and the files that hold them.

    Attributes:
        modules: dotted names of every module imported, packages included, sorted.
        files: package -> paths relative to its folder (modules and data files), sorted.
        roots: package -> its folder.
    """

    modules: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)
    roots: dict[str, Path] = field(default_factory=dict)


def module_file(name: str, roots: dict[str, Path]) -> Path | None:
    """The file of module `name` under `roots` (package -> folder), or None."""
    top, *rest = name.split(".")
    if top not in roots:
        return None
    base = Path(roots[top], *rest)
    for path in (base / "__init__.py", base.with_name(base.name + ".py")):
        if path.is_file():
            return path
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, name: str, is_package: bool) -> list[tuple[str, int]]:
    """(module, line) for every module an import statement in `tree` may load."""
    found: list[tuple[str, int]] = []
    package = name if is_package else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([base] if base else [])])
            if base:
                found.append((base, node.lineno))
            # `from package import module` loads the submodule too.
            found.extend((f"{base}.{a.name}", node.lineno) for a in node.names if a.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _data_files(tree: ast.AST, path: Path, root: Path) -> list[Path]:
    """Files beside `path` (not Python modules, inside `root`) named by a string constant
    in `tree`."""
    files = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text and "\n" not in text and len(text) < 200 and ".." not in text:
                candidate = path.parent / text
                if (
                    candidate.suffix != ".py"
                    and candidate.is_file()
                    and candidate.resolve().is_relative_to(root.resolve())
                ):
                    files.append(candidate)
    return files


def _forbidden(name: str, forbidden: tuple[str, ...]) -> str:
    return next((f for f in forbidden if name == f or name.startswith(f + ".")), "")


def import_closure(
    entry: str, roots: dict[str, Path], forbidden: tuple[str, ...] = FORBIDDEN
) -> Closure:
    """The modules and files `entry` imports, directly or not, within `roots`' packages.

    Args:
        entry: the dotted name of the module run (e.g. "grader.verify.runner").
        roots: package name -> its folder (e.g. {"backprop_checks": .../student/backprop_checks}).
        forbidden: modules (with their submodules) the closure must not reach.

    Raises:
        ClosureError: the closure reaches a forbidden module (the message shows the chain),
            or `entry` is not a module under `roots`.
    """
    if module_file(entry, roots) is None:
        raise ClosureError(f"{entry} is not a module under {sorted(map(str, roots.values()))}")
    via: dict[str, tuple[str, int] | None] = {}  # module -> (its importer, line)
    todo: list[tuple[str, tuple[str, int] | None]] = [(entry, None)]
    files: dict[str, set[str]] = {}
    while todo:
        name, parent = todo.pop()
        if name in via:
            continue
        path = module_file(name, roots)
        if path is None:  # an attribute (`from m import f`) or a module outside roots
            continue
        if _forbidden(name, forbidden):
            raise ClosureError(_chain_message(name, parent, via, roots))
        via[name] = parent
        top = name.partition(".")[0]
        root = Path(roots[top])
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        files.setdefault(top, set()).add(path.relative_to(root).as_posix())
        for data in _data_files(tree, path, root):
            files[top].add(data.relative_to(root).as_posix())
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        parts = name.split(".")
        for i in range(1, len(parts)):
            todo.append((".".join(parts[:i]), (name, 0)))
        for module, line in _imports(tree, name, path.name == "__init__.py"):
            if module.partition(".")[0] in roots:
                todo.append((module, (name, line)))
    return Closure(
        modules=sorted(via),
        files={top: sorted(paths) for top, paths in sorted(files.items())},
        roots={top: Path(root) for top, root in roots.items()},
    )


def _chain_message(
    name: str,
    parent: tuple[str, int] | None,
    via: dict[str, tuple[str, int] | None],
    roots: dict[str, Path],
) -> str:
    """Which imports lead from the runner to the forbidden module `name`, and what to do."""
    steps = []
    link, target = parent, name
    while link is not None:
        importer, line = link
        path = module_file(importer, roots)
        where = f" ({path.name} line {line})" if line and path else ""
        steps.append(f"{importer} imports {target}{where}")
        target, link = importer, via.get(importer)
    importer = parent[0] if parent else name
    return (
        f"the verification process would import {name}, which it must never see (the "
        "checks, the naming of mistakes and grader.judge stay on the host): "
        f"{'; '.join(reversed(steps))}. Move what {importer} needs from {name} into a "
        "module it may import (or into itself), then grade again"
    )


def package_roots() -> dict[str, Path]:
    """The course's packages as installed: {"grader": ..., "backprop_checks": ...}."""
    import backprop_checks

    import grader

    return {
        "grader": Path(grader.__file__).resolve().parent,
        "backprop_checks": Path(backprop_checks.__file__).resolve().parent,
    }


@lru_cache(maxsize=1)
def runner_closure() -> Closure:
    """The import closure of the verification runner in this installation (cached).

    Raises:
        ClosureError: it reaches a forbidden module.
    """
    return import_closure(RUNNER, package_roots())
