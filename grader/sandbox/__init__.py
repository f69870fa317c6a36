"""Where student code runs: a bubblewrap sandbox with resource limits.

`execute` is the host side (nbgrader's `Execute` with a sandboxed kernel manager, the output
cap, the limits); `boxrun` is the small launcher that starts a kernel or process inside the
sandbox (`python -m grader.sandbox.boxrun`, no heavy imports). `python -m grader.sandbox
check` says whether bubblewrap works on this machine.

Kept import-free so the launcher starts fast.
"""
