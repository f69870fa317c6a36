"""Figures with a text description: what a screen reader reads where a figure is.

`show(fig, description)` is the notebooks' `plt.show()`: in a Jupyter kernel it displays the
figure as one output that carries its description everywhere a reader meets it:

- `text/html`: `<img alt="description">` (JupyterLab draws this; nbconvert's HTML pages,
  feedback pages included, prefer it to the bare PNG, so no "No description has been
  provided for this image" placeholder);
- `image/png` with the output metadata `{"image/png": {"alt": description}}` (nbconvert's
  classic template writes that `alt`; other front ends keep the PNG);
- `text/plain`: the description itself (a console, a text export, a diff of the notebook).

JupyterLab's own PNG renderer writes no `alt` (it reads only width, height and background
from the metadata), which is why the HTML form comes first.

Where figures are not drawn (a script, or the grader's kernels that leave drawing out) it is
`plt.show()`. `FIGURE_MIME` marks the output so a test can tell described figures apart.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

#: Output metadata key set on every figure `show` displays (its value: the description).
FIGURE_MIME = "backprop_checks/figure"
#: A description shorter than this says too little to stand for a figure.
MIN_DESCRIPTION = 40
#: Backends that display figures in the notebook (matplotlib-inline's, and its alias).
INLINE_BACKENDS = ("module://matplotlib_inline.backend_inline", "inline")


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def figure_bundle(fig: Any, description: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(data, metadata) of the display output for `fig` described by `description`.

    The PNG is drawn as the inline backend draws it (the figure's dpi, a tight bounding box).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    alt = html.escape(description, quote=True)
    data = {
        "image/png": png,
        "text/html": f'<img src="data:image/png;base64,{png}" alt="{alt}"/>',
        "text/plain": description,
    }
    metadata = {"image/png": {"alt": description}, FIGURE_MIME: description}
    return data, metadata


def show(fig: Any, description: str) -> None:
    """Display the matplotlib figure `fig` with `description` as its text alternative.

    Args:
        fig: a `matplotlib.figure.Figure`.
        description: what the figure shows in words: the quantities on its axes, the trend,
            the numbers that matter (computed from the data, e.g. with an f-string).

    Raises:
        ValueError: the description is missing or too short to stand for the figure.
    """
    text = " ".join(str(description or "").split())
    if len(text) < MIN_DESCRIPTION:
        raise ValueError(
            f"describe the figure in words (at least {MIN_DESCRIPTION} characters: the "
            f"quantities, the trend, the numbers that matter); got {text!r}"
        )
    import matplotlib
    from matplotlib import pyplot as plt

    if not _in_kernel() or matplotlib.get_backend() not in INLINE_BACKENDS:
        plt.show()  # a script's window, or a kernel that does not draw figures
        return
    from IPython.display import display

    data, metadata = figure_bundle(fig, text)
    display(data, metadata=metadata, raw=True)
    plt.close(fig)
