"""backprop-course-checks: the checks the notebooks' visible test cells call (no solutions)."""

__version__ = "0.1.0"
