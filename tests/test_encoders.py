"""Encoders: the reference test against transformers, the offline tokenizer, shapes, fail-fast offline."""

import socket
import time

import pytest
import torch
from safetensors.torch import save_file

from memelib.config import ImageEncoderConfig, TextEncoderConfig
from memelib.encoders import (
    IMAGE_ENCODERS,
    ModelUnavailableError,
    build_image_encoder,
    build_text_encoder,
    load_tokenizer,
    offline_text_model_dir,
)

CAPTIONS = ["its their character not their color that matters", "unbelievably hateful memes!!", ""]


def _online(host: str) -> bool:
    try:
        socket.create_connection((host, 443), timeout=2).close()
        return True
    except OSError:
        return False


def test_offline_tokenizer_is_distilbert_uncased_wordpiece():
    tok = load_tokenizer(TextEncoderConfig(name="minilm", max_length=16))
    ids = tok(CAPTIONS[0])["input_ids"]
    assert ids == [101, 2049, 2037, 2839, 2025, 2037, 3609, 2008, 5609, 102]
    assert tok.convert_ids_to_tokens(tok(CAPTIONS[1])["input_ids"]) == [
        "[CLS]", "un", "##bel", "##ie", "##va", "##bly", "hate", "##ful", "me", "##mes", "!", "!", "[SEP]"]
    assert tok.model_max_length == 16
    assert len(tok("word " * 100, truncation=True)["input_ids"]) == 16


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_text_tower_matches_transformers_reference(pooling):
    """Our tower on the bundled pretrained MiniLM equals transformers' own model on the same weights."""
    from transformers import AutoModel

    cfg = TextEncoderConfig(name="minilm", pooling=pooling)
    ours = build_text_encoder(cfg).eval()
    reference = AutoModel.from_pretrained(str(offline_text_model_dir())).eval()
    batch = load_tokenizer(cfg)(CAPTIONS, padding="longest", return_tensors="pt")
    with torch.no_grad():
        got = ours(batch["input_ids"], batch["attention_mask"])  # (B, 384)
        states = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    if pooling == "cls":
        expected = states[:, 0]
    else:  # masked mean, written out longhand
        expected = torch.stack([states[i, : int(m.sum())].mean(0) for i, m in enumerate(batch["attention_mask"])])
    assert got.shape == (3, 384)
    # the same weights and kernels on one machine (equal here); the tolerance lets a masked mean sum
    # in another order than the loop above: last digits only
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_masked_mean_ignores_padding_but_plain_mean_does_not():
    cfg = TextEncoderConfig(name="minilm", pooling="mean")
    enc, tok = build_text_encoder(cfg).eval(), load_tokenizer(cfg)
    short = tok([CAPTIONS[1]], return_tensors="pt")
    padded = tok([CAPTIONS[1]], padding="max_length", max_length=32, return_tensors="pt")
    with torch.no_grad():
        a = enc(short["input_ids"], short["attention_mask"])
        b = enc(padded["input_ids"], padded["attention_mask"])
        states = enc.backbone(**{k: padded[k] for k in ("input_ids", "attention_mask")}).last_hidden_state
    # 13 and 32 positions are matrix products of other shapes, summed in another order: the vectors
    # differ in their last digits (at most 1e-6 measured, on AVX-512, AVX2 and scalar kernels)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert (states.mean(1) - a).abs().max() > 1e-2  # averaging the [PAD] positions too changes the vector


def test_tiny_text_encoder_is_seeded_and_small():
    a = build_text_encoder(TextEncoderConfig(name="tiny", tiny_dim=32))
    b = build_text_encoder(TextEncoderConfig(name="tiny", tiny_dim=32))
    c = build_text_encoder(TextEncoderConfig(name="tiny", tiny_dim=32, init_seed=1))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    assert a.out_dim == 32 and sum(p.numel() for p in a.parameters()) < 2_000_000


@pytest.mark.parametrize("name", sorted(IMAGE_ENCODERS))
def test_image_encoders_shape_and_finite(name):
    enc = build_image_encoder(ImageEncoderConfig(name=name, weights="none")).eval()
    with torch.no_grad():
        out = enc(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, IMAGE_ENCODERS[name][1]) and torch.isfinite(out).all()


def test_image_encoder_loads_a_local_safetensors_file(tmp_path):
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    enc = build_image_encoder(ImageEncoderConfig(name="resnet18", weights=str(path)))
    torch.testing.assert_close(enc.backbone.conv1.weight, source.conv1.weight)
    with pytest.raises(RuntimeError):  # a ResNet18 file cannot fill a ResNet50
        build_image_encoder(ImageEncoderConfig(name="resnet50", weights=str(path)))
    with pytest.raises(FileNotFoundError, match="not found"):
        build_image_encoder(ImageEncoderConfig(name="resnet18", weights=str(tmp_path / "nope.pt")))


@pytest.mark.skipif(_online("huggingface.co"), reason="needs a machine without network")
def test_distilbert_fails_fast_offline_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty Hugging Face cache
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # take the network probe path, not the env shortcut
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="--preset offline"):
        build_text_encoder(TextEncoderConfig(name="distilbert-base-uncased"))
    assert time.perf_counter() - t0 < 30, "must fail within seconds, not retry for a minute"


@pytest.mark.skipif(_online("download.pytorch.org"), reason="needs a machine without network")
def test_imagenet_weights_fail_fast_offline_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torch hub cache
    with pytest.raises(ModelUnavailableError, match="--image-weights"):
        build_image_encoder(ImageEncoderConfig(name="resnet50", weights="imagenet"))
