"""Benchmark: the grading process's own CPU per notebook (one local worker, in this process).

    .venv/bin/python benchmarks/worker_cpu.py [--students 2] [--keep DIR] [--profile FILE]

Builds the demo's class (`--students` x every notebook in source/), sets this process up as
`autograde` sets up a worker (`_init_worker`: the course's config, the sandbox and the
verification on, warm zygotes), grades the first submission (it starts the zygotes and
precomputes the hidden answers: not counted), then grades the others one after the other
with `grade_submission`, what a local worker runs. Prints per notebook: wall seconds and
this process's CPU seconds (nbgrader's converter, nbclient, the gradebook, the static scan,
judging; not the kernels' or the verification processes', which run in the zygotes'
children), then the kernels' and the verification processes' CPU per notebook as their
zygotes report it (and the kernels' by assignment), and the sum over the wall time: above
1, one notebook alone keeps more than one core busy, which a second worker on the same cores
cannot have. `--profile FILE` writes a cProfile dump of the graded notebooks, timed in CPU
seconds (profiling slows Python code 1.5-4x: compare CPU figures only without it);
benchmarks/kernel_cells.py profiles the kernels themselves. `--keep DIR` grades in DIR and
reuses the class already there (so two versions of the grader can grade the same
notebooks back to back). As `autograde`, it computes the hidden answers once before the
worker starts (grader.sandbox.hidden_table) and prints the zygotes' warm-up CPU and where
the kernel zygote's hidden answers came from; `--no-table` leaves the table out (the
kernel zygote computes them). Prints the load average: the machine may be shared.
`--steps` also prints, per notebook, the CPU of each step of the worker's grading (nbgrader's
preprocessors by class, its Gradebook opens, nbformat's reads, writes and validations, the
course's post-grading steps: inclusive, so nested steps overlap), how often each ran and the
SQL statements each sent to the gradebook (wrappers installed in this process only, after
the first notebook: a measurement, not a profile; a step the grader does not have is left
out, so two versions of the grader can be compared).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: (module, attribute, label) of the steps `--steps` times; a class's `preprocess` entry is
#: nbconvert's Preprocessor.__call__, labelled by the preprocessor's class.
STEPS = [
    ("nbconvert.preprocessors.base", "Preprocessor.__call__", "preprocessor"),
    ("nbgrader.api", "Gradebook.__init__", "nbgrader Gradebook() open"),
    ("nbgrader.converters.autograde", "Autograde.init_assignment", "Autograde.init_assignment"),
    ("nbconvert.exporters.exporter", "Exporter.from_file", "exporter: from_file (a pass)"),
    (
        "grader.pipeline.exporter",
        "ValidateWhereItMatters.from_file",
        "exporter: from_file (a pass)",
    ),
    ("nbconvert.exporters.exporter", "Exporter._validate_preprocessor", "exporter: validation"),
    ("nbformat", "read", "nbformat.read"),
    ("nbformat", "writes", "nbformat.writes"),
    ("nbformat", "validate", "nbformat.validate"),
    ("nbgrader.converters.base", "BaseConverter.run_post_convert_hook", "post_convert hook"),
    ("grader.pipeline.autograde", "_wrong_assignment", "autograde._wrong_assignment"),
    ("grader.pipeline.autograde", "read_result", "results.read_result"),
    ("grader.pipeline.failures", "unreadable", "failures.unreadable"),
    ("grader.verify.submission", "_static_checks", "verify: static checks"),
    ("grader.verify.submission", "_recorded_cells", "verify: recorded cells"),
    ("grader.verify.submission", "read_notebook", "verify: read_notebook"),
    ("grader.verify.submission", "verify_notebook", "verify: verify_notebook"),
    ("grader.verify.launch", "_judge", "verify: judging"),
    ("grader.verify.submission", "apply_verdicts", "verify: apply_verdicts"),
    ("grader.verify.submission", "review_hand_scores", "verify: review_hand_scores"),
]


def install_steps() -> tuple[dict[str, list], dict[str, int]]:
    """Wrap every step of STEPS that exists: {label: [calls, CPU seconds]}, {label: SQL}."""
    import functools
    import importlib

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    cpu: dict[str, list] = {}
    sql: dict[str, int] = {}
    stack: list[str] = []

    def wrap(owner: object, attr: str, label: str, by_class: bool) -> None:
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            key = f"{label}: {type(args[0]).__name__}" if by_class else label
            stack.append(key)
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                stack.pop()
                entry = cpu.setdefault(key, [0, 0.0])
                entry[0] += 1
                entry[1] += time.process_time() - start

        setattr(owner, attr, timed)

    for module, dotted, label in STEPS:
        try:
            owner: object = importlib.import_module(module)
            *path, attr = dotted.split(".")
            for name in path:
                owner = getattr(owner, name)
            getattr(owner, attr)
        except (ImportError, AttributeError):
            continue
        if isinstance(owner, type) and attr not in vars(owner):
            continue  # inherited: timed where it is defined
        wrap(owner, attr, label, label == "preprocessor")

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(*_args) -> None:
        key = stack[-1] if stack else "(elsewhere)"
        sql[key] = sql.get(key, 0) + 1

    return cpu, sql


def print_steps(cpu: dict[str, list], sql: dict[str, int], n: int) -> None:
    """The steps' table, per notebook (`n` notebooks), the most CPU first."""
    print("per notebook: CPU ms, calls, SQL statements (inclusive: nested steps overlap)")
    for label, (calls, seconds) in sorted(cpu.items(), key=lambda kv: -kv[1][1]):
        each = f"{seconds / n * 1000:7.1f} ms {calls / n:5.1f} x {sql.get(label, 0) / n:5.1f} SQL"
        print(f"  {each}  {label}")
    print(f"  SQL statements per notebook, in all: {sum(sql.values()) / n:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2)
    parser.add_argument("--keep", help="grade in this folder (the class is reused if there)")
    parser.add_argument("--profile", help="write a cProfile dump of the graded notebooks here")
    parser.add_argument(
        "--steps",
        action="store_true",
        help="print each grading step's CPU, calls and SQL statements per notebook",
    )
    parser.add_argument(
        "--no-table",
        action="store_true",
        help="no table of hidden answers: the kernel zygote computes them (as before 2026-12-07)",
    )
    args = parser.parse_args()

    from grader.config import assignments_of, course_config
    from grader.pipeline import autograde as ag
    from grader.pipeline import hooks
    from grader.pipeline.demo import build_demo_class
    from grader.pipeline.results import submissions

    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-worker-cpu-")).resolve()
    course = root / "course"
    if not course.exists():
        build_demo_class(course, root / "class.zip", args.students)
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    config = course_config(course)
    config.merge(hooks.execution_config(course, timeout=None))
    env = {**hooks.execution_env(), **hooks.fast_grading_env()}
    jobs = list(submissions(course, assignments_of(course)))
    env.update(ag._precompute_env({a for _, a in jobs}))
    table = None
    children = _children_cpu()
    if not args.no_table:  # as `autograde` does: the hidden answers computed once, here
        from grader.sandbox.hidden_table import TABLE_ENV

        table = ag.start_hidden_table(config, {a for _, a in jobs})
        if table is not None:
            env[TABLE_ENV] = str(table.path)
    stderr = os.dup(2)  # _init_worker sends stderr to the course's log
    ag._init_worker(str(course), config, env)
    os.dup2(stderr, 2)
    first = ag.grade_submission(*jobs[0])
    print(f"first notebook (zygotes start): {first.seconds:.1f} s", flush=True)
    from grader.sandbox import zygote_host

    for z in zygote_host._ZYGOTES.values():
        print(f"  {z.describe()}", flush=True)
    if table is not None:
        table.result()  # the builder has ended (and is reaped)
        print(f"  the run's table: computed once in {_children_cpu() - children:.2f} CPU-s")
        table.close()
    steps = install_steps() if args.steps else None
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not time waited
        profiler.enable()

    def zygotes_cpu() -> dict[str, float]:  # their children's: the kernels', verification's
        return {kind: z.children_cpu for kind, z in zygote_host._ZYGOTES.items()}

    z0 = zygotes_cpu()
    t0, c0 = time.perf_counter(), time.process_time()
    statuses = []
    by_assignment: dict[str, list[float]] = {}  # the kernels' CPU per notebook, by assignment
    for job in jobs[1:]:
        before = zygotes_cpu().get("kernel", 0.0)
        statuses.append(ag.grade_submission(*job).status)
        by_assignment.setdefault(job[1], []).append(zygotes_cpu().get("kernel", 0.0) - before)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    z1 = zygotes_cpu()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    n = len(jobs) - 1
    print(
        f"{n} notebooks ({statuses.count('graded')} graded, {statuses.count('failed')} failed): "
        f"wall {wall / n:.3f} s/notebook, this process's CPU {cpu / n:.3f} s/notebook"
        + (" (profiled)" if profiler else ""),
        flush=True,
    )
    kernel, verify = (z1.get(k, 0.0) - z0.get(k, 0.0) for k in ("kernel", "verify"))
    print(
        f"CPU per notebook: this process {cpu / n:.3f} s + kernels {kernel / n:.3f} s + "
        f"verification {verify / n:.3f} s = {(cpu + kernel + verify) / n:.3f} s "
        f"({(cpu + kernel + verify) / wall:.2f} cores busy on average while grading)",
        flush=True,
    )
    print("kernel CPU per notebook, by assignment:")
    for assignment, values in sorted(by_assignment.items()):
        each = " ".join(f"{v:.3f}" for v in values)
        print(f"  {assignment}: {sum(values) / len(values):.3f} s ({len(values)}: {each})")
    from grader.pipeline.exporter import ValidateWhereItMatters

    counts = ValidateWhereItMatters.counts
    if sum(counts.values()):
        print(
            f"nbconvert's validations of the notebook: {counts['validated'] / len(jobs):.1f} "
            f"per notebook ({counts['skipped'] / len(jobs):.1f} skipped: grader.pipeline.exporter)"
        )
    if steps is not None:
        print_steps(*steps, n)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
