"""The package layout holds: imports flow one way, and every module is on the layout page.

Modules are grouped by purpose, with no limit on their length.

Layers, highest first (a layer may import itself and any layer below it):

    grader.cli, grader.__main__
    grader.learner | grader.handout     (side by side: neither imports the other)
    grader.pipeline
    grader.verify
    grader.sandbox
    grader.judge
    backprop_checks                      (the student package: never imports grader ...)

plus the base, `grader` itself, `grader.course`, `grader.config` and `grader.nbcells`: it
imports no other module of the project, and every grader layer above judge may import it.
The one exception to "backprop_checks never imports grader" is the lazy hook through which
a hidden check reaches the instructor's truth at grading time: `backprop_checks.judging`
imports `grader.judge.hidden` inside a function (and falls back when grader is not
installed).

Modules are mapped to a layer by their subpackage, so a module added later is covered
without touching this file; a module that fits no layer is an error of its own.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from grader.course import REPO_ROOT

#: Where each top-level package's modules live: (folder, dotted name of that folder).
PACKAGES = (
    (REPO_ROOT / "grader", "grader"),
    (REPO_ROOT / "student" / "backprop_checks", "backprop_checks"),
)

#: The rank of each layer: a module may import modules of a lower rank (and its own layer).
RANK = {
    "cli": 6,
    "learner": 5,
    "handout": 5,
    "pipeline": 4,
    "verify": 3,
    "sandbox": 2,
    "judge": 1,
    "backprop_checks": 0,
}
#: grader's subpackages, each a layer of its own name.
SUBPACKAGE_LAYERS = ("learner", "handout", "pipeline", "verify", "sandbox", "judge")
BASE_MODULES = ("grader", "grader.course", "grader.config", "grader.nbcells")
CLI_MODULES = ("grader.cli", "grader.__main__")

#: The one import from the student package into grader: hidden checks fetch the instructor's
#: truth at grading time (backprop_checks.judging.instructor). It must sit inside a function:
#: at module level it would make the student package need grader.
LAZY_HOOK = ("backprop_checks.judging", "grader.judge.hidden")

@dataclass(frozen=True)
class Import:
    path: Path  #: the importing file
    line: int
    importer: str  #: dotted module name of the importing file
    imported: str  #: dotted module name imported (a project module)
    in_function: bool  #: inside a def (a lazy import)


def module_files(packages=PACKAGES) -> dict[str, Path]:
    """{dotted module name: file} for every .py file of the packages."""
    found = {}
    for folder, name in packages:
        for path in sorted(folder.rglob("*.py")):
            parts = [name, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to: a key of RANK, "base", or None."""
    top, _, rest = module.partition(".")
    if top == "backprop_checks":
        return "backprop_checks"
    if top != "grader":
        return None
    if module in BASE_MODULES or any(module.startswith(m + ".") for m in BASE_MODULES[1:]):
        return "base"
    if module in CLI_MODULES or module.startswith("grader.cli."):
        return "cli"
    sub = rest.partition(".")[0]
    return sub if sub in SUBPACKAGE_LAYERS else None


def project_imports(module: str, path: Path, known: set[str]) -> list[Import]:
    """Every import of a project module in the file, at any depth (functions, if-blocks,
    TYPE_CHECKING), with `from a import b` resolved to module a.b when b is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def add(node: ast.AST, name: str, in_function: bool) -> None:
        if layer_of(name) is not None or name.partition(".")[0] in ("grader", "backprop_checks"):
            found.append(Import(path, node.lineno, module, name, in_function))

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name, in_function)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                parent = ".".join([*base, node.module] if node.module else base)
            else:
                parent = node.module or ""
            for alias in node.names:
                child = f"{parent}.{alias.name}"
                add(node, child if child in known else parent, in_function)
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, inner)

    visit(tree, False)
    return found


def why_not(importer: str, imported: str, in_function: bool) -> str | None:
    """None when the import follows the layout, else why not ("pipeline may not import cli")."""
    src, dst = layer_of(importer), layer_of(imported)
    if (importer, imported) == LAZY_HOOK:
        return None if in_function else "the hook into grader must be imported inside a function"
    if dst is None:
        return f"{imported} belongs to no layer"
    if src == "backprop_checks" and dst != "backprop_checks":
        return "backprop_checks may not import grader (the student package ships without it)"
    if src == "base" and imported != "grader":  # `grader` itself holds only __version__
        return f"the base module {importer} may not import another module of the project"
    if dst == "base":
        return None if RANK[src] > RANK["judge"] else f"{src} may not import the base ({imported})"
    if src == dst or RANK[src] > RANK[dst]:
        return None
    return f"{src} may not import {dst}"


def violations(packages=PACKAGES) -> list[str]:
    """One readable line per import against the layout, or per module in no layer."""
    files = module_files(packages)
    known = set(files)
    root = packages[0][0].parent
    out = []
    for module, path in files.items():
        where = path.relative_to(root) if path.is_relative_to(root) else path
        if layer_of(module) is None:
            out.append(f"{where}: {module} belongs to no layer: put it in a subpackage")
            continue
        for imp in project_imports(module, path, known):
            reason = why_not(imp.importer, imp.imported, imp.in_function)
            if reason:
                out.append(f"{where}:{imp.line} imports {imp.imported}: {reason}")
    return out


# --------------------------------------------------------------------------- the tests


def test_imports_follow_the_layers():
    found = violations()
    assert not found, "imports against the layout (tests/test_layout.py):\n" + "\n".join(found)


def test_the_lazy_hook_exists_and_is_the_only_way_into_grader():
    """The one allowed import of grader from the student package is really there (if it
    moved, LAZY_HOOK must follow it) and sits inside a function."""
    files = module_files()
    hooks = [
        imp
        for module, path in files.items()
        if layer_of(module) == "backprop_checks"
        for imp in project_imports(module, path, set(files))
        if layer_of(imp.imported) != "backprop_checks"
    ]
    assert [(i.importer, i.imported, i.in_function) for i in hooks] == [(*LAZY_HOOK, True)]


def _tree(tmp_path: Path, files: dict[str, str]) -> tuple:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return ((tmp_path / "grader", "grader"), (tmp_path / "backprop_checks", "backprop_checks"))


def test_the_checker_names_each_kind_of_wrong_import(tmp_path: Path):
    """The rules themselves, on a made-up tree: each wrong import gives its one line."""
    packages = _tree(
        tmp_path,
        {
            "grader/__init__.py": "",
            "grader/cli.py": "from grader.pipeline import autograde\nimport grader.config\n",
            "grader/config.py": "from grader import course\n",
            "grader/course.py": "",
            "grader/pipeline/__init__.py": "",
            "grader/pipeline/autograde.py": "def f():\n    from grader import cli\n",
            "grader/pipeline/report.py": "from . import autograde\nfrom ..judge import cases\n",
            "grader/judge/__init__.py": "",
            "grader/judge/cases.py": (
                "from grader.config import x\nimport backprop_checks.catalog\n"
            ),
            "grader/learner/__init__.py": "",
            "grader/learner/selfcheck.py": "from grader.handout import build\n",
            "grader/handout/__init__.py": "",
            "grader/handout/build.py": "",
            "grader/extra.py": "",
            "backprop_checks/__init__.py": "",
            "backprop_checks/catalog.py": "import grader.judge.cases\n",
            "backprop_checks/judging.py": "from grader.judge import hidden\n",
            "grader/judge/hidden.py": "",
        },
    )
    assert sorted(violations(packages)) == sorted(
        [
            "grader/config.py:1 imports grader.course: the base module grader.config may not "
            "import another module of the project",
            "grader/pipeline/autograde.py:2 imports grader.cli: pipeline may not import cli",
            "grader/judge/cases.py:1 imports grader.config: judge may not import the base "
            "(grader.config)",
            "grader/learner/selfcheck.py:1 imports grader.handout.build: learner may not "
            "import handout",
            "grader/extra.py: grader.extra belongs to no layer: put it in a subpackage",
            "backprop_checks/catalog.py:1 imports grader.judge.cases: backprop_checks may not "
            "import grader (the student package ships without it)",
            "backprop_checks/judging.py:1 imports grader.judge.hidden: the hook into grader "
            "must be imported inside a function",
        ]
    )


#: The page with the package trees, one line per module (the contributors' guide).
LAYOUT_PAGE = REPO_ROOT / "docs" / "contributing.md"


def layout_tree() -> set[str]:
    """The module paths the layout page's package trees list (its ```text blocks rooted at
    grader/ or backprop_checks/, two spaces of indent per folder level)."""
    text = LAYOUT_PAGE.read_text()
    listed: set[str] = set()
    for block in re.findall(r"```text\n(.*?)```", text, re.S):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or lines[0].strip() not in ("grader/", "backprop_checks/"):
            continue
        root = "grader" if lines[0].strip() == "grader/" else "student/backprop_checks"
        base = len(lines[0]) - len(lines[0].lstrip())
        stack: list[str] = []
        for line in lines[1:]:
            depth = (len(line) - len(line.lstrip()) - base) // 2 - 1
            name = line.split()[0]
            stack[depth:] = [name.rstrip("/")]
            if name.endswith(".py"):
                listed.add("/".join([root, *stack]))
    return listed


def test_the_layout_page_lists_every_module():
    """docs/contributing.md's package tree has one line per module, so it cannot drift from
    the code (the records of judge/functions/ are named together; __init__/__main__ need no
    line)."""
    listed = layout_tree()
    actual = {
        p.relative_to(REPO_ROOT).as_posix()
        for top in ("grader", "student/backprop_checks")
        for p in (REPO_ROOT / top).rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
        and not (p.parent.name == "functions" and p.name.startswith("nb"))
    }
    page = LAYOUT_PAGE.relative_to(REPO_ROOT)
    assert listed, f"{page} has no package tree (```text blocks rooted at grader/)"
    assert not actual - listed, f"modules missing from {page}'s tree: {sorted(actual - listed)}"
    every = {
        p.relative_to(REPO_ROOT).as_posix()
        for top in ("grader", "student/backprop_checks")
        for p in (REPO_ROOT / top).rglob("*.py")
    }
    extra = sorted(listed - every)
    assert not extra, f"{page}'s tree lists modules that do not exist: {extra}"
