"""The package layout holds: imports flow one way, every module is on the layout page, and
every function is short enough to read (or says why it is long).

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

Names in strings are dependencies too (nbgrader's configuration takes its preprocessors and
hook as dotted names, `python -m` takes a module, matplotlib a `module://` backend): every
dotted project name in a string of the packages and of nbgrader_config.py must name a module
(and a name defined in it) that exists, and follow the same layers as an import.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

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


#: A dotted project name inside a string ("grader.x.Y", "module://grader.x", "backprop_checks.x").
DOTTED = re.compile(r"(?<![\w.])((?:grader|backprop_checks)(?:\.[A-Za-z_]\w*)+)")
#: Files outside the packages whose strings name project modules (nbgrader reads them).
CONFIG_FILES = (REPO_ROOT / "nbgrader_config.py",)


@dataclass(frozen=True)
class Named:
    path: Path  #: the file with the string
    line: int
    importer: str  #: dotted module name of that file ("nbgrader_config" for the config)
    name: str  #: the dotted name in the string


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def string_names(module: str, path: Path) -> list[Named]:
    """Every dotted project name in a string constant of the file (f-strings' literal parts
    included; docstrings and logger names, which name no module, left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getLogger":
            skip.update(id(arg) for arg in node.args)
    return [
        Named(path, node.lineno, module, name)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        for name in DOTTED.findall(node.value)
    ]


def top_level_names(path: Path) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments, imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def resolve(name: str, files: dict[str, Path]) -> tuple[str | None, str]:
    """(the module a dotted name is in, or None; why it does not resolve, or "")."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module in files:
            rest = parts[cut:]
            if rest and rest[0] not in top_level_names(files[module]):
                sub = f"{module}.{rest[0]}"
                return module, f"{module} defines no {rest[0]!r} (and {sub} is no module)"
            return module, ""
    return None, "no module of the project has this name"


def string_violations(packages=PACKAGES, configs=CONFIG_FILES) -> list[str]:
    """One readable line per dotted name in a string that names nothing, or that names a
    module the string's own module may not import."""
    files = module_files(packages)
    root = packages[0][0].parent
    named = [n for module, path in files.items() for n in string_names(module, path)]
    named += [n for path in configs if path.exists() for n in string_names(path.stem, path)]
    out = []
    for n in named:
        where = n.path.relative_to(root) if n.path.is_relative_to(root) else n.path
        target, why = resolve(n.name, files)
        if why:
            out.append(f"{where}:{n.line} names {n.name!r}: {why}")
            continue
        if layer_of(n.importer) is None:  # nbgrader_config.py: the top, it may name anything
            continue
        reason = why_not(n.importer, target, in_function=True)
        if reason:
            out.append(f"{where}:{n.line} names {n.name!r} in a string: {reason}")
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


#: Longest a function may be, in lines (its def to its last line), unless its docstring says
#: why with a sentence that starts with LONG_BECAUSE.
MAX_FUNCTION_LINES = 80
LONG_BECAUSE = "Long because"


def long_functions(files: list[Path], root: Path = REPO_ROOT) -> list[str]:
    """ "path:name: N lines" of each function (or method) of `files` over MAX_FUNCTION_LINES
    whose docstring does not contain LONG_BECAUSE."""
    out = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and LONG_BECAUSE not in (ast.get_docstring(node) or ""):
                out.append(f"{path.relative_to(root).as_posix()}:{node.name}: {n} lines")
    return out


def test_functions_are_short_or_say_why():
    """No function of grader/ or the student package is over MAX_FUNCTION_LINES lines unless
    its docstring says why ("Long because ...")."""
    long = long_functions(sorted(module_files().values()))
    assert not long, (
        f"functions over {MAX_FUNCTION_LINES} lines: split each by what it does, or say why "
        f"in its docstring ({LONG_BECAUSE!r} ...):\n" + "\n".join(long)
    )


def test_the_function_length_check_finds_a_long_function(tmp_path: Path):
    """The check names a long function without a reason, and accepts one with it."""
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "a.py").write_text(f'def long():\n    """Does much."""\n{body}')
    (tmp_path / "b.py").write_text(f'def long():\n    """{LONG_BECAUSE} it is a table."""\n{body}')
    short = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 2))
    (tmp_path / "c.py").write_text(f'def short():\n    """Just fits."""\n{short}')
    files = [tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"]
    assert long_functions(files, tmp_path) == [f"a.py:long: {MAX_FUNCTION_LINES + 2} lines"]


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


def test_no_module_name_appears_twice_in_grader():
    """Modules are named by purpose, so one name means one module: `grader.x.warm` and
    `grader.y.warm` would each need their package to be told apart (the records of
    judge/functions/ are one kind of module, named by notebook)."""
    seen: dict[str, list[str]] = {}
    for path in sorted((REPO_ROOT / "grader").rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        seen.setdefault(path.stem, []).append(path.relative_to(REPO_ROOT).as_posix())
    twice = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not twice, f"module names used twice in grader/ (rename them by purpose): {twice}"


def test_names_in_strings_exist_and_follow_the_layers():
    """Every dotted project name in a string (nbgrader's preprocessors and hook, `python -m`
    modules, matplotlib backends, the verification closure's forbidden modules) names a
    module, and a name in it, that exist, and the layers hold for it as for an import."""
    found = string_violations()
    assert not found, "names in strings against the layout (tests/test_layout.py):\n" + "\n".join(
        found
    )


def test_strings_are_followed(tmp_path: Path):
    """The string rules themselves, on a made-up tree: a string that names a module above its
    own, one that names nothing, and one that names what its module does not define, each
    give their line; a docstring, a logger name and a right name give none."""
    packages = _tree(
        tmp_path,
        {
            "grader/__init__.py": "",
            "grader/pipeline/__init__.py": "",
            "grader/pipeline/hooks.py": (
                'def post_convert():\n    pass\nGO = "grader.sandbox.run.Go"\n'
            ),
            "grader/sandbox/__init__.py": "",
            "grader/sandbox/run.py": (
                '"""Called by grader.pipeline.hooks.post_convert."""\n'
                "import logging\n"
                'log = logging.getLogger("grader.not.a.module")\n'
                'HOOK = "grader.pipeline.hooks.post_convert"\n'
                'GONE = f"module://grader.sandbox.gone"\n'
                'TYPO = "grader.sandbox.run.Og"\n'
                "class Go:\n    pass\n"
            ),
            "backprop_checks/__init__.py": "",
        },
    )
    config = tmp_path / "nbgrader_config.py"
    config.write_text('c.X = ["grader.pipeline.hooks.post_convert", "grader.nope.X", "os.path"]\n')
    assert sorted(string_violations(packages, (config,))) == sorted(
        [
            "grader/sandbox/run.py:4 names 'grader.pipeline.hooks.post_convert' in a string: "
            "sandbox may not import pipeline",
            "grader/sandbox/run.py:5 names 'grader.sandbox.gone': grader.sandbox defines no "
            "'gone' (and grader.sandbox.gone is no module)",
            "grader/sandbox/run.py:6 names 'grader.sandbox.run.Og': grader.sandbox.run defines "
            "no 'Og' (and grader.sandbox.run.Og is no module)",
            "nbgrader_config.py:1 names 'grader.nope.X': grader defines no 'nope' (and "
            "grader.nope is no module)",
        ]
    )


def test_xdist_gives_each_worker_whole_files(request: pytest.FixtureRequest):
    """`make test` runs on pytest-xdist workers that take whole files (tests/conftest.py marks
    each test with its file's unit; `--dist loadgroup` appends it to the node id). If an
    upgrade stops that, a file's tests split across workers and every module fixture (a
    graded class, a server) is built twice, silently: pytest 9.2 with pytest-xdist 3.8 did."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("run without pytest-xdist workers (-n 0)")
    assert request.node.nodeid.endswith("@test_layout"), request.node.nodeid
