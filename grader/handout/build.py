"""`backprop-grader handout`: dist/handout/ with the student wheel and one zip per assignment.

    dist/handout/backprop_course_checks-VERSION-py3-none-any.whl
    dist/handout/01_partial_derivatives.zip   (release notebook, companions, README, wheel)
    ...

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
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
             "--disable-pip-version-check", "-w", str(dest), str(src)],
            capture_output=True, text=True,
        )  # fmt: skip
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
    """The companion notebooks (notebooks/*.ipynb) whose file name the notebook mentions."""
    text = notebook.read_text(encoding="utf-8")
    return [p for p in sorted(companions.glob("*.ipynb")) if p.name in text]


def student_readme(assignment: str, wheel: str, companions: list[str]) -> str:
    """The README.md of one assignment's zip: install, work, check, hand in."""
    extra = "".join(f"- `{c}`: a companion notebook (not graded).\n" for c in companions)
    return f"""# {assignment}

What is in this folder:

- `{assignment}.ipynb`: the notebook you work in and hand in.
{extra}- `{wheel}`: the checks the notebook's test cells call (no solutions inside).

## 1. Install (once, for every notebook of the course)

You need Python 3.11 or newer. In a terminal, in this folder:

```console
python -m venv backprop-env
source backprop-env/bin/activate      # Windows: backprop-env\\Scripts\\activate
python -m pip install {wheel} numpy matplotlib jupyterlab
jupyter lab {assignment}.ipynb
```

(On a JupyterHub of your course the checks are usually installed already: then just open
the notebook.)

## 2. Work and check yourself

Write each function where it says `# YOUR CODE HERE` (replace `raise NotImplementedError()`)
and run the test cell right after it. It checks your function on the visible examples and,
when something is wrong, names the mistake (`[M3] a sign flip`, `[M6] the sigmoid applied
twice`, ...) and says where to look. The cells that say "Hidden tests" are run when your
notebook is graded, on new inputs of many shapes: code that only fits the visible examples
gets no points there.

Before you hand in: *Kernel -> Restart Kernel and Run All Cells*, and check that every
visible test cell ran without an error.

## 3. Hand in

Hand in the notebook file itself, `{assignment}.ipynb`, under this name (do not rename it
to `{assignment} (1).ipynb` or similar). If your course asks you to put your student id into
the name, use `YOURID_{assignment}.ipynb` (letters, digits, `_`, `.`, `-`, `@` in the id).
Do not hand in other files.
"""


def _assignment_zip(assignment: str, release: Path, wheel: Path, dest: Path) -> tuple[Path, list]:
    notebook = release / assignment / f"{assignment}.ipynb"
    if not notebook.exists():
        raise HandoutError(f"{notebook} is missing: run `make release` first")
    companions = companions_of(notebook)
    names = [c.name for c in companions]
    target = dest / f"{assignment}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(notebook, f"{assignment}/{assignment}.ipynb")
        for c in companions:
            zf.write(c, f"{assignment}/{c.name}")
        zf.writestr(f"{assignment}/README.md", student_readme(assignment, wheel.name, names))
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
    for assignment in present:
        path, members = _assignment_zip(assignment, release, wheel, dest)
        out.zips[assignment] = path
        out.contents[assignment] = members
    return out
