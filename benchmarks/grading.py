"""Benchmark: the same class graded by `backprop-grader autograde --workers N` and by plain
sequential `nbgrader autograde`, with the floor (bare kernel start + execute with nbclient).

    .venv/bin/python benchmarks/grading.py [--students 12] [--workers 2] [--hooks course]

The class is the demo's (grader.pipeline.demo: correct, partly correct, misconceptions, stubs, a
notebook that is not JSON, one whose code kills the kernel), `--students` x every notebook
in source/. Identical copies of the collected course are made, then, one after the other
(nothing else of ours runs meanwhile):

1. ours: `grader.pipeline.autograde(course, workers=N)`, what instructors run. With
   `--hooks course` (the default, the headline) the course's hooks: every kernel sandboxed
   (forked from a warm per-worker zygote inside bubblewrap) and every graded notebook
   verified out of process (docs/performance.md). `--hooks plain` is a labelled comparison
   of the pipeline alone: nbgrader's own `Execute` and no post-grading step;
2. plain nbgrader: one `nbgrader autograde "*"` process (sequential, its start-up paid once)
   in a copy of the course with its nbgrader_config.py: a cold sandboxed kernel per notebook
   and the verification hook, as `nbgrader autograde` and formgrader's button grade;
3. stock nbgrader: one `nbgrader autograde "*"` process in a copy of the course whose
   nbgrader_config.py has the course's grading hooks taken out (nbgrader's own
   `autograde_preprocessors`, no `post_convert_hook`): no sandbox, no verification, every
   cell run and every figure drawn, as an instructor has nbgrader without this project;
4. the floor: the submitted notebooks executed by nbclient (a fresh kernel each, no grading,
   no gradebook), split over N processes like ours, so both use the same cores.

Prints seconds per notebook (wall clock / notebooks) for each, ours vs plain and vs stock
nbgrader (the issue's goal: 10x stock, with the course's hooks) and ours vs the floor, the
test cells compared with plain's and with stock's, and the load average before and after
(the machine may be shared: compare the ratios, measured in one run). `--skip-plain`,
`--skip-stock`, `--skip-floor` leave a baseline out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FLOOR_SCRIPT = """
import sys, nbformat
from nbclient import NotebookClient
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                   extra_arguments=["--IPKernelApp.log_level=ERROR"],
                   resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}
                   ).execute()
"""


#: Appended to the stock copy's nbgrader_config.py: nbgrader's own autograde steps.
STOCK_CONFIG = """
# benchmarks/grading.py, stock nbgrader: the course's grading hooks taken out
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.post_convert_hook = None
"""


def nbgrader_autograde(course: Path) -> tuple[float, int]:
    """(wall seconds, exit status) of one sequential `nbgrader autograde "*"` in `course`."""
    from grader import course as course_mod

    t0 = time.perf_counter()
    proc = course_mod.run_nbgrader(["autograde", "*"], course, check=False)
    return time.perf_counter() - t0, proc.returncode


def floor(notebooks: list[Path], workers: int) -> float:
    """Wall seconds to execute every notebook with nbclient, over `workers` processes."""
    chunks = [notebooks[i::workers] for i in range(workers)]
    t0 = time.perf_counter()
    procs = []
    for chunk in chunks:
        # unreadable notebooks (the broken one) are skipped: nothing of them can run
        ok = [str(p) for p in chunk if _readable(p)]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", FLOOR_SCRIPT, *ok],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for p in procs:
        p.wait()
    return time.perf_counter() - t0


def _readable(path: Path) -> bool:
    import nbformat

    try:
        nbformat.read(path, as_version=4)
        return True
    except Exception:
        return False


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="work in this folder (kept) instead of a temporary one")
    parser.add_argument(
        "--hooks",
        choices=["plain", "course"],
        default="course",
        help="course (default): the course's sandbox and verification hooks, what instructors "
        "run; plain: nbgrader's own Execute and no post-grading step (a comparison)",
    )
    parser.add_argument("--skip-plain", action="store_true", help="do not run plain nbgrader")
    parser.add_argument("--skip-stock", action="store_true", help="do not run stock nbgrader")
    parser.add_argument("--skip-floor", action="store_true", help="do not run the floor")
    return parser.parse_args()


def main() -> int:
    args = _args()

    from grader.pipeline.autograde import autograde
    from grader.pipeline.demo import build_demo_class

    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-grading-"))
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    ours = build_demo_class(root / "ours", root / "class.zip", args.students).course
    plain = root / "plain"
    shutil.copytree(ours, plain)
    stock = root / "stock"
    shutil.copytree(ours, stock)
    with open(stock / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(STOCK_CONFIG)
    notebooks = sorted((ours / "submitted").glob("*/*/*.ipynb"))
    n = len(notebooks)
    print(f"{n} notebooks ({args.students} students), {args.workers} workers", flush=True)

    if args.hooks == "plain":
        _plain_hooks()
    t0 = time.perf_counter()
    run = autograde(ours, workers=args.workers)
    t_ours = time.perf_counter() - t0
    label = "sandbox + verification" if args.hooks == "course" else "nbgrader's Execute, no hook"
    print(
        f"ours ({args.hooks} hooks: {label}): {t_ours:7.1f} s  {t_ours / n:.2f} s/notebook",
        flush=True,
    )

    t_plain = t_stock = t_floor = float("nan")
    if not args.skip_plain:
        t_plain, rc = nbgrader_autograde(plain)
        print(
            f"plain nbgrader (sequential, course config): {t_plain:7.1f} s  "
            f"{t_plain / n:.2f} s/notebook (exit {rc})",
            flush=True,
        )
    if not args.skip_stock:
        t_stock, rc = nbgrader_autograde(stock)
        print(
            f"stock nbgrader (sequential, no sandbox, no verification): {t_stock:7.1f} s  "
            f"{t_stock / n:.2f} s/notebook (exit {rc})",
            flush=True,
        )
    if not args.skip_floor:
        t_floor = floor(notebooks, args.workers)
        print(f"floor (nbclient): {t_floor:7.1f} s  {t_floor / n:.2f} s/notebook", flush=True)

    keys = {r.key for r in run.results if r.status == "graded"}
    print(f"load average after: {os.getloadavg()}")
    target = "target >= 4x" if args.hooks == "course" else "plain hooks: a comparison only"
    if not args.skip_plain:
        print(f"ours vs plain nbgrader: {t_plain / t_ours:.2f}x faster ({target})")
        print(f"same scores as plain nbgrader where both graded: {_same_scores(ours, plain, keys)}")
    if not args.skip_stock:
        print(f"ours vs stock nbgrader: {t_stock / t_ours:.2f}x faster (the issue's goal: 10x)")
        print(f"same scores as stock nbgrader where both graded: {_same_scores(ours, stock, keys)}")
    if not args.skip_floor:
        print(f"ours vs floor:          {t_ours / t_floor:.2f}x the floor")
    print(f"courses kept in {root}" if args.keep else "")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _plain_hooks() -> None:
    """Point grader.pipeline.hooks at plain nbgrader behaviour (workers are forked after)."""
    from nbgrader.preprocessors import Execute

    from grader.pipeline import hooks

    hooks.execute_preprocessor = lambda: Execute
    hooks.post_execute_preprocessors = lambda: []
    hooks.after_autograde = lambda course, student, assignment, result: result


def _same_scores(a: Path, b: Path, keys: set[str]) -> str:
    """Compare auto scores cell by cell for submissions both graded (ignores manual scores)."""
    from nbgrader.api import Gradebook

    def auto(course: Path) -> dict:
        out = {}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            for assignment in gb.assignments:
                for sub in assignment.submissions:
                    for nb in sub.notebooks:
                        for grade in nb.grades:
                            out[(sub.student.id, assignment.name, grade.name)] = grade.auto_score
        return out

    ours, plain = auto(a), auto(b)
    common = [k for k in plain if f"{k[0]}/{k[1]}" in keys and plain[k] is not None]
    diff = [k for k in common if ours.get(k) != plain[k]]
    return f"{len(common) - len(diff)}/{len(common)} test cells equal" + (
        f"; differ: {diff[:5]}" if diff else ""
    )


if __name__ == "__main__":
    sys.exit(main())
