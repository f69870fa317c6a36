"""Why a submission or one of its test cells failed, in the words the instructor and the
learner read: one definition, used by autograde (the results, the report, the summary,
grades.csv), selfcheck and cluster grading.

- a test cell: `cell_message` turns its error and stderr outputs into lines, naming a
  timeout as the function running too long and blaming a test of a function whose cell
  does not compile on that cell's SyntaxError (not on the NameError it leads to);
- a notebook nbgrader cannot grade: `unreadable` (before grading) and `reason_from_log`
  (nbgrader's log after it failed);
- any exception: `one_line`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.nbcells import grade_id, is_solution
from grader.sandbox.output import ENAMES_TIMEOUT

#: Terminal colour codes, as IPython writes them into tracebacks and error values.
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

_COMPILE_ERRORS = ("SyntaxError", "IndentationError", "TabError")


def one_line(exc: BaseException) -> str:
    """`TypeName: first line of the message`."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def error_message(ename: str, evalue: str) -> str:
    """The line a learner reads for an error output of a test cell."""
    if ename == "NotImplementedError" and not evalue.strip():
        return "not answered yet: the function still raises NotImplementedError"
    return f"{ename}: {evalue}".strip()


def function_of(test_id: str) -> str:
    """The student function a test cell checks: test_df_dz / hidden_test_df_dz -> df_dz."""
    return test_id.removeprefix("hidden_").removeprefix("test_")


def definition_errors(cells: list) -> dict[str, str]:
    """{function: what went wrong} for solution cells whose code did not compile (a
    SyntaxError or IndentationError): "SyntaxError at line 3: invalid syntax"."""
    out = {}
    for cell in cells:
        if cell.get("cell_type") != "code" or not is_solution(cell):
            continue
        err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        if err is None or err.get("ename") not in _COMPILE_ERRORS:
            continue
        evalue = ANSI_RE.sub("", str(err.get("evalue", "")))
        trace = ANSI_RE.sub("", "\n".join(str(t) for t in err.get("traceback", [])))
        found = re.findall(r"line (\d+)", trace + " " + evalue)
        at = f" at line {found[-1]}" if found else ""
        what = re.sub(r"\s*\([^()]*line \d+\)$", "", evalue.strip())
        out[grade_id(cell) or cell.get("id", "")] = f"{err['ename']}{at}: {what}"
    return out


def cell_message(
    cell: Mapping[str, Any],
    *,
    timeout: float | None = None,
    broken: Mapping[str, str] | None = None,
) -> str:
    """What a learner reads for a test cell: a line per error or stderr output, in order
    ("" when it has none).

    Args:
        cell: the executed test cell.
        timeout: the per-cell limit in seconds, named when the function ran too long.
        broken: definition_errors() of the notebook the cell is in.
    """
    fn = function_of(grade_id(cell) or "")
    broken = broken or {}
    lines = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "error":
            ename = str(output.get("ename", "Error"))
            evalue = ANSI_RE.sub("", str(output.get("evalue", "")))
            if fn in broken:
                lines.append(
                    f"the cell that defines {fn} did not run: {broken[fn]}; fix it, run it, "
                    "then this test"
                )
            elif ename in ENAMES_TIMEOUT or f"{fn} did not finish within the" in evalue:
                limit = f" {timeout:g} s" if timeout else " the time limit"
                lines.append(f"your {fn} ran longer than{limit} (an endless loop?)")
            else:
                lines.append(error_message(ename, evalue))
        elif kind == "stream" and output.get("name") == "stderr":
            text = ANSI_RE.sub("", str(output.get("text", ""))).strip()
            if text:
                lines.append("wrote to stderr: " + text)
    return "\n".join(lines)


def cell_timeout(config: Any) -> float | None:
    """The per-cell time limit (`c.Execute.timeout`) of a traitlets Config, if it sets one."""
    limit = config.Execute.get("timeout") if "Execute" in config else None
    return float(limit) if isinstance(limit, (int, float)) else None


def unreadable(path: Path) -> str:
    """Why nbgrader cannot read the notebook at all ("" when it can)."""
    import nbformat

    if not path.exists():
        return f"no {path.name} in the submission (a renamed or missing notebook)"
    if path.is_file() and path.stat().st_size == 0:
        return "the notebook is empty (0 bytes): ask for it again"
    # nbformat.read validates the notebook it read (then only logs what is wrong): its
    # error is kept, instead of validating the same notebook a second time.
    invalid: dict[str, Exception] = {}
    try:
        nbformat.read(path, as_version=4, capture_validation_error=invalid)
    except nbformat.reader.NotJSONError:
        return "the notebook is not valid JSON (cut off or damaged): ask for it again"
    except Exception as exc:
        return f"the notebook cannot be read: {one_line(exc)[:160]}"
    if "ValidationError" in invalid:
        exc = invalid["ValidationError"]
        return f"the notebook does not follow the nbformat schema: {one_line(exc)[:160]}"
    return ""


_KNOWN_REASONS = (
    ("DeadKernelError", "the kernel died while running the notebook (os._exit, a crash or memory)"),
    ("UnresponsiveKernelError", "the kernel stopped responding (an endless loop or memory use)"),
    ("NotJSONError", "the notebook is not valid JSON"),
    ("CellTimeoutError", "a cell ran past the time limit"),
    ("ValidationError", "the notebook does not follow the nbformat schema"),
)


#: Exceptions that say the grading machine failed, not the submission: its environment (a
#: program, module or file missing or not writable), the gradebook (a database error), the
#: sandbox or the cluster. A student's code runs in the kernel, whose errors are cell outputs,
#: never one of these in nbgrader's log.
GRADER_ERRORS = frozenset(
    {
        "FileNotFoundError",
        "PermissionError",
        "OSError",
        "ModuleNotFoundError",
        "ImportError",
        "OperationalError",
        "DatabaseError",
        "InterfaceError",
        "ProgrammingError",
        "SandboxError",
        "ZygoteError",
        "ClosureError",
        "ClusterError",
        "NbgraderError",
    }
)


def not_the_students(reason: str) -> bool:
    """Whether a failure reason (reason_from_log's) names a failure of the grading machine
    (GRADER_ERRORS), not of the student's notebook."""
    m = re.match(r"nbgrader could not grade it: ([\w.]+)", reason)
    return bool(m) and m.group(1).rsplit(".", 1)[-1] in GRADER_ERRORS


def reason_from_log(text: str) -> str:
    """Why nbgrader could not grade a notebook, read from its log."""
    text = ANSI_RE.sub("", text)
    for marker, reason in _KNOWN_REASONS:
        if marker in text:
            return reason
    errors = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^\s*[\w.]+(Error|Exception)\b.*", line)
        and "Traceback" not in line
        # nbgrader's closing "NbGraderException: Please see the above traceback" names none
        and not re.match(r"^\s*[\w.]*NbGraderException\b", line)
    ]
    if errors:
        return "nbgrader could not grade it: " + errors[-1][:200]
    return "nbgrader could not grade it (see its log with nbgrader autograde --student)"
