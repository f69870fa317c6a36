"""What a grading worker imports: not matplotlib, which only its kernels use.

A grading worker (grader.pipeline.autograde, or a Dask worker) starts its kernel zygote with
the kernels' matplotlib backend named in MPLBACKEND; it names it without importing
grader.sandbox.nofigures, which imports matplotlib (0.3 CPU-s per worker, docs/performance.md).
"""

from __future__ import annotations

import subprocess
import sys

from grader.sandbox import nofigures, zygote_host


def test_the_worker_names_the_kernels_backend_nofigures_defines():
    assert zygote_host.KERNEL_MPLBACKEND == nofigures.BACKEND


def test_a_worker_starting_a_kernel_zygote_imports_no_matplotlib():
    code = (
        "import sys\n"
        "import grader.pipeline.autograde, grader.pipeline.cluster_worker, grader.pipeline.hooks\n"
        "import grader.sandbox.execute, grader.sandbox.zygote_host, grader.sandbox.kernel\n"
        "import grader.verify.submission, grader.verify.launch, grader.verify.launch_warm\n"
        "env = grader.sandbox.zygote_host.zygote_env('kernel')\n"
        "print(env['MPLBACKEND'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.split("\n")[:2] == [nofigures.BACKEND, "[]"], out.stdout
