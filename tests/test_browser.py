"""What a student and an instructor see in JupyterLab, checked in a real browser.

A real `jupyter lab` (started as `make lab` starts it, on 127.0.0.1, a free port, a token) and
Debian's Chromium driven by Playwright. Every assertion is on what is on screen: rendered
math, a test cell's output, nbgrader's dialogs, panels and formgrader pages. Each scenario
saves screenshots to test-artifacts/browser/ (git-ignored), and one more when it fails.

1. a learner in notebook 04: math rendered, a sign flip named [M3], the fix passes, a figure;
2. a learner's Validate button: a failing function reported, a finished notebook accepted;
3. a student in a class: the Assignments tab lists the released assignment, fetch, submit;
4. an instructor: formgrader lists an autograded class with its scores, and a submission
   whose verdict verification overrode shows it as the automatic score and comment;
5. a learner's figures carry their descriptions as alt text, and what the course puts in the
   notebook (markdown, outputs) has no axe-core WCAG 2.1 A/AA violation.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grader import course
from tests.browser_tools import (
    CHROMIUM_ARGS,
    DONE_PROMPT,
    WAIT_MS,
    LabServer,
    ScenarioOver,
    answers,
    axe_violations,
    browser_skip_reason,
    chromium_path,
    code_cell,
    current_panel,
    lab_server,
    make_learner_workspace,
    open_notebook,
    replace_source,
    run_cell,
    screenshots,
)

SKIP = browser_skip_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=str(SKIP))]

W2 = "04_backprop_W2"
FF = "03_feedforward"
SIG = "02_sigmoid_derivative"
COURSE_ID = "backprop-course"

OUTPUT_DELTA_SIGN_FLIP = '''def output_delta(Y_hat, Y):
    """delta2, with the subtraction the wrong way round."""
    return (Y - Y_hat) * Y_hat * (1 - Y_hat)
'''
OUTPUT_DELTA = '''def output_delta(Y_hat, Y):
    """delta2 = dL/dZ2."""
    return (Y_hat - Y) * Y_hat * (1 - Y_hat)
'''
GRAD_W2 = '''def grad_W2(H, delta2):
    """dL/dW2 = H^T delta2."""
    return H.T @ delta2
'''
GRAD_B2 = '''def grad_b2(delta2):
    """dL/db2: the column sums of delta2."""
    return delta2.sum(axis=0)
'''
SSE_LOSS_NO_HALF = '''def sse_loss(Y_hat, Y):
    """The loss, without the 1/2."""
    return float(np.sum((np.asarray(Y_hat) - np.asarray(Y)) ** 2))
'''
SSE_LOSS = '''def sse_loss(Y_hat, Y):
    """Halved sum of squared errors."""
    return float(0.5 * np.sum((np.asarray(Y_hat) - np.asarray(Y)) ** 2))
'''
#: A test cell's pass line names the function and says it is right.
PASSES = re.compile(r"output_delta\b.*\b(right|pass|passed|correct)\b", re.IGNORECASE)
#: Raw TeX left in rendered markdown: $...$ or $$...$$.
RAW_TEX = re.compile(r"\$[^$\s][^$]*\$")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser) -> Iterator:
    """new_page(): a fresh browser window (own cookies), closed after the test."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def learner_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on a learner's workspace (the release notebooks and their companions), with
    `make lab`'s learner configuration (nbgrader's Validate button, not its instructor tools)."""
    tmp = tmp_path_factory.mktemp("learner")
    workspace = make_learner_workspace(tmp / "workspace")
    with lab_server(workspace, tmp / "jupyter", learner=True) as lab:
        yield lab


def _student_copy(assignment: str) -> nbformat.NotebookNode:
    """The release notebook with the instructor's solutions typed in (an honest finished
    notebook), built from the repository's source/ and release/."""
    from tests.attacks import student_copy

    def read(folder: str) -> nbformat.NotebookNode:
        path = course.REPO_ROOT / folder / assignment / f"{assignment}.ipynb"
        return nbformat.read(path, as_version=4)

    return student_copy(read("source"), read("release"))


#: The class for formgrader: student id -> the submission of tests/attacks they hand in.
CLASS = {"ada": "honest_full", "grace": "honest_partial", "mallory": "ast_transformer"}
OVERRIDDEN = "mallory"
#: Setting up the class (nbgrader generate/release, autograde) may take this long (seconds).
CLASS_TIMEOUT = 900


def _release_class(tmp: Path) -> dict[str, Path]:
    """An instructor's course (04 generated and released) and a local nbgrader exchange."""
    exchange = tmp / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    root = course.new_course(tmp / "course")
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    course.generate_release(root, [W2])
    course.run_nbgrader(["release_assignment", W2], root, timeout=CLASS_TIMEOUT)
    return {"root": root, "exchange": exchange, "tmp": tmp}


def _grade_class(released: Future) -> Path:
    """The class course with CLASS's submissions graded by `backprop-grader autograde`."""
    from tests.attacks import SUBMISSIONS

    root = released.result()["root"]
    honest = _student_copy(W2)
    for student, kind in CLASS.items():
        SUBMISSIONS[kind].write(root / "submitted" / student / W2, honest)
    env = course.tool_env()
    proc = subprocess.run(
        [
            shutil.which("backprop-grader", path=env["PATH"]) or "backprop-grader",
            "autograde",
            W2,
            "--course",
            str(root),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLASS_TIMEOUT,
    )
    assert proc.returncode == 0, f"autograde failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return root


@pytest.fixture(scope="module", autouse=True)
def class_jobs(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Builds the class (release, then autograde) in a background thread as soon as the
    module starts, while the learner scenarios use the browser; only what the selected
    tests need."""
    needs = set()
    for item in request.session.items:
        if item.module is request.module:
            needs |= {"class_course", "graded_class"} & set(item.fixturenames)
    if not needs:
        yield {}
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="class")
    jobs = {"class_course": pool.submit(_release_class, tmp_path_factory.mktemp("class"))}
    if "graded_class" in needs:
        jobs["graded_class"] = pool.submit(_grade_class, jobs["class_course"])
    try:
        yield jobs
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def class_course(class_jobs: dict) -> dict[str, Path]:
    return class_jobs["class_course"].result(timeout=CLASS_TIMEOUT)


@pytest.fixture(scope="module")
def graded_class(class_jobs: dict) -> Path:
    return class_jobs["graded_class"].result(timeout=CLASS_TIMEOUT)


# --------------------------------------------------------------------------- 1. learner, 04


def test_learner_sees_math_the_m3_message_the_pass_line_and_a_figure(learner_lab, new_page):
    from playwright.sync_api import expect

    page = new_page()
    with screenshots(page, "1-learner-04") as snap:
        notebook = open_notebook(page, learner_lab, f"{W2}/{W2}.ipynb")

        # The intro's LaTeX is typeset by MathJax; no raw $...$ is left on screen.
        intro = notebook.locator(".jp-MarkdownCell").first
        expect(intro.locator("mjx-container").first).to_be_visible()
        assert intro.locator("mjx-container").count() >= 2
        intro_text = intro.locator(".jp-RenderedMarkdown").inner_text()
        assert not RAW_TEX.search(intro_text), f"raw TeX in the intro: {intro_text[:500]}"
        snap("intro")

        # The cells above the stub (a cell is found by its first line: CodeMirror only
        # draws the lines of a long cell that are on screen).
        for text in ("import numpy as np", "def sigmoid(z)"):
            run_cell(code_cell(notebook, text))

        stub = code_cell(notebook, "def output_delta(Y_hat, Y)")
        test = code_cell(notebook, re.compile(r"check\w*\(output_delta\)"))
        expect(stub).to_have_count(1)
        expect(test).to_have_count(1)

        # A sign flip: the test cell's output names the misconception.
        replace_source(stub, OUTPUT_DELTA_SIGN_FLIP)
        run_cell(stub)
        run_cell(test)
        output = test.locator(".jp-OutputArea")
        expect(output).to_contain_text("[M3]")
        expect(output).to_contain_text("output_delta")
        test.scroll_into_view_if_needed()
        snap("m3")

        # Fixed: the same test cell shows the pass line and no error.
        replace_source(stub, OUTPUT_DELTA)
        run_cell(stub)
        run_cell(test)
        expect(output).to_contain_text(PASSES)
        expect(output).not_to_contain_text("[M3]")
        expect(output.locator('[data-mime-type="application/vnd.jupyter.stderr"]')).to_have_count(0)
        snap("pass")

        # The other two functions, then Run All: every cell runs (Run All stops at the first
        # error) and the gradient check draws its figure.
        for name, source in (("grad_W2", GRAD_W2), ("grad_b2", GRAD_B2)):
            cell = code_cell(notebook, f"def {name}(")
            replace_source(cell, source)
            run_cell(cell)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        image = notebook.locator(".jp-OutputArea-output img").first
        expect(image).to_be_visible()
        prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt")
        last = prompts.nth(prompts.count() - 1)
        expect(last).to_have_text(DONE_PROMPT)
        image.scroll_into_view_if_needed()
        size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        box = image.bounding_box()
        assert size[0] > 0 and size[1] > 0, f"the figure has no pixels: {size}"
        assert box and box["width"] > 50 and box["height"] > 50, f"figure drawn at {box}"
        snap("figure")


# --------------------------------------------------------------------------- 2. Validate


def _validate(page):
    """Click nbgrader's Validate button; returns the results dialog once it is shown."""
    from playwright.sync_api import expect

    current_panel(page).locator(".validate-button").click()
    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    expect(dialog).to_be_visible()
    return dialog


def test_learner_validate_reports_a_failing_function_then_success(learner_lab, new_page):
    from playwright.sync_api import expect

    # The learner has written forward and sse_loss, sse_loss without its 1/2 (M4).
    nb = _student_copy(FF)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "sse_loss":
            cell.source = SSE_LOSS_NO_HALF
    nbformat.write(nb, learner_lab.root / FF / f"{FF}.ipynb")

    page = new_page()
    with screenshots(page, "2-validate") as snap:
        notebook = open_notebook(page, learner_lab, f"{FF}/{FF}.ipynb")
        dialog = _validate(page)
        failed = dialog.locator(".validation-failed")
        expect(failed).to_be_visible()
        expect(failed).to_contain_text("sse_loss")
        expect(failed).to_contain_text("[M4]")
        expect(dialog).not_to_contain_text("Success")
        snap("failed")
        dialog.get_by_role("button", name="Ok").click()
        expect(dialog).to_have_count(0)

        # Fixed in the browser; Validate saves the notebook first, then passes.
        replace_source(code_cell(notebook, "def sse_loss("), SSE_LOSS)
        dialog = _validate(page)
        expect(dialog.locator(".validation-success")).to_contain_text(
            "Success! Your notebook passes all the tests."
        )
        snap("success")
        dialog.get_by_role("button", name="Ok").click()


# --------------------------------------------------------------------------- 3. exchange


def test_student_fetches_and_submits_from_the_assignments_tab(class_course, new_page):
    """The student's own lab (the exchange in its nbgrader config); at the end the server is
    left by an exception and is stopped (lab_server's promise: no jupyter lab left behind
    by a failing test)."""
    from playwright.sync_api import expect

    tmp = class_course["tmp"]
    home, work = tmp / "student-jupyter", tmp / "student-home"
    (home / "config").mkdir(parents=True)
    work.mkdir()
    (home / "config" / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(class_course['exchange'])!r}\n"
        # the student's record of what they submitted (else in ~/.local/share/jupyter)
        f"c.Exchange.cache = {str(home / 'nbgrader_cache')!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n",
        encoding="utf-8",
    )
    # The server is left by an exception at the end, as a failing test leaves it: it stops.
    with pytest.raises(ScenarioOver):
        with lab_server(work, home) as lab:
            page = new_page()
            with screenshots(page, "3-exchange") as snap:
                page.goto(lab.url("lab"))
                page.get_by_role("menuitem", name="Nbgrader").click()
                page.get_by_role("menuitem", name="Assignment List").click()

                released = page.locator("#released_assignments_list .list_item").filter(has_text=W2)
                expect(released).to_be_visible()
                expect(released).to_contain_text(COURSE_ID)
                snap("released")
                released.get_by_role("button", name="Fetch").click()

                fetched = page.locator("#fetched_assignments_list .list_item").filter(has_text=W2)
                expect(fetched.first).to_be_visible()
                expect(page.locator("#released_assignments_list")).not_to_contain_text(W2)
                submitted = page.locator("#submitted_assignments_list .list_item").filter(
                    has_text=W2
                )
                expect(submitted).to_have_count(0)
                # The fetched folder is in the student's file browser (after a refresh).
                page.locator(".jp-FileBrowser").get_by_title(re.compile("^Refresh")).first.click()
                expect(page.locator(".jp-DirListing-item").filter(has_text=W2)).to_be_visible()
                snap("fetched")
                fetched.get_by_role("button", name="Submit").first.click()

                # Exactly one submission, with its time stamp.
                expect(submitted).to_have_count(1)
                stamps = submitted.get_by_text(re.compile(r"^\s*\d{4}-\d{2}-\d{2} \d{2}:\d{2}"))
                expect(stamps).to_have_count(1)
                snap("submitted")
            raise ScenarioOver
    assert not answers(lab.url("api/status"))
    with pytest.raises(ProcessLookupError):
        os.kill(lab.pid, 0)


# --------------------------------------------------------------------------- 4. formgrader


def test_instructor_sees_scores_and_the_overridden_verdict_in_formgrader(
    graded_class, new_page, tmp_path
):
    from playwright.sync_api import expect

    from tests.attacks import SUBMISSIONS

    expected = {s: sum(SUBMISSIONS[kind].cells.values()) for s, kind in CLASS.items()}
    total = sum(SUBMISSIONS["honest_full"].cells.values())
    with lab_server(graded_class, tmp_path / "instructor-jupyter") as lab:
        page = new_page()
        with screenshots(page, "4-formgrader") as snap:
            page.goto(lab.url("lab"))
            page.get_by_role("menuitem", name="Nbgrader").click()
            page.get_by_role("menuitem", name="Formgrader").click()
            grader = page.frame_locator("iframe").first
            grader.get_by_role("link", name="Manage Students").click()

            for student, score in expected.items():
                row = grader.locator("tr").filter(has_text=student)
                expect(row).to_contain_text(f"{score:g} / {total:g}")
            snap("students")

            grader.locator("tr").filter(has_text=OVERRIDDEN).get_by_role("link").first.click()
            grader.get_by_role("link", name=W2).first.click()
            row = grader.locator("tr").filter(has_text=W2)
            expect(row.locator(".flagged .glyphicon-flag")).to_be_visible()
            grader.get_by_role("link", name=W2).first.click()

            # The grading page: the overridden cells show the verified verdict as nbgrader's
            # automatic score (the placeholder) and the verification's reason as the automatic
            # comment; the fields for a score and comment given by hand stay empty (yours).
            overridden = [
                gid
                for gid, points in SUBMISSIONS[CLASS[OVERRIDDEN]].cells.items()
                if gid.endswith("grad_W2")
            ]
            assert overridden, "the overridden submission has no grad_W2 test cells"
            for gid in overridden:
                score = grader.locator(f"input.score#{gid}")
                expect(score).to_have_value("")
                expect(score).to_have_attribute("placeholder", re.compile(r"^0(\.0*)?$"))
            comment = grader.locator("textarea#grad_W2-comment")
            expect(comment).to_have_value("")
            expect(comment).to_have_attribute("placeholder", re.compile(r"\[verified\]"))
            comment.scroll_into_view_if_needed()
            snap("override")


# --------------------------------------------------------------------------- 5. accessible


def test_learner_figures_are_described_and_course_content_passes_axe(learner_lab, new_page):
    """Notebook 02, finished, run in the learner's lab: each figure is an <img> whose alt is
    its description (backprop_checks.figures.show), and axe-core finds no WCAG 2.1 A/AA
    violation in the rendered markdown and the outputs (JupyterLab's own controls are listed
    in docs/accessibility.md, not checked here)."""
    from backprop_checks.figures import MIN_DESCRIPTION
    from playwright.sync_api import expect

    nb = _student_copy(SIG)
    nbformat.write(nb, learner_lab.root / SIG / f"{SIG}.ipynb")
    drawn = sum("show(fig" in c.source for c in nb.cells if c.cell_type == "code")
    page = new_page()
    with screenshots(page, "5-accessible") as snap:
        notebook = open_notebook(page, learner_lab, f"{SIG}/{SIG}.ipynb")
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        images = notebook.locator(".jp-OutputArea-output img")
        expect(images).to_have_count(drawn)
        prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt")
        expect(prompts.nth(prompts.count() - 1)).to_have_text(DONE_PROMPT)
        alts = [images.nth(i).get_attribute("alt") or "" for i in range(images.count())]
        assert all(len(a) >= MIN_DESCRIPTION for a in alts), alts
        images.first.scroll_into_view_if_needed()
        snap("figures")
        for part in (".jp-OutputArea", ".jp-RenderedMarkdown"):
            assert axe_violations(page, part) == [], part
