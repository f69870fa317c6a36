"""`python -m grader.sandbox check`: can this machine sandbox student code?"""

from __future__ import annotations

import sys

from grader.sandbox.plan import bwrap_status, loud_warning


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.sandbox check`: say whether bubblewrap can sandbox kernels here."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":
        status = bwrap_status()
        if status.usable:
            print(f"bubblewrap works here ({status.path}): kernels are sandboxed.")
            return 0
        print(loud_warning(status.reason))
        return 1
    print("usage: python -m grader.sandbox check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
