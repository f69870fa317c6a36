"""What the sandbox writes into a notebook's outputs: the byte cap on each cell's output, the
"[output cut: N bytes]" note, and the errors it puts in a cell whose kernel died or ran out
of time.

nbgrader's `LimitOutput` counts lines, so one 50 MB line passes it; `cap_cell_outputs` keeps
at most `max_bytes` of text per cell (images get `IMAGE_FACTOR` times that), always keeping
an error or a result (shortened) and the first output of each stream. `SandboxedExecute`
caps as output arrives, `CapOutputBytes` (grader.sandbox.execute) caps saved notebooks, and
`grader.verify.cells.run_problems` reads the notes and errors back into one-line reasons.
"""

from __future__ import annotations

import json
import re
from typing import Any

from nbformat import NotebookNode

#: Errors whose `ename` the sandbox writes into a cell (grader.verify.cells reads them back).
ENAME_KERNEL_DIED = "KernelDied"
ENAME_NOTEBOOK_TIME = "NotebookTimeLimit"
ENAME_NOT_RUN = "NotRun"
#: Errors of a cell its time limit stopped: the interrupt the kernel raises, and nbgrader's
#: note when the kernel did not answer in time.
ENAMES_TIMEOUT = ("KeyboardInterrupt", "CellTimeoutError")
CUT_NOTE = "[output cut: {n} bytes]"
CUT_NOTE_RE = re.compile(r"\[output cut: (\d+) bytes\]")

#: Images (a plot's PNG) get this many times the text budget of a cell.
IMAGE_FACTOR = 10


#: A `text/html` value that is only an inline image, as `backprop_checks.figures.show` gives
#: every figure beside its PNG (alt text for nbconvert's HTML): counted as an image.
IMG_HTML_RE = re.compile(r'\s*<img src="data:image/[\w.+-]+;base64,[A-Za-z0-9+/=\s]*"[^<>]*/?>\s*')


def is_image(key: str, value: Any) -> bool:
    """Whether an output's data entry is an image (its bytes have `IMAGE_FACTOR` budget)."""
    return key.startswith("image/") or (
        key == "text/html" and isinstance(value, str) and IMG_HTML_RE.fullmatch(value) is not None
    )


def _size(value: Any) -> int:
    return len(value if isinstance(value, str) else json.dumps(value))


def output_bytes(out: NotebookNode) -> int:
    """Bytes of text an output holds (stream text, non-image data values, traceback)."""
    kind = out.get("output_type")
    if kind == "stream":
        return len(str(out.get("text", "")).encode("utf-8", "replace"))
    if kind == "error":
        tb = out.get("traceback", [])
        return sum(len(str(line)) for line in tb) + len(str(out.get("evalue", "")))
    data = out.get("data", {}) or {}
    return sum(_size(v) for k, v in data.items() if not is_image(k, v))


def image_bytes(out: NotebookNode) -> int:
    """Bytes of image data (e.g. base64 PNG) an output holds."""
    data = out.get("data", {}) or {}
    return sum(_size(v) for k, v in data.items() if is_image(k, v))


def _clip(text: str, keep: int) -> str:
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= keep:
        return text
    return encoded[:keep].decode("utf-8", "ignore")


def shrink_output(out: NotebookNode, keep: int) -> int:
    """Cut an output down to about `keep` bytes in place; return the bytes removed."""
    before = output_bytes(out)
    if before <= keep:
        return 0
    kind = out.get("output_type")
    if kind == "stream":
        out["text"] = _clip(str(out.get("text", "")), keep)
    elif kind == "error":
        tb = [str(line) for line in out.get("traceback", [])]
        kept: list[str] = []
        size = 0
        for line in reversed(tb):  # the end of a traceback says what failed
            line = _clip(line, max(0, keep - size))
            if not line:
                break
            kept.insert(0, line)
            size += len(line)
        out["traceback"] = kept
        out["evalue"] = _clip(str(out.get("evalue", "")), 2000)
    else:
        data = out.get("data", {}) or {}
        text = data.get("text/plain")
        images = {k: v for k, v in data.items() if is_image(k, v)}
        out["data"] = {**images, "text/plain": _clip(text if isinstance(text, str) else "", keep)}
    return max(0, before - output_bytes(out))


def cut_note(n: int) -> NotebookNode:
    """The stdout note added to a cell whose output was cut."""
    return NotebookNode(output_type="stream", name="stdout", text=f"\n{CUT_NOTE.format(n=n)}\n")


def cap_cell_outputs(cell: NotebookNode, max_bytes: int) -> int:
    """Keep at most ~max_bytes of output in a code cell, then a note; return bytes cut.

    Never drops what grading reads: every error output, the last execute_result and one
    stream output per stream name (nbgrader scores any stderr output as a failure) stay,
    shortened; other outputs past the budget are dropped.
    """
    if cell.get("cell_type") != "code" or not cell.get("outputs"):
        return 0
    existing = sum(
        int(m.group(1))
        for out in cell.outputs
        if out.get("output_type") == "stream"
        for m in CUT_NOTE_RE.finditer(str(out.get("text", "")))
    )
    outputs = [
        o
        for o in cell.outputs
        if not (o.get("output_type") == "stream" and CUT_NOTE_RE.search(str(o.get("text", ""))))
    ]
    budget, cut, kept, streams = max_bytes, 0, [], set()
    image_budget = max_bytes * IMAGE_FACTOR
    for out in outputs:
        images = image_bytes(out)
        if images and images <= image_budget:
            image_budget -= images
        elif images:
            data = out["data"]
            for key in [k for k, v in data.items() if is_image(k, v)]:
                del data[key]
            data.setdefault("text/plain", "[image cut]")
            cut += images
        size = output_bytes(out)
        kind = out.get("output_type")
        essential = kind in ("error", "execute_result") or (
            kind == "stream" and out.get("name") not in streams
        )
        if size <= budget:
            budget -= size
            kept.append(out)
        elif essential:
            cut += shrink_output(out, max(budget, 1000))
            budget = max(0, budget - output_bytes(out))
            kept.append(out)
        else:
            cut += size
        if kind == "stream":
            streams.add(out.get("name"))
    if cut or existing:
        kept.append(cut_note(cut + existing))
    cell.outputs = kept
    return cut
