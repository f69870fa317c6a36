"""Helpers for tests/test_hub.py: the course's JupyterHub (jupyterhub_config.py) started for
real on 127.0.0.1, and stopped with everything it started.

The hub runs `jupyterhub -f jupyterhub_config.py` from this interpreter's environment, with
configurable-http-proxy from npm (on PATH, or installed by `make hub-proxy` into
PROXY_PREFIX). Every process of one run carries a marker in its environment
(BACKPROP_HUB_RUN, kept by the hub for the proxy, the users' servers and their kernels):
`running_hub` starts and stops the hub with browser_tools.running_server (SIGTERM to its
process group), then ends every process that still carries the marker, by its id, also when
the test failed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader import course
from tests.browser_tools import browser_skip_reason, free_port, log_tail, running_server

#: Where `make hub-proxy` installs configurable-http-proxy (npm) when it is not on PATH.
PROXY_PREFIX = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "backprop-course" / "hub-proxy"
)
HUB_CONFIG = course.REPO_ROOT / "jupyterhub_config.py"


def proxy_command() -> str | None:
    """configurable-http-proxy: on PATH, or where `make hub-proxy` put it; None if neither."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    local = PROXY_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if os.access(local, os.X_OK) else None


def hub_skip_reason() -> str | None:
    """Why the hub test cannot run on this machine, or None when it can."""
    reason = browser_skip_reason()
    if reason:
        return reason
    if shutil.which("jupyterhub", path=os.path.dirname(sys.executable)) is None:
        return "jupyterhub is not installed in this environment: make venv (requirements.txt)"
    if proxy_command() is None:
        return (
            "configurable-http-proxy (npm) is missing: `make hub-proxy` installs it into "
            f"{PROXY_PREFIX} (needs node and npm)"
        )
    return None


@dataclass
class Hub:
    base: str
    root: Path
    log: Path
    password: str
    #: BACKPROP_HUB_RUN of this run: in the environment of every process it started
    marker: str

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def processes(self) -> list[int]:
        """Ids of the processes this hub run started that are running now (hub included)."""
        return _marked_pids(self.marker)

    def log_tail(self, chars: int = 4000) -> str:
        return log_tail(self.log, chars)


def _marked_pids(marker: str) -> list[int]:
    """Ids of the processes whose environment holds BACKPROP_HUB_RUN=marker."""
    needle = f"BACKPROP_HUB_RUN={marker}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _end_marked(marker: str, timeout: float = 30.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process still carrying the marker; returns their ids."""
    pids = _marked_pids(marker)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _marked_pids(marker) and time.monotonic() < deadline:
            time.sleep(0.2)  # waiting for processes to exit
        pids = _marked_pids(marker)
        if not pids:
            break
    return pids


@contextlib.contextmanager
def running_hub(
    root: Path, course_dir: Path, instructor: str, students: list[str]
) -> Iterator[Hub]:
    """The course's JupyterHub on 127.0.0.1 (a free port), its state, homes and exchange
    under root, the instructor's server in course_dir; stopped with all it started on exit.
    """
    port, hub_port, api_port = free_port(), free_port(), free_port()
    password, marker = secrets.token_hex(12), secrets.token_hex(8)
    root.mkdir(parents=True, exist_ok=True)
    log = root / "jupyterhub.log"
    env = course.tool_env(
        {
            "BACKPROP_HUB_DIR": str(root),
            "BACKPROP_HUB_COURSE": str(course_dir),
            "BACKPROP_HUB_INSTRUCTOR": instructor,
            "BACKPROP_HUB_STUDENTS": ",".join(students),
            "BACKPROP_HUB_PASSWORD": password,
            "BACKPROP_HUB_PROXY": str(proxy_command()),
            "BACKPROP_EXCHANGE": str(root / "exchange"),
            "BACKPROP_HUB_RUN": marker,
        }
    )
    for key in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_CONFIG_DIR", "LOGNAME"):
        env.pop(key, None)
    cmd = [
        str(Path(sys.executable).parent / "jupyterhub"),
        "-f",
        str(HUB_CONFIG),
        f"--JupyterHub.bind_url=http://127.0.0.1:{port}",
        f"--JupyterHub.hub_port={hub_port}",
        f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}",
    ]
    hub = Hub(f"http://127.0.0.1:{port}", root, log, password, marker)
    try:
        # the hub stops the users' servers and its proxy itself (cleanup_servers) on SIGTERM
        with running_server(
            cmd,
            cwd=root,
            env=env,
            log=log,
            ready_url=hub.url("hub/health"),
            name="jupyterhub",
            stop_timeout=60,
        ):
            yield hub
    finally:
        left = _end_marked(marker)
        assert not left, f"processes of the hub run could not be stopped: {left}"
