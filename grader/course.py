"""The nbgrader course directory: where things live and how nbgrader's own CLI is run.

Everything that touches nbgrader goes through `run_nbgrader`, which puts the running
interpreter's bin/ first on PATH (nbgrader shells out to `alembic` for a new gradebook).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

#: The course's assignment ids, in teaching order (docs/course.md).
ASSIGNMENTS: tuple[str, ...] = (
    "01_partial_derivatives",
    "02_sigmoid_derivative",
    "03_feedforward",
    "04_backprop_W2",
    "05_backprop_W1",
)


def match_assignment(name: str, known: Iterable[str] = ASSIGNMENTS) -> str | None:
    """The one id of `known` that `name` means: the id in any case ("04_backprop_w2"), or
    its number ("04", "4"); None when none or several match."""
    wanted = name.strip().lower()
    known = list(known)
    exact = [a for a in known if a.lower() == wanted]
    if exact:
        return exact[0]

    def number(a: str) -> str:
        head = a.split("_", 1)[0]
        return str(int(head)) if head.isdigit() else head.lower()

    if not wanted.isdigit():
        return None
    matches = [a for a in known if number(a) == str(int(wanted))]
    return matches[0] if len(matches) == 1 else None


def resolve_assignment(name: str, known: Iterable[str], where: str = "") -> str:
    """The assignment id `name` means (`match_assignment`).

    Raises:
        ValueError: none or several match; the message lists the valid ids.
    """
    known = list(known)
    found = match_assignment(name, known)
    if found is None:
        numbers = sorted({a.split("_", 1)[0] for a in known if a.split("_", 1)[0].isdigit()})
        by_number = f", or its number ({', '.join(numbers)})" if numbers else ""
        raise ValueError(
            f"no assignment {name!r}{f' in {where}' if where else ''}; give one of: "
            f"{', '.join(known) or 'none'}{by_number}"
        )
    return found


#: The lines that open and close the hidden tests of a test cell in source/ (nbgrader's
#: ClearHiddenTests drops what lies between them from the release and the feedback).
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"

#: The repository (and default course directory): the folder holding nbgrader_config.py.
REPO_ROOT = Path(__file__).resolve().parent.parent


class NbgraderError(RuntimeError):
    """An nbgrader command exited non-zero; the message carries its output."""


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for nbgrader and jupyter: this interpreter's bin/ first on PATH."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    if extra:
        env.update(extra)
    return env


def run_nbgrader(
    args: list[str], course: Path, *, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `nbgrader ARGS` in the course directory and return the finished process.

    Raises:
        NbgraderError: the command failed and check is true (its output is in the message).
    """
    nbgrader = Path(sys.executable).parent / "nbgrader"
    cmd = [str(nbgrader) if nbgrader.exists() else "nbgrader", *args]
    return _run(cmd, f"nbgrader {' '.join(args)}", course, check=check, timeout=timeout)


def _run(
    cmd: list[str], label: str, course: Path, *, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in the course directory with `tool_env`; label: what it is, for the error."""
    proc = subprocess.run(
        cmd, cwd=course, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise NbgraderError(
            f"`{label}` exited {proc.returncode} in {course}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def new_course(dest: Path, *, source: Path | None = None) -> Path:
    """A fresh course directory at dest: the config and a copy of source/, nothing else.

    Args:
        dest: folder to create (may exist and be empty).
        source: the source/ folder to copy; the repository's by default.
    """
    config = REPO_ROOT / "nbgrader_config.py"
    if not config.is_file() or not (source or REPO_ROOT / "source").is_dir():
        raise FileNotFoundError(
            f"a new course is copied from a checkout of backprop-course (its nbgrader_config.py "
            f"and source/), and this grader is installed without one ({REPO_ROOT}): run "
            "`release --course` from the checkout's venv (make venv), or pip install -e ."
        )
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(config, dest / "nbgrader_config.py")
    shutil.copytree(source or REPO_ROOT / "source", dest / "source", dirs_exist_ok=True)
    return dest


#: `nbgrader generate_assignment ID --force` for each ID of its arguments, in one Python
#: process, the way nbgrader's own tests run its command line in-process (the app's
#: instance, initialize, start, reset): nbgrader's start-up, most of each call's seconds, is
#: paid once. The command line takes one id or one glob, and a glob cannot name just a subset.
#: The first assignment that fails ends it with nbgrader's exit status and log.
_GENERATE_EACH = """\
import sys
from jupyter_core.application import NoStart
from nbgrader.apps.nbgraderapp import NbGraderApp
for assignment in sys.argv[1:]:
    app = NbGraderApp.instance()
    try:
        app.initialize(["generate_assignment", assignment, "--force"])
        app.start()
    except NoStart:
        pass  # what the app raises once its subcommand has run
    finally:
        app.reset()
"""


def generate_release(course: Path, assignments: tuple[str, ...] | list[str] = ASSIGNMENTS) -> None:
    """`nbgrader generate_assignment` for each assignment of the course that has a source folder,
    all in one nbgrader process (`_GENERATE_EACH`).

    Writes course/release/<id>/ and records the assignments in the course's gradebook.

    Raises:
        NbgraderError: an assignment failed (nbgrader's output is in the message).
    """
    wanted = [a for a in assignments if (course / "source" / a).is_dir()]
    if wanted:
        label = f"nbgrader generate_assignment {' '.join(wanted)} --force"
        _run([sys.executable, "-c", _GENERATE_EACH, *wanted], label, course)
