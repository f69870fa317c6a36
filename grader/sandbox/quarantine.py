"""Run inside the student's kernel after a cell ran past its time limit and was interrupted.

The student function that was running (the innermost frame of the interrupted traceback
that is one of the notebook's own functions) is replaced by one that raises at once, so
each later cell that calls it costs nothing instead of another timeout. `SandboxedExecute`
sends the kernel `QUARANTINE_CELL` (an import of this module and one call), silently.

Standard library only: it is imported in the student's kernel.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def quarantine(namespace: dict[str, Any], limit: int) -> str:
    """Replace the interrupted function of `namespace` (the notebook's globals) by one that
    raises TimeoutError at once. Returns its name ("" when no notebook function was running).
    """
    tb, hung = getattr(sys, "last_traceback", None), ""
    while tb is not None:
        code = tb.tb_frame.f_code
        fn = namespace.get(code.co_name)
        if isinstance(fn, types.FunctionType) and fn.__code__ is code:
            hung = code.co_name
        tb = tb.tb_next
    if hung:
        name = hung

        def stopped(*args: Any, **kwargs: Any) -> None:
            raise TimeoutError(
                f"{name} did not finish within the {limit} s time limit in an earlier "
                "cell, so it is not run again"
            )

        stopped.__name__ = stopped.__qualname__ = hung
        namespace[hung] = stopped
    return hung


#: What the kernel runs (silently; `__grader_hung` is read back as a user expression).
QUARANTINE_CELL = (
    "from grader.sandbox.quarantine import quarantine as __grader_quarantine\n"
    "__grader_hung = __grader_quarantine(globals(), {limit})\n"
    "del __grader_quarantine\n"
)
