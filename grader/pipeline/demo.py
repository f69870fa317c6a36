"""`demo`: the whole instructor pipeline on a sample class, in a temporary course.

About 30 students: some correct, some partly correct, one for each common misconception
(the wrong answers below are written as solution-cell bodies, as a student would write
them), one who hands in the untouched stubs, one whose notebook is not valid JSON and one
whose code kills the kernel. Their notebooks are built from the released notebooks, zipped
as an LMS would hand them out, then collected, autograded, given feedback, exported and
reported on with the default SQLite gradebook.
"""

from __future__ import annotations

import random
import re
import tempfile
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import numpy as np
from backprop_checks.catalog import MISCONCEPTIONS

from grader import course as course_mod
from grader.judge import functions
from grader.nbcells import grade_id, is_solution

if TYPE_CHECKING:
    from grader.pipeline.collect import CollectReport

#: Wrong answers that students really write, by function, each named by the misconception
#: (docs/course.md) the grader should recognise: the `wrong` answers of the functions'
#: records (grader/judge/functions/). Bodies of the solution cell (after the docstring); the
#: notebook's own names (np, sigmoid, forward, ...) are in scope.
WRONG: dict[str, dict[str, str]] = {r.name: dict(r.wrong) for r in functions.records() if r.wrong}


def pasted_answers(name: str) -> str:
    """M10: a body that returns the visible examples' answers (pasted from the visible test's
    printout), looked up by the shape of the function's one argument."""
    from grader.judge import cases, reference

    (arg,) = cases.SIGNATURES[name]
    table = {}
    for case in cases.visible_cases(name):
        args = cases.build_args(case)
        table[np.shape(args[0])] = getattr(reference, name)(*args).round(8).tolist()
    first = next(iter(table))
    return f"answers = {table!r}\nreturn np.array(answers.get(np.shape({arg}), answers[{first!r}]))"


WRONG["grad_b2"]["M10"] = pasted_answers("grad_b2")

#: The misconceptions the demo class shows, one student each: every one the checks name.
DEMO_MISCONCEPTIONS = tuple(MISCONCEPTIONS)

_SOLUTION_RE = re.compile(r"( *)### BEGIN SOLUTION\n(.*?)\n *### END SOLUTION", re.S)
_NAMES = (
    "ada alan barbara claude donald edsger frances grace hedy ivan john karen leslie "
    "margaret niklaus olga peter radia shafi tim ursula vint whitfield xavier yukihiro "
    "zuse anita brian cleve dana erik fran gene hal ines jean"
).split()


def _solution_bodies(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the instructor's solution body (dedented)."""
    out = {}
    for cell in source_nb.cells:
        m = _SOLUTION_RE.search(cell.source)
        if is_solution(cell) and m:
            out[grade_id(cell)] = textwrap.dedent(m.group(2))
    return out


def fill(released: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A student's notebook: the release with each answered function's stub replaced.

    Args:
        released: the student version (stubs raise NotImplementedError).
        answers: grade_id -> body of the function (dedented); others stay stubs.
    """
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in answers and "raise NotImplementedError()" in cell.source:
            line = next(
                ln for ln in cell.source.splitlines() if "raise NotImplementedError()" in ln
            )
            indent = line[: len(line) - len(line.lstrip())]
            body = textwrap.indent(textwrap.dedent(answers[gid]).strip(), indent)
            cell.source = cell.source.replace(line, body)
    return nb


def class_profiles(assignments: list[str], functions: dict[str, list[str]], students: int):
    """(student, {assignment: {function: "correct" | "stub" | tag}} or special) per student."""
    rng = random.Random(2026)
    profiles: list[tuple[str, dict]] = []
    names = iter([*_NAMES, *(f"student{i:03d}" for i in range(len(_NAMES), students))])

    def plan(choose) -> dict:
        return {a: {f: choose(f) for f in functions[a]} for a in assignments}

    for _ in range(4):
        profiles.append((next(names), plan(lambda f: "correct")))
    for tag in DEMO_MISCONCEPTIONS:
        mistake = {f: tag for f in WRONG if tag in WRONG[f]}
        profiles.append((next(names), plan(lambda f, m=mistake: m.get(f, "correct"))))
    profiles.append((next(names), plan(lambda f: "stub")))  # hands in the untouched stubs
    profiles.append((next(names), {"broken": "json", **plan(lambda f: "correct")}))
    profiles.append((next(names), {"broken": "os._exit", **plan(lambda f: "correct")}))

    def partly(f: str) -> str:
        return rng.choice(["correct", "correct", "stub", *WRONG.get(f, {})])

    def typical(f: str) -> str:
        return "correct" if rng.random() < 0.75 or f not in WRONG else rng.choice(list(WRONG[f]))

    while len(profiles) < students:
        kind = partly if len(profiles) % 3 == 0 else typical
        profiles.append((next(names), plan(kind)))
    return profiles[:students]


def build_class(course: Path, dest_zip: Path, students: int = 30) -> list[str]:
    """Write the sample class's notebooks into an LMS-style zip; returns the student ids."""
    assignments = [a for a in course_mod.ASSIGNMENTS if (course / "release" / a).is_dir()]
    released = {
        a: nbformat.read(course / "release" / a / f"{a}.ipynb", as_version=4) for a in assignments
    }
    bodies = {}
    for a in assignments:
        bodies.update(_solution_bodies(nbformat.read(course / "source" / a / f"{a}.ipynb", 4)))
    functions = {a: [grade_id(c) for c in released[a].cells if is_solution(c)] for a in assignments}
    profiles = class_profiles(assignments, functions, students)
    with zipfile.ZipFile(dest_zip, "w") as zf:
        zf.writestr("README.txt", "Downloaded from the LMS.")  # not a notebook: reported
        for i, (student, plan) in enumerate(profiles):
            broken = plan.get("broken")
            for a in assignments:
                if i == len(profiles) - 1 and a == assignments[-1]:
                    continue  # the last student never handed in the last assignment
                answers = {}
                for f, choice in plan[a].items():
                    if choice == "correct":
                        answers[f] = bodies[f]
                    elif choice != "stub":
                        answers[f] = WRONG[f][choice]
                if broken == "os._exit" and a == assignments[0]:
                    first = functions[a][0]
                    answers[first] = "import os\nos._exit(1)"
                text = nbformat.writes(fill(released[a], answers))
                if broken == "json" and a == assignments[-1]:
                    text = text[: len(text) // 2]  # a download cut off half way
                # LMS naming: flat STUDENT_ASSIGNMENT.ipynb, or a folder per student
                name = f"{student}/{a}.ipynb" if i % 4 == 1 else f"{student}_{a}.ipynb"
                zf.writestr(f"submissions/{name}", text)
    return [s for s, _ in profiles]


@dataclass(frozen=True)
class DemoClass:
    """A course folder with the demo class in it (`build_demo_class`)."""

    course: Path  #: the course folder, every assignment released
    download: Path  #: the class's notebooks zipped as an LMS hands them out
    students: list[str]  #: the student ids, in the order their plans were made
    collected: CollectReport | None  #: what collect placed; None when not collected


def build_demo_class(
    course: Path, download: Path, students: int = 30, *, collect: bool = True
) -> DemoClass:
    """The demo class in a new course folder: the one way the demo and the benchmarks make it.

    A new course at `course` (the repository's config and source/, `course.new_course`),
    every assignment released (`course.generate_release`), the notebooks of `students`
    students (`class_profiles`: correct, partly correct, one per misconception, stubs, a
    broken notebook) zipped into `download` (`build_class`), then collected into the course's
    submitted/ folder.

    Args:
        course: the folder to make (may exist and be empty).
        download: where the LMS-style zip is written.
        students: class size.
        collect: false leaves submitted/ empty, for a caller that collects `download` into
            copies of the course.

    Raises:
        grader.config.CourseError: the new course's nbgrader_config.py cannot be used.
    """
    from grader.config import course_config
    from grader.pipeline.collect import collect as collect_download

    course_mod.new_course(course)
    course_config(course)  # fails early with a clear message if the config is unusable
    course_mod.generate_release(course)
    ids = build_class(course, download, students)
    collected = collect_download(download, course=course) if collect else None
    return DemoClass(course, download, ids, collected)


def run_demo(
    *, students: int = 30, workers: int | None = None, keep: str | None = None, console=None
) -> int:
    """Build the sample class and run collect, autograde, feedback, export and report.

    Args:
        students: class size.
        workers: autograde worker processes (default: the number of cores).
        keep: build the course in this folder (default: a new temporary folder, left in
            place so its outputs can be opened; delete it when done).
        console: a rich Console to print to (default: a new one).

    Returns:
        the exit status (0 when every step ran).
    """
    from rich.console import Console

    from grader.pipeline.autograde import autograde
    from grader.pipeline.export import export
    from grader.pipeline.feedback import feedback
    from grader.pipeline.report import build_report
    from grader.pipeline.summary import summary_tables

    console = console or Console(highlight=False)
    t0 = time.perf_counter()
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="backprop-demo-"))
    course = root / "course"

    def step(text: str) -> None:
        console.print(f"[bold]\\[{time.perf_counter() - t0:5.1f} s][/] {text}")

    step(f"{'course' if keep else 'temporary course'}: {course}")
    step("release: nbgrader generate_assignment for every assignment in source/")
    built = build_demo_class(course, root / "lms_download.zip", students)
    download, collected = built.download, built.collected
    assert collected is not None  # build_demo_class collects by default
    step(f"a class of {len(built.students)} students zipped as an LMS hands it out: {download}")
    step(f"collect: {len(collected.placed)} notebooks placed, {len(collected.problems)} not:")
    for problem in collected.problems:
        console.print(f"    not placed: {problem.source}: {problem.reason}")

    step("autograde: " + (f"{workers} workers" if workers else "one worker per core"))
    run = autograde(
        course,
        workers=workers,
        on_result=lambda r: r.status == "failed" and console.print(f"    ✗ {r.key}: {r.reason}"),
    )
    for table in summary_tables(run):
        console.print(table)

    fb = feedback(course)
    step(f"feedback: {len(fb.written)} HTML pages, {len(fb.missing)} submissions without")
    if fb.leaks:
        console.print(f"[red]hidden tests shown in feedback: {fb.leaks[:3]}[/]")
    grades = export(course)
    step(f"export: {grades}")
    report = build_report(course)
    step(f"report: {report.html}")

    console.print("\n[bold]Where everything is[/]")
    for label, path in [
        ("course (nbgrader)", course),
        ("gradebook", course / "gradebook.db"),
        ("submitted notebooks", course / "submitted"),
        ("autograded notebooks", course / "autograded"),
        ("feedback (HTML)", course / "feedback"),
        ("grades for the LMS", grades),
        ("class report", report.html),
        ("results (JSON)", course / ".grader" / "results.json"),
    ]:
        console.print(f"  {label:22} {path}")
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s; delete {root} when done")
    return 1 if fb.leaks else 0
