"""The course's nbgrader preprocessors: `SandboxedExecute` (nbgrader's `Execute` with a
sandboxed kernel) and `CapOutputBytes` (a byte cap on saved outputs).

Every kernel that executes a student's notebook (nbgrader's autograde, `selfcheck`) is a
`grader.sandbox.kernel.SandboxKernelManager`, started through `python -m
grader.sandbox.boxrun kernel ...`, a small wrapper that

- copies the notebook's working folder into a private per-kernel folder (the student's
  writes go there and are thrown away),
- starts the kernel under `bwrap` (Debian package `bubblewrap`): the whole file system
  read-only; `/tmp`, the course directory (gradebook, every student's submissions, source/)
  and this run's other kernels hidden behind empty tmpfs mounts; only the Python
  installation and the `grader` and `backprop_checks` packages shown again (read-only,
  `grader.sandbox.plan.default_exposed`); the private copy mounted
  read-write at the working folder's path; no network (`--unshare-all`: its own network,
  PID, IPC, UTS and user namespaces), no new user namespaces, killed with its parent,
- caps address space (memory, default 2 GiB), CPU time, file size and core dumps with
  `setrlimit`, and kills the kernel when the whole notebook runs past its wall-clock limit.

`SandboxedExecute` adds to nbgrader's `Execute`: that kernel manager, a cap on the bytes of
output each cell keeps as it arrives (`grader.sandbox.output`; nbgrader's `LimitOutput`
counts lines, so one 50 MB line passes it), a per-notebook time budget on top of the
per-cell timeout, a function that hung in one cell stopped from costing a timeout in every
later cell, and a kernel that dies (`os._exit`, a CPU or memory limit) turned into an error
in that cell and "not run" errors in the cells after it, so the cells that ran keep their
scores and nbgrader saves grades as usual. Each run is recorded in `RUNS` for the
post-grading hook (`grader.pipeline.hooks`) in the same process.

Where bubblewrap cannot run (not installed, or user namespaces disabled), grading still
works with the resource limits only, and a loud warning once per run (`mode = "auto"`, the
default; `RunInfo.warning`, shown by the summary, report and export, never as a flag);
`mode = "require"` refuses to grade instead, and `mode = "off"` never tries bubblewrap
(`grader.sandbox.plan`).

nbgrader_config.py registers `SandboxedExecute` in place of nbgrader's `Execute`
(`c.Autograde.autograde_preprocessors`), so every route that grades uses it.

Instructors change the limits in `nbgrader_config.py` (see docs/sandbox.md)::

    c.SandboxedExecute.memory_limit = "4G"      # address space per kernel
    c.SandboxedExecute.cpu_time_limit = 900     # CPU seconds per notebook
    c.SandboxedExecute.notebook_timeout = 900   # wall clock per notebook, verification included
    c.SandboxedExecute.max_output_bytes = 100_000  # kept per cell; the rest is cut
    c.SandboxedExecute.mode = "auto"            # "auto" | "require" | "off"
    c.Execute.timeout = 60                      # seconds per cell (nbgrader's own)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Bool, Int, Unicode, Union, default
from traitlets.utils.importstring import import_item

from grader.nbcells import is_graded
from grader.sandbox import VERIFIES_GRADES
from grader.sandbox.boxrun import HARD_KILL_GRACE, Plan
from grader.sandbox.kernel import SandboxKernelManager
from grader.sandbox.notes import note_output
from grader.sandbox.output import (
    CUT_NOTE_RE,
    ENAME_KERNEL_DIED,
    ENAME_NOT_RUN,
    ENAME_NOTEBOOK_TIME,
    IMAGE_FACTOR,
    cap_cell_outputs,
    cut_note,
    image_bytes,
    output_bytes,
)
from grader.sandbox.plan import (
    DEFAULT_BWRAP,
    DEFAULT_CPU_SECONDS,
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MODE,
    DEFAULT_NOTEBOOK_TIMEOUT,
    Limits,
    death_reason,
    make_plan,
    parse_size,
    warn_unsandboxed,
)
from grader.sandbox.quarantine import QUARANTINE_CELL
from grader.sandbox.streamcap import MIME as STREAMCAP_MIME
from grader.sandbox.streamcap import STARTUP as STREAMCAP

log = logging.getLogger(__name__)

#: Set to "1" in a grading process (backprop-grader autograde's workers): `warm` and
#: `skip_after_graded` default to on there (nbgrader_config.py can still turn them off).
WARM_ENV = "BACKPROP_GRADER_WARM"
#: The output of a code cell after the last graded one, when grading skips those: a display
#: output in the same dashed box as a figure not drawn (grader.sandbox.notes).
SKIPPED_NOTE = (
    "Not run while grading (cells after the last test cannot change your grade). "
    "Run the notebook yourself to see this cell's output."
)


def skipped_output() -> NotebookNode:
    """The display output put in a cell that grading did not run (`SKIPPED_NOTE`)."""
    return NotebookNode(output_type="display_data", data=note_output(SKIPPED_NOTE), metadata={})


#: Banners already printed by this process (each once).
_WARNED: set[str] = set()


class CapOutputBytes(NbGraderPreprocessor):
    """Cap each code cell's output at `max_output_bytes`, with an "[output cut: N bytes]"
    note (for autograded notebooks and feedback; nbgrader's LimitOutput counts lines)."""

    max_output_bytes = Int(DEFAULT_MAX_OUTPUT_BYTES, help="bytes of output kept per cell").tag(
        config=True
    )

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple:
        cap_cell_outputs(cell, self.max_output_bytes)
        return cell, resources


# --------------------------------------------------------------------------- Execute


@dataclass
class RunInfo:
    """How one notebook was executed (read by the post-grading step in the same process)."""

    started: float  #: time.time() when the notebook started
    limit: int  #: the notebook's whole wall-clock limit (grading and verification), seconds
    sandboxed: bool
    warning: str = ""  #: why the kernel ran without bubblewrap ("" when sandboxed)
    hung: list[str] = field(default_factory=list)  #: functions stopped after a timeout

    @property
    def deadline(self) -> float:
        return self.started + self.limit


#: (student, assignment, notebook) -> how its last execution in this process went.
RUNS: dict[tuple[str, str, str], RunInfo] = {}


class SandboxedExecute(Execute):
    """nbgrader's Execute with sandboxed kernels, an output cap and a notebook time budget."""

    memory_limit = Union(
        [Int(), Unicode()], default_value="2G", help="address space per kernel, e.g. 2G"
    ).tag(config=True)
    cpu_time_limit = Int(DEFAULT_CPU_SECONDS, help="CPU seconds per notebook").tag(config=True)
    notebook_timeout = Int(DEFAULT_NOTEBOOK_TIMEOUT, help="wall-clock seconds per notebook").tag(
        config=True
    )
    max_output_bytes = Int(DEFAULT_MAX_OUTPUT_BYTES, help="bytes of output kept per cell").tag(
        config=True
    )
    max_file_bytes = Union([Int(), Unicode()], default_value="256M", help="largest file").tag(
        config=True
    )
    mode = Unicode(DEFAULT_MODE, help="'auto' (warn without bwrap), 'require' or 'off'").tag(
        config=True
    )
    bwrap = Unicode(DEFAULT_BWRAP, help="the bubblewrap binary").tag(config=True)
    course_root = Unicode(
        "", help="the course directory to hide (default: CourseDirectory.root)"
    ).tag(config=True)
    verify_reserve = Int(
        120,
        help="seconds of notebook_timeout kept for the verification after grading (at most "
        "half of it): the kernel gets the rest, verification what is left when it is done",
    ).tag(config=True)
    sandboxed = Bool(True, help="set after each run: whether bubblewrap was used")
    warm = Bool(
        False,
        help="fork each kernel from a warm zygote in a per-process sandbox "
        "(grader.sandbox.zygote; bubblewrap only): no interpreter start or imports per "
        "notebook, figures noted instead of drawn. `backprop-grader autograde` sets it",
    ).tag(config=True)
    skip_after_graded = Bool(
        False,
        help="do not run code cells after the last graded cell (they cannot change a grade); "
        "each gets a note saying so. `backprop-grader autograde` sets it",
    ).tag(config=True)

    @default("warm")
    def _warm_default(self) -> bool:
        return os.environ.get(WARM_ENV) == "1"

    @default("skip_after_graded")
    def _skip_default(self) -> bool:
        return os.environ.get(WARM_ENV) == "1"

    @default("extra_arguments")
    def _extra_arguments_default(self) -> list[str]:
        # No history file per kernel; ipykernel's start-up warnings stay out of the log; the
        # kernel itself caps each cell's printed text (grader.sandbox.streamcap).
        return [
            "--HistoryManager.hist_file=:memory:",
            "--IPKernelApp.log_level=ERROR",
            "--IPKernelApp.exec_lines=" + STREAMCAP.format(limit=2 * self.max_output_bytes),
        ]

    def kernel_budget(self) -> int:
        """Seconds the kernel may run: notebook_timeout less the verification's reserve."""
        reserve = max(0, min(self.verify_reserve, self.notebook_timeout // 2))
        return max(1, self.notebook_timeout - reserve)

    @default("course_root")
    def _course_root_default(self) -> str:
        root = self.config.get("CourseDirectory", {}).get("root", "")
        return str(root) if root else ""

    def limits(self) -> Limits:
        return Limits(
            memory_bytes=parse_size(self.memory_limit),
            cpu_seconds=self.cpu_time_limit,
            notebook_timeout=self.notebook_timeout,
            max_output_bytes=self.max_output_bytes,
            max_file_bytes=parse_size(self.max_file_bytes),
        )

    def kernel_plan(self) -> tuple[Plan, str]:
        """The sandbox plan of this configuration's kernels and make_plan's warning ("" when
        sandboxed); the same for every notebook of a run (a worker's kernel zygote is
        started with it before its first notebook: grader.pipeline.autograde)."""
        plan, warning = make_plan(
            self.limits(),
            course=Path(self.course_root) if self.course_root else None,
            mode=self.mode,
            bwrap=self.bwrap,
        )
        reserve = self.notebook_timeout - self.kernel_budget()
        # The wrapper's last-resort kill stays inside the notebook's one limit.
        plan.limits["hard_kill_after"] = self.kernel_budget() + max(
            1, min(HARD_KILL_GRACE, reserve)
        )
        return plan, warning

    def create_kernel_manager(self) -> SandboxKernelManager:
        plan, warning = self.kernel_plan()
        self.sandboxed = not warning
        self._warning = warning.split("Reason: ", 1)[-1] if warning else ""
        if warning:
            warn_unsandboxed(self._warning)
        self.km = None
        if self.warm:
            from grader.sandbox.zygote_host import warm_kernel_manager

            self.km = warm_kernel_manager(self.config, plan, self.log)
            if self.km is not None:  # the zygote kills whatever is left: no grace needed
                self.shutdown_kernel = "immediate"
        if self.km is None:
            self.km = SandboxKernelManager(config=self.config, plan_json=plan.to_json())
        return self.km

    # -- per-notebook state
    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple:
        self._deadline = time.monotonic() + self.kernel_budget()
        self._stopped = ""
        self._warning = ""
        self._cut: dict[int, int] = {}
        self._used: dict[int, int] = {}
        self._hung: list[str] = []
        self._last_graded = max(
            (i for i, c in enumerate(nb.cells) if is_graded(c)), default=len(nb.cells)
        )
        self.timeout_func = self._cell_timeout
        ids = (resources or {}).get("nbgrader", {})
        key = (
            str(ids.get("student", "")),
            str(ids.get("assignment", "")),
            str(ids.get("notebook", "")),
        )
        info = RunInfo(time.time(), self.notebook_timeout, True)
        RUNS[key] = info
        if os.environ.get("NBGRADER_EXECUTION") == "autograde":
            self._check_hook()
        self._began = False
        try:
            return super().preprocess(nb, resources, km=km)
        except (RuntimeError, DeadKernelError):
            # The kernel never answered: on a loaded machine its start can use up the whole
            # limit, and the wrapper's last-resort kill ends it before its first reply. That
            # is the notebook's limit, said in its cells as when a cell runs past it.
            if self._began or time.monotonic() < self._deadline:
                raise
            self._limit_before_start(nb)
            return nb, resources
        finally:
            info.sandboxed, info.warning, info.hung = self.sandboxed, self._warning, self._hung

    def _limit_before_start(self, nb: NotebookNode) -> None:
        """The notebook's limit ran out while its kernel was starting: the first cell says
        so, every later one is not run."""
        self._stopped = f"the notebook ran longer than its limit of {self.notebook_timeout} s"
        first = True
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = []
                if first:
                    self._error(cell, ENAME_NOTEBOOK_TIME, self._stopped)
                    first = False
                else:
                    self._error(cell, ENAME_NOT_RUN, f"not run: {self._stopped} in an earlier cell")

    def _cell_timeout(self, cell: NotebookNode) -> int:
        remaining = int(self._deadline - time.monotonic())
        limit = self.timeout if self.timeout and self.timeout > 0 else remaining
        return max(1, min(limit, remaining))

    def _check_hook(self) -> None:
        """Say loudly when nbgrader grades without the course's verification hook (a hook
        marked with VERIFIES_GRADES; the course's nbgrader_config.py registers it)."""
        hook = self.config.get("Autograde", {}).get("post_convert_hook")
        if isinstance(hook, str):
            try:
                hook = import_item(hook)
            except Exception:  # noqa: BLE001 - nbgrader reports a hook it cannot import
                hook = None
        if not getattr(hook, VERIFIES_GRADES, False) and VERIFIES_GRADES not in _WARNED:
            _WARNED.add(VERIFIES_GRADES)
            banner = (
                "!!! NOT VERIFIED: this nbgrader configuration has no "
                "c.Autograde.post_convert_hook that verifies grades (the course's "
                "nbgrader_config.py sets it; docs/sandbox.md): its grades are not checked "
                "outside the student's process, and export and report will flag them"
            )
            print(f"\n{banner}\n", file=sys.stderr, flush=True)
            log.warning(banner)

    async def async_execute_cell(
        self,
        cell: NotebookNode,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> NotebookNode:
        self._began = True  # the kernel answered: failures from here are the cells' own
        runs = cell.cell_type == "code" and cell.source.strip()
        if runs and self.skip_after_graded and cell_index > self._last_graded:
            cell.outputs = [skipped_output()]
            return cell
        if runs and not self._stopped and time.monotonic() >= self._deadline:
            self._stopped = f"the notebook ran longer than its limit of {self.notebook_timeout} s"
            self._error(cell, ENAME_NOTEBOOK_TIME, self._stopped)
            await self._stop_kernel()
            return cell
        if runs and self._stopped:
            cell.outputs = []
            self._error(cell, ENAME_NOT_RUN, f"not run: {self._stopped} in an earlier cell")
            return cell
        limit = self._cell_timeout(cell)  # as the cell starts: the same words every run
        try:
            cell = await super().async_execute_cell(
                cell, cell_index, execution_count=execution_count, store_history=store_history
            )
            if runs and any(
                o.get("output_type") == "error"
                and o.get("ename") == self.error_on_timeout.get("ename")
                for o in cell.get("outputs", [])
            ):
                await self._quarantine(cell)
            return cell
        except DeadKernelError:
            code = self.km.exit_code() if isinstance(self.km, SandboxKernelManager) else None
            self._stopped = death_reason(code, self.limits())
            self._error(cell, ENAME_KERNEL_DIED, self._stopped)
            return cell
        except CellTimeoutError:
            # The interrupt did not stop the cell (signals ignored, or stuck in C code):
            # stop the kernel so the notebook's other cells are not held up behind it.
            self._stopped = f"a cell ran longer than {limit} s and ignored the interrupt"
            self._error(cell, ENAME_KERNEL_DIED, self._stopped)
            await self._stop_kernel()
            return cell
        finally:
            if runs:
                self._finish_cell(cell, cell_index)

    execute_cell = run_sync(async_execute_cell)

    async def _quarantine(self, cell: NotebookNode) -> None:
        """After a cell timed out: stop the function that hung from costing another timeout
        in every later cell that calls it (`grader.sandbox.quarantine`)."""
        from queue import Empty

        limit = self._cell_timeout(cell)
        msg_id = self.kc.execute(
            QUARANTINE_CELL.format(limit=int(self.timeout or limit)),
            silent=True,
            store_history=False,
            user_expressions={"hung": "__grader_hung"},
        )
        wait = min(10.0, max(1.0, self._deadline - time.monotonic()))
        end = time.monotonic() + wait
        while True:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=max(0.1, end - time.monotonic()))
            except Empty:  # still busy (a flood of output, heavy load): leave it to the
                return  # next cell's own timeout, which stops a kernel that ignores interrupts
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                break
        value = msg["content"].get("user_expressions", {}).get("hung", {})
        name = str(value.get("data", {}).get("text/plain", "")).strip("'\"")
        if name and name not in self._hung:
            self._hung.append(name)

    async def _stop_kernel(self) -> None:
        try:
            if self.km is not None:
                await self.km.shutdown_kernel(now=True)
        except Exception as exc:  # noqa: BLE001 - best effort; the wrapper kills it anyway
            self.log.warning("could not stop the kernel: %s", exc)

    @staticmethod
    def _error(cell: NotebookNode, ename: str, message: str) -> None:
        cell.setdefault("outputs", []).append(
            NotebookNode(
                output_type="error",
                ename=ename,
                evalue=message,
                traceback=[f"\x1b[0;31m{ename}\x1b[0m: {message}"],
            )
        )

    def output(
        self, outs: list, msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        data = msg.get("content", {}).get("data") or {}
        if msg.get("msg_type") == "display_data" and STREAMCAP_MIME in data:
            # the kernel's count of the text it did not send (grader.sandbox.streamcap)
            cut = data[STREAMCAP_MIME].get("cut") if isinstance(data[STREAMCAP_MIME], dict) else 0
            if isinstance(cut, int) and cut > 0:
                self._cut[cell_index] = self._cut.get(cell_index, 0) + cut
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        # Cap as output arrives, so a flood never accumulates in memory.
        size = output_bytes(out) + image_bytes(out) // IMAGE_FACTOR
        used = self._used.get(cell_index, 0) + size
        self._used[cell_index] = used
        if used > self.max_output_bytes * 2:
            probe = NotebookNode(cell_type="code", outputs=list(outs))
            self._cut[cell_index] = self._cut.get(cell_index, 0) + cap_cell_outputs(
                probe, self.max_output_bytes
            )
            outs[:] = [
                o
                for o in probe.outputs
                if not (o.get("output_type") == "stream" and CUT_NOTE_RE.search(o.get("text", "")))
            ]
            self._used[cell_index] = sum(
                output_bytes(o) + image_bytes(o) // IMAGE_FACTOR for o in outs
            )
        return out

    def _finish_cell(self, cell: NotebookNode, cell_index: int) -> None:
        earlier = self._cut.pop(cell_index, 0)
        self._used.pop(cell_index, None)
        if earlier:
            cell.outputs.append(cut_note(earlier))
        cap_cell_outputs(cell, self.max_output_bytes)
