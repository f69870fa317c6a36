"""`backprop-grader handout`: dist/handout/ with the student wheel and one zip per assignment.

    dist/handout/backprop_course_checks-VERSION-py3-none-any.whl
    dist/handout/01_partial_derivatives.zip   (release notebook, companions, README, wheel,
                                               and the class start-here, 00_start_here.ipynb)
    dist/handout/02_sigmoid_derivative.zip    (release notebook, companions, README, wheel)
    ...

Each zip holds one folder named after its assignment; students unzip every zip into one
course folder and use one environment for all of them (the README says how). The first
assignment's zip also holds the class start-here (`notebooks/class/00_start_here.ipynb`:
no repository commands; its course table comes from the installed checks). VERSION is
derived from the student package's files (`backprop_checks.version`); the release
notebooks' setup cells must name it (`make release` writes it), or the build stops.

The wheel is built by pip from a copy of `student/` (after `visible.json` is brought up to
date), so the source tree gets no build/ or egg-info folders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader import course
from grader.handout import data

DIST = course.REPO_ROOT / "dist" / "handout"
COMPANIONS = course.REPO_ROOT / "notebooks"
#: The class path's start-here, shipped in the first assignment's zip (the self-study one,
#: notebooks/00_start_here.ipynb, speaks of the repository and is never shipped).
CLASS_START = COMPANIONS / "class" / "00_start_here.ipynb"
DISTRIBUTION = "backprop-course-checks"


class HandoutError(RuntimeError):
    """The handout cannot be built; the message says what to do."""


@dataclass
class Handout:
    """What `build_handout` wrote: the wheel, the zips (by assignment) and each zip's files."""

    wheel: Path
    zips: dict[str, Path] = field(default_factory=dict)
    contents: dict[str, list[str]] = field(default_factory=dict)


def build_wheel(dest: Path, *, student: Path = data.STUDENT_DIR) -> Path:
    """Build the student wheel into dest with pip (a pure-Python wheel) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("backprop_course_checks-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="backprop-wheel-") as tmp:
        src = Path(tmp) / "student"
        shutil.copytree(
            student, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
        )
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "--disable-pip-version-check",
                "-w",
                str(dest),
                str(src),
            ],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        raise HandoutError(
            "pip could not build the student wheel (it needs setuptools from PyPI or pip's "
            f"cache): {(proc.stderr.strip().splitlines() or ['no output'])[-1]}"
        )
    wheels = sorted(dest.glob("backprop_course_checks-*.whl"))
    if len(wheels) != 1:
        raise HandoutError(f"expected one student wheel in {dest}, found {len(wheels)}")
    return wheels[0]


def companions_of(notebook: Path, companions: Path = COMPANIONS) -> list[Path]:
    """The companion notebooks (notebooks/*.ipynb) whose file name the notebook mentions,
    the self-study start-here excepted (the class one comes with the first assignment)."""
    text = notebook.read_text(encoding="utf-8")
    found = [p for p in sorted(companions.glob("*.ipynb")) if p.name in text]
    return [p for p in found if p.name != CLASS_START.name]


def wheel_version(wheel: Path | str) -> str:
    """The version in a wheel's file name (NAME-VERSION-py3-none-any.whl)."""
    return Path(wheel).name.split("-")[1]


def stale_release(release: Path, version: str, assignments: list[str]) -> list[str]:
    """The assignments whose release notebook's setup cell names another checks version."""
    import nbformat

    from grader.handout.checks_version import released_version

    stale = []
    for assignment in assignments:
        nb = nbformat.read(release / assignment / f"{assignment}.ipynb", as_version=4)
        found = {released_version(c.source) for c in nb.cells if c.cell_type == "code"}
        if version not in found:
            stale.append(assignment)
    return stale


def student_readme(assignment: str, wheel: str, companions: list[str], *, first: str) -> str:
    """The README.md of one assignment's zip: what is inside, the one environment for the
    whole course (made once, reused and upgraded), work and check, hand in."""
    extra = "".join(f"- `{c}`: a companion notebook (not graded).\n" for c in companions)
    if assignment == first:
        start = (
            f"- `{CLASS_START.name}`: **start here**: how the course works, the course at a "
            "glance, what the test cells tell you (not graded).\n"
        )
        new_here = (
            f"New to the course? Open `{CLASS_START.name}` (in this folder) first, after step 1."
        )
    else:
        start = ""
        new_here = (
            f"New to the course? `{CLASS_START.name}` in `{first}.zip` explains how it works."
        )
    return (
        f"""# {assignment}

What is in this folder:

- `{assignment}.ipynb`: the notebook you work in and hand in.
{start}{extra}- `{wheel}`: the checks the notebook's test cells call (no solutions inside).

{new_here}

On a course JupyterHub (assignments fetched from its *Assignments* tab) everything is
installed already: skip step 1.

"""
        + _readme_setup(assignment, wheel)
        + _readme_work_and_hand_in(assignment)
    )


def _readme_setup(assignment: str, wheel: str) -> str:
    """The handout README's step 1: one course folder and one environment, made the first
    time, reused and upgraded after."""
    return f"""## 1. One course folder, one environment for every assignment

Keep **one folder for the whole course** (say `backprop-course`) and unzip every
assignment's zip into it: each zip holds one folder, so this one becomes
`backprop-course/{assignment}/`.

**The first time** (no `backprop-env` in your course folder yet), in a terminal, with
Python 3.11 or newer, make the environment in the course folder; it serves all the
assignments:

```console
cd backprop-course
python -m venv backprop-env
source backprop-env/bin/activate      # Windows: backprop-env\\Scripts\\activate
python -m pip install {assignment}/{wheel} numpy matplotlib jupyterlab
jupyter lab
```

**When `backprop-env` is there already** (an earlier assignment made it), reuse it and
upgrade the checks to the ones in this zip:

```console
cd backprop-course
source backprop-env/bin/activate      # Windows: backprop-env\\Scripts\\activate
python -m pip install --upgrade {assignment}/{wheel}
jupyter lab
```

Without `--upgrade`, pip keeps the checks you installed before. Each zip brings the
course's newest checks, which check every earlier notebook too; a notebook whose installed
checks are not the ones it came with says so in one line under its first code cell, with
this command. Then restart the notebook's kernel (*Kernel -> Restart Kernel*). If pip says
the checks are *already installed* with the same version, that is fine: this zip brings the
checks you have.

"""


def _readme_work_and_hand_in(assignment: str) -> str:
    """The handout README's steps 2 and 3: work and check yourself, hand in."""
    return f"""## 2. Work and check yourself

In JupyterLab, open `{assignment}/{assignment}.ipynb`. Write each function where it says
`# YOUR CODE HERE` (replace `raise NotImplementedError()`) and run the test cell right after
it. It checks your function on the visible examples and, when something is wrong, names the
mistake (`[M3] a sign flip`, `[M6] the sigmoid applied twice`, ...) and says where to look.
The cells that say "Hidden tests" are run when your notebook is graded, on new inputs of
many shapes: code that only fits the visible examples gets no points there.

Before you hand in: *Kernel -> Restart Kernel and Run All Cells*, and check that every
visible test cell ran without an error.

## 3. Hand in

Hand in the notebook file itself, `{assignment}.ipynb`, saved (*File -> Save*) after that
*Restart Kernel and Run All Cells*; the outputs saved in it are fine (the grader runs it
again). Keep this name (do not rename it to `{assignment} (1).ipynb` or similar). If your
course asks you to put your student id into the name, use `YOURID_{assignment}.ipynb`
(letters, digits, `_`, `.`, `-`, `@` in the id). Do not hand in other files. On a
JupyterHub: *Validate*, then *Submit* in the *Assignments* tab.
"""


def _assignment_zip(
    assignment: str, release: Path, wheel: Path, dest: Path, *, first: str
) -> tuple[Path, list]:
    notebook = release / assignment / f"{assignment}.ipynb"
    if not notebook.exists():
        raise HandoutError(f"{notebook} is missing: run `make release` first")
    companions = companions_of(notebook)
    names = [c.name for c in companions]
    if assignment == first:
        companions = [CLASS_START, *companions]
    target = dest / f"{assignment}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(notebook, f"{assignment}/{assignment}.ipynb")
        for c in companions:
            zf.write(c, f"{assignment}/{c.name}")
        zf.writestr(
            f"{assignment}/README.md", student_readme(assignment, wheel.name, names, first=first)
        )
        zf.write(wheel, f"{assignment}/{wheel.name}")
        members = zf.namelist()
    tmp.replace(target)
    return target, members


def build_handout(dest: Path = DIST, *, release: Path = course.REPO_ROOT / "release") -> Handout:
    """Bring the student data up to date, build the wheel and one zip per assignment in dest.

    Only files this function makes are replaced in dest (the wheel, ASSIGNMENT.zip).
    """
    if dest.exists() and not dest.is_dir():
        raise HandoutError(f"{dest} is a file: give a folder for the handout")
    data.write_visible_data()
    wheel = build_wheel(dest)
    out = Handout(wheel)
    present = [a for a in course.ASSIGNMENTS if (release / a).is_dir()]
    if not present:
        raise HandoutError(f"{release} holds no assignment: run `make release` first")
    stale = stale_release(release, wheel_version(wheel), present)
    if stale:
        raise HandoutError(
            f"the release notebooks of {', '.join(stale)} were not released with these checks "
            f"({wheel_version(wheel)}): run `make release`, commit release/, then `make handout`"
        )
    for assignment in present:
        path, members = _assignment_zip(assignment, release, wheel, dest, first=present[0])
        out.zips[assignment] = path
        out.contents[assignment] = members
    return out
