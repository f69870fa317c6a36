"""Same grades? Dump a graded course's gradebook, cell by cell, and compare two dumps.

    .venv/bin/python benchmarks/same_grades.py dump COURSE_DIR > before.json
    ... change the grader, grade the same class again ...
    .venv/bin/python benchmarks/same_grades.py dump COURSE_DIR > after.json
    .venv/bin/python benchmarks/same_grades.py compare before.json after.json

`dump` reads the course's gradebook with nbgrader's `Gradebook` API (the URL the course's
nbgrader_config.py names, or `--db URL`) and writes, as sorted JSON, every graded cell of
every submitted notebook: student, assignment, notebook, cell (grade_id), auto score (the
kernel's, or verification's where it differs), manual score (a person's), max score. For
each notebook that has a verification record
(`COURSE/.grader/verified/STUDENT/ASSIGNMENT.json`) it adds what that record decided,
without what changes from run to run (times, hashes, the hidden seed):

- the notebook's verdict: its flags (a "verdict changed: CELL a -> b" flag without the
  seed-dependent explanation after it), reason, error, whether a foreign kernel ran it,
  whether it ran sandboxed;
- a verdict per function, when the record carries them (a `verdicts` mapping): each
  function's pass/fail outcomes, without message text.

`compare` prints each difference (a cell or verdict on one side only, or a different value)
and exits 1 if there is any; else it prints `same grades: N cells, M verification verdicts`
(M counts each record's notebook verdict and its per-function verdicts) and exits 0.
Exit 2: the arguments or a file are not usable (the message says what to do).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: A verification flag's explanation after the change, e.g. "(failed when ... seed 123 ...)".
_CHANGED = re.compile(r"^(verdict changed: \S+ \S+ -> \S+) \(.*\)$", re.S)


class UsageError(RuntimeError):
    """Bad input; the message says what to do."""


def _score(value: Any) -> float | None:
    return None if value is None else float(value)


def gradebook_cells(db_url: str) -> list[dict[str, Any]]:
    """Every graded cell of every submission in the gradebook, sorted.

    Returns:
        dicts with keys student, assignment, notebook, cell, auto_score, manual_score,
        max_score (scores are floats, or None where nbgrader has none).
    """
    from nbgrader.api import Gradebook

    cells = []
    with Gradebook(db_url) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        cells.append(
                            {
                                "student": submission.student_id,
                                "assignment": assignment.name,
                                "notebook": notebook.name,
                                "cell": grade.name,
                                "auto_score": _score(grade.auto_score),
                                "manual_score": _score(grade.manual_score),
                                "max_score": _score(grade.max_score),
                            }
                        )
    return sorted(cells, key=_cell_key)


def _outcomes(value: Any) -> Any:
    """A per-function verdict without its text: booleans and numbers only."""
    if isinstance(value, dict):
        return {k: _outcomes(v) for k, v in sorted(value.items()) if not isinstance(v, str)}
    return value


def verification_verdicts(record: dict[str, Any]) -> dict[str, Any]:
    """What a verification record decided, without what differs between two runs."""
    flags = [_CHANGED.sub(r"\1", str(f)) for f in record.get("flags", [])]
    notebook = {
        "flags": sorted(flags),
        "reason": record.get("reason", ""),
        "error": record.get("error", ""),
        "foreign_kernel": bool(record.get("kernel")),
        "sandboxed": not record.get("sandbox"),
    }
    raw = record.get("verdicts") or {}
    if isinstance(raw, list):  # [{"name": ..., ...}, ...]
        raw = {str(v.get("name")): v for v in raw if isinstance(v, dict)}
    functions = {str(name): _outcomes(v) for name, v in sorted(raw.items())}
    return {"notebook": notebook, "functions": functions}


def verification_records(course: Path) -> list[dict[str, Any]]:
    """The verdicts of every record under COURSE/.grader/verified/, sorted."""
    out = []
    for path in sorted((course / ".grader" / "verified").glob("*/*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UsageError(f"{path} is not a readable verification record ({err})") from err
        if not isinstance(record, dict):
            raise UsageError(f"{path} is not a verification record (a JSON object)")
        out.append(
            {
                "student": path.parent.name,
                "assignment": path.stem,
                **verification_verdicts(record),
            }
        )
    return out


def dump(course: Path, db_url: str | None = None) -> dict[str, Any]:
    """The course's graded cells and verification verdicts (see the module docstring)."""
    course = Path(course)
    if not course.is_dir():
        raise UsageError(f"{course} is not a folder: give the graded course's directory")
    if db_url is None:
        from grader.config import CourseError
        from grader.config import db_url as course_db_url

        try:
            db_url = course_db_url(course)
        except CourseError as err:
            raise UsageError(str(err)) from err
        if db_url.startswith("sqlite:///"):
            path = Path(db_url.removeprefix("sqlite:///").split("?", 1)[0])
            if not path.is_file():  # Gradebook() would create an empty one
                raise UsageError(f"{path} does not exist: grade the class first, or pass --db")
    return {"cells": gradebook_cells(db_url), "verification": verification_records(course)}


def _cell_key(c: dict[str, Any]) -> tuple[str, ...]:
    return (c["student"], c["assignment"], c["notebook"], c["cell"])


def _verdict_items(records: list[dict[str, Any]]) -> dict[tuple[str, ...], Any]:
    items = {}
    for r in records:
        items[(r["student"], r["assignment"], "notebook")] = r["notebook"]
        for name, verdict in r["functions"].items():
            items[(r["student"], r["assignment"], f"function {name}")] = verdict
    return items


def differences(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], int, int]:
    """(one line per difference, cells compared, verdicts compared)."""
    lines = []
    cells_a = {_cell_key(c): c for c in a["cells"]}
    cells_b = {_cell_key(c): c for c in b["cells"]}
    for key in sorted(cells_a.keys() | cells_b.keys()):
        where = "/".join(key)
        if key not in cells_b:
            lines.append(f"{where}: only in A")
        elif key not in cells_a:
            lines.append(f"{where}: only in B")
        else:
            for field in ("auto_score", "manual_score", "max_score"):
                x, y = cells_a[key][field], cells_b[key][field]
                if x != y:
                    lines.append(f"{where}: {field} {x} in A, {y} in B")
    verdicts_a = _verdict_items(a["verification"])
    verdicts_b = _verdict_items(b["verification"])
    for key in sorted(verdicts_a.keys() | verdicts_b.keys()):
        where = "/".join(key[:2]) + f" verification, {key[2]}"
        if key not in verdicts_b:
            lines.append(f"{where}: only in A")
        elif key not in verdicts_a:
            lines.append(f"{where}: only in B")
        elif verdicts_a[key] != verdicts_b[key]:
            x, y = verdicts_a[key], verdicts_b[key]
            if isinstance(x, dict) and isinstance(y, dict):
                for field in sorted(x.keys() | y.keys()):
                    was, now = x.get(field), y.get(field)
                    if was != now:
                        lines.append(f"{where}: {field} {was!r} in A, {now!r} in B")
            else:
                lines.append(f"{where}: {x!r} in A, {y!r} in B")
    return lines, len(cells_a.keys() | cells_b.keys()), len(verdicts_a.keys() | verdicts_b.keys())


def load(path: Path) -> dict[str, Any]:
    """A dump written by `dump`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UsageError(
            f"{path} is not readable JSON ({err}): write it with "
            "`python benchmarks/same_grades.py dump COURSE_DIR > FILE`"
        ) from err
    if not isinstance(data, dict) or not {"cells", "verification"} <= data.keys():
        raise UsageError(f"{path} is not a dump of same_grades.py (no cells/verification)")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="same_grades.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="print the course's graded cells and verdicts as JSON")
    d.add_argument("course", type=Path, help="the graded course directory")
    d.add_argument("--db", help="gradebook URL (default: the one nbgrader_config.py names)")
    c = sub.add_parser("compare", help="print the differences between two dumps")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "dump":
            data = dump(args.course, args.db)
            sys.stdout.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
            return 0
        lines, cells, verdicts = differences(load(args.a), load(args.b))
    except UsageError as err:
        print(f"same_grades.py: {err}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    if lines:
        print(f"{len(lines)} differences ({cells} cells, {verdicts} verification verdicts)")
        return 1
    print(f"same grades: {cells} cells, {verdicts} verification verdicts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
