"""backprop-course's grader: the reference implementation, the checks that test cells call,
the misconception diagnosis and the instructor's command line.

Imports flow one way: cli -> pipeline -> checks -> {diagnose, numeric, reference}.
"""

__version__ = "0.1.0"
