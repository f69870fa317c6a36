"""`make lab` really serves JupyterLab on the learner's workspace (started headless, asked over
HTTP, looked at in a real Chromium): it first copies the notebooks into the workspace, then roots
JupyterLab there with the learner's configuration (lab/): the course and nbgrader's Validate
button, not nbgrader's instructor tools, and no "Jupyter news?" question. A plain `jupyter lab`
(what an instructor runs in a course folder) is the control: it still has all of them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader import course
from tests.browser_tools import (
    CHROMIUM_ARGS,
    LEARNER_CONFIG,
    WAIT_MS,
    LabServer,
    browser_skip_reason,
    chromium_path,
    free_port,
    lab_server,
    make_learner_workspace,
    open_notebook,
    running_server,
    screenshots,
)

# Real kernels, nbgrader or servers: minutes, not seconds (pytest -m 'not slow' skips them).
pytestmark = pytest.mark.slow

#: nbgrader's JupyterLab plugins that `make lab` does not load: instructor tools, and the
#: Assignments list, which only works with an nbgrader exchange (a class on a JupyterHub).
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:menu",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
)
#: The notebook toolbar's Validate button: a learner's, kept.
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
#: Routes of nbgrader's formgrader, course_list and assignment_list server extensions.
INSTRUCTOR_ROUTES = ("formgrader", "formgraders", "assignments")
NOTIFICATION_SETTINGS = "lab/api/settings/@jupyterlab/apputils-extension:notification"
NEWS_QUESTION = "Would you like to get notified about official Jupyter news?"
#: The least time (milliseconds) the learner's lab is watched for the news question once its
#: start notebook is ready; the watch is longer when the instructor's lab (the control, same
#: machine, same moment) took longer to ask: NEWS_MARGIN times its delay.
NEWS_WAIT_MS = 15_000
NEWS_MARGIN = 3
START = "00_start_here.ipynb"


def get(url: str) -> tuple[int, bytes]:
    """(status, body) of a GET, redirects not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def page_config(lab: LabServer) -> dict:
    """The page config JupyterLab's /lab page embeds (its jupyter-config-data script)."""
    status, page = get(lab.url("lab"))
    assert status == 200, f"/lab answered {status}"
    found = re.search(
        rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert found, "no jupyter-config-data in the /lab page"
    return json.loads(found.group(1))


def fetch_news_default(lab: LabServer) -> tuple[str, str]:
    """(the fetchNews default the server gives the page, the user's own notification settings)."""
    status, body = get(lab.url(NOTIFICATION_SETTINGS))
    assert status == 200, f"{NOTIFICATION_SETTINGS} answered {status}"
    settings = json.loads(body)
    return settings["schema"]["properties"]["fetchNews"]["default"], settings["raw"]


@contextlib.contextmanager
def _make_lab(tmp: Path) -> Iterator[LabServer]:
    """`make lab` itself, headless, for a learner with a fresh home: private Jupyter config,
    data, settings and runtime folders, so nothing of this machine's ~/.jupyter counts."""
    home, work, log = tmp / "home", tmp / "workspace", tmp / "make-lab.log"
    port, token = free_port(), secrets.token_hex(16)
    flags = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
        f"--ServerApp.port_retries=0 --IdentityProvider.token={token}"
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.pop("JUPYTER_PATH", None)
    base = f"http://127.0.0.1:{port}"
    with running_server(
        ["make", "--no-print-directory", "lab", f"LAB_FLAGS={flags}", f"WORKSPACE={work}"],
        cwd=course.REPO_ROOT,
        env=env,
        log=log,
        ready_url=f"{base}/api/status?token={token}",
        name="make lab",
    ) as server:
        yield LabServer(base, token, work, log, server.pid)


@contextlib.contextmanager
def _instructor_lab(tmp: Path) -> Iterator[LabServer]:
    """A plain `jupyter lab`, as an instructor runs it in a course folder (the course's
    nbgrader_config.py and its notebooks), with a fresh user's JupyterLab settings."""
    root = make_learner_workspace(tmp / "course")
    shutil.copy2(course.REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    with lab_server(root, tmp / "jupyter", quiet_news=False) as lab:
        yield lab


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, LabServer]]:
    """(`make lab`, the instructor's plain lab), started at the same time (the instructor's
    in a thread): one server start's wait for the module instead of two."""
    with contextlib.ExitStack() as instructor_stack, ThreadPoolExecutor(1) as pool:
        instructor = pool.submit(
            instructor_stack.enter_context,
            _instructor_lab(tmp_path_factory.mktemp("instructor-lab")),
        )
        # the pool waits for the instructor's start before its stack stops that server
        with _make_lab(tmp_path_factory.mktemp("make-lab")) as learner:
            yield learner, instructor.result()


@pytest.fixture(scope="module")
def make_lab(labs) -> LabServer:
    return labs[0]


@pytest.fixture(scope="module")
def instructor_lab(labs) -> LabServer:
    return labs[1]


def test_make_lab_serves_the_course(make_lab):
    # The learner lands in their own folder: the map and every notebook, copied there.
    status, body = get(make_lab.url("api/contents"))
    assert status == 200
    names = {item["name"] for item in json.loads(body)["content"]}
    assert {START, *course.ASSIGNMENTS} <= names, names
    assert (make_lab.root / "01_partial_derivatives" / "01_partial_derivatives.ipynb").is_file()

    # nbgrader's JupyterLab extension is loaded (for its Validate button).
    config = page_config(make_lab)
    assert "@jupyter/nbgrader" in {ext["name"] for ext in config["federated_extensions"]}


def test_make_lab_leaves_out_nbgrader_instructor_tools_and_the_news_question(make_lab):
    disabled = set(page_config(make_lab)["disabledExtensions"])
    assert set(INSTRUCTOR_PLUGINS) <= disabled, disabled
    assert VALIDATE_PLUGIN not in disabled

    for route in INSTRUCTOR_ROUTES:
        assert get(make_lab.url(route))[0] == 404, f"/{route} is served to the learner"
    # Validate's server side stays: the route exists (it takes POST only).
    assert get(make_lab.url("assignments/validate"))[0] == 405

    default, user = fetch_news_default(make_lab)
    assert default == "false", f"fetchNews defaults to {default!r}: JupyterLab will ask"
    assert "fetchNews" not in user, "the learner's own settings, not lab/, answered the question"

    # The browser tests' learner server (browser_tools.lab_server(learner=True)) is this one.
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "lab"],
        cwd=course.REPO_ROOT,
        env={k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f'JUPYTER_CONFIG_PATH="{LEARNER_CONFIG}"' in dry_run, dry_run


def test_the_instructors_own_jupyter_lab_keeps_everything(instructor_lab):
    disabled = set(page_config(instructor_lab)["disabledExtensions"])
    assert not disabled & {*INSTRUCTOR_PLUGINS, VALIDATE_PLUGIN}, disabled
    assert get(instructor_lab.url("formgrader"))[0] in (200, 302)
    assert get(instructor_lab.url("formgraders"))[0] == 200
    assert fetch_news_default(instructor_lab)[0] == "none"  # JupyterLab's own: it asks


def _news_question_delay(page, timeout_ms: float) -> float | None:
    """Seconds until JupyterLab's news question is on screen (from now), or None when it is
    not shown within timeout_ms."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    start = time.monotonic()
    try:
        page.get_by_text(NEWS_QUESTION).wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeout:
        return None
    return time.monotonic() - start


@pytest.mark.skipif(browser_skip_reason() is not None, reason=str(browser_skip_reason()))
def test_the_learner_sees_the_course_and_the_instructor_sees_nbgrader(make_lab, instructor_lab):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(WAIT_MS)

            # The control: a plain lab has nbgrader's menu, its Create Assignment panel, and
            # JupyterLab asks about news (so the checks below can see all three).
            page = context.new_page()
            with screenshots(page, "lab-instructor") as snap:
                notebook = open_notebook(page, instructor_lab, START)
                delay = _news_question_delay(page, WAIT_MS)
                assert delay is not None, "a fresh JupyterLab asks about news"
                right = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab")
                expect(right.filter(has_text="Create Assignment")).to_have_count(1)
                page.get_by_role("menuitem", name="Nbgrader").click()
                for entry in ("Formgrader", "Course List", "Create assignment"):
                    expect(page.get_by_role("menuitem", name=entry, exact=True)).to_be_visible()
                snap("menu")
                page.keyboard.press("Escape")

            # The learner: the start notebook with its Validate button; no Nbgrader menu, no
            # Create Assignment panel, no question about news.
            page = context.new_page()
            with screenshots(page, "lab-learner") as snap:
                notebook = open_notebook(page, make_lab, START)
                expect(notebook.locator(".jp-MarkdownCell").first).to_contain_text("start here")
                expect(page.locator(".jp-NotebookPanel:visible .validate-button")).to_be_visible()
                menubar = page.locator("#jp-menu-panel")
                expect(menubar.get_by_role("menuitem", name="Run", exact=True)).to_be_visible()
                expect(menubar.get_by_role("menuitem", name="Nbgrader")).to_have_count(0)
                right = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab")
                expect(right.filter(has_text="Create Assignment")).to_have_count(0)
                watch_ms = max(NEWS_WAIT_MS, NEWS_MARGIN * delay * 1000)
                assert _news_question_delay(page, watch_ms) is None, (
                    f"the learner's lab asked about news (watched {watch_ms / 1000:.0f} s)"
                )
                snap("start")
            context.close()
        finally:
            chromium.close()
