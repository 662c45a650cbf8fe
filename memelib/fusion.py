"""Fusion heads: (text_features (B, Dt), image_features (B, Di)) -> logits (B, 2).

- `concat`: the course's baseline. Concatenate, then Linear -> ReLU -> Dropout -> Linear.
- `late`:   one MLP per modality; their logits are added. Additive: f(text) + g(image).
- `cross`:  Hate-CLIPper style. Project each vector to n dims, take the outer product (every text
            feature times every image feature, n*n numbers), then an MLP.
- `text`, `image`: unimodal baselines that ignore the other modality.

Why it matters: a meme can be hateful because of how its text and image combine ("they are nothing
like this" over a lovely garden). A sum f(text) + g(image) cannot represent such an interaction
(an XOR); a concat MLP and the cross head can. Explained in notebook 04.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import FusionConfig

__all__ = ["ConcatFusion", "LateFusion", "CrossFusion", "TextOnly", "ImageOnly", "FUSIONS", "build_fusion"]


def mlp(in_dim: int, hidden_dim: int, dropout: float, out_dim: int) -> nn.Sequential:
    """Linear(in -> hidden) -> ReLU -> Dropout -> Linear(hidden -> out)."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))


class ConcatFusion(nn.Module):
    uses_text, uses_image = True, True

    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.mlp = mlp(text_dim + image_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward(self, text_features: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        x = torch.cat([text_features, image_features], dim=-1)  # (B, Dt + Di), e.g. (B, 768 + 2048 = 2816)
        return self.mlp(x)  # (B, 2)


class LateFusion(nn.Module):
    uses_text, uses_image = True, True

    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.text_head = mlp(text_dim, cfg.hidden_dim, cfg.dropout, num_classes)
        self.image_head = mlp(image_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward(self, text_features: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        return self.text_head(text_features) + self.image_head(image_features)  # (B, 2) + (B, 2)


class CrossFusion(nn.Module):
    uses_text, uses_image = True, True

    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        n = cfg.cross_dim
        self.text_proj = nn.Linear(text_dim, n)
        self.image_proj = nn.Linear(image_dim, n)
        self.mlp = mlp(n * n, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward(self, text_features: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        t = self.text_proj(text_features)  # (B, n)
        v = self.image_proj(image_features)  # (B, n)
        cross = torch.einsum("bi,bj->bij", t, v)  # (B, n, n): every text dim times every image dim
        return self.mlp(cross.flatten(1))  # (B, n*n) -> (B, 2)


class TextOnly(nn.Module):
    uses_text, uses_image = True, False

    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.mlp = mlp(text_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward(self, text_features: torch.Tensor, image_features: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlp(text_features)  # (B, Dt) -> (B, 2)


class ImageOnly(nn.Module):
    uses_text, uses_image = False, True

    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.mlp = mlp(image_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward(self, text_features: torch.Tensor | None, image_features: torch.Tensor) -> torch.Tensor:
        return self.mlp(image_features)  # (B, Di) -> (B, 2)


FUSIONS: dict[str, type[nn.Module]] = {
    "concat": ConcatFusion,
    "late": LateFusion,
    "cross": CrossFusion,
    "text": TextOnly,
    "image": ImageOnly,
}


def build_fusion(cfg: FusionConfig, text_dim: int, image_dim: int, num_classes: int = 2) -> nn.Module:
    """The head named `cfg.name`, sized for the encoders' output widths."""
    if cfg.name not in FUSIONS:
        raise ValueError(f"unknown fusion {cfg.name!r}; choose one of {sorted(FUSIONS)}")
    return FUSIONS[cfg.name](text_dim, image_dim, cfg, num_classes)
