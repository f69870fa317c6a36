"""A class on the course's JupyterHub (jupyterhub_config.py), in a real browser.

A real JupyterHub with npm's configurable-http-proxy on 127.0.0.1 (tests/hub_tools.py), one
instructor and two students logging in with the shared password, nbgrader's exchange between
them; Debian's Chromium driven by Playwright, every step clicked and every check on screen:

    instructor  formgrader: Generate, then Release 04_backprop_W2
    students    log in; Assignments tab: Fetch; type the answers into the notebook (alice
                right, bob with the sign flip [M3], both from tests/corpus); Validate; Submit
    instructor  formgrader: Collect; Autograde each submission (the course's
                nbgrader_config.py: sandboxed kernels, verification); Generate Feedback;
                Release Feedback
    students    Assignments tab: Fetch Feedback; the feedback page shows the mark, bob's
                names [M3], and no hidden test code
    the test    leaves the hub by an exception, as a failing test does: the hub, its proxy
                and every user's server stop (tests/hub_tools.py's promise)

The students log in while the instructor releases and validate at the same time, each in
their own server, as on a class's hub (one hub start and fewer minutes for the suite).

Screenshots go to test-artifacts/browser/hub-*.png (one more when a step fails).
"""

from __future__ import annotations

import inspect
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil  # distributed's dependency: in requirements.txt
import pytest

from grader import course
from tests.browser_tools import (
    CHROMIUM_ARGS,
    WAIT_MS,
    ScenarioOver,
    answers,
    chromium_path,
    code_cell,
    replace_source,
    screenshots,
)
from tests.corpus import right, wrong
from tests.hub_tools import hub_skip_reason, running_hub
from tests.test_exchange import _hidden_lines

SKIP = hub_skip_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=str(SKIP))]

W2 = "04_backprop_W2"
COURSE_ID = "backprop-course"
INSTRUCTOR = "instructor"
#: Grading one submission in the sandbox, with verification, from formgrader's button.
GRADE_MS = 600_000


def _answer(function, name: str) -> str:
    """The corpus function's source, renamed to the notebook's function name."""
    source = inspect.getsource(function)
    return re.sub(r"^def \w+\(", f"def {name}(", source, count=1)


RIGHT = {
    "output_delta": _answer(right.output_delta_multiply, "output_delta"),
    "grad_W2": _answer(right.grad_W2_einsum, "grad_W2"),
    "grad_b2": _answer(right.grad_b2_ones, "grad_b2"),
}
#: student -> their answers; bob flips the sign of delta2 (M3)
STUDENTS = {
    "alice": RIGHT,
    "bob": {**RIGHT, "output_delta": _answer(wrong.output_delta_sign, "output_delta")},
}
#: (score, max) each feedback page shows: bob loses output_delta's visible and hidden tests
MARKS = {"alice": "9.0 / 9.0", "bob": "6.0 / 9.0"}


def _instructors_course(tmp_path: Path) -> Path:
    """The instructor's course (source/ of the repository), pointed at the hub's exchange."""
    root = course.new_course(tmp_path / "course")
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(f"\nc.Exchange.root = {str(tmp_path / 'hub' / 'exchange')!r}\n")
    return root


@pytest.fixture
def browser() -> Iterator:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _log_in(browser, hub, user: str):
    """A browser window of user's own, the login form sent: the hub starts spawning their
    server (wait with _on_their_lab)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(hub.url("hub/login"))
    page.locator("#username_input").fill(user)
    page.locator("#password_input").fill(hub.password)
    page.locator("#login_submit").click()
    return page


def _on_their_lab(page, user: str):
    """Wait until the hub has sent the logged-in page on to user's JupyterLab."""
    from playwright.sync_api import expect

    # the hub spawns the server, then sends the browser on to /user/USER/lab
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=GRADE_MS)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible()
    return page


def _formgrader_action(page, row, action: str, done: str, timeout: int = WAIT_MS) -> None:
    """Click a formgrader row's action link; wait for its success dialog, then close it."""
    from playwright.sync_api import expect

    row.locator(f".{action} a").click()
    modal = page.locator("#success-modal, #error-modal")
    expect(modal).to_be_visible(timeout=timeout)
    text = modal.inner_text()
    assert modal.get_attribute("id") == "success-modal" and done in text, text[-4000:]
    modal.get_by_role("button", name="OK").click()
    expect(modal).to_have_count(0)


def _assignment_list(page):
    page.get_by_role("menuitem", name="Nbgrader").click()
    page.get_by_role("menuitem", name="Assignment List").click()


def _student_validates(page, hub, student: str, snap) -> None:
    """Fetch in the Assignments tab, type the answers, press Validate (the validation runs
    in the student's server meanwhile: _student_submits waits for its result)."""
    from playwright.sync_api import expect

    _assignment_list(page)
    released = page.locator("#released_assignments_list .list_item").filter(has_text=W2)
    expect(released).to_contain_text(COURSE_ID)
    released.get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item").filter(has_text=W2)
    expect(fetched.first).to_be_visible()
    assert (hub.home(student) / W2 / f"{W2}.ipynb").is_file()
    snap("fetched")

    page.goto(hub.url(f"user/{student}/lab/tree/{W2}/{W2}.ipynb"))
    panel = page.locator(".jp-NotebookPanel:visible")
    notebook = panel.locator(".jp-Notebook")
    expect(notebook.locator(".jp-Cell").first).to_be_visible()
    for name, source in STUDENTS[student].items():
        cell = code_cell(notebook, f"def {name}(")
        expect(cell).to_have_count(1)
        replace_source(cell, source)

    # Validate saves the notebook, then runs it as the grader will (the visible tests)
    panel.locator(".validate-button").click()


def _student_submits(page, student: str, snap) -> None:
    """Validate's result for the student's answers, then Submit in the Assignments tab."""
    from playwright.sync_api import expect

    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    expect(dialog).to_be_visible(timeout=GRADE_MS)
    if student == "bob":
        failed = dialog.locator(".validation-failed")
        expect(failed).to_contain_text("output_delta")
        expect(failed).to_contain_text("[M3]")
    else:
        expect(dialog.locator(".validation-success")).to_contain_text(
            "Success! Your notebook passes all the tests."
        )
    snap("validated")
    dialog.get_by_role("button", name="Ok").click()
    expect(dialog).to_have_count(0)

    _assignment_list(page)
    fetched = page.locator("#fetched_assignments_list .list_item").filter(has_text=W2)
    fetched.get_by_role("button", name="Submit").first.click()
    submitted = page.locator("#submitted_assignments_list .list_item").filter(has_text=W2)
    expect(submitted).to_have_count(1)
    snap("submitted")


def _student_reads_feedback(page, hub, student: str, hidden: list[str], snap) -> None:
    """Fetch Feedback in the Assignments tab, then open the feedback page."""
    from playwright.sync_api import expect

    _assignment_list(page)
    submitted = page.locator("#submitted_assignments_list .list_item").filter(has_text=W2)
    submitted.get_by_role("button", name="Fetch Feedback").click()
    expect(submitted.get_by_text("(view feedback)")).to_be_visible()
    snap("feedback-fetched")
    pages = list((hub.home(student) / W2 / "feedback").glob(f"*/{W2}.html"))
    assert len(pages) == 1, pages
    relative = pages[0].relative_to(hub.home(student)).as_posix()
    page.goto(hub.url(f"user/{student}/files/{relative}"))
    body = page.locator("body")
    expect(body).to_contain_text(f"{W2} (Score: {MARKS[student]})")
    shown = body.inner_text()
    html = page.content()
    leaked = [line for line in hidden if line in html]
    assert not leaked, f"{student}'s feedback page shows hidden test code: {leaked}"
    # the graded test cell's error names the function and the mistake (the notebook's own
    # text shows other mistakes, [M6], on purpose)
    if student == "bob":
        assert "CheckFailure: output_delta: [M3]" in shown, shown[-3000:]
        expect(body).to_contain_text("a sign flip")
    else:
        assert "CheckFailure: output_delta" not in shown and "[M3]" not in shown, shown[-3000:]
    snap("feedback")


def test_a_class_on_the_hub_in_the_browser(tmp_path: Path, browser):
    """The class, end to end (the module's docstring); then the hub is left by an exception,
    as a failing test leaves it: the hub, its proxy, the three users' servers and their
    kernels all stop (running_hub's promise)."""
    root = _instructors_course(tmp_path)
    with pytest.raises(ScenarioOver):
        with running_hub(tmp_path / "hub", root, INSTRUCTOR, list(STUDENTS)) as hub:
            assert answers(hub.url("hub/health"))
            _a_class_on_the_hub(hub, root, browser)
            started = [psutil.Process(pid) for pid in hub.processes()]
            assert len(started) >= 5, f"the hub, its proxy and 3 users' servers: {started}"
            raise ScenarioOver
    assert not answers(hub.url("hub/health"))
    assert not hub.processes()
    # ended: gone, or a zombie (the users' servers and kernels end as orphans of the stopped
    # hub, and this machine's init may reap them late)
    running = [p for p in started if _running(p)]
    assert not running, f"still running after the hub stopped: {running}"


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _a_class_on_the_hub(hub, root: Path, browser) -> None:
    """Every step of the module's docstring, clicked. The students log in while the
    instructor releases, and validate at the same time (two servers, as on a real hub)."""
    from playwright.sync_api import expect

    assert hub.root / "exchange" == root.parent / "hub" / "exchange"
    hidden = _hidden_lines()
    assert hidden
    teacher = _on_their_lab(_log_in(browser, hub, INSTRUCTOR), INSTRUCTOR)
    # the students' servers start while the instructor generates and releases
    pages = {student: _log_in(browser, hub, student) for student in STUDENTS}
    with screenshots(teacher, "hub-instructor") as snap:
        teacher.goto(hub.url(f"user/{INSTRUCTOR}/formgrader/manage_assignments"))
        row = teacher.locator("tr").filter(has_text=W2)
        # Generate (nbgrader generate_assignment: release/ and the gradebook), then Release
        _formgrader_action(
            teacher, row, "assign", f"Successfully created the student version of '{W2}'"
        )
        expect(row.locator(".release a")).to_be_visible()
        _formgrader_action(teacher, row, "release", f"Successfully released '{W2}'")
        expect(row.locator(".status")).to_contain_text("released")
        snap("released")

    for student in STUDENTS:
        page = _on_their_lab(pages[student], student)
        with screenshots(page, f"hub-{student}") as snap:
            _student_validates(page, hub, student, snap)
    for student in STUDENTS:
        with screenshots(pages[student], f"hub-{student}-submit") as snap:
            _student_submits(pages[student], student, snap)

    with screenshots(teacher, "hub-instructor-grading") as snap:
        teacher.goto(hub.url(f"user/{INSTRUCTOR}/formgrader/manage_assignments"))
        row = teacher.locator("tr").filter(has_text=W2)
        _formgrader_action(teacher, row, "collect", "Successfully collected submissions")
        expect(row.locator(".num-submissions")).to_contain_text(str(len(STUDENTS)))
        snap("collected")
        teacher.goto(hub.url(f"user/{INSTRUCTOR}/formgrader/manage_submissions/{W2}"))
        for student in STUDENTS:
            srow = teacher.locator("tbody tr").filter(has_text=student)
            expect(srow.locator(".autograde a")).to_be_visible()
            _formgrader_action(
                teacher,
                srow,
                "autograde",
                f"Successfully autograded '{W2}' for student '{student}'",
                timeout=GRADE_MS,
            )
            expect(srow.locator(".score")).to_contain_text(MARKS[student].replace(".0", ""))
        snap("autograded")
        teacher.goto(hub.url(f"user/{INSTRUCTOR}/formgrader/manage_assignments"))
        row = teacher.locator("tr").filter(has_text=W2)
        _formgrader_action(
            teacher, row, "generate-feedback", "Successfully generated feedback", timeout=GRADE_MS
        )
        _formgrader_action(teacher, row, "release-feedback", "Successfully released feedback")
        snap("feedback-released")

    # formgrader graded through the course's route: sandboxed kernels, then verification
    from grader.pipeline.verified import current_record, unverified_reason

    for student in STUDENTS:
        record = current_record(root, student, W2)
        assert record is not None, f"{student}: no verification record for the graded notebook"
        assert not record.kernel and not record.error, record
        assert not unverified_reason(root, student, W2)
        if shutil.which("bwrap"):
            assert not record.sandbox, f"{student} was graded outside bubblewrap: {record.sandbox}"
    for student in STUDENTS:
        with screenshots(pages[student], f"hub-{student}-feedback") as snap:
            _student_reads_feedback(pages[student], hub, student, hidden, snap)
