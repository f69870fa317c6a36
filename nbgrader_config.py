"""nbgrader configuration for backprop-course: a standard nbgrader course directory.

Folders (relative to this file): source/ (instructor notebooks), release/ (student notebooks,
generated), submitted/, autograded/, feedback/; gradebook: gradebook.db (SQLite).
Run nbgrader from this folder with the course's .venv/bin on PATH (nbgrader calls alembic).
"""

import os

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "backprop-course"
c.CourseDirectory.root = here
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")

# The exchange (nbgrader's release/fetch between accounts) is unused here; give it a writable
# home so nbgrader does not warn about /srv/nbgrader/exchange.
c.Exchange.root = os.path.join(here, ".exchange")

# Autograding: each cell may run this long (seconds); a hanging cell is stopped and scored 0.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Feedback never shows the hidden tests' code to students.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
