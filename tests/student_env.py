"""A student's Python environment, built for real: a fresh venv (no system site-packages)
holding only the student wheel and what a student's JupyterLab needs (numpy, matplotlib,
ipykernel) plus nbgrader for the student-side exchange commands (fetch_assignment, validate,
submit, fetch_feedback). Never the instructor's `grader` package.

Versions are pinned to requirements.txt; pip takes them from its cache when it can.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader import course
from grader.handout.build import build_wheel

#: What the students' environment gets besides the wheel.
STUDENT_PACKAGES = ("numpy", "matplotlib", "ipykernel", "nbgrader")
KERNEL_NAME = "backprop-student"


@dataclass
class StudentEnv:
    """The venv (python, bin/), the wheel installed in it, and a folder holding a kernelspec
    KERNEL_NAME that runs that venv's python (put it on JUPYTER_PATH)."""

    root: Path
    python: Path
    bin: Path
    wheel: Path
    jupyter_path: Path

    def env(self, home: Path | None = None, user: str | None = None) -> dict[str, str]:
        """An environment for running this venv's programs: its bin/ first on PATH, no
        PYTHONPATH, HOME (and USER) per student when given."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "VIRTUAL_ENV")
        }
        env["PATH"] = str(self.bin) + os.pathsep + env.get("PATH", "")
        env["PYTHONNOUSERSITE"] = "1"
        if home is not None:
            env["HOME"] = str(home)
            env["JUPYTER_RUNTIME_DIR"] = str(home / ".jupyter-runtime")
        if user is not None:
            env["USER"] = env["LOGNAME"] = user
        return env

    def run(self, args: list[str], **kw) -> subprocess.CompletedProcess[str]:
        kw.setdefault("env", self.env())
        return subprocess.run(args, capture_output=True, text=True, **kw)


def _constraints(dest: Path) -> Path:
    """requirements.txt as pip constraints (pins without extras)."""
    lines = (course.REPO_ROOT / "requirements.txt").read_text().splitlines()
    pins = [re.sub(r"\[.*?\]", "", ln) for ln in lines if ln.strip() and not ln.startswith("#")]
    dest.write_text("\n".join(pins) + "\n")
    return dest


def build_student_env(root: Path) -> StudentEnv:
    """Create the venv under root, install the wheel and STUDENT_PACKAGES, add the kernelspec."""
    root.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(root / "wheel")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    cons = _constraints(root / "constraints.txt")
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(cons),
            str(wheel),
            *STUDENT_PACKAGES,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"pip install in the student venv failed:\n{proc.stderr[-3000:]}"
    kernel_dir = root / "jupyter" / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "backprop student (wheel only)",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    return StudentEnv(root, python, venv / "bin", wheel, root / "jupyter")
