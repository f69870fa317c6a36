"""The sandbox's per-process run folder (grader.sandbox.plan.run_dir): a process killed with
SIGKILL or SIGTERM runs no exit handler, so its folder of kernel boxes stays in the temporary
folder; the next process that makes one removes it, never the folder of a process alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.sandbox import plan

MAKE_AND_WAIT = (
    "import sys, time\n"
    "from grader.sandbox.plan import new_box, run_dir\n"
    "new_box()\n"  # a kernel box inside, as a grading worker has
    "print(run_dir(), flush=True)\n"
    "time.sleep(120)\n"
)


def _start(tmp: Path) -> tuple[subprocess.Popen, Path]:
    """A process that has made its run folder in `tmp` and waits; and that folder."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-c", MAKE_AND_WAIT], stdout=subprocess.PIPE, text=True, env=env
    )
    folder = Path(proc.stdout.readline().strip())
    assert folder.parent == tmp and folder.is_dir()
    return proc, folder


def _age(folder: Path) -> None:
    """Make the folder's lock file older than STALE_AFTER_SECONDS."""
    old = time.time() - plan.STALE_AFTER_SECONDS - 5
    os.utime(folder / plan.OWNER_LOCK, (old, old))


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_process_folder_is_removed_a_live_one_kept(tmp_path: Path, signum: int) -> None:
    killed, left = _start(tmp_path)
    alive, kept = _start(tmp_path)
    try:
        killed.send_signal(signum)
        killed.wait(30)
        assert left.is_dir(), "a killed process removed its folder: nothing to test"
        _age(left)
        _age(kept)
        assert plan.remove_left_over(tmp_path) == [left]
        assert not left.exists()
        assert kept.is_dir() and any(kept.glob("k-*")), "a live process's folder was touched"
    finally:
        alive.kill()
        alive.wait(30)


def test_a_new_lock_file_and_one_without_a_lock_are_left_alone(tmp_path: Path) -> None:
    proc, young = _start(tmp_path)
    proc.kill()
    proc.wait(30)
    unlocked = tmp_path / f"{plan.RUN_PREFIX}nolock"
    unlocked.mkdir()
    other = tmp_path / "someone-else"
    other.mkdir()
    # young: its owner may have made the lock file and not locked it yet
    assert plan.remove_left_over(tmp_path) == []
    assert young.is_dir() and unlocked.is_dir() and other.is_dir()


def test_run_dir_removes_what_killed_processes_left(tmp_path: Path) -> None:
    """The sweep runs when a process makes its run folder, as every grading worker does."""
    proc, left = _start(tmp_path)
    proc.kill()
    proc.wait(30)
    _age(left)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = "from grader.sandbox.plan import run_dir; print(run_dir())"
    out = subprocess.run([sys.executable, "-c", code], env=env, text=True, capture_output=True)
    assert out.returncode == 0, out.stderr
    assert not left.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the new one removed at its exit
