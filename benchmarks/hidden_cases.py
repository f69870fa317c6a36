"""Same hidden cases? Digest every function's hidden cases, before and after a change.

    .venv/bin/python benchmarks/hidden_cases.py dump > before.json
    ... add a function (or a notebook, a tag) as docs/extending.md says ...
    .venv/bin/python benchmarks/hidden_cases.py dump > after.json
    .venv/bin/python benchmarks/hidden_cases.py compare before.json after.json

`dump` writes, as JSON, the course's functions in order and, for each, its hidden cases
(`grader.judge.cases.hidden_cases`) as `[case id, label, sha256 of its arguments]`
(`digest_args`: every array's dtype, shape and bytes, every other value's repr).

`compare` names every function present in both dumps whose hidden cases differ, and the
functions only one dump has (a function added is expected there), then exits 1 if a
function of both changed; else it prints `same hidden cases: N functions` and exits 0.
Exit 2: a file is missing or not a dump (the message says what to do).

tests/test_extend.py runs `dump` in a copy of the repository with a function added in the
middle of a notebook: this is the one definition of the digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def digest_args(value: Any, h: Any) -> None:
    """Feed a case's arguments to the hash h (hashlib): dicts by sorted key, lists and tuples
    item by item, arrays and numpy scalars by dtype, shape and bytes, objects by their
    attributes, anything else by its repr."""
    if isinstance(value, dict):
        for key in sorted(value):
            h.update(repr(key).encode())
            digest_args(value[key], h)
    elif isinstance(value, (list, tuple)):
        for item in value:
            digest_args(item, h)
    elif isinstance(value, (np.ndarray, np.generic)):
        a = np.ascontiguousarray(value)
        h.update(f"{a.dtype}{a.shape}".encode() + a.tobytes())
    elif hasattr(value, "__dict__"):
        digest_args(vars(value), h)
    else:
        h.update(repr(value).encode())


def dump() -> dict[str, Any]:
    """{"functions": [name, ...] in course order, "cases": {name: [[id, label, sha256]]}}."""
    from grader.judge import cases

    out = {}
    for name in cases.FUNCTIONS:
        rows = []
        for case in cases.hidden_cases(name):
            h = hashlib.sha256()
            digest_args(case["args"], h)
            rows.append([case["id"], case["label"], h.hexdigest()])
        out[name] = rows
    return {"functions": list(cases.FUNCTIONS), "cases": out}


def compare(before: dict[str, Any], after: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(functions of both dumps whose hidden cases differ, functions of one dump only: each
    as "NAME: only before" or "NAME: only after")."""
    a, b = before["cases"], after["cases"]
    changed = [n for n in a if n in b and a[n] != b[n]]
    alone = [f"{n}: only before" for n in a if n not in b]
    alone += [f"{n}: only after" for n in b if n not in a]
    return changed, alone


class UsageError(RuntimeError):
    """Bad input; the message says what to do."""


def _read(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not readable as JSON ({e}); make it with `dump > FILE`") from e
    if not isinstance(data, dict) or not isinstance(data.get("cases"), dict):
        raise UsageError(f"{path}: not a dump of hidden cases; make it with `dump > FILE`")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dump", help="every function's hidden cases, digested, as JSON on stdout")
    cmp = sub.add_parser("compare", help="name the functions whose hidden cases differ")
    cmp.add_argument("before")
    cmp.add_argument("after")
    args = parser.parse_args(argv)
    if args.command == "dump":
        print(json.dumps(dump(), indent=1))
        return 0
    try:
        before, after = _read(args.before), _read(args.after)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    changed, alone = compare(before, after)
    for line in alone:
        print(line)
    for name in changed:
        print(f"{name}: hidden cases changed")
    if changed:
        return 1
    print(f"same hidden cases: {sum(n in after['cases'] for n in before['cases'])} functions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
