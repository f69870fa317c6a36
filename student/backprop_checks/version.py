"""The package's version, derived from its content, and the notebooks' one-line version check.

    VERSION = f"{BASE}+h{the first 12 hex digits of content_hash(the package folder)}"

`content_hash` reads every `*.py` and `*.json` file of the package folder (no `__pycache__`),
so any change to a check, a message or the data file gives a new version: pip installs a
newer wheel over an older one (`pip install --upgrade backprop_course_checks-VERSION-....whl`)
instead of keeping the old checks ("already installed with the same version"). The same
computation runs when the wheel is built (`pyproject.toml` takes the version from
`VERSION`) and when the package is imported, so an installed wheel and a source checkout
(`pip install -e student`) both report the version of the files they hold.

`released_with(VERSION)` is called by each notebook's setup cell: `nbgrader
generate_assignment` writes into it the version the notebook was released with
(`grader.handout.checks_version.StampChecksVersion`); the source notebooks say "source".
BASE is raised by hand only for a change the hash cannot see (the dependencies).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: The hand-kept part of the version (PEP 440 public version).
BASE = "0.2.0"
#: The distribution name (pip's) and what a source notebook passes to `released_with`.
DISTRIBUTION = "backprop-course-checks"
SOURCE = "source"

_PACKAGE = Path(__file__).resolve().parent


def package_files(folder: Path = _PACKAGE) -> list[Path]:
    """The files the version is computed from: `*.py` and `*.json` directly in `folder`, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".json"))


def content_hash(folder: Path = _PACKAGE) -> str:
    """sha256 (hex) of the package's files: each file's name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in package_files(folder):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def version_of(folder: Path = _PACKAGE) -> str:
    """The version of the package held in `folder`: BASE, then `+h` and 12 hex digits."""
    return f"{BASE}+h{content_hash(folder)[:12]}"


def wheel_name(version: str) -> str:
    """The file name of the course's wheel of that version."""
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-py3-none-any.whl"


def is_source_checkout(folder: Path = _PACKAGE) -> bool:
    """Whether the package runs from the course repository's student/ folder (`pip install
    -e student`, the self-study path): then it is the course's current checks by definition."""
    project = folder.parent / "pyproject.toml"
    return project.is_file() and f'name = "{DISTRIBUTION}"' in project.read_text("utf-8")


VERSION = version_of()


def version_note(version: str) -> str:
    """The line a notebook released with `version` prints about the installed checks.

    Args:
        version: the version written into the notebook's setup cell when it was released
            (SOURCE in the instructor's source notebooks: nothing to compare).

    Returns:
        "" when they are the same, when there is nothing to compare, or when the checks run
        from the course repository (always its current checks); else one line: the version
        installed, the one the notebook came with, and the pip command that installs it.
    """
    if version in (SOURCE, VERSION) or is_source_checkout():
        return ""
    return (
        f"backprop_checks {VERSION} is installed, but this notebook came with {version}: in a "
        f"terminal, in this notebook's folder, with your course environment active, run "
        f"`python -m pip install --upgrade {wheel_name(version)}` and restart the kernel "
        "(unless you installed a later assignment's wheel; on a course JupyterHub, tell your "
        "instructor)."
    )


def released_with(version: str) -> None:
    """Called by a notebook's setup cell: print `version_note(version)` when there is one."""
    note = version_note(version)
    if note:
        print(note)
