"""CLIP towers: a text and an image encoder trained together, taken from one checkpoint.

    caption -> CLIP's tokenizer -> input_ids, attention_mask (B, L) -> CLIP text model  -> text_embeds  (B, P)
    image   -> CLIP's resize, crop, mean and std -> (B, 3, S, S)   -> CLIP vision model -> image_embeds (B, P)

Both vectors are CLIP's *projected* embeddings: the ones its contrastive training pulled together for a
caption and its picture, in one P-dimensional space (768 for ViT-L/14, 512 for ViT-B/32). That is what
DistilBERT + ResNet lack: their two vectors were never trained to agree. The text vector is CLIP's own
pooling, the end-of-text token's state ("eos"), then the projection.

Real use downloads a checkpoint once (default `openai/clip-vit-large-patch14`, as in Hate-CLIPper, 2022);
offline, loading fails within seconds naming the fix (memelib.encoders). For tests, notebooks and the speed
benchmark, `save_tiny_clip` writes a small random-init checkpoint with a real byte-level BPE tokenizer, and
`clip_config` builds a known architecture (ViT-L/14, ViT-B/32) from its dimensions, with random weights.

Explained in notebook 04.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import CLIP_MEAN, CLIP_STD

__all__ = ["CLIP_FIX", "ClipTextEncoder", "ClipImageEncoder", "load_clip_tower", "clip_tower_from_config",
           "clip_config", "save_tiny_clip", "CLIP_ARCHITECTURES"]


# What an offline failure to load a CLIP checkpoint tells the user to do
CLIP_FIX = "--clip-model PATH (a folder saved with save_pretrained), or another preset (--preset offline needs no download)"

# Known architectures by their published dimensions: what the speed benchmark builds without a download.
# (text width, text layers, text heads, vision width, vision layers, vision heads, patch, image size, projection)
CLIP_ARCHITECTURES: dict[str, tuple[int, ...]] = {
    "openai/clip-vit-large-patch14": (768, 12, 12, 1024, 24, 16, 14, 224, 768),
    "openai/clip-vit-base-patch32": (512, 12, 8, 768, 12, 12, 32, 224, 512),
}


class ClipTextEncoder(nn.Module):
    """CLIP's text model and projection: (B, L) ids and mask -> (B, P) text_embeds."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone  # transformers' CLIPTextModelWithProjection
        self.pooling = "eos"
        self.out_dim: int = backbone.config.projection_dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # the end-of-text token's state (B, D), through the learned projection -> (B, P)
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).text_embeds


class ClipImageEncoder(nn.Module):
    """CLIP's vision transformer and projection: (B, 3, S, S) pixel_values -> (B, P) image_embeds."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone  # transformers' CLIPVisionModelWithProjection
        self.out_dim: int = backbone.config.projection_dim
        self.image_size: int = backbone.config.image_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # (B, 3, S, S) -> (S/patch)^2 patch tokens + a class token -> its final state (B, D) -> projection (B, P)
        return self.backbone(pixel_values=pixel_values).image_embeds


def _classes(tower: str) -> tuple[Any, Any]:
    from transformers import (CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig,
                              CLIPVisionModelWithProjection)

    if tower == "text":
        return CLIPTextModelWithProjection, CLIPTextConfig
    return CLIPVisionModelWithProjection, CLIPVisionConfig


def _wrap(tower: str, backbone: nn.Module) -> nn.Module:
    return ClipTextEncoder(backbone) if tower == "text" else ClipImageEncoder(backbone)


def load_clip_tower(tower: str, checkpoint: str, pretrained: bool = True) -> nn.Module:
    """The "text" or "image" tower of the CLIP checkpoint `checkpoint` (Hugging Face id or local folder), with
    its trained weights, or with `pretrained=False` its architecture at random (the seed is the caller's).
    Offline and not cached, a ModelUnavailableError within seconds names the fix."""
    from .encoders import hf_load

    model_cls, config_cls = _classes(tower)
    if pretrained:
        backbone = hf_load(model_cls, checkpoint, fix=CLIP_FIX)
    else:
        backbone = model_cls(hf_load(config_cls, checkpoint, fix=CLIP_FIX))
    return _wrap(tower, backbone)


def clip_tower_from_config(tower: str, backbone_config: dict) -> nn.Module:
    """A tower's bare architecture from the config a run folder saved (no download); the run's weights follow."""
    model_cls, config_cls = _classes(tower)
    config = dict(backbone_config)
    config.pop("model_type", None)
    return _wrap(tower, model_cls(config_cls(**config)))


def clip_config(name: str = "openai/clip-vit-large-patch14", vocab_size: int = 49408) -> Any:
    """transformers' CLIPConfig of a known architecture (`CLIP_ARCHITECTURES`), built from its dimensions."""
    from transformers import CLIPConfig

    if name not in CLIP_ARCHITECTURES:
        raise ValueError(f"unknown CLIP architecture {name!r}; known: {sorted(CLIP_ARCHITECTURES)}")
    tw, tl, th, vw, vl, vh, patch, size, proj = CLIP_ARCHITECTURES[name]
    text = dict(vocab_size=vocab_size, hidden_size=tw, intermediate_size=4 * tw, num_hidden_layers=tl,
                num_attention_heads=th, max_position_embeddings=77, projection_dim=proj)
    vision = dict(hidden_size=vw, intermediate_size=4 * vw, num_hidden_layers=vl, num_attention_heads=vh,
                  patch_size=patch, image_size=size, projection_dim=proj)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=proj)


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP's byte-level alphabet: one printable character for each of the 256 byte values."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    codes = {b: b for b in printable} | {b: 256 + i for i, b in enumerate(extra)}
    return [chr(codes[b]) for b in range(256)]


def tiny_clip_tokenizer(merges: tuple[str, ...] = ("t h", "th e</w>", "a n", "an d</w>", "i n", "o n</w>")) -> Any:
    """A real CLIP tokenizer (byte-level BPE, lower-cased, <|startoftext|> ... <|endoftext|>) over a tiny
    vocabulary: the 256 byte characters, each also as a word end, a few merges and the two special tokens."""
    from transformers import CLIPTokenizer

    chars = _byte_alphabet()
    tokens = chars + [c + "</w>" for c in chars] + [m.replace(" ", "") for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    # vocab= and merges= as objects: transformers 5 ignores vocab_file= paths and builds an empty vocabulary
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split()) for m in merges])


def save_tiny_clip(folder: str | Path, width: int = 32, image_size: int = 32, projection_dim: int = 16,
                   seed: int = 0) -> Path:
    """Write a small random-init CLIP checkpoint (2 layers per tower, `width` wide, `projection_dim` embeddings,
    `image_size`-px images in 8-px patches) with its tokenizer and image processor to `folder`, as
    `save_pretrained` does for a real one: `--clip-model FOLDER` loads it offline. For tests and notebook 04."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from .encoders import quiet_transformers

    tokenizer = tiny_clip_tokenizer()
    special = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    layers = dict(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2, num_attention_heads=2,
                  projection_dim=projection_dim)
    text = dict(vocab_size=len(tokenizer), max_position_embeddings=77, **layers, **special)
    vision = dict(image_size=image_size, patch_size=8, **layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the same tiny checkpoint every time
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim))
    folder = Path(folder)
    with quiet_transformers():
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
                       image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD)).save_pretrained(folder)
    return folder
