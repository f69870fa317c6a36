"""`make lab` really serves JupyterLab on the learner's workspace (started headless, asked over
HTTP): it first copies the notebooks into the workspace, then roots JupyterLab there."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from grader import course

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_make_lab_serves_the_course(tmp_path):
    port, token = free_port(), "backprop-test-token"
    flags = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    work = tmp_path / "workspace"
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_FLAGS={flags}", f"WORKSPACE={work}"],
        cwd=course.REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, page = get(f"{base}/lab?token={token}")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert status == 200, f"JupyterLab did not answer on {base}/lab (exit {server.poll()})"
        assert b"JupyterLab" in page or b"jupyter-config-data" in page

        # The learner lands in their own folder: the map and every notebook, copied there.
        status, body = get(f"{base}/api/contents?token={token}")
        assert status == 200
        names = {item["name"] for item in json.loads(body)["content"]}
        assert {"00_start_here.ipynb", *course.ASSIGNMENTS} <= names, names
        assert (work / "01_partial_derivatives" / "01_partial_derivatives.ipynb").is_file()

        # nbgrader's JupyterLab extension (assignment list, validate, formgrader) is loaded.
        assert b"nbgrader" in page
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
