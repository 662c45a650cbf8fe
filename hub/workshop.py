"""A workshop's settings and set-up: who the learners are, how they log in, the folders the hub shares read-only,
each learner's own folder, and the lock that keeps one hub per folder. Used by start.py (`make hub`),
jupyterhub_config.py and load_test.py (`make test-hub`); README, "Running a workshop", explains the settings.

Every setting is an environment variable (on the make line: `make hub HUB_IP=0.0.0.0`):
    HUB_DIR          the hub's folder: state/ (database, secrets, logs), shared/, learners/   [artifacts/hub]
    HUB_LEARNERS     the class list: one learner a line, optionally a personal token         [hub/learners.txt]
    HUB_PASSWORD     the workshop password (8 characters or more)   [made up once, kept in state/password]
    HUB_TEACHER      an admin account for the teacher (password made up, in state/teacher_password) [teacher]
    HUB_IP, HUB_PORT where the hub answers: 127.0.0.1 is this machine only; 0.0.0.0 serves a room   [127.0.0.1, 8000]
    HUB_API_PORT, HUB_PROXY_API_PORT   the hub's and the proxy's own ports, on 127.0.0.1          [8081, 8001]
    HUB_THREADS      torch threads per learner                                                  [1]
    HUB_CULL_IDLE_S  a learner's server idle this long (no kernel or browser activity) is stopped [3600]
    HUB_ACTIVITY_S   how often a learner's server tells the hub it is in use                     [300]
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from secrets import compare_digest
from typing import IO, Callable, Mapping

ROOT = Path(__file__).resolve().parents[1]  # the project
VENV_BIN = Path(sys.executable).parent  # the project's .venv/bin: the learners' servers run its Python
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"  # npm ci --prefix hub
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # JupyterHub lowercases names; these are safe in paths and URLs
SPLITS = ("train", "dev", "test_seen")  # the splits whose features the notebooks read (memelib.preflight's list)

__all__ = ["Settings", "Learner", "HubRunning", "read_learners", "check_login", "secret", "acquire_lock",
           "prepare_shared", "seed_learner", "learner_env", "ROOT", "VENV_BIN", "PROXY"]


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    value = env.get(key) or str(default)
    if not value.isdigit():
        raise ValueError(f"{key}={value!r}: not a whole number; e.g. {key}={default}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    hub_dir: Path  # state/, shared/ and learners/ live here
    learners_file: Path  # the class list
    password: str | None  # the workshop password; None: made up once and kept in state/password
    teacher: str  # the admin account's name
    ip: str  # the address the hub answers on
    port: int  # the port learners open in their browser
    api_port: int  # the hub's own port (127.0.0.1): the proxy and the servers talk to it
    proxy_api_port: int  # the proxy's control port (127.0.0.1)
    threads: int  # torch threads per learner (OMP_NUM_THREADS)
    cull_idle_s: int  # seconds of inactivity before a learner's server is stopped
    activity_s: int  # seconds between a server's reports of activity to the hub

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        hub_dir = Path(env.get("HUB_DIR") or ROOT / "artifacts" / "hub")
        settings = cls(
            hub_dir=hub_dir.resolve(),
            learners_file=Path(env.get("HUB_LEARNERS") or ROOT / "hub" / "learners.txt").resolve(),
            password=env.get("HUB_PASSWORD") or None, teacher=env.get("HUB_TEACHER") or "teacher",
            ip=env.get("HUB_IP") or "127.0.0.1", port=_int(env, "HUB_PORT", 8000),
            api_port=_int(env, "HUB_API_PORT", 8081), proxy_api_port=_int(env, "HUB_PROXY_API_PORT", 8001),
            threads=_int(env, "HUB_THREADS", 1), cull_idle_s=_int(env, "HUB_CULL_IDLE_S", 3600),
            activity_s=_int(env, "HUB_ACTIVITY_S", 300))
        if settings.password is not None and len(settings.password) < 8:
            raise ValueError("HUB_PASSWORD: 8 characters or more (JupyterHub refuses shorter shared passwords)")
        if not NAME.match(settings.teacher):
            raise ValueError(f"HUB_TEACHER={settings.teacher!r}: lowercase letters, digits, - and _ only")
        return settings

    @property
    def state(self) -> Path:  # the hub's database, cookie secret, passwords, log, pid files and lock
        return self.hub_dir / "state"

    @property
    def shared(self) -> Path:  # synthmemes/, cache/, student/: read-only for the learners
        return self.hub_dir / "shared"

    data = property(lambda self: self.shared / "synthmemes")
    cache = property(lambda self: self.shared / "cache")
    student = property(lambda self: self.shared / "student")

    @property
    def learners(self) -> Path:  # one folder each: learners/<name>
        return self.hub_dir / "learners"

    @property
    def url(self) -> str:  # where learners open the hub
        return f"http://{self.ip}:{self.port}"


@dataclass(frozen=True)
class Learner:
    name: str
    token: str | None  # their personal token (the password only they can use); None: the workshop password


def read_learners(path: Path, teacher: str = "teacher") -> list[Learner]:
    """The class list: one learner a line, `name` or `name token`; blank lines and `#` comments are skipped."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such class list. Write one learner a line (a name, optionally a personal "
                                "token), e.g. `cp hub/learners.example.txt hub/learners.txt`, or set HUB_LEARNERS")
    learners: list[Learner] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}:{n}"
        if len(words) > 2 or not NAME.match(words[0]):
            raise ValueError(f"{where}: {line.strip()!r}: expected `name` or `name token`, the name in lowercase "
                             "letters, digits, - and _ (up to 32)")
        if len(words) == 2 and len(words[1]) < 8:
            raise ValueError(f"{where}: {words[0]}'s token is shorter than 8 characters; make it longer")
        if words[0] in {l.name for l in learners} or words[0] == teacher:
            raise ValueError(f"{where}: {words[0]} is listed twice (or is the teacher's account, HUB_TEACHER)")
        learners.append(Learner(words[0], words[1] if len(words) == 2 else None))
    if not learners:
        raise ValueError(f"{path}: no learner listed; write one name a line")
    return learners


def check_login(learners: list[Learner], password: str, name: str, given: str) -> bool:
    """A learner on the list logs in with their personal token when they have one, else the workshop password."""
    learner = next((l for l in learners if l.name == name), None)
    if learner is None:
        return False
    return compare_digest(given.encode(), (learner.token or password).encode())


def secret(path: Path, length: int = 12) -> str:
    """The secret kept in `path`, made up the first time (readable by this user only)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(length)[:length] + "\n")
    return path.read_text().strip()


class HubRunning(RuntimeError):
    """Another hub holds this hub folder."""


def acquire_lock(settings: Settings) -> IO[str]:
    """Hold state/hub.lock for as long as the returned file stays open (the system frees it when the process ends,
    however it ends). Raises HubRunning, with how to reach or stop that hub, when another process holds it."""
    settings.state.mkdir(parents=True, exist_ok=True)
    f = open(settings.state / "hub.lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        held = json.loads(f.read() or "{}")
        f.close()
        raise HubRunning(f"a hub already runs from {settings.hub_dir} (pid {held.get('pid', '?')}, "
                         f"{held.get('url', '?')}, since {held.get('since', '?')}). Open that one, or stop it first: "
                         f"Ctrl-C in its terminal, or `kill {held.get('pid', '<pid>')}`.") from None
    f.truncate(0)
    f.write(json.dumps({"pid": os.getpid(), "url": settings.url, "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
    f.flush()
    return f


def _set_writable(folder: Path, writable: bool) -> None:
    """Files 644/444 and folders 755/555 under `folder`: read-only for every learner once prepared."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755 if writable else 0o555)
        else:
            path.chmod(0o644 if writable else 0o444)


def prepare_shared(settings: Settings, seed_cache: Path = ROOT / "artifacts" / "cache",
                   log: Callable[[str], None] = print) -> None:
    """shared/: SynthMemes (copied from data/synthmemes when it is there, else generated), the student notebooks
    (made again from notebooks/, so they follow the course), and the features the notebooks read (copied from
    `seed_cache` when it holds them, else extracted: a minute or two, once). Then all of it read-only."""
    from memelib.exercises import make_student_notebooks
    from memelib.synthetic import is_generated

    settings.shared.mkdir(parents=True, exist_ok=True)
    _set_writable(settings.shared, True)
    try:
        if not is_generated(settings.data):
            shutil.rmtree(settings.data, ignore_errors=True)
            if is_generated(ROOT / "data" / "synthmemes"):
                log(f"shared data: copying data/synthmemes to {settings.data}")
                shutil.copytree(ROOT / "data" / "synthmemes", settings.data)
            else:
                from memelib.course import ensure_synthmemes

                log(f"shared data: generating SynthMemes in {settings.data} (a minute, once)")
                ensure_synthmemes(settings.data)
        shutil.rmtree(settings.student, ignore_errors=True)
        make_student_notebooks(ROOT / "notebooks", settings.student)
        _prepare_cache(settings.data, settings.cache, seed_cache, log)
    finally:
        _set_writable(settings.shared, False)


def _prepare_cache(data: Path, cache: Path, seed: Path, log: Callable[[str], None]) -> None:
    """The offline preset's float32 features of SPLITS in `cache`, as `course.setup` and `fit` key them."""
    import torch

    from memelib.annotations import read_split
    from memelib.config import preset
    from memelib.encoders import load_tokenizer
    from memelib.features import cache_path, cached_features, encoder_fingerprint
    from memelib.model import build_model

    cfg = preset("offline", precision="fp32")
    model = build_model(cfg.model).eval()
    encoders = encoder_fingerprint(model)
    cache.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        records = read_split(data, split, require_labels=True)
        path = cache_path(encoders, records, data, cache, "fp32")
        if path.is_file():
            continue
        if (seed / path.name).is_file():
            log(f"shared cache: copying the {split} features from {seed}")
            shutil.copyfile(seed / path.name, path.with_suffix(".part"))
            path.with_suffix(".part").rename(path)  # whole or absent, never half a file
        else:
            log(f"shared cache: extracting the {split} features ({len(records)} memes) into {cache}, once")
            cached_features(model, records, data, load_tokenizer(cfg.model.text), cache, log=lambda s: None,
                            device=torch.device("cpu"), progress=False, precision="fp32")


def seed_learner(settings: Settings, name: str) -> Path:
    """learners/<name>/ with notebooks/ (the student copies they lack: their own work is never overwritten),
    artifacts/ and tmp/. Returns the folder."""
    home = settings.learners / name
    for sub in ("notebooks", "artifacts", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    for notebook in sorted(settings.student.glob("*.ipynb")):
        if not (home / "notebooks" / notebook.name).exists():
            shutil.copyfile(notebook, home / "notebooks" / notebook.name)  # content only: theirs to edit
    return home


def learner_env(settings: Settings, home: Path) -> dict[str, str]:
    """The environment of a learner's server and kernels: shared data and cache to read, their own folder to
    write in (HOME is set to it by the spawner), offline, `threads` torch threads."""
    threads = str(settings.threads)
    return {
        "PATH": os.pathsep.join([str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "MEMELIB_DATA_DIR": str(settings.data), "MEMELIB_SHARED_CACHE_DIR": str(settings.cache),
        "MEMELIB_STUDENT_DIR": str(settings.student),
        "MEMELIB_ARTIFACTS_DIR": str(home / "artifacts"), "MEMELIB_CACHE_DIR": str(home / "artifacts" / "cache"),
        "TMPDIR": str(home / "tmp"),
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,  # torch reads them when it starts
        "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ written into the shared installation
        "JUPYTERHUB_ACTIVITY_INTERVAL": str(settings.activity_s),
        # the project's own test of the hub sets MEMELIB_STRICT=1 (a claim of the text that fails raises); for a
        # room it is unset, and a learner's notebook prints a note instead (memelib.course.expect)
        "MEMELIB_STRICT": os.environ.get("MEMELIB_STRICT", ""),
    }


if __name__ == "__main__":  # `python hub/workshop.py prepare`: what start.py runs, in a process of its own, so
    if sys.argv[1:] != ["prepare"]:  # that torch, which preparing loads, does not stay in the hub's memory
        sys.exit("usage: python hub/workshop.py prepare   (the shared folders of the hub HUB_DIR names)")
    prepare_shared(Settings.from_env())
