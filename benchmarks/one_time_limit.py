"""One time limit: what an endless loop costs a submission's grading, verification included.

    .venv/bin/python benchmarks/one_time_limit.py [--timeout 60] [--route ours|plain]

Builds a throwaway course of 04_backprop_W2 with `c.Execute.timeout = TIMEOUT`, hands in
two notebooks (the instructor's solutions, and the same with a `grad_W2` that never
returns), grades them with the course's route (`backprop-grader autograde`'s pipeline, or
plain `nbgrader autograde`) and prints the seconds each took from the start of its kernel
to the end of its verification (the verification record's `seconds`). The loop's extra cost
over the honest notebook should be one TIMEOUT plus overhead, not two (grading, then
verification). docs/grading.md ("One time limit") quotes the figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    import nbformat

    from grader import course
    from grader.pipeline.autograde import autograde
    from tests.attacks import ASSIGNMENT, honest_full, set_solution, student_copy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--route", choices=["ours", "plain"], default="ours")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="one-time-limit-") as tmp:
        root = course.new_course(Path(tmp) / "course")
        with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
            f.write(f"\nc.Execute.timeout = {args.timeout}\n")
        course.generate_release(root, [ASSIGNMENT])
        src = nbformat.read(root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        rel = nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        honest = honest_full(student_copy(src, rel))
        loop = honest_full(honest)
        set_solution(loop, "grad_W2", "def grad_W2(H, delta2):\n    while True:\n        pass\n")
        for student, nb in (("honest", honest), ("loop", loop)):
            folder = root / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
        if args.route == "ours":
            autograde(root, ASSIGNMENT, workers=2)
        else:
            course.run_nbgrader(["autograde", ASSIGNMENT], root)
        seconds = {}
        for student in ("honest", "loop"):
            record = root / ".grader" / "verified" / student / f"{ASSIGNMENT}.json"
            seconds[student] = json.loads(record.read_text(encoding="utf-8"))["seconds"]
    extra = seconds["loop"] - seconds["honest"]
    print(
        f"route {args.route}, {args.timeout} s per cell: honest {seconds['honest']:.1f} s, "
        f"endless loop {seconds['loop']:.1f} s: the loop costs {extra:.1f} s more "
        f"({extra / args.timeout:.2f} cell timeouts)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
