"""Messy data, damaged files, kills and interrupts: nothing crashes, nothing is silently lost."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from memelib.checkpoint import load_run
from memelib.config import preset
from memelib.encoders import _local_state_dict
from memelib.synthetic import SynthConfig, generate
from memelib.train import fit
from memelib.errors import CheckpointError, DataError
from memelib.validation import load_split

TRAIN = ["train", "--preset", "tiny", "--finetune", "--epochs", "4", "--seed", "0", "--quiet"]


def _memelib(*args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "memelib", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _epochs_done(run: Path) -> int:
    try:
        return len(json.loads((run / "history.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _stop_after_first_epoch(proc: subprocess.Popen, run: Path, sig: int) -> None:
    deadline = time.monotonic() + 300
    while _epochs_done(run) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # into the second epoch
    proc.send_signal(sig)
    proc.wait(timeout=120)


@pytest.fixture(scope="module")
def slow_data(tmp_path_factory) -> Path:
    """Enough memes that a fine-tuning epoch of the tiny preset takes a few seconds."""
    root = tmp_path_factory.mktemp("resume-data")
    generate(root, SynthConfig(n_train=300, n_dev=30, n_test=3, image_size=64))
    return root


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(slow_data, tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "killed"
    done = _memelib(*TRAIN, "--data", str(slow_data), "--out", str(ref))
    assert done.wait(timeout=600) == 0, done.stderr.read()
    killed = _memelib(*TRAIN, "--data", str(slow_data), "--out", str(run))
    _stop_after_first_epoch(killed, run, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert 1 <= _epochs_done(run) < 4 and not (run / "metrics.json").exists(), "killed before the end"
    resumed = _memelib(*TRAIN, "--data", str(slow_data), "--out", str(run), "--resume")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert "resuming" in out
    a, b = (json.loads((r / "metrics.json").read_text()) for r in (ref, run))
    for key in ("auroc", "accuracy", "macro_f1", "threshold"):
        assert b["at_tuned"][key] == pytest.approx(a["at_tuned"][key], abs=1e-6), key
    losses = [[row["train_loss"] for row in json.loads((r / "history.json").read_text())] for r in (ref, run)]
    assert losses[1] == pytest.approx(losses[0], abs=1e-6)


def test_ctrl_c_saves_state_and_says_how_to_resume(slow_data, tmp_path):
    run = tmp_path / "interrupted"
    proc = _memelib(*TRAIN, "--data", str(slow_data), "--out", str(run))
    _stop_after_first_epoch(proc, run, signal.SIGINT)
    out, err = proc.communicate()
    assert proc.returncode == 130, err
    assert "--resume" in out and (run / "train_state.safetensors").exists()
    resumed = _memelib(*TRAIN, "--data", str(slow_data), "--out", str(run), "--resume")
    assert resumed.wait(timeout=600) == 0 and (run / "metrics.json").exists()


def test_resume_without_state_or_with_other_options_is_refused(synth_dir, tmp_path, tiny_run):
    with pytest.raises(FileNotFoundError, match="no saved training state"):
        fit(preset("tiny"), synth_dir, tmp_path / "new", progress=False, log=lambda s: None, resume=True)
    with pytest.raises(ValueError, match="another configuration"):
        fit(preset("tiny", lr=0.5), synth_dir, tiny_run, progress=False, log=lambda s: None, resume=True)


def test_tampered_weights_are_refused(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF  # one flipped bit in a weight: still a valid file, but not the trained model
    (run / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_run(run)


def test_a_pickle_that_runs_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "weights.pth"
    path.write_bytes(pickle.dumps({"conv1.weight": Evil()}, protocol=2))
    with pytest.raises(Exception):
        _local_state_dict(path)
    assert not (tmp_path / "pwned").exists()


@pytest.fixture()
def messy(tmp_path, synth_dir) -> Path:
    """A copy of the small SynthMemes folder with broken rows and files added to train."""
    import shutil

    root = tmp_path / "messy"
    shutil.copytree(synth_dir, root)
    (root / "img" / "zero.png").write_bytes(b"")
    with open(root / "train.jsonl", "a") as f:
        f.write('{"id": 900, "img": "img/missing.png", "text": "gone", "label": 0}\n')
        f.write('{"id": 901, "img": "img/zero.png", "text": "empty file", "label": 1}\n')
        f.write('{"id": 902, "img": "img/10001.png", "text": "broken" "label": 1}\n')
        f.write('{"id": 903, "img": "../../etc/passwd", "text": "escape", "label": 0}\n')
        f.write('\n')
        f.write('{"id": 904, "img": "img/10002.png", "text": "' + "very long caption " * 60 + '", "label": 0}\n')
    return root


def test_unusable_rows_stop_training_with_the_report(messy):
    with pytest.raises(DataError) as e:
        fit(preset("tiny"), messy, messy / "run", progress=False, log=lambda s: None)
    text = str(e.value)
    for code in ("missing_image", "bad_image", "invalid_json", "unsafe_path", "--skip-invalid"):
        assert code in text
    assert "train.jsonl:" in text


def test_skip_invalid_drops_and_counts_by_reason(messy):
    logs = []
    records = load_split(messy, "train", skip_invalid=True, log=logs.append)
    assert len(records) == 48 + 1  # the 48 good memes and the long caption
    summary = next(line for line in logs if "skipped 4 unusable rows" in line)
    for code in ("bad_image 1", "invalid_json 1", "missing_image 1", "unsafe_path 1"):
        assert code in summary
    logs.clear()
    fit(preset("tiny", epochs=1), messy, messy / "run", progress=False, log=logs.append, skip_invalid=True)
    assert any("1 captions are longer than 32 tokens" in line for line in logs)
    assert (messy / "run" / "metrics.json").exists()


def test_corrupt_feature_cache_is_rebuilt(synth_dir, tmp_path):
    cache = tmp_path / "cache"
    fit(preset("tiny", epochs=1, cache_dir=str(cache)), synth_dir, tmp_path / "a", progress=False, log=lambda s: None)
    for f in cache.glob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    logs = []
    fit(preset("tiny", epochs=1, cache_dir=str(cache)), synth_dir, tmp_path / "b", progress=False, log=logs.append)
    assert sum("unreadable" in line and "rebuilding" in line for line in logs) == 2
