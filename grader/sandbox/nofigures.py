"""A matplotlib backend for grading kernels: figures are built but never drawn.

Rendering a figure to PNG costs 0.3-1.2 s and no grade depends on it, so the warm grading
kernels (grader.sandbox.zygote) use `module://grader.sandbox.nofigures` instead of
matplotlib-inline. Student code still runs in full (every `plt.plot`, `ax.contourf`, ... is
executed, so an error in plotting code is still an error); only the final drawing is left
out. Where the inline backend would show a figure (`plt.show()`, or a figure still open at
the end of a cell) the cell gets a one-line note instead, so a feedback page says where a
figure belongs and that it appears when the student runs the notebook. `plt.show()` prints
no warning (matplotlib's Agg backend would warn that it cannot show).

`%matplotlib inline` in a notebook keeps this backend (see `neutralise_magic`).
"""

from __future__ import annotations

from typing import Any

from matplotlib.backend_bases import FigureManagerBase, _Backend
from matplotlib.backends.backend_agg import FigureCanvasAgg

from grader.sandbox.notes import note_html

#: This module as a matplotlib backend (MPLBACKEND, matplotlib.use).
BACKEND = f"module://{__name__}"
#: The note shown in place of each figure (a cell output; feedback pages show it).
NOTE = "[figure not drawn during grading: it appears when you run the notebook yourself]"
NOTE_HTML = note_html(
    "Figure not drawn during grading: it appears when you run the notebook yourself."
)


def _note_open_figures() -> None:
    """Replace every open figure by a note in the cell's output, and close it."""
    from matplotlib import pyplot as plt

    numbers = plt.get_fignums()
    if not numbers:
        return
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - always present in a kernel
        plt.close("all")
        return
    for _ in numbers:
        display({"text/plain": NOTE, "text/html": NOTE_HTML}, raw=True)
    plt.close("all")


@_Backend.export
class _BackendNoFigures(_Backend):
    FigureCanvas = FigureCanvasAgg
    FigureManager = FigureManagerBase

    @staticmethod
    def show(*args: Any, **kwargs: Any) -> None:
        _note_open_figures()


def neutralise_magic(shell: Any) -> None:
    """In an IPython shell: keep this backend whatever `%matplotlib` asks for, and note
    (then close) the figures still open when a cell ends, as the inline backend shows them.
    """
    import matplotlib

    matplotlib.use(BACKEND, force=True)

    def enable_matplotlib(gui: str | None = None) -> tuple[str, str]:
        return (gui or "inline", BACKEND)

    shell.enable_matplotlib = enable_matplotlib
    shell.events.register("post_execute", _note_open_figures)
