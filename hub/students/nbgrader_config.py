"""nbgrader's configuration in every student's server on the course's JupyterHub.

jupyterhub_config.py puts this folder on the students' JUPYTER_CONFIG_PATH: the Assignments
tab (nbgrader's assignment_list extension) then lists the course's assignments from the
exchange the hub names in BACKPROP_EXCHANGE (the shared volume, /srv/nbgrader/exchange on a
production hub).
"""

import os

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "backprop-course"
c.Exchange.root = os.environ.get("BACKPROP_EXCHANGE", "/srv/nbgrader/exchange")
# Submissions and feedback are filed under the hub's login name. nbgrader would take the OS
# account's name, which is the same for everyone when all servers run as one account (this
# rehearsal hub; a container image's "jovyan" is handled by nbgrader itself).
c.CourseDirectory.student_id = os.environ.get("JUPYTERHUB_USER", "*")
