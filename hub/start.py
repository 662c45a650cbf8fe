"""`make hub`: JupyterHub serving the course, in the foreground until Ctrl-C.

    .venv/bin/python hub/start.py            (make hub; the settings are environment variables, hub/workshop.py)

Takes the hub folder's lock (a second `make hub` on the same folder says which one runs and exits with status 1),
prepares the shared folders once (SynthMemes, the student notebooks, the warm feature cache; then read-only),
gives every learner on the class list their folder, prints where to log in and with what, and runs JupyterHub.
Ctrl-C (or `kill <pid>`, the pid it prints) stops the hub, its proxy and every learner's server and kernel.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # workshop.py, processes.py

from processes import port_is_free, stop_tree  # noqa: E402
from workshop import (PROXY, VENV_BIN, HubRunning, Settings, acquire_lock, read_learners, secret,  # noqa: E402
                      seed_learner)

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "jupyterhub_config.py"


def check_ready(settings: Settings) -> None:
    """What the hub needs before it starts, each missing piece with its fix."""
    if not PROXY.is_file():
        raise FileNotFoundError(f"{PROXY}: JupyterHub's proxy is not installed; `make hub` installs it "
                                "(npm ci --prefix hub)")
    for what, ip, port in (("HUB_PORT", settings.ip, settings.port), ("HUB_API_PORT", "127.0.0.1", settings.api_port),
                           ("HUB_PROXY_API_PORT", "127.0.0.1", settings.proxy_api_port)):
        if not port_is_free(ip, port):
            raise OSError(f"{ip}:{port} is in use by another program; choose another port: {what}=<port>")


def banner(settings: Settings, names: list[str], with_token: int, password: str) -> str:
    """Where to log in and with what: for the teacher's eyes (it shows the passwords)."""
    room = "this machine only" if settings.ip in ("127.0.0.1", "localhost") else "anyone who can reach this machine"
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return "\n".join([
        f"The course's hub: {settings.url}  ({room}; HUB_IP=0.0.0.0 serves a room)",
        f"  learners ({len(names)}): {shown}",
        f"  workshop password: {password}" + (f"  ({with_token} learners log in with their own token instead)"
                                              if with_token else ""),
        f"  teacher's admin account: {settings.teacher} / {secret(settings.state / 'teacher_password', 40)}",
        f"  learners' folders: {settings.learners}/<name>; shared, read-only: {settings.shared}",
        f"  idle servers stop after {settings.cull_idle_s} s; {settings.threads} torch thread(s) per learner",
        "Stop: Ctrl-C here (the hub, its proxy and every learner's server and kernel stop with it).",
    ])


def wait_until_up(hub: subprocess.Popen, settings: Settings, timeout: float = 120) -> bool:
    """True once the hub answers through its proxy; False if it ended first or did not answer in `timeout` s."""
    url = f"http://127.0.0.1:{settings.port}/hub/api/" if settings.ip == "0.0.0.0" else f"{settings.url}/hub/api/"
    deadline = time.monotonic() + timeout
    while hub.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status == 200
        except OSError:
            time.sleep(0.5)
    return False


def run_hub(settings: Settings) -> int:
    """JupyterHub in its own process group, until it ends or this process is told to stop; always cleaned up."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # before the hub starts: a Ctrl-C ignored when this script started (in the background) would be ignored by
    # the hub and everything it starts too, and each would take its full timeout to stop
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log_path = settings.state / "jupyterhub.log"
    log = open(log_path, "a", encoding="utf-8")
    # the hub runs in state/ (files it writes by default land there): it gets the settings' paths made absolute;
    # in a session of its own, so that Ctrl-C reaches this script only, which then stops it and all below it
    env = dict(os.environ, HUB_DIR=str(settings.hub_dir), HUB_LEARNERS=str(settings.learners_file))
    hub = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(CONFIG)], cwd=settings.state, env=env,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        print(f"JupyterHub pid {hub.pid} starting (log: {log_path}) ...", flush=True)
        if wait_until_up(hub, settings):
            print(f"ready: {settings.url}", flush=True)
        code = hub.wait()
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        print(f"JupyterHub ended with status {code}; the end of its log:", *tail, sep="\n", file=sys.stderr)
        return code or 1
    except KeyboardInterrupt:
        print("stopping the hub, its proxy and the learners' servers ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        t0 = time.monotonic()
        killed = stop_tree(hub)
        print(f"hub stopped in {time.monotonic() - t0:.1f} s" + (f"; {len(killed)} leftover processes killed by PID"
                                                                  if killed else ""), flush=True)
        log.close()


def main() -> int:
    try:
        settings = Settings.from_env()
        lock = acquire_lock(settings)
    except HubRunning as running:
        print(running, file=sys.stderr)
        return 1
    except ValueError as bad:
        print(bad, file=sys.stderr)
        return 2
    try:
        learners = read_learners(settings.learners_file, settings.teacher)
        check_ready(settings)
        password = settings.password or secret(settings.state / "password")
        if subprocess.run([sys.executable, str(HERE / "workshop.py"), "prepare"]).returncode:
            return 2  # it said why
        for learner in learners:
            seed_learner(settings, learner.name)
    except (OSError, ValueError) as problem:
        print(problem, file=sys.stderr)
        return 2
    print(banner(settings, [l.name for l in learners], sum(l.token is not None for l in learners), password),
          flush=True)
    with lock:
        return run_hub(settings)


if __name__ == "__main__":
    sys.exit(main())
