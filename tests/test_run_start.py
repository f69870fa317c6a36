"""The start of an `autograde` run overlaps its serial parts (docs/performance.md, 2026-12-07).

- With a core to spare, the hidden answers (grader.sandbox.hidden_table) start before the
  run's planning, which imports nbgrader and reads the gradebook: the builder is started
  while nbgrader is not yet imported in the instructor's process; without one (a busy
  machine: `autograde.spare_core`, set here for the child) after the planning, as before.
- Each grading worker starts its kernel and its verification zygote in its initializer,
  without waiting for them, before its first notebook; the first notebook uses exactly
  those two (no zygote is started again: the same sandbox plans).
- A run with nothing sure to grade starts no early table; the grades are those of the
  session's run.

What happened is noted by wrapping the functions in the instructor's process (the workers
are forked from it and inherit the wrappers), as benchmarks/timeline.py does; no timing is
asserted, only the order of events.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

#: The instructor's command in a child process, each step of interest noted in EVENTS.
CHILD = r"""
import json, os, sys, time

def note(event, **extra):
    line = json.dumps({"t": time.time(), "pid": os.getpid(), "event": event, **extra})
    with open(os.environ["EVENTS"], "a", encoding="utf-8") as f:
        f.write(line + "\n")

def _noted_grade(student, assignment):
    from grader.pipeline import autograde as ag
    note("notebook", key=f"{student}/{assignment}")
    return ag._unnoted_grade(student, assignment)

def main():
    from grader import cli
    from grader.pipeline import autograde as ag
    from grader.sandbox import hidden_table, zygote_host

    if os.environ.get("SPARE_CORE"):  # the machine's load decides otherwise
        ag.spare_core = lambda: os.environ["SPARE_CORE"] == "1"
    plan = ag._plan
    def noted_plan(*args, **kwargs):
        note("plan")
        return plan(*args, **kwargs)
    ag._plan = noted_plan
    build = hidden_table.TableBuild.__init__
    def noted_build(self, *args, **kwargs):
        note("table start", nbgrader="nbgrader" in sys.modules)
        build(self, *args, **kwargs)
    hidden_table.TableBuild.__init__ = noted_build
    init = zygote_host.Zygote.__init__
    def noted_zygote(self, plan, kind, *args, **kwargs):
        note("zygote", kind=kind, wait=kwargs.get("wait", True))
        init(self, plan, kind, *args, **kwargs)
    zygote_host.Zygote.__init__ = noted_zygote
    ag._unnoted_grade = ag.grade_submission
    ag.grade_submission = _noted_grade  # pickled by name: a function of this module
    return cli.main(sys.argv[1:])

sys.exit(main())
"""


def _bwrap() -> None:
    from grader.sandbox.plan import bwrap_status

    if not bwrap_status().usable:
        pytest.skip(f"bubblewrap cannot run here: {bwrap_status().reason}")


def _run(tmp_path: Path, course: Path, *args: str, spare_core: bool = True) -> list[dict]:
    """`backprop-grader autograde --course COURSE ARGS` in a child; its noted events.
    `spare_core`: what `autograde.spare_core` says there (the load of this shared machine
    would decide otherwise)."""
    script = tmp_path / "noted_autograde.py"
    script.write_text(CHILD, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.unlink(missing_ok=True)
    env = {**os.environ, "EVENTS": str(events), "PYTHONPATH": str(REPO)}
    env["SPARE_CORE"] = "1" if spare_core else "0"
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    out = subprocess.run(
        [sys.executable, str(script), "autograde", "--course", str(course), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    if not events.exists():
        return []
    return [json.loads(x) for x in events.read_text(encoding="utf-8").splitlines()]


def test_the_table_and_the_zygotes_start_before_what_they_used_to_wait_for(graded, tmp_path):
    _bwrap()
    course = tmp_path / "course"
    shutil.copytree(graded.root, course)
    events = _run(tmp_path, course, "--workers", "2", "--force")
    cli = events[0]["pid"]  # the instructor's process notes first
    mine = [e["event"] for e in events if e["pid"] == cli]
    assert mine[:2] == ["table start", "plan"], mine  # the answers start before planning
    table = next(e for e in events if e["event"] == "table start")
    assert table["nbgrader"] is False  # ... while nbgrader is still being imported later
    workers = sorted({e["pid"] for e in events} - {cli})
    assert len(workers) == 2, events
    for pid in workers:
        seq = [e for e in events if e["pid"] == pid]
        zygotes = [(e["kind"], e["wait"]) for e in seq if e["event"] == "zygote"]
        # both started ahead, without waiting, and never again: the first notebook used them
        assert sorted(zygotes) == [("kernel", False), ("verify", False)], seq
        first = next(i for i, e in enumerate(seq) if e["event"] == "notebook")
        assert all(e["event"] == "zygote" for e in seq[:first]) and first == 2, seq
    # the same grades as the session's run of these submissions
    again = {(r.student, r.assignment): r for r in _results(course)}
    assert set(again) == set(graded.results)
    for key, before in graded.results.items():
        assert (again[key].status, again[key].score) == (before.status, before.score), key


def _results(course: Path) -> list:
    from grader.pipeline.results import load_results

    return list(load_results(course).values())


def test_a_run_with_nothing_to_grade_starts_no_table(graded, tmp_path):
    """Everything graded already: no early table (nor any other), no worker."""
    _bwrap()
    course = tmp_path / "course"
    shutil.copytree(graded.root, course)
    events = _run(tmp_path, course, "--workers", "2")
    assert [e["event"] for e in events] == ["plan"], events


def test_the_early_table_is_of_what_is_sure_to_be_graded(graded, tmp_path):
    """`_start_table_early`: None when every submission is done; with --force, the
    assignments of every submission (the plan's own set), and the build is a real one."""
    from grader.pipeline import autograde as ag
    from grader.pipeline.results import load_results, submissions

    _bwrap()
    course = tmp_path / "course"
    shutil.copytree(graded.root, course)
    wanted = list(submissions(course, graded.assignments))
    stored = load_results(course)
    assert ag._start_table_early(course, wanted, stored, force=False) is None
    early = ag._start_table_early(course, wanted, stored, force=True)
    assert early is not None
    try:
        assert early[0] == set(graded.assignments)
        assert early[1].proc.args[-1] == ",".join(ag.hidden_functions(early[0]) or [])
    finally:
        early[1].close()
    assert not early[1].folder.exists()


def test_on_a_busy_machine_the_table_starts_after_planning(graded, tmp_path):
    """No core to spare: the table starts after the planning, as before; the workers still
    start their zygotes ahead."""
    _bwrap()
    course = tmp_path / "course"
    shutil.copytree(graded.root, course)
    events = _run(tmp_path, course, "--workers", "1", "--force", spare_core=False)
    cli = events[0]["pid"]
    mine = [e["event"] for e in events if e["pid"] == cli]
    assert mine[:2] == ["plan", "table start"], mine
    seq = [e for e in events if e["pid"] != cli]
    assert [(e["event"], e.get("wait")) for e in seq[:2]] == [("zygote", False)] * 2, seq
    assert [e["event"] for e in seq[2:]] == ["notebook"] * len(graded.results), seq


#: A Dask worker's grading (grader.pipeline.cluster_worker.grade_task), run in one process as a
#: Dask worker runs it (prepare_worker, then a task per submission; no scheduler is needed to
#: see what the worker starts), each zygote it starts and each notebook it grades noted.
CLUSTER_CHILD = r"""
import json, os, sys, time
from pathlib import Path

def note(event, **extra):
    with open(os.environ["EVENTS"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, **extra}) + "\n")

from grader.pipeline import cluster_worker as cw
from grader.sandbox import zygote_host
from nbgrader.api import Gradebook

init = zygote_host.Zygote.__init__
def noted_zygote(self, plan, kind, *args, **kwargs):
    note("zygote", kind=kind, wait=kwargs.get("wait", True))
    init(self, plan, kind, *args, **kwargs)
zygote_host.Zygote.__init__ = noted_zygote
grade = cw.grade_submission
def noted_grade(student, assignment):
    note("notebook", key=f"{student}/{assignment}")
    return grade(student, assignment)
cw.grade_submission = noted_grade

course, assignment = Path(sys.argv[1]), sys.argv[2]
cw.prepare_worker()
with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
    bundle = cw.make_bundle(course, assignment, gb, None)
for student in sys.argv[3:]:
    folder = course / "submitted" / student / assignment
    paths = [p for p in folder.rglob("*") if p.is_file()]
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths}
    out = cw.grade_task(bundle, student, assignment, files, None)
    note("graded", key=f"{student}/{assignment}", status=out.result.status)
"""


def test_a_cluster_worker_starts_both_zygotes_before_its_first_notebook(graded, tmp_path):
    """On a Dask worker, the first task of an assignment starts the kernel and the
    verification zygote side by side before its notebook (the verification's used to start
    only after that notebook ran), and the next task starts none."""
    _bwrap()
    course = tmp_path / "course"
    shutil.copytree(graded.root, course)
    assignment = sorted(graded.assignments)[0]
    students = sorted(s for s, a in graded.results if a == assignment)[:2]
    assert len(students) == 2, graded.results
    script = tmp_path / "noted_cluster_worker.py"
    script.write_text(CLUSTER_CHILD, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "EVENTS": str(events), "PYTHONPATH": str(REPO)}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    out = subprocess.run(
        [sys.executable, str(script), str(course), assignment, *students],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    seq = [json.loads(x) for x in events.read_text(encoding="utf-8").splitlines()]
    first = [(e["event"], e.get("kind"), e.get("wait")) for e in seq[:3]]
    assert sorted(first[:2]) == [("zygote", "kernel", False), ("zygote", "verify", False)], seq
    assert first[2][0] == "notebook", seq
    assert [e["event"] for e in seq[3:]] == ["graded", "notebook", "graded"], seq
    for e in seq:
        if e["event"] == "graded":
            before = graded.results[tuple(e["key"].split("/"))]
            assert e["status"] == before.status, e
