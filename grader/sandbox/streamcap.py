"""Run inside the student's kernel at start-up: a cap on what each cell's stdout and stderr send.

A cell that prints 100 MB costs the grader the time to receive and cut it: under load that
runs past the cell's time limit in one run and not in the next, and the same notebook got
different grades and flags. Here the kernel itself sends at most `limit` characters of
stdout and stderr per cell and only counts the rest; after the cell it publishes the count
(a display message of type `MIME`, which `SandboxedExecute` turns into the cell's
"[output cut: N bytes]" note and never saves). What is cut does not depend on the machine's
load, so neither does the grade.

`SandboxedExecute` starts each kernel with `--IPKernelApp.exec_lines=` `STARTUP` (silently,
no name left in the notebook's namespace). Standard library and IPython only: it runs in
the student's kernel.
"""

from __future__ import annotations

import sys
from typing import Any

#: The display message that carries a cell's cut count to the grader ({"cut": N}).
MIME = "application/x-backprop-output-cut+json"
#: The start-up line, formatted with the per-cell limit (characters).
STARTUP = f"__import__({__name__!r}, fromlist=['install']).install({{limit}})"


class _Cap:
    """The per-cell budget shared by stdout and stderr."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used, self.cut = limit, 0, 0

    def wrap(self, stream: Any) -> None:
        """Put the cap in front of `stream.write` (once: a capped write is left alone)."""
        write = stream.write
        if getattr(write, "backprop_capped", False):
            return

        def capped(text: Any) -> Any:
            if not isinstance(text, str):
                return write(text)
            room = self.limit - self.used
            if len(text) <= room:
                self.used += len(text)
                return write(text)
            kept = max(0, room)
            self.used += kept
            self.cut += len(text) - kept
            if kept:
                write(text[:kept])
            return len(text)

        capped.backprop_capped = True  # type: ignore[attr-defined]
        stream.write = capped

    def before(self, *_: Any) -> None:
        """Before each cell: a fresh budget, and the cap in front of the streams' write
        (IPython swaps `write` for one that copies into its history around every cell and
        puts the old one back after it, so the cap is put in front again each time)."""
        self.used = self.cut = 0
        for stream in (sys.stdout, sys.stderr):
            self.wrap(stream)

    def after(self, *_: Any) -> None:
        if self.cut:
            from IPython.display import publish_display_data

            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            publish_display_data({MIME: {"cut": self.cut}})
        self.used = self.cut = 0


def install(limit: int) -> None:
    """Cap each cell's stdout and stderr at `limit` characters (the kernel's own streams)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    cap = _Cap(int(limit))
    shell.events.register("pre_run_cell", cap.before)
    shell.events.register("post_run_cell", cap.after)
