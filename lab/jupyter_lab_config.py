"""The learner's JupyterLab (`make lab`): this folder is a Jupyter config directory that the
Makefile puts first on JUPYTER_CONFIG_PATH for that one server, never in anyone's ~/.jupyter.

- labconfig/page_config.json: nbgrader's instructor plugins are not loaded (its menu,
  Formgrader, Create Assignment, Course List, and Assignments, which needs an exchange);
  the notebook toolbar's Validate button (@jupyter/nbgrader:validate-assignment) stays.
- jupyter_server_config.json: nbgrader's formgrader, course_list and assignment_list server
  extensions are off; validate_assignment (what Validate calls) stays on.
- settings/overrides.json: JupyterLab's defaults for this server; fetchNews "false", so no
  "get notified about Jupyter news?" question (a learner can still turn it on in Settings).

`jupyter lab` run without this folder on the path (an instructor in their course folder) loads
everything as installed.
"""

from pathlib import Path

c = get_config()  # noqa: F821

# JupyterLab reads overrides.json only from its application settings folder; nothing else
# lives there in a pip-installed JupyterLab (the default, <sys.prefix>/share/jupyter/lab/settings,
# does not exist), so pointing it here changes nothing but the defaults above.
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent / "settings")
