"""Start the verification runner where bubblewrap cannot run (limits only, no mounts).

With bubblewrap, the sandbox mounts a copy of the runner's import closure over the real
package folders, so the verification process cannot see the checks, the naming of mistakes
or the reference solution. Without it, this program does the same from inside the
process: it puts the copy first on sys.path, blocks every other module of the course's
packages, forgets any already imported, and runs the runner module as `__main__`.

`python -I grader/verify/boot.py SPEC` (run by path: it imports nothing of `grader`), where
SPEC is a JSON file written by `grader.verify.launch`:

    {"pkg": folder holding the copies (e.g. BOX/pkg),
     "packages": top-level packages guarded (["grader", "backprop_checks"]),
     "allowed": modules of those packages that may be imported (the closure),
     "module": the runner module ("grader.verify.runner"),
     "argv": its arguments}
"""

from __future__ import annotations

import importlib.abc
import json
import runpy
import sys
from typing import Any


class Block(importlib.abc.MetaPathFinder):
    """Refuses every module of the guarded packages that is not in the allowed set."""

    def __init__(self, packages: set[str], allowed: set[str]) -> None:
        self.packages, self.allowed = packages, allowed

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in self.packages and name not in self.allowed:
            raise ImportError(name + " is not available during verification")
        return None


def main(argv: list[str]) -> None:
    """Read SPEC (argv[0]), guard the imports, and run the runner module."""
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    packages = set(spec["packages"])
    sys.path.insert(0, spec["pkg"])
    sys.meta_path.insert(0, Block(packages, set(spec["allowed"])))
    for name in [m for m in sys.modules if m.partition(".")[0] in packages]:
        del sys.modules[name]
    sys.argv = [spec["module"], *spec["argv"]]
    runpy.run_module(spec["module"], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
