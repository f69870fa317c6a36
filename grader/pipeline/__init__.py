"""The instructor's grading pipeline, one small step per function, nbgrader underneath.

    collect -> autograde -> feedback -> export     (then `report` for the class report)

Execution settings for student code live in one place, `grader.pipeline.hooks`.
"""

from grader.config import CourseError, course_config
from grader.pipeline.autograde import AutogradeRun, autograde
from grader.pipeline.collect import CollectReport, collect
from grader.pipeline.hooks import after_autograde, execution_config, execution_env
from grader.pipeline.results import CellResult, GradeResult, load_results

__all__ = [
    "AutogradeRun",
    "CellResult",
    "CollectReport",
    "CourseError",
    "GradeResult",
    "after_autograde",
    "autograde",
    "collect",
    "course_config",
    "execution_config",
    "execution_env",
    "load_results",
]
