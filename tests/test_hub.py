"""The workshop server's parts, without starting a hub (`make test-hub` does that): the course set up for a
learner reads the shared folders and writes only in the learner's own; the class list, logins, the lock, a fresh
copy of a notebook, the learners' folders, stopping a process tree; the JupyterHub config file loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memelib.course import fresh_copy, setup
from memelib.synthetic import generate, is_generated

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hub"))  # as when hub/start.py runs: its modules import each other

from processes import alive, descendants, stop_tree  # noqa: E402
from workshop import (HubRunning, Learner, Settings, acquire_lock, check_login, learner_env,  # noqa: E402
                      read_learners, seed_learner)

HUB_VARIABLES = ("MEMELIB_DATA_DIR", "MEMELIB_SHARED_CACHE_DIR", "MEMELIB_ARTIFACTS_DIR", "MEMELIB_CACHE_DIR",
                 "MEMELIB_STUDENT_DIR")


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


@pytest.fixture(scope="session")
def shared_synthmemes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course's SynthMemes (the full set: a hub shares exactly that one), made read-only."""
    folder = tmp_path_factory.mktemp("shared") / "synthmemes"
    if is_generated(ROOT / "data" / "synthmemes"):
        shutil.copytree(ROOT / "data" / "synthmemes", folder)
    else:
        generate(folder)
    _read_only(folder)
    return folder


@pytest.fixture
def learner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A learner's folder, their kernel's current folder in it, the hub's variables cleared."""
    home = tmp_path / "learners" / "ana"
    (home / "notebooks").mkdir(parents=True)
    monkeypatch.chdir(home / "notebooks")
    for key in HUB_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    return home


def test_setup_for_a_learner_reads_the_shared_folders_and_writes_only_in_theirs(
        learner, shared_synthmemes, synth_dir, tmp_path, monkeypatch):
    from memelib.train import fit

    shared_cache = tmp_path / "shared-cache"
    # the teacher fills the shared cache once (as `make hub` does), then it is read-only
    fit(setup("tiny", synth_dir, device="cpu").config(epochs=1, cache_dir=str(shared_cache)), synth_dir,
        tmp_path / "teacher-run", progress=False, log=lambda s: None)
    _read_only(shared_cache)
    monkeypatch.setenv("MEMELIB_DATA_DIR", str(shared_synthmemes))
    monkeypatch.setenv("MEMELIB_SHARED_CACHE_DIR", str(shared_cache))
    monkeypatch.setenv("MEMELIB_ARTIFACTS_DIR", str(learner / "artifacts"))
    monkeypatch.setenv("MEMELIB_CACHE_DIR", str(learner / "artifacts" / "cache"))
    before = {**_files(shared_synthmemes), **_files(shared_cache)}
    outside = _files(tmp_path.parent)  # every test's temporary folders, this learner's included

    course = setup("tiny", device="cpu")
    assert course.data_dir == shared_synthmemes.resolve() and course.synthetic
    assert course.artifacts == learner / "artifacts" and course.cache_dir == learner / "artifacts" / "cache"
    logs: list[str] = []
    fit(course.config(epochs=1), synth_dir, course.run_dir("04-concat"), progress=False, log=logs.append)

    assert (learner / "artifacts" / "runs" / "04-concat" / "config.json").is_file()
    assert sum("in the shared cache" in line for line in logs) == 2, logs  # train and dev, both read from it
    assert not (learner / "artifacts" / "cache").exists() or not any((learner / "artifacts" / "cache").iterdir())
    assert {**_files(shared_synthmemes), **_files(shared_cache)} == before
    after = _files(tmp_path.parent)
    written = [p for p in after.keys() - outside.keys() if not Path(p).is_relative_to(learner)]
    assert not written and all(after[p] == v for p, v in outside.items() if not Path(p).is_relative_to(learner))


def test_features_the_shared_cache_lacks_go_to_the_learners_cache(learner, synth_dir, tmp_path, monkeypatch):
    from memelib.train import fit

    (tmp_path / "shared-cache").mkdir()
    monkeypatch.setenv("MEMELIB_SHARED_CACHE_DIR", str(tmp_path / "shared-cache"))
    monkeypatch.setenv("MEMELIB_CACHE_DIR", str(learner / "cache"))
    course = setup("tiny", synth_dir, device="cpu")
    fit(course.config(epochs=1), synth_dir, learner / "run", progress=False, log=lambda s: None)
    assert len(list((learner / "cache").glob("*.safetensors"))) == 2  # train and dev
    assert not any((tmp_path / "shared-cache").iterdir())


def test_an_incomplete_shared_data_folder_is_a_clear_error_and_never_written(learner, tmp_path, monkeypatch):
    (tmp_path / "half").mkdir()
    monkeypatch.setenv("MEMELIB_DATA_DIR", str(tmp_path / "half"))
    with pytest.raises(FileNotFoundError, match=r"MEMELIB_DATA_DIR.*make hub"):
        setup("tiny", device="cpu")
    assert not any((tmp_path / "half").iterdir())


def test_without_the_hub_variables_the_course_uses_the_project(learner, tmp_path):
    course = setup("tiny", tmp_path, device="cpu")
    assert course.artifacts == Path.cwd().resolve() / "artifacts"  # no project above: the current folder, as before
    os.chdir(ROOT / "notebooks")
    course = setup("tiny", tmp_path, device="cpu")
    assert course.artifacts == ROOT / "artifacts" and course.run_dir("x") == ROOT / "artifacts" / "runs" / "x"


def test_fresh_copy_keeps_the_broken_notebook(tmp_path, monkeypatch):
    student = tmp_path / "student"
    student.mkdir()
    for name in ("04_fusion.ipynb", "05_training.ipynb"):
        (student / name).write_text(json.dumps({"name": name}))
    _read_only(student)
    monkeypatch.setenv("MEMELIB_STUDENT_DIR", str(student))
    mine = tmp_path / "notebooks"
    mine.mkdir()
    (mine / "04_fusion.ipynb").write_text("broken")
    assert fresh_copy("04", mine) == mine / "04_fusion.ipynb"
    assert json.loads((mine / "04_fusion.ipynb").read_text()) == {"name": "04_fusion.ipynb"}
    assert (mine / "04_fusion-broken-1.ipynb").read_text() == "broken"
    (mine / "04_fusion.ipynb").write_text("broken again")  # the fresh copy is the learner's to edit
    fresh_copy("04_fusion.ipynb", mine)
    assert (mine / "04_fusion-broken-2.ipynb").read_text() == "broken again"
    with pytest.raises(FileNotFoundError, match=r"2 student notebooks match '0'.*04_fusion.ipynb, 05_training"):
        fresh_copy("0", mine)


def test_the_class_list_and_the_logins(tmp_path):
    path = tmp_path / "learners.txt"
    path.write_text("# my class\nana\n\nben   a-long-token  # his own\n")
    learners = read_learners(path)
    assert learners == [Learner("ana", None), Learner("ben", "a-long-token")]
    assert check_login(learners, "workshop-pw", "ana", "workshop-pw")
    assert check_login(learners, "workshop-pw", "ben", "a-long-token")
    assert not check_login(learners, "workshop-pw", "ben", "workshop-pw")  # a token replaces the password
    assert not check_login(learners, "workshop-pw", "eve", "workshop-pw")  # not on the list
    for text, message in (("Ana\n", ":1: 'Ana'"), ("ana\nana\n", ":2: ana is listed twice"),
                          ("ben short\n", ":1: ben's token is shorter"), ("teacher\n", ":1: teacher is listed"),
                          ("# nobody\n", "no learner listed")):
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_learners(path)
    with pytest.raises(FileNotFoundError, match="learners.example.txt"):
        read_learners(tmp_path / "missing.txt")


def test_settings_say_which_variable_is_wrong():
    assert Settings.from_env({}).url == "http://127.0.0.1:8000"  # this machine only, unless told
    with pytest.raises(ValueError, match="HUB_PORT='eighty'"):
        Settings.from_env({"HUB_PORT": "eighty"})
    with pytest.raises(ValueError, match="HUB_PASSWORD: 8 characters"):
        Settings.from_env({"HUB_PASSWORD": "short"})


def test_the_lock_refuses_a_second_hub(tmp_path):
    settings = Settings.from_env({"HUB_DIR": str(tmp_path)})
    env = dict(os.environ, HUB_DIR=str(tmp_path), HUB_LEARNERS=str(tmp_path / "none.txt"))
    start = [sys.executable, str(ROOT / "hub" / "start.py")]
    with acquire_lock(settings):
        out = subprocess.run(start, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and f"already runs from {tmp_path} (pid {os.getpid()}" in out.stderr
        with pytest.raises(HubRunning, match="kill"):
            acquire_lock(settings)
    out = subprocess.run(start, env=env, capture_output=True, text=True, timeout=60)  # free again: gets further
    assert out.returncode == 2 and "none.txt: no such class list" in out.stderr


def test_a_learners_folder_is_seeded_once_and_their_work_kept(tmp_path):
    settings = Settings.from_env({"HUB_DIR": str(tmp_path)})
    settings.student.mkdir(parents=True)
    for name in ("00_start_here.ipynb", "04_fusion.ipynb"):
        (settings.student / name).write_text(name)
    home = seed_learner(settings, "ana")
    (home / "notebooks" / "04_fusion.ipynb").write_text("my answers")
    (home / "notebooks" / "00_start_here.ipynb").unlink()
    seed_learner(settings, "ana")
    assert (home / "notebooks" / "04_fusion.ipynb").read_text() == "my answers"
    assert (home / "notebooks" / "00_start_here.ipynb").read_text() == "00_start_here.ipynb"
    env = learner_env(settings, home)
    for key in ("MEMELIB_ARTIFACTS_DIR", "MEMELIB_CACHE_DIR", "TMPDIR"):
        assert Path(env[key]).is_relative_to(home), key
    assert env["OMP_NUM_THREADS"] == "1" and env["MEMELIB_DATA_DIR"] == str(settings.data)


def test_stop_tree_stops_grandchildren_that_left_the_group():
    shell = subprocess.Popen(["bash", "-c", "setsid sleep 300 & sleep 300 & wait"], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(descendants(shell.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = descendants(shell.pid)
    assert len(seen) >= 2
    stop_tree(shell, seen, grace_s=5)
    assert shell.poll() is not None and not any(alive(p) for p in seen)


def test_the_jupyterhub_config_loads(tmp_path, monkeypatch):
    pytest.importorskip("jupyterhub", reason="the hub extra: pip install -e '.[hub]' (make hub installs it)")
    import asyncio

    from traitlets.config.loader import PyFileConfigLoader

    (tmp_path / "learners.txt").write_text("ana\nben a-long-token\n")
    monkeypatch.setenv("HUB_DIR", str(tmp_path / "hub"))
    monkeypatch.setenv("HUB_LEARNERS", str(tmp_path / "learners.txt"))
    monkeypatch.setenv("HUB_PASSWORD", "workshop-pw")
    c = PyFileConfigLoader("jupyterhub_config.py", str(ROOT / "hub")).load_config()
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000" and c.Authenticator.allowed_users == {"ana", "ben"}
    assert "--timeout=3600" in c.JupyterHub.services[0]["command"]
    assert c.JupyterHub.load_roles[0]["services"] == ["idle-culler"]

    class Spawner:
        home_dir = str(tmp_path / "hub" / "learners" / "ana")

    env = {key: value(Spawner) for key, value in c.Spawner.environment.items()}
    assert env["MEMELIB_ARTIFACTS_DIR"] == str(tmp_path / "hub" / "learners" / "ana" / "artifacts")
    auth = c.JupyterHub.authenticator_class(config=c)
    login = lambda name, password: asyncio.run(auth.authenticate(None, {"username": name, "password": password}))
    assert login("ana", "workshop-pw")["name"] == "ana" and login("ben", "a-long-token")["name"] == "ben"
    assert login("ben", "workshop-pw") is None and login("ana", "wrong-password") is None
