"""Checkpoints and the Predictor: round trip, broken files, one meme, a batch, PIL input."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from memelib.annotations import read_split
from memelib.checkpoint import load_run
from memelib.errors import CheckpointError
from memelib.inference import Predictor


def test_predictor_matches_a_reloaded_model(tiny_run, synth_dir):
    records = read_split(synth_dir, "dev")
    predictor = Predictor(tiny_run, device="cpu")
    probs = predictor.predict_records(records, synth_dir, progress=False)
    assert probs.shape == (len(records),) and np.all((probs >= 0) & (probs <= 1))
    # one meme, 3 or 32 in a batch: kernels may split a batch's products differently (last digits; equal here)
    one = predictor.predict(synth_dir / records[0].img, records[0].text)
    assert one["prob"] == pytest.approx(float(probs[0]), abs=1e-5)
    assert one["label"] == int(one["prob"] >= predictor.threshold)
    with Image.open(synth_dir / records[1].img) as im:
        pil = predictor.predict(im.convert("RGBA"), records[1].text)
    assert pil["prob"] == pytest.approx(float(probs[1]), abs=1e-5)
    batch = predictor.predict_batch([synth_dir / r.img for r in records[:3]], [r.text for r in records[:3]])
    assert [b["prob"] for b in batch] == pytest.approx(probs[:3].tolist(), abs=1e-5)


def test_reload_gives_identical_weights(tiny_run):
    a, cfg, _, info = load_run(tiny_run)
    b, _, _, _ = load_run(tiny_run)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert cfg.model.text.name == "tiny" and 0 <= info["threshold"] <= 1


def test_truncated_weights_fail_clearly(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_run(run)


def test_other_architecture_fails_clearly(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    info = json.loads((run / "config.json").read_text())
    info["config"]["model"]["fusion"]["name"] = "cross"
    (run / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="do not match"):
        load_run(run)


def test_missing_run_folder(tmp_path):
    with pytest.raises(CheckpointError, match="not a run folder"):
        load_run(tmp_path / "nothing")


def test_predict_records_from_the_feature_cache_gives_fits_dev_probabilities(tiny_run, synth_dir, tmp_path):
    """With a cache folder only the head runs on cached features, as fit scores dev: the same numbers."""
    records = read_split(synth_dir, "dev")
    predictor = Predictor(tiny_run, device="cpu", precision="fp32")
    cached = predictor.predict_records(records, synth_dir, progress=False, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir())  # extracted into the cache on first use
    again = predictor.predict_records(records, synth_dir, progress=False, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(cached, again)
    raw = predictor.predict_records(records, synth_dir, progress=False)  # encoders + head on every batch
    # the cache stores features in float16 where they fit: probabilities agree to about 1e-3
    np.testing.assert_allclose(cached, raw, atol=2e-3)


def test_load_head_is_the_run_folders_head_without_its_encoders(tiny_run, tmp_path):
    from memelib.checkpoint import load_head

    model = load_run(tiny_run)[0]
    head, cfg, info = load_head(tiny_run)
    assert not head.training and cfg.model.fusion.name == info["config"]["model"]["fusion"]["name"]
    full = {k[len("fusion."):]: v for k, v in model.state_dict().items() if k.startswith("fusion.")}
    assert set(head.state_dict()) == set(full)
    assert all(torch.equal(head.state_dict()[k], full[k]) for k in full)
    t = torch.randn(3, model.text_encoder.out_dim)  # (B, Dt)
    i = torch.randn(3, model.image_encoder.out_dim)  # (B, Di)
    with torch.inference_mode():
        assert torch.equal(head(t, i), model.forward_head(t, i))
    broken = tmp_path / "run"
    shutil.copytree(tiny_run, broken)
    info = json.loads((broken / "config.json").read_text())
    info["weights_sha256"] = "0" * 64
    (broken / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_head(broken)
