"""A notebook 05 namespace for tests: the provided cell and the student's cells, executed as
a notebook runs them (functions defined in one namespace, calling one another by name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def provided_cells(notebook: str) -> dict[str, str]:
    """cell id -> source of the locked setup and provided cells ("provided", "provided-...")
    of a source notebook, in the notebook's order."""
    nb = json.loads((ROOT / "source" / notebook / f"{notebook}.ipynb").read_text("utf-8"))
    return {
        c["id"]: "".join(c["source"])
        for c in nb["cells"]
        if c["cell_type"] == "code"
        and (c.get("id") == "setup" or str(c.get("id", "")).startswith("provided"))
    }


def provided_source(notebook: str) -> str:
    """The source of the locked setup and provided cells of a source notebook, joined."""
    return "\n\n".join(provided_cells(notebook).values())


def student_05(**cells: str) -> dict[str, Any]:
    """Notebook 05's namespace with the reference's answers, and `cells` (name -> source of
    the student's cell) in place of some: the functions call one another by name."""
    right = {
        "hidden_delta": "def hidden_delta(delta2, W2, H):\n"
        "    return (delta2 @ W2.T) * H * (1.0 - H)\n",
        "grad_W1": "def grad_W1(X, delta1):\n    return X.T @ delta1\n",
        "grad_b1": "def grad_b1(delta1):\n    return np.sum(delta1, axis=0)\n",
        "backprop": "def backprop(X, Y, W1, b1, W2, b2):\n"
        "    H, Y_hat = forward(X, W1, b1, W2, b2)\n"
        "    delta2 = output_delta(Y_hat, Y)\n"
        "    delta1 = hidden_delta(delta2, W2, H)\n"
        '    return {"W1": grad_W1(X, delta1), "b1": grad_b1(delta1),\n'
        '            "W2": grad_W2(H, delta2), "b2": grad_b2(delta2)}\n',
        "train": "def train(X, Y, n_hidden, lr, epochs, seed=0):\n"
        "    params = init_params(X.shape[1], n_hidden, Y.shape[1], seed)\n"
        "    losses = []\n"
        "    for _ in range(epochs):\n"
        "        _, Y_hat = forward(X, **params)\n"
        "        losses.append(sse_loss(Y_hat, Y))\n"
        "        grads = backprop(X, Y, **params)\n"
        "        params = {k: v - lr * grads[k] for k, v in params.items()}\n"
        "    return params, losses\n",
    }
    right.update(cells)
    ns: dict[str, Any] = {"__name__": "__main__"}
    # each cell compiled on its own, as a kernel does: line numbers are the cell's own
    for cell_id, src in provided_cells("05_backprop_W1").items():
        exec(compile(src, f"<cell {cell_id}>", "exec"), ns)  # noqa: S102
    for name, src in right.items():
        exec(compile(src, f"<cell {name}>", "exec"), ns)  # noqa: S102
    return ns
