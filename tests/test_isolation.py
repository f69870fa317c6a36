"""No submission reaches the next one through a warm zygote: a real attack, real bubblewrap.

`backprop-grader autograde` forks every kernel and every verification process from warm
per-worker zygotes (grader.sandbox.zygote). One worker grades, in this order:

- `a_attacker`: leaves a `sleep 1000` and a double-forked daemon that writes a file every
  0.1 s, patches numpy and the student package's checks in place, poisons every hidden
  answer its kernel holds (the zygote's, from the run's table), seeds `sys.modules`,
  writes files into /tmp, /dev/shm, its working folder, HOME and every mount point it can
  write to (the hidden folders' empty tmpfs), adds kernel keys, sets an environment
  variable, and tries to open its zygote's memory;
- `b_victim`: looks for every one of those traces; its `grad_W2` is wrong (the transpose)
  unless it finds one, when it becomes right: so any leak changes its grades;
- `c_killer`: kills its zygote (the kernel's and the verification's) from inside;
- `d_victim`: `b_victim`'s notebook again, right after the killed zygotes.

`b_victim` and `d_victim` must score exactly what `b_victim` scores graded alone (in a course
of its own), with the same verification verdicts and flags, and report no trace.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from grader import course
from grader.sandbox import plan as sandbox
from tests.attacks import ASSIGNMENT, W2_WRONG, save, student_copy

pytestmark = pytest.mark.slow

#: Generous: no test here is about a time limit, and under load (six suites side by side from
#: fresh clones, `benchmarks/flaky.py --runs 3 --parallel 3`, load 20-40 on 2 cores) the
#: attacker's notebook ran past a notebook limit of 120 s on the cluster route in every run.
TEST_LIMITS = "\nc.Execute.timeout = 60\nc.SandboxedExecute.notebook_timeout = 600\n"

ATTACK = r"""
import os, subprocess, sys, time, types
import numpy
subprocess.Popen(["sleep", "1000"])
if os.fork() == 0:  # a daemon: double fork, its own session, a file every 0.1 s
    if os.fork() == 0:
        os.setsid()
        while True:
            for p in ("/tmp/a_daemon", os.path.expanduser("~/a_daemon"), "/dev/shm/a_daemon"):
                try:
                    with open(p, "a") as f:
                        f.write("tick\n")
                except OSError:
                    pass
            time.sleep(0.1)
    os._exit(0)
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
try:
    import backprop_checks.checks as _checks
    _checks.check_grad_W2 = lambda *a, **k: print("grad_W2: right (patched)")
except ImportError:  # the verification process cannot import the checks
    pass
try:  # the hidden answers its kernel zygote read from the run's table: every one poisoned
    from grader.sandbox import kernel_preload as _kp
    for _table in _kp.TABLES.values():
        for _key in list(_table):
            _table[_key] = None
except ImportError:  # the verification process has no grader.sandbox
    pass
sys.modules["a_planted"] = types.ModuleType("a_planted")
for p in ("/tmp/a_file", "/dev/shm/a_file", "a_file", os.path.expanduser("~/a_file")):
    with open(p, "w") as f:
        f.write("A")
for line in open("/proc/self/mountinfo"):  # every mount point it can write to
    try:
        with open(os.path.join(line.split()[4], "a_mount"), "w") as f:
            f.write("A")
    except OSError:
        pass
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
for ring in (-3, -4, -5):  # a key in the session, user and user-session keyrings (add_key)
    _libc.syscall(248, b"user", b"a_key", b"A", 1, ctypes.c_int(ring))
os.environ["A_WAS_HERE"] = "1"
try:
    open(f"/proc/{os.getppid()}/mem", "r+b")
    print("zygote memory: OPENED")
except OSError:
    print("zygote memory: denied")
"""

PROBE = r"""
import os, sys, time
import numpy
time.sleep(0.5)  # a surviving daemon would have written its file again by now
LEAK = []
mine = {1, os.getpid(), os.getppid()}
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) not in mine:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
        except OSError:
            continue
        if cmd.strip():
            LEAK.append(f"process {pid}: {cmd}")
for p in ("/tmp/a_daemon", "/tmp/a_file", "/dev/shm/a_file", "/dev/shm/a_daemon", "a_file",
          os.path.expanduser("~/a_file"), os.path.expanduser("~/a_daemon")):
    if os.path.exists(p):
        LEAK.append(f"file {p}")
for line in open("/proc/self/mountinfo"):
    if os.path.exists(os.path.join(line.split()[4], "a_mount")):
        LEAK.append(f"file {os.path.join(line.split()[4], 'a_mount')}")
import ctypes
if ctypes.CDLL(None).syscall(249, b"user", b"a_key", None, ctypes.c_int(0)) > 0:  # request_key
    LEAK.append("kernel key")
if numpy.allclose(1.0, 2.0):
    LEAK.append("numpy.allclose patched")
if "a_planted" in sys.modules:
    LEAK.append("sys.modules seeded")
try:
    from grader.sandbox import kernel_preload as _kp
    if any(v is None for t in _kp.TABLES.values() for v in t.values()):
        LEAK.append("hidden answers poisoned")
except ImportError:
    pass
if "A_WAS_HERE" in os.environ:
    LEAK.append("environment variable")
try:
    import backprop_checks.checks as _checks
    if getattr(_checks.check_grad_W2, "__name__", "") != "check_grad_W2":
        LEAK.append("checks patched")
except ImportError:
    pass
print("LEAK", LEAK)
"""

#: Right (H^T delta2) when the probe found a trace, else the transpose (wrong).
VICTIM_GRAD_W2 = '''def grad_W2(H, delta2):
    """dL/dW2: wrong (the transpose) unless a trace of another submission was found."""
    return (H.T @ delta2) if LEAK else (H.T @ delta2).T
'''

KILL_ZYGOTE = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"


def _gid(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _with_cell(honest: nbformat.NotebookNode, code: str, grad_w2: str | None = None):
    """The honest notebook with `code` in a new cell right before grad_W2's solution cell."""
    nb = copy.deepcopy(honest)
    at = next(i for i, c in enumerate(nb.cells) if _gid(c) == "grad_W2")
    if grad_w2 is not None:
        nb.cells[at].source = grad_w2
    nb.cells.insert(at, new_code_cell(code))
    return nb


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course with the test limits and its release generated, once per module: each
    grading run below grades in a copy of it (nothing in it names its own folder)."""
    root = course.new_course(tmp_path_factory.mktemp("isolation-release") / "course")
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(TEST_LIMITS)
    course.generate_release(root, [ASSIGNMENT])
    return root


def _course(released: Path, tmp: Path) -> tuple[Path, nbformat.NotebookNode]:
    root = Path(shutil.copytree(released, tmp, dirs_exist_ok=True))
    source = nbformat.read(root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return root, student_copy(source, release)


def _cells(root: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {g.name: float(g.score or 0) for g in nb.grades}


def _outputs(root: Path, student: str) -> str:
    path = root / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        " ".join(str(o.get(k, "")) for k in ("text", "ename", "evalue"))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def _outside_tmp() -> str:
    """A writable folder for temporary files that is not under /tmp."""
    for base in ("/var/tmp", str(Path.home())):
        if os.access(base, os.W_OK) and not Path(base).resolve().is_relative_to("/tmp"):
            return base
    pytest.skip("no writable folder outside /tmp for the course")


request_cleanup: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _remove_outside_courses():
    yield
    for path in request_cleanup:
        shutil.rmtree(path, ignore_errors=True)


def _notebooks(honest: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    victim = _with_cell(honest, PROBE, VICTIM_GRAD_W2)
    return {
        "a_attacker": _with_cell(honest, ATTACK),
        "b_victim": victim,
        "c_killer": _with_cell(honest, KILL_ZYGOTE),
        "d_victim": victim,
    }


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory, released: Path):
    """`b_victim` graded alone, in a course of its own: what it scores without an attacker."""
    if not sandbox.bwrap_status().usable:
        pytest.skip(f"bubblewrap cannot run here: {sandbox.bwrap_status().reason}")
    from grader.pipeline.autograde import autograde

    root, honest = _course(released, tmp_path_factory.mktemp("isolation-alone"))
    save(root / "submitted" / "b_victim" / ASSIGNMENT, _notebooks(honest)["b_victim"])
    run = autograde(root, ASSIGNMENT, workers=1)
    return root, {r.student: r for r in run.results}


@pytest.fixture(scope="module", params=["local", "cluster"])
def graded(request: pytest.FixtureRequest, alone, released: Path):
    """The four submissions graded in order by one worker: a local worker process, or one
    Dask worker (`autograde --scheduler`, its private course outside /tmp as well)."""
    from grader.pipeline.autograde import autograde

    # This process's sandbox run folder exists before the two autograde runs below fork
    # their workers (as after any earlier grading in one process): each worker must still
    # make its own verification overlay (it once collided on one fixed folder name).
    sandbox.run_dir()
    # The course outside /tmp (as an instructor's is): the sandbox hides it behind an empty
    # tmpfs of its own, which the zygote must wipe as well as /tmp.
    outside = Path(tempfile.mkdtemp(prefix="backprop-isolation-", dir=_outside_tmp()))
    request_cleanup.append(outside)
    batch, honest = _course(released, outside / "batch")
    for student, nb in _notebooks(honest).items():
        save(batch / "submitted" / student / ASSIGNMENT, nb)
    if request.param == "local":
        run = autograde(batch, ASSIGNMENT, workers=1)  # one worker: the same zygotes, in order
    else:
        from distributed import LocalCluster

        with LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=40,
            local_directory=str(outside / "dask"),
        ) as cluster:
            run = autograde(batch, ASSIGNMENT, scheduler=cluster.scheduler_address)
    assert not run.grader_errors, [r.reason for r in run.grader_errors]
    return batch, {r.student: r for r in run.results}, *alone


def test_the_attack_ran(graded):
    """The attack did run in the same worker before the victim (else the test proves
    nothing), and the victim's switch works: graded alone its grad_W2 is wrong."""
    batch, results, alone, alone_results = graded
    out = _outputs(batch, "a_attacker")
    assert "zygote memory: denied" in out, out[-2000:]
    assert "zygote memory: OPENED" not in out
    assert results["a_attacker"].status == "graded"
    assert _cells(alone, "b_victim") == W2_WRONG
    assert "LEAK []" in _outputs(alone, "b_victim")


@pytest.mark.parametrize("student", ["b_victim", "d_victim"])
def test_the_next_submission_finds_no_trace(graded, student: str):
    batch, results, alone, alone_results = graded
    out = _outputs(batch, student)
    assert "LEAK []" in out, out[-2000:]
    assert _cells(batch, student) == _cells(alone, "b_victim")
    assert results[student].score == alone_results["b_victim"].score
    assert sorted(results[student].flags) == sorted(alone_results["b_victim"].flags)
    assert results[student].reason == alone_results["b_victim"].reason == ""


def test_a_submission_that_kills_its_zygote_only_breaks_itself(graded):
    batch, results, alone, alone_results = graded
    out = _outputs(batch, "c_killer")
    assert "KernelDied" in out or "kernel" in results["c_killer"].reason.lower(), out[-2000:]
    assert _cells(batch, "d_victim") == _cells(alone, "b_victim")


# --------------------------------------------------------------------------- fresh namespaces

#: A job (run as a module in a zygote's child): `leave` leaves a trace in every place a job
#: could share with the next one; `look` lists the traces it finds. JSON to argv[2].
NS_JOB = r"""
import ctypes, json, os, sys

mode, out, course = sys.argv[1], sys.argv[2], sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
KEY, IPC_CREAT = 0x5EED, 0o1000
shared = os.path.dirname(os.path.dirname(os.getcwd()))  # the zygote's shared job folder
places = ["/tmp/ns_trace", "/dev/shm/ns_trace", os.path.expanduser("~/ns_trace"),
          os.path.join(course, "ns_trace"), os.path.join(shared, "ns_trace"),
          "/proc/1/root/tmp/ns_trace_init"]  # the zygote's /tmp, through bwrap's init
found, unwritable = [], []
if mode == "leave":
    for p in places:
        try:
            with open(p, "w") as f:
                f.write("A")
        except OSError:
            unwritable.append(p)
    import _posixshmem  # POSIX shared memory: shm_open, a file in /dev/shm

    _posixshmem.shm_open("/ns_posix", os.O_CREAT | os.O_RDWR, 0o600)
    assert libc.shmget(KEY, 4096, IPC_CREAT | 0o600) >= 0
    assert libc.semget(KEY, 1, IPC_CREAT | 0o600) >= 0
    assert libc.msgget(KEY, IPC_CREAT | 0o600) >= 0
    # a key in the session keyring (add_key; -3 = KEY_SPEC_SESSION_KEYRING)
    assert libc.syscall(248, b"user", b"ns_key", b"A", 1, ctypes.c_int(-3)) > 0
    try:
        open("/dev/ns_trace", "w").close()
        found.append("wrote /dev/ns_trace")
    except OSError:
        pass
else:
    found += [f"file {p}" for p in places if os.path.exists(p)]
    if os.path.exists("/dev/shm/ns_posix"):
        found.append("POSIX shared memory /ns_posix")
    for kind, get in (("shm", libc.shmget), ("sem", libc.semget), ("msg", libc.msgget)):
        if (get(KEY, 4096, 0) if kind == "shm" else get(KEY, 1, 0) if kind == "sem"
                else get(KEY, 0)) >= 0:
            found.append(f"System V {kind} {KEY:#x}")
    if libc.syscall(249, b"user", b"ns_key", None, ctypes.c_int(0)) > 0:  # request_key
        found.append("session keyring key")
caps = [l.split() for l in open("/proc/self/status") if l.startswith(("CapEff", "CapPrm"))]
json.dump({"found": found, "places": places, "unwritable": unwritable,
           "caps": {k: int(v, 16) for k, v in caps}}, open(out, "w"))
"""

#: The zygote, with its clean-up after each job cut down to killing the processes (and, for
#: the control, no fresh namespaces either): what stops a trace here is the namespaces alone.
NS_SERVER = (
    "import sys\n"
    "import grader.sandbox.zygote as z\n"
    "def finish(self, keep=''):\n"
    "    z.kill_all()\n"
    "    if self.child and self.code is None:\n"
    "        self.code = 137\n"
    "    code, self.child = self.code, 0\n"
    "    return code\n"
    "z.Server.finish = finish\n"
    "if {off}:\n"
    "    z.probe_namespaces = lambda tmpfs_bytes: 'turned off by the test'\n"
    "sys.path.append({jobs!r})\n"
    "sys.exit(z.main())\n"
)


def _two_jobs(tmp_path: Path, *, namespaces: bool) -> tuple[str, list[dict]]:
    """`leave` then `look` in one warm zygote whose clean-up only kills processes."""
    import json

    from grader.sandbox import zygote_host
    from grader.sandbox.plan import Limits, make_plan, run_dir

    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "ns_job.py").write_text(NS_JOB, encoding="utf-8")
    outside = Path(tempfile.mkdtemp(prefix="backprop-ns-course-", dir=_outside_tmp()))
    request_cleanup.append(outside)
    plan, _ = make_plan(Limits(), course=outside, mode="require", overlay={str(jobs): str(jobs)})
    kind = f"ns-{'on' if namespaces else 'off'}"
    server = ["-c", NS_SERVER.format(off=not namespaces, jobs=str(jobs))]
    zygote = zygote_host.zygote_for(plan, kind, run_dir(), server=server)
    results = []
    try:
        for mode in ("leave", "look"):

            def prepare(box: Path, mode: str = mode) -> dict:
                return {"module": "ns_job", "argv": [mode, str(box / "out.json"), str(outside)]}

            code, box = zygote_host.run_job(
                plan,
                kind,
                run_dir(),
                workdir=jobs,
                prepare=prepare,
                wall_clock=120,
                server=server,
            )
            log = (box / "job.log").read_text() if (box / "job.log").exists() else ""
            assert code == 0, f"{mode} exited {code}: {log[-2000:]}"
            results.append(json.loads((box / "out.json").read_text()))
    finally:
        zygote_host._ZYGOTES.pop(kind, None)
        zygote.close()
    return zygote.not_fresh, results


def test_each_job_gets_fresh_namespaces(tmp_path: Path):
    """Files in /tmp, /dev/shm, HOME, the hidden course folder and the zygote's shared job
    folder, POSIX shared memory, System V shared memory, semaphores and message queues, and a
    session key, left by one job, are not there for the next one in the same warm zygote
    (nor can it reach the zygote's own /tmp through bwrap's init, /proc/1/root),
    even with the zygote's clean-up cut down to killing processes: each job has IPC and mount
    namespaces (and a session keyring) of its own. No job holds a capability, and none can
    add an entry to /dev."""
    if not sandbox.bwrap_status().usable:
        pytest.skip(f"bubblewrap cannot run here: {sandbox.bwrap_status().reason}")
    not_fresh, (leave, look) = _two_jobs(tmp_path, namespaces=True)
    assert not_fresh == "", f"no fresh namespaces here: {not_fresh}"
    assert leave["found"] == [], leave  # /dev is read-only in the job
    assert leave["unwritable"] == ["/proc/1/root/tmp/ns_trace_init"], leave  # /proc/1 covered
    assert look["found"] == [], look
    assert leave["caps"] == look["caps"] == {"CapPrm:": 0, "CapEff:": 0}


def test_without_fresh_namespaces_the_traces_would_stay(tmp_path: Path):
    """The control: the same two jobs in a zygote with neither fresh namespaces nor its
    clean-up find every trace (so the test above can fail); its jobs hold no capability
    either (the zygote's are dropped in every child)."""
    if not sandbox.bwrap_status().usable:
        pytest.skip(f"bubblewrap cannot run here: {sandbox.bwrap_status().reason}")
    not_fresh, (leave, look) = _two_jobs(tmp_path, namespaces=False)
    assert not_fresh == "turned off by the test"
    assert leave["unwritable"] == [], leave
    assert sorted(look["found"]) == sorted(
        [
            *(f"file {place}" for place in look["places"]),
            "POSIX shared memory /ns_posix",
            "System V shm 0x5eed",
            "System V sem 0x5eed",
            "System V msg 0x5eed",
        ]
    ), look
    assert leave["caps"] == look["caps"] == {"CapPrm:": 0, "CapEff:": 0}
