"""The instructor's grading pipeline, one small step per module, nbgrader underneath.

    collect -> autograde -> feedback -> export     (then `report` for the class report)

Import what you use from its module (`from grader.pipeline.autograde import autograde`):
this package imports nothing, so a command loads only the steps it runs. Execution
settings for student code live in one place, `grader.pipeline.hooks`.
"""
