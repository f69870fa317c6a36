"""JupyterHub for backprop-course: one class, one grader (nbgrader's JupyterHub set-up).

    jupyterhub -f jupyterhub_config.py

One instructor, whose server runs in the course directory (this repository, or a term's
course made by `backprop-grader release --course DIR`) with nbgrader's formgrader, and the
students, each with a home folder of their own and JupyterLab's Assignments tab; everyone
shares nbgrader's exchange. What it reads from the environment:

    BACKPROP_HUB_DIR         the hub's folder: its database and cookie secret (state/), the
                             students' homes (home/USER/), the exchange (exchange/) unless
                             BACKPROP_EXCHANGE names another; default hub-data/ beside this file
    BACKPROP_HUB_COURSE      the instructor's course directory; default this repository
    BACKPROP_HUB_INSTRUCTOR  the instructor's login name; default "instructor"
    BACKPROP_HUB_STUDENTS    the students' login names, comma-separated
    BACKPROP_HUB_PASSWORD    the shared password (at least 8 characters)
    BACKPROP_HUB_PROXY       the configurable-http-proxy command; default from PATH, or
                             where `make hub-proxy` installed it
    BACKPROP_EXCHANGE        nbgrader's exchange folder (handed to every user's server)

THIS IS A CLASSROOM REHEARSAL, NOT A PRODUCTION HUB: a shared password, every user's server
running as the hub's own OS account (no isolation between users), plain HTTP. docs/deploy.md
says what to change for production (TLS, the LMS's LTI or OAuth login, real accounts or
containers, exchange permissions, resource limits). tests/test_hub.py runs a class on it.
"""

import os
import shutil
import sys
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import default

c = get_config()  # noqa: F821 -- provided by jupyterhub when it loads this file

here = Path(__file__).resolve().parent
hub_dir = Path(os.environ.get("BACKPROP_HUB_DIR", here / "hub-data")).resolve()
course_dir = Path(os.environ.get("BACKPROP_HUB_COURSE", here)).resolve()
exchange = Path(os.environ.get("BACKPROP_EXCHANGE", hub_dir / "exchange")).resolve()
instructor = os.environ.get("BACKPROP_HUB_INSTRUCTOR", "instructor")
students = [s.strip() for s in os.environ.get("BACKPROP_HUB_STUDENTS", "").split(",") if s.strip()]
password = os.environ.get("BACKPROP_HUB_PASSWORD", "")
if len(password) < 8:
    sys.exit("jupyterhub_config.py: set BACKPROP_HUB_PASSWORD (at least 8 characters)")
if not students:
    sys.exit("jupyterhub_config.py: set BACKPROP_HUB_STUDENTS (login names, comma-separated)")
if not (course_dir / "nbgrader_config.py").is_file():
    sys.exit(
        f"jupyterhub_config.py: {course_dir} is not a course directory (no nbgrader_config.py): "
        "make it first with `backprop-grader release --course DIR`, then set BACKPROP_HUB_COURSE"
    )

(hub_dir / "state").mkdir(parents=True, exist_ok=True)
# nbgrader's exchange: every account releases, fetches and submits through it (nbgrader's docs
# ask for a folder writable by all).
exchange.mkdir(parents=True, exist_ok=True)
exchange.chmod(0o777)

# --------------------------------------------------------------------------- the hub

c.JupyterHub.bind_url = "http://127.0.0.1:8000"  # the address people open
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{hub_dir / 'state' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub_dir / "state" / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(hub_dir / "state" / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "state" / "jupyterhub-proxy.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server
c.ConfigurableHTTPProxy.should_start = True
# configurable-http-proxy: BACKPROP_HUB_PROXY, else on PATH, else where `make hub-proxy` put it
_cached_proxy = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "backprop-course"
    / "hub-proxy"
    / "node_modules"
    / ".bin"
    / "configurable-http-proxy"
)
if os.environ.get("BACKPROP_HUB_PROXY"):
    c.ConfigurableHTTPProxy.command = [os.environ["BACKPROP_HUB_PROXY"]]
elif not shutil.which("configurable-http-proxy") and _cached_proxy.exists():
    c.ConfigurableHTTPProxy.command = [str(_cached_proxy)]

# --------------------------------------------------------------------------- who logs in

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = password
c.Authenticator.allowed_users = {instructor, *students}

# --------------------------------------------------------------------------- their servers


class CourseSpawner(SimpleLocalProcessSpawner):
    """Each student's server in their own home folder (BACKPROP_HUB_DIR/home/USER), with the
    students' Jupyter configuration (hub/students: the Assignments tab on the course's
    exchange, no instructor tools); the instructor's server in the course directory, where
    formgrader finds the course's nbgrader_config.py (its sandbox and verification)."""

    @default("home_dir")
    def _course_home_dir(self) -> str:
        if self.user.name == instructor:
            return str(course_dir)
        return str(hub_dir / "home" / self.user.name)

    def user_env(self, env: dict) -> dict:
        env = super().user_env(env)
        env["BACKPROP_EXCHANGE"] = str(exchange)
        if self.user.name != instructor:
            env["JUPYTER_CONFIG_PATH"] = str(here / "hub" / "students")
        return env


c.JupyterHub.spawner_class = CourseSpawner
# jupyterhub-singleuser from the environment the hub runs in (the course's .venv)
c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
if os.geteuid() == 0:
    # Only for a throwaway rehearsal (CI runs as root): every user's server, terminal and
    # kernels then run as root. Start a rehearsal with people in it as an ordinary account.
    print(
        "jupyterhub_config.py: running as root: every user's server runs as root; "
        "a rehearsal only (start the hub as an ordinary account for anything else)",
        file=sys.stderr,
    )
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "BACKPROP_HUB_RUN"]
c.Spawner.start_timeout = 180  # a loaded machine starts JupyterLab slowly
c.Spawner.http_timeout = 180
