"""backprop-course-checks: the checks the notebooks' visible test cells call (no solutions).

`__version__` is derived from the package's files (`backprop_checks.version`); the notebooks'
setup cells call `released_with` with the version they were released with.
"""

from backprop_checks.version import VERSION as __version__
from backprop_checks.version import released_with

__all__ = ["__version__", "released_with"]
