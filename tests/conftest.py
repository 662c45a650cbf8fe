"""Shared fixtures: a small SynthMemes folder, and an environment that downloads nothing and writes
nothing outside the test's temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feature caches and Matplotlib's config go to a per-session temporary folder."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("MEMELIB_CACHE_DIR", str(base / "feature-cache"))
    monkeypatch.setenv("MPLCONFIGDIR", str(base / "mpl"))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small SynthMemes folder (48 train, 24 dev, 12 test memes at 64 px), made once per session."""
    from memelib.synthetic import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthConfig(n_train=48, n_dev=24, n_test=12, seed=1, image_size=64))
    return root


@pytest.fixture(scope="session")
def tiny_run(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder trained with the tiny preset (frozen features), made once per session."""
    from memelib.config import preset
    from memelib.train import fit

    out = tmp_path_factory.mktemp("run")
    cfg = preset("tiny", cache_dir=str(tmp_path_factory.getbasetemp() / "run-cache"))
    fit(cfg, synth_dir, out, progress=False, log=lambda s: None)
    return out
