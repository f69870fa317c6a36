"""Verification in a warm zygote: the runner forked, not started, for each notebook.

`backprop-grader autograde`'s workers (grader.sandbox.execute.WARM_ENV) keep a verification
zygote (grader.sandbox.zygote) in its own bubblewrap sandbox with the same overlay as a
cold verification process: of `grader` and `backprop_checks` only the runner's import
closure exists, so neither the checks nor `grader.judge.reference` can be imported. The
zygote has imported numpy, matplotlib (Agg) and the runner's modules; each notebook's
runner is a child forked from it, with the notebook's limits, which runs
`grader.verify.runner` as `python -I -m grader.verify.runner JOB OUT` would. Every process
the job left is killed before its results are read.
"""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

from grader.sandbox.boxrun import Plan
from grader.sandbox.plan import Limits, bwrap_status, make_plan, run_dir
from grader.sandbox.zygote import SERVER_FILES
from grader.verify.closure import RUNNER, Closure

#: The package the copy of the fork server is, and how it starts (`python -I -c` with the
#: zygote's spec after it): its folder off sys.path again before the server runs.
SERVER_PACKAGE = "zygote_server"
SERVER_BOOT = (
    "import sys; sys.path.insert(0, {folder!r}); import {package}.{module} as z; "
    "sys.path.remove({folder!r}); sys.exit(z.main())"
)
#: This process's overlay folder (made once): the closure's files and the zygote's server.
_FOLDER: list[Path] = []


def plan(
    limits: Limits, course: Path | None, mode: str, bwrap: str, closure: Closure
) -> Plan | None:
    """The verification zygote's sandbox plan, or None (no bubblewrap: the cold path)."""
    from grader.verify.launch import _overlay_package

    if mode == "off" or not bwrap_status(bwrap).usable:
        return None
    if not _FOLDER:
        # A folder of this process's own: workers forked from one parent share its run
        # folder, and each makes its overlay once.
        folder = Path(tempfile.mkdtemp(prefix="verify-zygote-", dir=run_dir()))
        overlay = _overlay_package(folder, closure)
        # The fork server (stdlib only) as a package of its own: the grader package here is
        # the runner's closure, without grader.sandbox.
        server = folder / SERVER_PACKAGE
        server.mkdir()
        (server / "__init__.py").write_text("", encoding="utf-8")
        for path in SERVER_FILES:
            shutil.copy2(path, server / Path(path).name)
        overlay[str(server)] = str(server)
        (folder / "overlay.json").write_text(json.dumps(overlay), encoding="utf-8")
        _FOLDER.append(folder)
    overlay = json.loads((_FOLDER[0] / "overlay.json").read_text(encoding="utf-8"))
    result, _ = make_plan(limits, course=course, mode="require", bwrap=bwrap, overlay=overlay)
    return result


def _server() -> list[str]:
    """How the zygote's Python starts its fork server (after `plan` made the folder)."""
    folder = str(_FOLDER[0])
    module = Path(SERVER_FILES[0]).stem  # grader.sandbox.zygote's copy
    boot = SERVER_BOOT.format(folder=folder, package=SERVER_PACKAGE, module=module)
    return ["-I", "-c", boot]


def prestart(limits: Limits, course: Path | None, mode: str, bwrap: str) -> bool:
    """Start this process's verification zygote for these settings without waiting for it
    (grader.sandbox.zygote_host.prestart), so it warms up before the first notebook is
    verified; `run` with the same plan then uses it. False when none was started."""
    from grader.sandbox import zygote_host
    from grader.verify.closure import runner_closure

    zygote_plan = plan(limits, course, mode, bwrap, runner_closure())
    if zygote_plan is None:
        return False
    z = zygote_host.prestart(zygote_plan, "verify", run_dir(), server=_server(), preload=(RUNNER,))
    return z is not None


def run(
    zygote_plan: Plan, job: dict[str, Any], workdir: Path, wall: float
) -> tuple[int, dict[str, dict[str, list[Any]]]]:
    """Run one notebook's verification job in the zygote: (exit code, observations)."""
    from grader.sandbox import zygote_host
    from grader.verify.launch import read_results

    def prepare(box: Path) -> dict[str, Any]:
        (box / "job.pkl").write_bytes(pickle.dumps(job, protocol=4))
        return {"module": RUNNER, "argv": [str(box / "job.pkl"), str(box / "result.pkl")]}

    code, box = zygote_host.run_job(
        zygote_plan,
        "verify",
        run_dir(),
        workdir=workdir,
        prepare=prepare,
        wall_clock=wall,
        server=_server(),
        preload=(RUNNER,),
    )
    try:
        return code, read_results(box / "result.pkl")
    finally:
        shutil.rmtree(box, ignore_errors=True)
