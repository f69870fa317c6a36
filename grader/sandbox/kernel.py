"""The sandboxed kernel manager: jupyter_client's kernel manager with the sandbox's launcher.

`SandboxKernelManager` starts an ipykernel through `python -m grader.sandbox.boxrun kernel
PLAN -f CONNECTION_FILE` (bubblewrap and the limits of a `grader.sandbox.boxrun.Plan`). A
kernel in its own network namespace cannot reach the grader over TCP, so the manager uses
jupyter_client's `ipc` transport: ZeroMQ over Unix sockets in a per-kernel folder (a "box"
of `grader.sandbox.plan.new_box`), which is bind-mounted into that kernel's sandbox only and
removed when the kernel is cleaned up.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode

from grader.sandbox import boxrun
from grader.sandbox.plan import new_box


class SandboxKernelManager(AsyncKernelManager):
    """An ipykernel started through the sandbox wrapper, talking ZeroMQ over Unix sockets.

    The connection file and the sockets live in a per-kernel folder (`box`) that is
    bind-mounted into that kernel's sandbox only.
    """

    plan_json = Unicode("", help="the sandbox plan (grader.sandbox.boxrun.Plan as JSON)")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_name = "python3"  # an ipykernel: nbclient adds the in-memory history
        self.transport = "ipc"
        self.box = new_box()
        self.connection_file = str(self.box / "kernel.json")
        self.ip = str(self.box / "ipc")

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[
                    sys.executable,
                    "-m",
                    boxrun.__name__,
                    "kernel",
                    self.plan_json,
                    "-f",
                    "{connection_file}",
                ],
                display_name="Python 3 (backprop-course sandbox)",
                language="python",
                interrupt_mode="signal",
                metadata={},
                env={},
                resource_dir=str(self.box),
            )
        return self._kernel_spec

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        await super().cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.box, ignore_errors=True)

    def exit_code(self) -> int | None:
        """The wrapper's exit code once the kernel has exited (None while it runs)."""
        process = getattr(self.provisioner, "process", None)
        if process is None:
            return None
        for _ in range(20):
            code = process.poll()
            if code is not None:
                return code
            time.sleep(0.1)
        return None
