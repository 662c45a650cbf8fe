"""Training with the tiny preset: run folder, determinism, feature cache, fine-tuning."""

import json
import os

import numpy as np
import pytest
import torch

from memelib.config import preset
from memelib.train import class_weights, fit, param_groups
from memelib.model import build_model


def test_run_folder_contents(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"model.safetensors", "config.json", "history.json", "metrics.json", "tokenizer"} <= names
    history = json.loads((tiny_run / "history.json").read_text())
    assert len(history) >= 1 and {"epoch", "train_loss", "dev_auroc", "dev_macro_f1"} <= set(history[0])
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert {"at_0.5", "at_tuned", "best_epoch"} <= set(metrics)
    assert metrics["at_tuned"]["threshold"] == json.loads((tiny_run / "config.json").read_text())["threshold"]


def test_run_folder_has_the_usual_permissions(tiny_run):
    """Files are written under a temporary name and renamed; they must not stay owner-only (0600) as
    temporary files are, or nobody else can read a run on a shared disk."""
    umask = os.umask(0)
    os.umask(umask)
    for path in tiny_run.rglob("*"):  # (the folder itself is made by pytest)
        mode = path.stat().st_mode & 0o777
        assert mode == (0o777 if path.is_dir() else 0o666) & ~umask, f"{path}: {oct(mode)}"


def test_same_seed_same_run_and_cache_reuse(synth_dir, tmp_path):
    logs = []
    cfg = preset("tiny", cache_dir=str(tmp_path / "cache"), epochs=2)
    a = fit(cfg, synth_dir, tmp_path / "a", progress=False, log=logs.append)
    assert any("extracting" in line for line in logs) and not any("reusing" in line for line in logs)
    logs.clear()
    b = fit(cfg, synth_dir, tmp_path / "b", progress=False, log=logs.append)
    assert sum("reusing" in line for line in logs) == 2, "train and dev features come from the cache"
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]
    assert a["report"] == b["report"]
    c = fit(preset("tiny", cache_dir=str(tmp_path / "cache"), epochs=2, seed=1), synth_dir, tmp_path / "c",
            progress=False, log=lambda s: None)
    assert [r["train_loss"] for r in c["history"]] != [r["train_loss"] for r in a["history"]]


def test_finetuning_changes_the_encoders(synth_dir, tmp_path):
    from safetensors.torch import load_file

    cfg = preset("tiny", freeze=False, epochs=1)
    fit(cfg, synth_dir, tmp_path / "ft", progress=False, log=lambda s: None)
    trained = load_file(str(tmp_path / "ft" / "model.safetensors"))
    initial = build_model(cfg.model).state_dict()
    key = "text_encoder.backbone.transformer.layer.0.attention.q_lin.weight"
    assert not torch.equal(trained[key], initial[key])
    assert all(torch.isfinite(v.float()).all() for v in trained.values())


def test_no_weight_decay_on_biases_and_norms():
    model = build_model(preset("tiny").model)
    groups = param_groups(model, preset("tiny").train)
    for g in groups:
        for p in g["params"]:
            assert (g["weight_decay"] == 0.0) == (p.ndim < 2)
    encoder_lrs = {g["lr"] for g in groups if any(p is q for q in model.text_encoder.parameters() for p in g["params"])}
    assert encoder_lrs == {preset("tiny").train.encoder_lr}


def test_class_weights_balance_the_classes():
    w = class_weights(torch.tensor([0, 0, 0, 1]))
    assert w.tolist() == pytest.approx([4 / 6, 2.0])


def test_fit_gives_the_same_run_whatever_the_thread_count(synth_dir, tmp_path):
    """A head on cached features trains and scores on one CPU thread (memelib.runtime.head_threads): the
    caller's thread count (a laptop's core count, another program's load) never changes the result.
    Offline-preset widths: with them one epoch on 1 and on 2 threads gives different weights without it."""
    cfg = preset("offline", epochs=2, cache_dir=str(tmp_path / "cache"))  # the second run reads the cached features
    threads = torch.get_num_threads()
    runs = {}
    try:
        for n in (2, 1):
            torch.set_num_threads(n)
            runs[n] = fit(cfg, synth_dir, tmp_path / f"run{n}", progress=False, log=lambda s: None)
            assert torch.get_num_threads() == n, "fit restores the caller's thread count"
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(runs[1]["dev_probs"], runs[2]["dev_probs"])
    assert [r["train_loss"] for r in runs[1]["history"]] == [r["train_loss"] for r in runs[2]["history"]]
