"""JupyterLab in every student's server on the course's hub (this folder is on the students'
JUPYTER_CONFIG_PATH, set by jupyterhub_config.py): the learner's defaults of `make lab`
(lab/settings/overrides.json: no "get notified about Jupyter news?" question)."""

from pathlib import Path

c = get_config()  # noqa: F821

c.LabApp.app_settings_dir = str(Path(__file__).resolve().parents[2] / "lab" / "settings")
