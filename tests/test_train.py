"""Training with the tiny preset: run folder, determinism, feature cache, fine-tuning."""

import json
import os

import pytest
import torch

from memelib.config import preset
from memelib.features import feature_batches
from memelib.runtime import fastest_threads
from memelib.train import class_weights, fit, make_optimizer, param_groups, train_one_epoch
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


@pytest.mark.parametrize("n_batches", [0, 3, 6, 9, 12, 40])
def test_fastest_threads_yields_every_batch_in_order(n_batches):
    threads = torch.get_num_threads()
    try:
        for most in (2, 1):
            before = torch.get_num_threads()
            out = list(fastest_threads(range(n_batches), most=most, probe=3))
            assert out == list(range(n_batches))
            assert torch.get_num_threads() in ({1, most} if most > 1 else {before})
    finally:
        torch.set_num_threads(threads)


def _head_after_one_epoch(threads: int, text_dim: int, image_dim: int) -> list[torch.Tensor]:
    from memelib.fusion import build_fusion
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(0)
    cfg = preset("full")
    model = build_fusion(cfg.model.fusion, text_dim, image_dim)  # the head alone, as it trains on cached features
    feats = {"text_features": torch.randn(640, text_dim), "image_features": torch.randn(640, image_dim)}
    labels = torch.randint(0, 2, (640,))
    optimizer = make_optimizer(model, cfg.train)  # fused AdamW, as fit uses (its learning rate does not matter here)
    scheduler = get_linear_schedule_with_warmup(optimizer, 2, 20)
    torch.set_num_threads(threads)
    batches = feature_batches(feats, labels, 32, torch.Generator().manual_seed(0))
    train_one_epoch(model, batches, optimizer, scheduler, torch.nn.CrossEntropyLoss(), 1.0, torch.device("cpu"))
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("dims", [(384, 512), (768, 2048)], ids=["offline", "full"])
def test_head_training_is_bit_identical_on_one_or_two_threads(dims):
    """fit lets fastest_threads pick the thread count per epoch: that must never change the result."""
    threads = torch.get_num_threads()
    try:
        one, two = _head_after_one_epoch(1, *dims), _head_after_one_epoch(2, *dims)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, two))
