"""The notes grading leaves where a student would see output it did not make: a figure not
drawn (grader.sandbox.nofigures, in the kernel) and a cell not run because it comes after
the last graded cell (grader.sandbox.execute). Both are display outputs, HTML in one dashed
box style with a plain-text fallback, so a feedback page shows them as notes, not as output.

Import-free: the grading kernel imports it through nofigures.
"""

from __future__ import annotations

import html

#: The box every note is drawn in (wraps, never wider than the page).
NOTE_STYLE = (
    "border:1px dashed #999;padding:0.6em 1em;color:#555;font-style:italic;"
    "white-space:normal;overflow-wrap:anywhere"
)


def note_html(text: str) -> str:
    """`text` (plain) in the notes' dashed box."""
    return f'<div style="{NOTE_STYLE}">{html.escape(text, quote=False)}</div>'


def note_output(text: str, html_text: str | None = None) -> dict[str, dict]:
    """The mime bundle of a display output: the box, and `text` as plain text."""
    return {"text/plain": f"[{text}]", "text/html": note_html(html_text or text)}
