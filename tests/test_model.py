"""MemeClassifier with the tiny preset: shapes, no NaN, features path, freezing, determinism."""

import torch

from memelib.annotations import read_split
from memelib.config import preset
from memelib.data import make_loader
from memelib.encoders import load_tokenizer
from memelib.fusion import FUSIONS
from memelib.model import build_model
from memelib.runtime import resolve_device


def _batch(synth_dir, cfg):
    tok = load_tokenizer(cfg.model.text)
    records = read_split(synth_dir, "train")[:6]
    return next(iter(make_loader(records, synth_dir, tok, cfg.model.image.image_size, cfg.model.text.max_length, 6)))


def test_forward_for_every_fusion(synth_dir):
    for name in FUSIONS:
        cfg = preset("tiny", fusion__name=name)
        torch.manual_seed(0)
        model = build_model(cfg.model).eval()
        batch = _batch(synth_dir, cfg)
        labels = batch.pop("labels")
        logits = model(**batch)
        assert logits.shape == (6, 2) and torch.isfinite(logits).all(), name
        assert labels.shape == (6,)


def test_cached_features_path_equals_raw_path(synth_dir):
    cfg = preset("tiny")
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    batch = _batch(synth_dir, cfg)
    batch.pop("labels")
    with torch.no_grad():
        t = model.encode_text(batch["input_ids"], batch["attention_mask"])  # (B, Dt)
        v = model.encode_image(batch["pixel_values"])  # (B, Di)
        torch.testing.assert_close(model(text_features=t, image_features=v), model(**batch))
    assert t.shape == (6, 32) and v.shape == (6, 64)


def test_lock_encoders_freezes_towers_only():
    model = build_model(preset("tiny").model)
    model.lock_encoders()
    model.train()
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert not model.image_encoder.training, "BatchNorm statistics of a frozen tower must not move"
    assert all(p.requires_grad for p in model.fusion.parameters()) and model.fusion.training


def test_device_auto_is_cpu_without_gpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_full_preset_architecture_gives_the_course_shapes():
    """The `full` design (DistilBERT-base + ResNet50 -> 2816 -> 512 -> 2), built with random weights
    because the pretrained ones would need a download."""
    from transformers import DistilBertConfig

    cfg = preset("full")
    model = build_model(cfg.model, text_backbone_config=DistilBertConfig().to_dict()).eval()
    ids = torch.tensor([[101, 2049, 2037, 102]])
    with torch.no_grad():
        t = model.encode_text(ids, torch.ones_like(ids))
        v = model.encode_image(torch.randn(1, 3, 224, 224))
        logits = model(text_features=t, image_features=v)
    assert t.shape == (1, 768) and v.shape == (1, 2048) and logits.shape == (1, 2)
    assert model.fusion.mlp[0].in_features == 2816
