"""The top of a feedback page: what a student can act on, and headings to jump between.

nbgrader's feedback template opens with a list of "Test cell (Score: 0.0 / 1.0)" links that
name no function. `FeedbackSummary` (one of `FEEDBACK_PREPROCESSORS`, after nbgrader's
`GetGrades`) puts a markdown cell first in the notebook:

    # Summary: 4 of 9 points
    - output_delta: 1 of 3 points. [M3] a sign flip: output_delta has ... (link: its test)
    - grad_W2: 3 of 3 points, every test passes. (link: its test)

one line per function the notebook grades, with the points of its test cells (visible and
hidden), the named mistake in plain words (the misconception's title from the course's
table, then the first line of the failing test's message) and a link to its visible test
cell (nbgrader's anchor, the cell's grade id). Before each function's answer cell it puts a
heading "Your FUNCTION: P of Q points", so a screen reader's heading list (and anyone's
scrolling) goes function by function. Messages are the ones the page shows further down, so
nothing hidden is added.

nbgrader's own score panel (an h4 with the notebook's score, then one "Test cell" link per
test) is hidden by `ACCESSIBLE_CSS` (`display: none`, so it leaves the accessibility tree
too): the summary replaces it, so the page's first heading is the summary's h1.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from traitlets import Bool

from grader.nbcells import grade_id, is_solution, is_test, nbgrader_meta
from grader.pipeline.failures import cell_message, definition_errors, function_of

#: Marks the cells this preprocessor adds (so running it twice adds nothing twice).
SUMMARY_KEY = "backprop_feedback_summary"
_TAG = re.compile(r"\[(M\d+)\]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|$~])")
#: A line of the summary says this much of a failing test's message at most.
MESSAGE_CHARS = 240


def _escape(text: str) -> str:
    """Plain text that markdown (and RenderMath's `$...$`) shows as written."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _points(x: float) -> str:
    return f"{x:g}"


def _shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    """`text` cut to at most `limit` characters at the end of a sentence; a first sentence
    longer than that is cut at a word, ending in "…" and a full stop."""
    if len(text) <= limit:
        return text
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", text) if m.end() <= limit]
    if ends:
        return text[: ends[-1]]
    cut = text[: limit - 2].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…."


def mistake_in_words(message: str, function: str = "") -> str:
    """The named mistake of a failing test's message, in plain words: the misconception's
    title from the course's table (e.g. "a sign flip") unless the message's first line says
    it already, that line (without a leading "FUNCTION: ", which the summary line names
    already, and cut at a sentence's end), and the message's "Where to look" line when it
    has one."""
    from backprop_checks.catalog import MISCONCEPTIONS

    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    first = re.sub(r"^(CheckFailure|AssertionError): ", "", first)
    if function and first.startswith(f"{function}:"):
        first = first[len(function) + 1 :].lstrip()
    first = _shorten(first)
    titles = [MISCONCEPTIONS[t] for t in dict.fromkeys(_TAG.findall(first)) if t in MISCONCEPTIONS]
    title = "; ".join(titles)
    lines = [ln.strip() for ln in message.splitlines()]
    look = next((ln for ln in lines if ln.startswith("Where to look")), "")
    where = f" {look}" if look and len(look) <= MESSAGE_CHARS else ""
    if title and title.lower() not in first.lower():
        return f"{title[0].upper()}{title[1:]}. {first}{where}"
    return f"{first}{where}" if first else "the test failed without a message"


def summarise(cells: list) -> tuple[str, dict[str, str]]:
    """(the summary cell's markdown, {function: its heading}) for a graded notebook whose
    test cells carry nbgrader's `score` and `points` (after `GetGrades`)."""
    broken = definition_errors(cells)
    functions: dict[str, dict] = {}
    for cell in cells:
        if not is_test(cell):
            continue
        gid = grade_id(cell) or ""
        fn = function_of(gid)
        meta = nbgrader_meta(cell)
        entry = functions.setdefault(fn, {"score": 0.0, "points": 0.0, "link": None, "why": []})
        entry["score"] += float(meta.get("score") or 0)
        entry["points"] += float(meta.get("points") or 0)
        if entry["link"] is None or not gid.startswith("hidden_"):
            entry["link"] = gid
        if float(meta.get("score") or 0) < float(meta.get("points") or 0):
            message = cell_message(cell, broken=broken)
            entry["why"].append(message or "the test did not pass")
    total = sum(e["score"] for e in functions.values())
    out_of = sum(e["points"] for e in functions.values())
    lines = [f"# Summary: {_points(total)} of {_points(out_of)} points", ""]
    headings = {}
    for fn, e in functions.items():
        points = f"{_points(e['score'])} of {_points(e['points'])} points"
        if e["why"]:
            what = _escape(mistake_in_words(e["why"][0], fn))
        else:
            what = "Every test passes."
        lines.append(f"- [`{fn}`: {points}](#{e['link']}). {what}")
        headings[fn] = f"### Your `{fn}`: {points}"
    if not functions:
        lines.append("This notebook has no graded tests.")
    return "\n".join(lines), headings


class FeedbackSummary(Preprocessor):
    """A summary cell first (one line per function: points, the named mistake, a link to
    its test) and a heading before each function's answer cell."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        if any(c.get("metadata", {}).get(SUMMARY_KEY) for c in nb.cells):
            return nb, resources
        text, headings = summarise(nb.cells)
        cells = [new_markdown_cell(text, metadata={SUMMARY_KEY: "summary"})]
        for cell in nb.cells:
            fn = grade_id(cell) if is_solution(cell) else None
            if fn in headings:
                cells.append(new_markdown_cell(headings.pop(fn), metadata={SUMMARY_KEY: fn}))
            cells.append(cell)
        nb.cells = cells
        return nb, resources


#: Added to a feedback page's inlined CSS (after `ReadablePageCSS`), for axe-core's WCAG 2.1
#: AA rules: links underlined and dark enough (nbgrader's panel links are #BBBBBB on grey,
#: Bootstrap's blue without underline inside text), the syntax highlighting's comments
#: and operator words darker than pygments' default (contrast below 4.5:1 on the code box),
#: and a traceback's colours (ANSI classes darker; IPython's inline 256-colour styles, such
#: as rgb(0,135,0) on the error box's pink, give way to the text colour); long code lines
#: wrap (a box that scrolls sideways cannot be scrolled from the keyboard). nbgrader's top
#: score panel (an h4 and unnamed "Test cell" links) is hidden: the summary replaces it.
ACCESSIBLE_CSS = """
body > .container > .panel > .panel-heading {
  display: none;
}
a, a:visited, div.nbgrader_cell .panel-heading a {
  color: #0b4a8b;
  text-decoration: underline;
}
div.nbgrader_cell .panel-heading a:focus, a:focus {
  outline: 2px solid #0b4a8b;
  outline-offset: 2px;
}
.highlight .c, .highlight .c1, .highlight .ch, .highlight .cm, .highlight .cp,
.highlight .cpf, .highlight .cs {
  color: #3a5f5f;
}
.highlight .ow, .highlight .nd {
  color: #6f1f99;
}
.highlight .se, .highlight .si {
  color: #80401a;
}
div.nbgrader_cell.panel-primary > .panel-heading a {
  color: #ffffff;
}
.ansi-red-fg { color: #a1161a; }
.ansi-green-fg { color: #1a6b1a; }
.ansi-yellow-fg { color: #7a5c00; }
.ansi-blue-fg { color: #1f4fbf; }
.ansi-magenta-fg { color: #8a2a8a; }
.ansi-cyan-fg { color: #00687a; }
div.input_area pre {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
div.output_area pre span[style*="color"] {
  color: inherit !important;
}
"""


class AccessiblePageCSS(Preprocessor):
    """`ACCESSIBLE_CSS` appended to the page's inlined CSS (runs after nbconvert's
    `CSSHTMLHeaderPreprocessor`, which replaces that list)."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        inlining = resources.setdefault("inlining", {})
        inlining["css"] = [*inlining.get("css", []), ACCESSIBLE_CSS]
        return nb, resources


_HTML_TAG = re.compile(r"<html(?=[\s>])(?![^>]*\blang=)", re.I)


def declare_language(page, lang: str = "en") -> None:
    """Give a written page's `<html>` a `lang` (nbgrader's feedback template has none, so a
    screen reader guesses the language to read it in)."""
    text = page.read_text(encoding="utf-8")
    new = _HTML_TAG.sub(f'<html lang="{lang}"', text, count=1)
    if new != text:
        page.write_text(new, encoding="utf-8")
