"""Feedback pages are readable: nbgrader's feedback template, with the course's CSS step
(`ReadablePageCSS` after nbconvert's `CSSHTMLHeaderPreprocessor`), wraps long output lines
inside their box and draws markdown tables with padding and borders.

The page is rendered with nbgrader's own feedback template (as `generate_feedback` does) but
without a gradebook; Chromium, when installed, measures the result.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

from grader.pipeline.feedback import FEEDBACK_PREPROCESSORS, READABLE_CSS, ReadablePageCSS

LONG = (
    "CheckFailure: grad_W2 has the right shape but the wrong values; did you multiply by "
    "the transpose of the hidden activations (a1.T @ delta2) rather than delta2 @ a1? "
) * 3


def _page(
    tmp_path: Path,
    *,
    readable: bool = True,
    outputs: list | None = None,
    extra: list | None = None,
    nb: nbformat.NotebookNode | None = None,
) -> Path:
    """A feedback page of a notebook with a markdown table and a code cell with `outputs`
    (default: one long line on stdout)."""
    import nbgrader

    base = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    given = nb
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "| check | passed |\n|---|---|\n| visible test | yes |\n| hidden test | no |"
        ),
        nbformat.v4.new_code_cell(
            "check()",
            outputs=outputs or [nbformat.v4.new_output("stream", name="stdout", text=LONG + "\n")],
        ),
    ]
    nb = given or nb
    exporter = HTMLExporter(
        template_name="feedback",
        extra_template_basedirs=[str(base / "templates")],
        extra_template_paths=[str(base / "static" / "node_modules" / "bootstrap" / "dist" / "css")],
    )
    exporter.register_preprocessor(CSSHTMLHeaderPreprocessor, enabled=True)
    if readable:
        exporter.register_preprocessor(ReadablePageCSS, enabled=True)
    for preprocessor in extra or []:
        exporter.register_preprocessor(preprocessor, enabled=True)
    resources = {"nbgrader": {"notebook": "nb", "score": 1, "max_score": 2, "late_penalty": 0}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    path = tmp_path / ("page.html" if readable else "plain.html")
    path.write_text(body, encoding="utf-8")
    return path


def test_the_readable_css_comes_after_the_header_css_in_the_course_list():
    """CSSHTMLHeaderPreprocessor replaces the inlined CSS: ours must run after it."""
    css = FEEDBACK_PREPROCESSORS.index("nbconvert.preprocessors.CSSHTMLHeaderPreprocessor")
    assert FEEDBACK_PREPROCESSORS.index("grader.pipeline.feedback.ReadablePageCSS") > css


def test_feedback_page_inlines_wrapping_and_table_css(tmp_path: Path):
    text = _page(tmp_path).read_text(encoding="utf-8")
    assert READABLE_CSS.strip() in text
    assert "white-space: pre-wrap" in text and "overflow-wrap: anywhere" in text
    assert "<table>" in text and LONG[:60] in text
    assert READABLE_CSS.strip() not in _page(tmp_path, readable=False).read_text()


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed")
def test_long_lines_wrap_and_table_cells_are_padded_in_chromium(tmp_path: Path):
    """Measured in the browser: the output `pre` needs no sideways scrolling and the table
    cells have padding and a border; without the course's CSS neither holds."""
    import playwright.sync_api as playwright

    def measure(page_path: Path) -> dict:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(page_path.as_uri())
        found = page.evaluate(
            """() => {
              const pre = document.querySelector('div.output_area pre');
              const td = document.querySelector('.text_cell_render td');
              const s = getComputedStyle(td);
              return {scroll: pre.scrollWidth, client: pre.clientWidth,
                      pad: parseFloat(s.paddingLeft), border: parseFloat(s.borderLeftWidth)};
            }"""
        )
        page.close()
        return found

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            readable = measure(_page(tmp_path))
            plain = measure(_page(tmp_path, readable=False))
        finally:
            browser.close()
    assert plain["scroll"] > plain["client"], plain  # the test can see the problem
    assert readable["scroll"] <= readable["client"], readable
    assert readable["pad"] >= 4 and readable["border"] >= 1, readable


def _skipped_cell_outputs() -> list:
    """What SandboxedExecute puts in a code cell after the last graded cell (no kernel is
    started: the cell is never run)."""
    from jupyter_core.utils import run_sync

    from grader.sandbox.execute import SandboxedExecute

    ep = SandboxedExecute(skip_after_graded=True)
    ep._last_graded = 1
    cell = nbformat.v4.new_code_cell("plt.plot(losses); print('after the last test')")
    run_sync(ep.async_execute_cell)(cell, 2)
    return cell.outputs


def test_a_cell_after_the_last_test_gets_the_figure_notes_box():
    """The skipped cell's note is a display output in the figure note's dashed box (not
    stdout text that looks like the cell's own output), with a plain-text fallback."""
    from grader.sandbox.execute import SKIPPED_NOTE
    from grader.sandbox.notes import NOTE_STYLE

    (out,) = _skipped_cell_outputs()
    assert out.output_type == "display_data"
    assert out.data["text/plain"] == f"[{SKIPPED_NOTE}]"
    assert NOTE_STYLE in out.data["text/html"] and "cannot change your grade" in SKIPPED_NOTE
    figure_note = Path(__file__).parent.parent / "grader" / "sandbox" / "nofigures.py"
    assert "note_html(" in figure_note.read_text()  # the figure note: the same box
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[out])])
    nbformat.validate(nb)


def test_the_skipped_note_shows_as_a_box_on_the_feedback_page(tmp_path: Path):
    from grader.sandbox.execute import SKIPPED_NOTE
    from grader.sandbox.notes import note_html

    nb_outputs = _skipped_cell_outputs()
    page = _page(tmp_path, outputs=nb_outputs).read_text(encoding="utf-8")
    assert note_html(SKIPPED_NOTE) in page
    assert f"[{SKIPPED_NOTE}]" not in page  # the HTML is shown, not the text fallback


def _graded_cell(gid: str, score: float, points: float, outputs: list | None = None):
    meta = {"grade": True, "solution": False, "grade_id": gid, "points": points, "score": score}
    return nbformat.v4.new_code_cell(
        f"check({gid})", outputs=outputs or [], metadata={"nbgrader": meta}
    )


def _summary_notebook() -> nbformat.NotebookNode:
    """A graded notebook as GetGrades leaves it: output_delta failed with [M3], grad_W2 passed."""
    from nbformat.v4 import new_output

    answer = {"grade": False, "solution": True, "grade_id": "output_delta"}
    failure = new_output(
        "error",
        ename="CheckFailure",
        evalue="output_delta: [M3] a sign flip: your answer equals minus the expected answer.",
        traceback=["CheckFailure: ..."],
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 04 · Backpropagation"),
        nbformat.v4.new_code_cell("def output_delta(Y_hat, Y): ...", metadata={"nbgrader": answer}),
        _graded_cell("test_output_delta", 0, 1, [failure]),
        _graded_cell("hidden_test_output_delta", 0, 2, [failure]),
        _graded_cell("test_grad_W2", 1, 1),
        _graded_cell("hidden_test_grad_W2", 2, 2),
    ]
    return nb


def test_the_summary_names_each_function_its_points_and_its_mistake():
    from grader.pipeline.feedback_summary import FeedbackSummary

    nb, _ = FeedbackSummary().preprocess(_summary_notebook(), {})
    summary = nb.cells[0].source
    assert summary.startswith("# Summary: 3 of 6 points")
    lines = [line for line in summary.splitlines() if line.startswith("- ")]
    assert len(lines) == 2
    assert lines[0].startswith("- [`output_delta`: 0 of 3 points](#test_output_delta)")
    assert "sign flip" in lines[0] and "\\[M3\\]" in lines[0]
    assert "output\\\\_delta" not in lines[0]  # the message's "output_delta: " is dropped
    assert lines[1] == "- [`grad_W2`: 3 of 3 points](#test_grad_W2). Every test passes."
    # a heading before the answer cell of each function, and nothing added twice
    assert nb.cells[2].source == "### Your `output_delta`: 0 of 3 points"
    again, _ = FeedbackSummary().preprocess(nb, {})
    assert len(again.cells) == len(_summary_notebook().cells) + 2


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed")
def test_a_feedback_page_passes_axe_core_wcag_21_aa(tmp_path: Path):
    """The page nbgrader's template makes with the course's preprocessors (summary, CSS,
    `<html lang>`) has no WCAG 2.1 A/AA violation that axe-core finds in Chromium."""
    import playwright.sync_api as playwright

    from grader.pipeline.feedback_summary import (
        AccessiblePageCSS,
        FeedbackSummary,
        declare_language,
    )
    from tests.browser_tools import axe_violations

    nb, _ = FeedbackSummary().preprocess(_summary_notebook(), {})
    page_path = _page(tmp_path, extra=[AccessiblePageCSS], nb=nb)
    declare_language(page_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(page_path.as_uri())
            assert page.locator("h1", has_text="Summary: 3 of 6 points").count() == 1
            # the summary's h1 is the first heading a screen reader meets, then the title;
            # nbgrader's score panel (h4, unnamed "Test cell" links) is hidden, not read
            levels = page.evaluate(
                """() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
                    .filter(h => h.checkVisibility())
                    .map(h => h.tagName + ' ' + h.textContent.trim())"""
            )
            assert levels[0].startswith("H1 Summary") and levels[1].startswith("H1 04"), levels
            assert page.get_by_role("link", name="Test cell").count() == 0
            assert page.get_by_role("heading", level=4).count() == 0
            violations = axe_violations(page)
        finally:
            browser.close()
    assert violations == [], violations


def test_a_long_message_is_cut_at_a_sentence_end_in_the_summary():
    from grader.pipeline.feedback_summary import MESSAGE_CHARS, mistake_in_words

    first = "output_delta: [M6] your answer is multiplied by the derivative of the sigmoid. "
    rest = "It divides by n twice, which is already an average of the loss over rows " * 4
    message = f"CheckFailure: {first}{rest}\nWhere to look: the line that returns."
    words = mistake_in_words(message, "output_delta")
    assert not words.lower().startswith("output_delta")
    assert "sigmoid. Where to look: the line that returns." in words
    assert "already an" not in words and len(words) < MESSAGE_CHARS + 60
    # a first sentence too long to show is cut at a word and says so
    long = mistake_in_words("x " * 300, "")
    assert long.endswith("….") and len(long) <= MESSAGE_CHARS
