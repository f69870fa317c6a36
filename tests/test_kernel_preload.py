"""What a kernel zygote does once before its first fork (grader.sandbox.kernel_preload).

After `preload`, a kernel forked from it starts (ipykernel's IPKernelApp, as the zygote's
child runs it), takes `%matplotlib inline` and lays out a figure without importing a module
the zygote did not; the figure warm-up leaves no figure open in pyplot, no rcParam changed,
no warning emitted and no garbage for a child to collect. Each runs in a fresh Python
process (preload changes the process it runs in).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    r"""
    import gc, json, os, sys, tempfile, warnings
    os.environ["MPLBACKEND"] = "module://grader.sandbox.nofigures"
    import matplotlib
    import matplotlib.pyplot as plt
    matplotlib.use(os.environ["MPLBACKEND"])
    rc_before = dict(matplotlib.rcParams)
    from grader.sandbox import kernel_preload
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kernel_preload.preload([])
    from matplotlib.mathtext import MathTextParser
    out = {
        "warnings": [str(w.message) for w in caught],
        "rc_changed": sorted(k for k, v in rc_before.items() if matplotlib.rcParams[k] != v),
        "figures": plt.get_fignums(),
        "parser_built": MathTextParser._parser is not None,
        "garbage": gc.collect(),
        "missing": [m for m in kernel_preload.KERNEL_MODULES if m not in sys.modules],
    }
    # a kernel as the zygote's child starts it, then two of a notebook's cells
    from jupyter_client.connect import write_connection_file
    folder = tempfile.mkdtemp()
    connection = os.path.join(folder, "kernel.json")
    write_connection_file(connection, transport="ipc", ip=os.path.join(folder, "ipc"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            before = set(sys.modules)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            from ipykernel.kernelapp import IPKernelApp
            from grader.sandbox.nofigures import neutralise_magic
            app = IPKernelApp.instance()
            app.initialize(["-f", connection, "--HistoryManager.hist_file=:memory:"])
            neutralise_magic(app.shell)
            cells = [
                "%matplotlib inline",
                "fig, ax = plt.subplots()\n"
                "ax.semilogy([1, 10, 100], label=r'$\\hat{y}$')\n"
                "ax.legend()\n"
                "fig.tight_layout()",
            ]
            app.shell.user_ns["plt"] = plt
            ok = all(app.shell.run_cell(cell).success for cell in cells)
            os.write(write, json.dumps([ok, sorted(set(sys.modules) - before)]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.waitpid(pid, 0)
    out["kernel_ran"], out["kernel_imported"] = json.loads(data)
    print(json.dumps(out))
    """
)


def test_a_kernel_forked_after_preload_imports_nothing_and_finds_matplotlib_untouched():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["missing"] == []
    assert out["parser_built"], "the figure warm-up did not build matplotlib's mathtext parser"
    assert out["warnings"] == [] and out["figures"] == [] and out["rc_changed"] == []
    assert out["garbage"] == 0, "preload left garbage for every child to collect"
    assert out["kernel_ran"], "the kernel's cells failed"
    assert out["kernel_imported"] == [], (
        "modules a kernel imports after its fork: add them to kernel_preload.KERNEL_MODULES"
    )
