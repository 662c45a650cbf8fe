"""Fusion heads: (text_features (B, Dt), image_features (B, Di)) -> logits (B, 2).

- `concat`: the course's baseline. Concatenate, then Linear -> ReLU -> Dropout -> Linear.
- `late`:   one MLP per modality; their logits are added. Additive: f(text) + g(image).
- `cross`:  Hate-CLIPper style. Project each vector to n dims, take the outer product (every text
            feature times every image feature, n*n numbers), then an MLP.
- `align`:  Hate-CLIPper's other fusion. Project each vector to n dims, multiply them element-wise
            (dimension i of the text times dimension i of the image, n numbers), then an MLP. Cheap,
            and natural for aligned encoders (CLIP), whose dimension i means the same in both towers.
- `text`, `image`: unimodal baselines that ignore the other modality.

Every head has timm's `forward_head(text_features, image_features, pre_logits=False)`: the logits, or
with `pre_logits=True` the vector that enters the last linear layer (for `late`, both branches' hidden
vectors, concatenated). `forward` is `forward_head` with `pre_logits=False`.

Why it matters: a meme can be hateful because of how its text and image combine ("they are nothing
like this" over a lovely garden). A sum f(text) + g(image) cannot represent such an interaction
(an XOR); a concat MLP and the cross head can. Explained in notebook 04.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import FUSION_NAMES, FusionConfig

__all__ = ["mlp", "run_mlp", "FusionHead", "ConcatFusion", "LateFusion", "CrossFusion", "AlignFusion", "TextOnly", "ImageOnly", "FUSIONS", "build_fusion"]


def mlp(in_dim: int, hidden_dim: int, dropout: float, out_dim: int) -> nn.Sequential:
    """Linear(in -> hidden) -> ReLU -> Dropout -> Linear(hidden -> out)."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))


def run_mlp(layers: nn.Sequential, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
    """`layers(x)`, or with `pre_logits` the hidden vector that enters its last linear layer."""
    hidden = layers[:-1](x)  # (B, hidden)
    return hidden if pre_logits else layers[-1](hidden)  # (B, hidden) or (B, out)


class FusionHead(nn.Module):
    """What every head shares: which modalities it reads, and `forward` = `forward_head`."""

    uses_text: bool = True
    uses_image: bool = True

    def forward_head(self, text_features: Tensor | None, image_features: Tensor | None, pre_logits: bool = False) -> Tensor:
        """Logits (B, 2), or with `pre_logits` the vector that enters the last linear layer (B, hidden)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward_head")

    def forward(self, text_features: Tensor | None, image_features: Tensor | None) -> Tensor:
        return self.forward_head(text_features, image_features)  # (B, 2)


class ConcatFusion(FusionHead):
    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.mlp = mlp(text_dim + image_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward_head(self, text_features: Tensor, image_features: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.cat([text_features, image_features], dim=-1)  # (B, Dt + Di), e.g. (B, 768 + 2048 = 2816)
        return run_mlp(self.mlp, x, pre_logits)  # (B, 2), or (B, hidden) before the last layer


class LateFusion(FusionHead):
    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.text_head = mlp(text_dim, cfg.hidden_dim, cfg.dropout, num_classes)
        self.image_head = mlp(image_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward_head(self, text_features: Tensor, image_features: Tensor, pre_logits: bool = False) -> Tensor:
        if pre_logits:  # both branches' hidden vectors: (B, hidden + hidden)
            return torch.cat([run_mlp(self.text_head, text_features, True), run_mlp(self.image_head, image_features, True)], dim=-1)
        return self.text_head(text_features) + self.image_head(image_features)  # (B, 2) + (B, 2)


class CrossFusion(FusionHead):
    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        n = cfg.cross_dim
        self.text_proj = nn.Linear(text_dim, n)
        self.image_proj = nn.Linear(image_dim, n)
        self.mlp = mlp(n * n, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward_head(self, text_features: Tensor, image_features: Tensor, pre_logits: bool = False) -> Tensor:
        t = self.text_proj(text_features)  # (B, n)
        v = self.image_proj(image_features)  # (B, n)
        cross = torch.einsum("bi,bj->bij", t, v)  # (B, n, n): every text dim times every image dim
        return run_mlp(self.mlp, cross.flatten(1), pre_logits)  # (B, n*n) -> (B, 2), or (B, hidden)


class AlignFusion(FusionHead):
    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        n = cfg.align_dim
        self.text_proj = nn.Linear(text_dim, n)  # the towers' widths differ (384/512 offline): one common width n
        self.image_proj = nn.Linear(image_dim, n)
        self.mlp = mlp(n, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward_head(self, text_features: Tensor, image_features: Tensor, pre_logits: bool = False) -> Tensor:
        t = self.text_proj(text_features)  # (B, n)
        v = self.image_proj(image_features)  # (B, n)
        return run_mlp(self.mlp, t * v, pre_logits)  # (B, n) element-wise product -> (B, 2), or (B, hidden)


class TextOnly(FusionHead):
    uses_image = False

    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.mlp = mlp(text_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward_head(self, text_features: Tensor, image_features: Tensor | None = None, pre_logits: bool = False) -> Tensor:
        return run_mlp(self.mlp, text_features, pre_logits)  # (B, Dt) -> (B, 2), or (B, hidden)


class ImageOnly(FusionHead):
    uses_text = False

    def __init__(self, text_dim: int, image_dim: int, cfg: FusionConfig, num_classes: int = 2):
        super().__init__()
        self.mlp = mlp(image_dim, cfg.hidden_dim, cfg.dropout, num_classes)

    def forward_head(self, text_features: Tensor | None, image_features: Tensor, pre_logits: bool = False) -> Tensor:
        return run_mlp(self.mlp, image_features, pre_logits)  # (B, Di) -> (B, 2), or (B, hidden)


# The names are listed in memelib.config (FUSION_NAMES, which the command line reads without torch);
# a test checks that both lists agree.
FUSIONS: dict[str, type[FusionHead]] = {
    "concat": ConcatFusion,
    "late": LateFusion,
    "cross": CrossFusion,
    "align": AlignFusion,
    "text": TextOnly,
    "image": ImageOnly,
}


def build_fusion(cfg: FusionConfig, text_dim: int, image_dim: int, num_classes: int = 2) -> FusionHead:
    """The head named `cfg.name`, sized for the encoders' output widths."""
    if cfg.name not in FUSIONS:
        raise ValueError(f"unknown fusion {cfg.name!r}; choose one of {list(FUSION_NAMES)}")
    return FUSIONS[cfg.name](text_dim, image_dim, cfg, num_classes)
