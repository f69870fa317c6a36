"""Helpers for the browser tests: a real `jupyter lab` server and a real Chromium.

The server is started the way `make lab` starts it (same flags; with learner=True the same
learner configuration, lab/), bound to 127.0.0.1 on a free port with a random token, in a
private Jupyter config/runtime folder so nothing of the machine's own ~/.jupyter leaks in;
`lab_server` always stops it, even when a test fails.

Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright for Python: no browser build
is downloaded. `browser_skip_reason()` says why the browser tests cannot run here, or None.

Every helper waits for what a person would wait for on screen, never for a fixed time: the
notebook's cells all drawn, the status bar's "Python 3 (ipykernel) | Idle" (the kernel
connected and idle), the cell active with its editor focused, the prompt's new number.
JupyterLab drops a Shift+Enter silently while the notebook has no kernel connection yet (the
prompt stays `[ ]:`), and the toolbar's execution indicator says "idle" from the moment the
notebook opens, before any kernel exists: only the status bar tells the two apart.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader import course

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Where screenshots go (git-ignored): one per scenario, on failure and on success.
ARTIFACTS = course.REPO_ROOT / "test-artifacts"
#: Generous: the machine running the suite is shared and loaded (a deadline on a state, so a
#: long one costs nothing when the server is quick).
SERVER_START_TIMEOUT = 300.0
#: How long (milliseconds) a browser test waits for a state on screen before it fails: every
#: wait returns as soon as the state shows, so this is a margin for a loaded machine (a
#: server-side nbgrader validate of a notebook takes a minute or more there), not a delay.
WAIT_MS = 240_000
#: The learner's Jupyter configuration that `make lab` puts first on JUPYTER_CONFIG_PATH
#: (nbgrader's instructor plugins and server extensions off, no news question).
LEARNER_CONFIG = course.REPO_ROOT / "lab"


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def browser_skip_reason() -> str | None:
    """Why the browser tests cannot run on this machine, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not importable: pip install -r requirements.txt"
    if chromium_path() is None:
        return "no Chromium at /usr/bin/chromium: install Debian's `chromium` package"
    if shutil.which("jupyter", path=course.tool_env()["PATH"]) is None:
        return "jupyter is not installed in this environment"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_learner_workspace(dest: Path) -> Path:
    """A learner's workspace at dest, made by the command `make lab` runs first
    (`backprop-grader workspace`): workspace/<id>/<id>.ipynb plus the companions at its top.

    The one place that builds the learner's workspace for the browser tests.
    """
    subprocess.run(
        [sys.executable, "-m", "grader", "workspace", "--dir", str(dest)],
        check=True,
        capture_output=True,
        cwd=course.REPO_ROOT,
    )
    return dest


@dataclass
class LabServer:
    base: str
    token: str
    root: Path
    log: Path
    pid: int

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def log_tail(self, chars: int = 3000) -> str:
        return log_tail(self.log, chars)


def answers(url: str) -> bool:
    """Whether url answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def lab_server(
    root: Path,
    home: Path,
    *,
    cwd: Path | None = None,
    learner: bool = False,
    quiet_news: bool = True,
) -> Iterator[LabServer]:
    """`jupyter lab` serving root (headless), stopped on exit.

    Args:
        root: the server's root_dir (what the file browser shows).
        home: a private folder for Jupyter's config, settings, runtime files and the
            server log; an nbgrader_config.py placed in home/config is read by nbgrader.
        cwd: the server's working directory (nbgrader reads nbgrader_config.py there too);
            root by default.
        learner: started as `make lab` starts it, with LEARNER_CONFIG on JUPYTER_CONFIG_PATH
            (and nothing of the tests' own settings: the learner's configuration alone must
            keep the news question away). Otherwise the plain `jupyter lab` an instructor runs.
        quiet_news: for a plain lab, user settings that answer JupyterLab's news question
            (see write_lab_settings); False leaves a fresh user's defaults.
    """
    port, token = free_port(), secrets.token_hex(16)
    config_dir, runtime = home / "config", home / "runtime"
    config_dir.mkdir(parents=True, exist_ok=True)
    runtime.mkdir(parents=True, exist_ok=True)
    log = home / "jupyter-lab.log"
    env = course.tool_env(
        {
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "JUPYTERLAB_SETTINGS_DIR": str(
                write_lab_settings(home) if quiet_news and not learner else home / "settings"
            ),
        }
    )
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    if learner:
        env["JUPYTER_CONFIG_PATH"] = str(LEARNER_CONFIG)
    root_flag = ["--allow-root"] if os.geteuid() == 0 else []
    cmd = [
        "jupyter",
        "lab",
        *root_flag,
        f"--ServerApp.root_dir={root}",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    base = f"http://127.0.0.1:{port}"
    status = f"{base}/api/status?token={token}"
    with running_server(
        cmd, cwd=cwd or root, env=env, log=log, ready_url=status, name="jupyter lab"
    ) as server:
        yield LabServer(base, token, root, log, server.pid)


class ScenarioOver(Exception):
    """Raised by a test at the end of its scenario, inside a server's context manager: the
    server is left the way a failing test leaves it, and the test checks it stopped."""


def log_tail(log: Path, chars: int = 3000) -> str:
    """The last chars characters of a server's log ("" when there is none yet)."""
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.contextmanager
def running_server(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    ready_url: str,
    name: str,
    stop_timeout: float = 30.0,
) -> Iterator[subprocess.Popen]:
    """A server process for a test: started in a session (process group) of its own with its
    output in log, yielded once ready_url answers 200, and stopped on exit, also when the
    body raised: SIGTERM to its process group, SIGKILL after stop_timeout seconds.

    The one start/poll/stop of the tests' servers (lab_server, make lab, the JupyterHub).
    Raises RuntimeError, with the log's end, when the server exits or does not answer
    within SERVER_START_TIMEOUT.
    """
    with open(log, "wb") as out:
        server = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not answers(ready_url):
            if server.poll() is not None:
                raise RuntimeError(f"{name} exited {server.returncode}:\n{log_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer in time:\n{log_tail(log)}")
            time.sleep(0.3)  # polling a port, not waiting on the screen
        yield server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


def write_lab_settings(home: Path) -> Path:
    """User settings for the test's JupyterLab: no "get notified about Jupyter news?" pop-up
    (it lands on top of the output areas and catches clicks). Returns the settings folder."""
    settings = home / "settings"
    target = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text('{"fetchNews": "false"}\n', encoding="utf-8")
    return settings


# --------------------------------------------------------------------------- on screen

#: A finished execution prompt, "[12]:" (not "[ ]:" nor "[*]:").
DONE_PROMPT = re.compile(r"\[\s*\d+\s*\]")


@contextlib.contextmanager
def screenshots(page, name: str) -> Iterator[Callable[[str], None]]:
    """Yields snap(step): a screenshot test-artifacts/browser/<name>-<step>.png of the page as
    it is now. When the body raises, the page is saved as <name>-FAILED.png first."""
    folder = ARTIFACTS / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{name}-*.png"):
        old.unlink()

    def snap(step: str) -> None:
        page.screenshot(path=str(folder / f"{name}-{step}.png"))

    try:
        yield snap
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(folder / f"{name}-FAILED.png"), full_page=True)
        raise


def open_notebook(page, lab: LabServer, path: str):
    """Open the notebook at path (relative to the server root) in JupyterLab; returns the
    notebook's locator once every one of its cells is drawn and its kernel is connected and
    idle (wait_for_kernel)."""
    from playwright.sync_api import expect

    cells = len(nbformat.read(lab.root / path, as_version=4).cells)
    # ?reset: a fresh layout, not the tabs an earlier window left open on this server.
    page.goto(lab.url(f"lab/tree/{path}?reset"))
    notebook = current_panel(page).locator(".jp-Notebook")
    # The panel shows one placeholder cell until the file has loaded: wait for all of them.
    expect(notebook.locator(".jp-Cell"), f"{path}: not all {cells} cells drawn").to_have_count(
        cells
    )
    wait_for_kernel(page)
    return notebook


#: The status bar's kernel item once the kernel is connected and idle: "Python 3 (ipykernel)
#: | Idle" (before that "No Kernel | Initializing", then "... | Connecting", "... | Busy").
KERNEL_IDLE = re.compile(r"^(?!No Kernel).+ \| Idle$")


def kernel_status(page):
    """The status bar's kernel item ("<kernel> | <status>") of the notebook in front."""
    return page.locator("#jp-main-statusbar .jp-StatusBar-TextItem[title^='Change kernel for']")


def wait_for_kernel(page) -> None:
    """Wait until the status bar says the front notebook's kernel is connected and idle.

    Not the toolbar's execution indicator: its data-status is "idle" as soon as the notebook
    opens, seconds before a kernel exists (and a Shift+Enter then is dropped)."""
    from playwright.sync_api import expect

    expect(kernel_status(page), "the notebook's kernel is not idle").to_have_text(KERNEL_IDLE)


def current_panel(page):
    """The notebook panel on screen (the tab in front)."""
    return page.locator(".jp-NotebookPanel:visible")


def code_cell(notebook, text: str | re.Pattern[str]):
    """The one code cell whose source shows text (a substring or a regular expression)."""
    return notebook.locator(".jp-CodeCell").filter(
        has=notebook.page.locator(".jp-InputArea-editor", has_text=text)
    )


ACTIVE = re.compile(r"\bjp-mod-active\b")
FOCUSED = re.compile(r"\bcm-focused\b")


def focus_editor(cell) -> None:
    """Click into the cell's editor and wait until the cell is the active one and its editor
    (CodeMirror) has the keyboard focus: keys pressed before that go elsewhere."""
    from playwright.sync_api import expect

    cell.locator(".jp-InputArea-editor").click()
    expect(cell, "the clicked cell did not become the active cell").to_have_class(ACTIVE)
    expect(
        cell.locator(".cm-editor"), "the clicked cell's editor did not get the keyboard focus"
    ).to_have_class(FOCUSED)


def run_cell(cell) -> None:
    """Run one code cell as a person does: once the kernel is idle, click into the cell, and
    with its editor focused press Shift+Enter; wait until the notebook has moved on to the
    next cell (the key was taken) and the prompt shows a new execution count."""
    from playwright.sync_api import expect

    page = cell.page
    prompt = cell.locator(".jp-InputPrompt")
    wait_for_kernel(page)
    focus_editor(cell)
    before = prompt.inner_text()
    page.keyboard.press("Shift+Enter")
    expect(cell, "Shift+Enter was not taken: the cell is still the active one").not_to_have_class(
        ACTIVE
    )
    expect(prompt, f"the cell did not start: its prompt stays {before!r}").not_to_have_text(before)
    expect(prompt).to_have_text(DONE_PROMPT)


def replace_source(cell, source: str) -> None:
    """Click into the cell's editor (CodeMirror 6), select everything and type source in its
    place (inserted as text, so the editor adds no brackets or indentation of its own); wait
    until the editor shows the new first and last lines."""
    from playwright.sync_api import expect

    editor = cell.locator(".jp-InputArea-editor")
    focus_editor(cell)
    page = cell.page
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)
    lines = source.strip().splitlines()
    for line in (lines[0], lines[-1]):
        expect(editor, "the editor does not show the new source").to_contain_text(line.strip())


# --------------------------------------------------------------------------- axe-core

#: axe-core's rule tags for WCAG 2.1 levels A and AA (what docs/accessibility.md promises).
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: The npm package and where the tests install it (git-ignored, kept between runs).
AXE_VERSION = "4"
AXE_CACHE = course.REPO_ROOT / ".cache" / "axe-core"


def axe_source() -> str:
    """axe-core's browser script, installed by npm into AXE_CACHE on first use."""
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: apt-get install npm (for axe-core)")
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(AXE_CACHE),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return script.read_text(encoding="utf-8")


def axe_violations(page, context: str = "document") -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page (within the CSS selector `context`),
    one line each: "rule (impact): help -- the first elements"."""
    page.add_script_tag(content=axe_source())
    found = page.evaluate(
        """([tags, context]) => axe.run(context === 'document' ? document : context,
              {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map(v =>
              `${v.id} (${v.impact}): ${v.help} -- ` +
              v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ')))""",
        [WCAG_21_AA, context],
    )
    return list(found)
