"""Where student code runs: a bubblewrap sandbox with resource limits.

Host side, in the grader's process:

- `plan`: the limits, whether bubblewrap works here, and the plan of one sandboxed process
  (what it may see); the private folders ("boxes") of kernels; why a kernel died;
- `kernel`: `SandboxKernelManager`, jupyter_client's kernel manager with the launcher below;
- `output`: the byte cap on cell outputs and the errors the sandbox writes into cells;
- `execute`: the nbgrader preprocessors `SandboxedExecute` and `CapOutputBytes`, which
  nbgrader_config.py registers.

`boxrun` is the small launcher that starts a kernel or process inside the sandbox
(`python -m grader.sandbox.boxrun`, stdlib only, so a kernel starts fast); `python -m
grader.sandbox check` (`__main__`) says whether bubblewrap works on this machine.

Kept import-free so the launcher starts fast.
"""

#: The attribute by which nbgrader's `Autograde.post_convert_hook` says it verifies grades
#: (the pipeline's hook, grader.pipeline.hooks.post_convert, is marked with it):
#: `SandboxedExecute` says loudly when the configured hook has no such mark. The sandbox
#: names no module above it, so it asks the hook instead of knowing its name.
VERIFIES_GRADES = "backprop_verifies_grades"
