"""pyproject.toml declares what grader imports, and requirements.txt pins a version of each
that the declared range allows (`make venv` installs the pins, `pip install . ./student` the
ranges; docs/contributing.md).

The real install is measured by hand (a fresh venv, `pip install . ./student`, then
`backprop-grader autograde` on a course): it takes minutes, too long for the suite.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from grader.course import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
#: Imports that come with another declared distribution (nbgrader brings them) or are ours.
OURS = {"grader", "backprop_checks"}


def declared(extra: str | None = None) -> dict[str, Requirement]:
    reqs = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def pinned() -> dict[str, str]:
    """{distribution: version} of requirements.txt's `name==version` lines."""
    out = {}
    for line in (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        if m:
            out[canonicalize_name(m[1])] = m[2]
    return out


def third_party_imports() -> set[str]:
    """Top-level names grader's modules import that are neither stdlib nor the project."""
    names: set[str] = set()
    for path in (REPO_ROOT / "grader").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.partition(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in OURS}


def test_every_import_of_grader_is_a_declared_dependency():
    """Each third-party module grader imports belongs to a distribution in `dependencies` or
    in an extra (distributed: [cluster], imported only by `autograde --scheduler`)."""
    dists = packages_distributions()
    everything = {**declared(), **declared("cluster"), **declared("dev")}
    missing = []
    for module in sorted(third_party_imports()):
        owners = {canonicalize_name(d) for d in dists.get(module, [])}
        if not owners & set(everything):
            missing.append(f"{module} (from {sorted(owners) or 'no installed distribution'})")
    assert missing == [], "grader imports these without declaring them in pyproject.toml"


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = pinned()
    problems = []
    for extra in (None, *PROJECT["optional-dependencies"]):
        for name, req in declared(extra).items():
            if name == "backprop-course-checks":  # the student package, from ./student
                continue
            if name not in pins:
                problems.append(f"{name}: no pin in requirements.txt")
            elif not req.specifier.contains(pins[name], prereleases=True):
                problems.append(f"{name}=={pins[name]} is outside {req.specifier}")
    assert problems == []


def test_the_extras_are_cluster_and_dev():
    assert set(declared("cluster")) == {"dask", "distributed", "psycopg"}
    assert set(declared("dev")) == {"pytest", "pytest-xdist", "ruff", "playwright"}
    assert not set(declared()) & (set(declared("cluster")) | set(declared("dev")))
