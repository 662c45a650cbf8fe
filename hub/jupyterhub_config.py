"""JupyterHub serving the course to a room of learners on this one machine (`make hub`, which prepares the
folders first; settings: hub/workshop.py and README, "Running a workshop").

Every learner's server runs as this machine's one user, in the learner's own folder (SimpleLocalProcessSpawner):
fine for a workshop on a machine of its own, not a security boundary. The Littlest JupyterHub gives each learner
a real system user and a memory limit; the README says how to move there.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # workshop.py, beside this file

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator  # noqa: E402
from workshop import (PROXY, VENV_BIN, Settings, check_login, learner_env, read_learners, secret,  # noqa: E402
                      seed_learner)

c = get_config()  # noqa: F821 (JupyterHub provides it)
settings = Settings.from_env()
learners = read_learners(settings.learners_file, settings.teacher)
password = settings.password or secret(settings.state / "password")
teacher_password = secret(settings.state / "teacher_password", 40)  # an admin's: 32 characters at least


class WorkshopAuthenticator(SharedPasswordAuthenticator):
    """The workshop password for every learner on the list, except those given a personal token, who log in with
    it instead; the teacher (HUB_TEACHER) with the admin password. A workshop setting, not production security."""

    async def authenticate(self, handler, data):
        name = self.normalize_username(data["username"])
        if name not in self.admin_users and check_login(learners, password, name, data["password"]):
            return {"name": name, "admin": False, "groups": []}
        return await super().authenticate(handler, data) if name in self.admin_users else None


# -- who logs in -------------------------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = WorkshopAuthenticator
c.SharedPasswordAuthenticator.user_password = password
c.SharedPasswordAuthenticator.admin_password = teacher_password
c.Authenticator.admin_users = {settings.teacher}
c.Authenticator.allowed_users = {learner.name for learner in learners}

# -- where: the public address, and the hub's and proxy's own ports on this machine ------------------------------
c.JupyterHub.bind_url = settings.url
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.api_port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.pid_file = str(settings.state / "proxy.pid")
c.JupyterHub.pid_file = str(settings.state / "jupyterhub.pid")
c.JupyterHub.db_url = f"sqlite:///{settings.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(settings.state / "cookie_secret")

# -- each learner's server: their own folder, the project's Python, shared data read-only ------------------------
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(settings.learners / "{username}")
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []  # Jupyter refuses root unless told
c.Spawner.notebook_dir = str(settings.learners / "{username}" / "notebooks")  # what JupyterLab shows them
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120  # seconds; a busy machine starts a server slowly
c.Spawner.http_timeout = 120
c.Spawner.environment = {  # computed per learner when their server starts
    key: (lambda spawner, key=key: learner_env(settings, Path(spawner.home_dir))[key])
    for key in learner_env(settings, settings.learners / "-")
}
c.Spawner.pre_spawn_hook = lambda spawner: seed_learner(settings, spawner.user.name)  # notebooks they lack

# -- idle servers stopped, their memory freed ---------------------------------------------------------------------
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={settings.cull_idle_s}",
                f"--cull-every={max(5, min(settings.cull_idle_s // 2, 300))}"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
