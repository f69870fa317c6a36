"""How long the checks and the notebooks take (speed is measured here, not asserted in tests).

    .venv/bin/python benchmarks/checks.py

Prints the seconds of a hidden check of several functions (the reference's answers), of the
hidden `train` check (it replays the contract run of each case), and of each source notebook
run top to bottom in a fresh kernel.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from backprop_checks import checks  # noqa: E402
from notebook_tools import execute, source_path  # noqa: E402

from grader import course  # noqa: E402
from grader.judge import reference  # noqa: E402


def main() -> None:
    for name in ("grad_W1", "backprop", "sigmoid", "forward", "train"):
        start = time.perf_counter()
        checks.check(name, getattr(reference, name), hidden=True)
        print(f"hidden check of {name}: {time.perf_counter() - start:.2f} s")
    for assignment in course.ASSIGNMENTS:
        path = source_path(assignment)
        _, seconds = execute(path, cwd=Path(tempfile.mkdtemp()))
        print(f"{assignment} (source) in a fresh kernel: {seconds:.1f} s")


if __name__ == "__main__":
    main()
