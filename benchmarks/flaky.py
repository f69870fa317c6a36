"""Flaky tests? Run the test suite N times from fresh clones under a CPU load; name every
test that ever failed.

    .venv/bin/python benchmarks/flaky.py --runs 3                      # the whole suite
    .venv/bin/python benchmarks/flaky.py --runs 3 -- tests/test_browser.py tests/test_lab.py
    .venv/bin/python benchmarks/flaky.py --runs 3 --no-bwrap -- -k "budget or timeout"
    make flaky N=3 FLAKY_ARGS="--no-bwrap -- tests/test_lab.py"

Each run is its own `git clone` of one commit (`--commit`, default HEAD of this repository)
in a fresh folder, with its own `make venv` (the package is installed editable, so a venv
is never shared between clones), then `python -m pytest -p no:cacheprovider --junitxml=...`
plus whatever follows `--` (a pytest selection: test files, `-k`, `-m`; paths are relative to
the clone). Runs go one after another (`--parallel P` runs P clones at once, which is load
of its own); all the while `--load K` busy-loop processes (default: one per core) compete for
the CPU, at normal priority, so waits that were tuned on an idle machine show up.

`--no-bwrap` hides bubblewrap from each run the way an unprivileged machine lacks it: pytest
runs in a private mount namespace where the bwrap binary is /dev/null
(`unshare -m sh -c 'mount --bind /dev/null $(command -v bwrap) && exec ...'`, root only).

The report (stdout, and report.json in `--out`) lists every test that failed or errored in
any run, with the runs it failed in and the first line of its message, and each run's counts
and wall time. Exit 0 when no test failed in any run, 1 when one did (or a run crashed
before writing its junit xml), 2 when the arguments cannot work. Clones of runs with a
failure are kept for their test-artifacts/ (screenshots); `--keep` keeps them all.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: One busy loop: pure CPU, no memory, no I/O. It ends by itself when flaky.py does
#: (however flaky.py ends: killed, it cannot stop the loops it started in their own sessions).
BUSY_LOOP = (
    "import os, sys\n"
    "while os.getppid() == int(sys.argv[1]):\n"
    "    for _ in range(1_000_000):\n"
    "        pass\n"
)


@dataclass
class Failure:
    """One test that failed in one run."""

    test: str  # the pytest node id, e.g. tests/test_lab.py::test_make_lab_serves_the_course
    kind: str  # "failure" or "error" (junit's words: an assertion vs a fixture/setup error)
    message: str  # the first line of pytest's message


@dataclass
class Run:
    """One clone's run of the suite."""

    index: int
    folder: str
    returncode: int = -1
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    problem: str = ""  # why there is no junit xml (clone/venv failed, pytest crashed)


def node_id(case: ET.Element) -> str:
    """pytest's node id of a junit <testcase> (classname 'tests.test_x' or
    'tests.test_x.TestClass', name 'test_y[param]')."""
    parts = case.get("classname", "").split(".")
    module = [p for p in parts if not p[:1].isupper()]
    classes = [p for p in parts if p[:1].isupper()]
    path = "/".join(module) + ".py" if module else case.get("file", "?")
    return "::".join([path, *classes, case.get("name", "?")])


def read_junit(path: Path) -> tuple[dict[str, int], list[Failure]]:
    """(counts, failures) of a pytest junit xml file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failures = []
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            for kind in ("failure", "error"):
                for bad in case.findall(kind):
                    message = (bad.get("message") or bad.text or "").strip().splitlines()
                    first = message[0][:300] if message else ""
                    failures.append(Failure(node_id(case), kind, first))
    return counts, failures


def start_load(processes: int) -> list[subprocess.Popen]:
    """processes busy loops at normal priority, each in its own session (stopped by stop_load)."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", BUSY_LOOP, str(os.getpid())], start_new_session=True
        )
        for _ in range(processes)
    ]


def stop_load(load: list[subprocess.Popen]) -> None:
    for proc in load:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def hide_bwrap_prefix() -> list[str]:
    """A command prefix that runs the rest with bubblewrap replaced by /dev/null (a private
    mount namespace; needs root and `unshare`). Raises SystemExit(2) when it cannot."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        print(
            "flaky: --no-bwrap: there is no bwrap on PATH to hide (runs are bwrap-less "
            "already: drop --no-bwrap)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print(
            "flaky: --no-bwrap needs root and util-linux's `unshare` (a private mount "
            "namespace hides bwrap); run as root or on a machine without bubblewrap",
            file=sys.stderr,
        )
        raise SystemExit(2)
    script = f'mount --bind /dev/null {shlex.quote(bwrap)} && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh"]


def resolve_commit(repo: Path, rev: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(f"flaky: {rev!r} is not a commit of {repo}: {proc.stderr.strip()}", file=sys.stderr)
        raise SystemExit(2)
    return proc.stdout.strip()


def step(cmd: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> int:
    """Run cmd in cwd, its output appended to log; its exit code."""
    with open(log, "ab") as out:
        out.write(f"\n$ {shlex.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        return proc.returncode


def one_run(
    index: int, repo: Path, commit: str, out: Path, pytest_args: list[str], prefix: list[str]
) -> Run:
    """Clone commit into out/run-<index>, build its venv, run pytest there."""
    folder = out / f"run-{index}"
    log = out / f"run-{index}.log"
    run = Run(index, str(folder))
    start = time.monotonic()
    if step(["git", "clone", "--quiet", "--no-checkout", str(repo), str(folder)], out, log) or step(
        ["git", "checkout", "--quiet", "--detach", commit], folder, log
    ):
        run.problem = f"git clone/checkout failed: see {log}"
        return run
    if step(["make", "--no-print-directory", "venv"], folder, log):
        run.problem = f"make venv failed: see {log}"
        return run
    xml = out / f"run-{index}.xml"
    bin_dir = folder / ".venv" / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    cmd = [
        *prefix,
        str(bin_dir / "python"),
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-rfE",
        f"--junitxml={xml}",
        *pytest_args,
    ]
    test_start = time.monotonic()
    run.returncode = step(cmd, folder, log, env)
    run.seconds = round(time.monotonic() - test_start, 1)
    if xml.is_file():
        run.counts, run.failures = read_junit(xml)
    else:
        run.problem = f"pytest exited {run.returncode} without a junit xml: see {log}"
    if run.returncode not in (0, 1, 5):  # 5: nothing selected
        run.problem = run.problem or f"pytest exited {run.returncode}: see {log}"
    print(
        f"flaky: run {index} done in {run.seconds:.0f} s (+{test_start - start:.0f} s clone "
        f"and venv): {summary(run)}",
        flush=True,
    )
    return run


def summary(run: Run) -> str:
    if run.problem and not run.counts:
        return run.problem
    c = run.counts
    text = (
        f"{c.get('tests', 0)} tests, {c.get('failures', 0)} failed, "
        f"{c.get('errors', 0)} errors, {c.get('skipped', 0)} skipped"
    )
    return f"{text}; {run.problem}" if run.problem else text


def report(runs: list[Run]) -> tuple[str, dict[str, dict]]:
    """The text report and {test: {"runs": [...], "message": first message}}."""
    failed: dict[str, dict] = {}
    for run in runs:
        for failure in run.failures:
            entry = failed.setdefault(
                failure.test, {"runs": [], "kind": failure.kind, "message": failure.message}
            )
            entry["runs"].append(run.index)
    lines = [f"run {r.index}: {summary(r)} in {r.seconds:.0f} s ({r.folder})" for r in runs]
    if failed:
        lines.append(f"{len(failed)} test(s) failed in at least one of {len(runs)} run(s):")
        for test, entry in sorted(failed.items()):
            lines.append(f"  {test}: {entry['kind']} in run(s) {entry['runs']}")
            lines.append(f"      {entry['message']}")
    crashed = [r for r in runs if r.problem]
    if not failed and not crashed:
        lines.append(f"no test failed in {len(runs)} run(s)")
    return "\n".join(lines), failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [options] [-- PYTEST_ARGS...]",
    )
    parser.add_argument("--runs", "-n", type=int, default=3, help="how many runs (default 3)")
    parser.add_argument("--commit", default="HEAD", help="the commit to test (default HEAD)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the repository to clone")
    parser.add_argument(
        "--load",
        type=int,
        default=os.cpu_count() or 1,
        help="busy-loop processes during the runs (default: one per core; 0: none)",
    )
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (default 1)")
    parser.add_argument("--no-bwrap", action="store_true", help="hide bubblewrap (root only)")
    parser.add_argument("--out", type=Path, help="folder for clones, logs, xml, report.json")
    parser.add_argument("--keep", action="store_true", help="keep every clone, not only failed")
    args, pytest_args = parser.parse_known_args(argv)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    if args.runs < 1 or args.parallel < 1 or args.load < 0:
        parser.error("--runs and --parallel must be at least 1, --load at least 0")
    commit = resolve_commit(args.repo, args.commit)
    prefix = hide_bwrap_prefix() if args.no_bwrap else []
    out = (args.out or Path(tempfile.mkdtemp(prefix="flaky-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"flaky: {args.runs} run(s) of {commit[:12]} in {out}, {args.load} busy loop(s), "
        f"bwrap {'hidden' if args.no_bwrap else 'as installed'}, pytest "
        f"{shlex.join(pytest_args) or '(whole suite)'}",
        flush=True,
    )

    load = start_load(args.load)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            runs = list(
                pool.map(
                    lambda i: one_run(i, args.repo, commit, out, pytest_args, prefix),
                    range(1, args.runs + 1),
                )
            )
    finally:
        stop_load(load)
    text, failed = report(runs)
    print(text)
    (out / "report.json").write_text(
        json.dumps(
            {
                "commit": commit,
                "pytest_args": pytest_args,
                "load": args.load,
                "bwrap_hidden": args.no_bwrap,
                "seconds": round(time.monotonic() - started, 1),
                "runs": [asdict(r) for r in runs],
                "failed": failed,
            },
            indent=2,
        )
        + "\n"
    )
    for run in runs:
        if not args.keep and not run.failures and not run.problem:
            shutil.rmtree(run.folder, ignore_errors=True)
    return 1 if failed or any(r.problem for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
