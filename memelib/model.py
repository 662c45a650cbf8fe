"""MemeClassifier: text tower + image tower + fusion head, called as `model(**batch) -> logits`.

    caption -> tokenizer -> input_ids, attention_mask (B, L) -> text encoder  -> (B, Dt) --+
                                                                                           +-> fusion -> logits (B, 2)
    image   -> transform -> pixel_values (B, 3, H, W)          -> image encoder -> (B, Di) --+

With frozen encoders the two vectors can be computed once and cached (memelib.features); the same
model then takes `text_features` and `image_features` instead of raw inputs. As in timm,
`forward_features` returns the towers' outputs and `forward_head(..., pre_logits=True)` the fused vector
before the last layer; `forward` is the two composed.
Explained in notebooks 02 (shapes), 03 (encoders) and 04 (fusion).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .encoders import build_image_encoder, build_text_encoder
from .fusion import build_fusion

__all__ = ["MemeClassifier", "build_model"]


class MemeClassifier(nn.Module):
    """Two towers and a fusion head, in the manner of CLIP: `encode_text`, `encode_image`, `forward`."""

    def __init__(self, cfg: ModelConfig, text_encoder: nn.Module, image_encoder: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.fusion = build_fusion(cfg.fusion, text_encoder.out_dim, image_encoder.out_dim, cfg.num_classes)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, attention_mask)  # (B, L) -> (B, Dt)

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(pixel_values)  # (B, 3, H, W) -> (B, Di)

    def forward_features(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The towers' outputs (text_features (B, Dt), image_features (B, Di)) from raw inputs; features
        given precomputed (cached) pass through. A tower the head does not use is skipped (None)."""
        if text_features is None and self.fusion.uses_text:
            text_features = self.encode_text(input_ids, attention_mask)  # (B, L) -> (B, Dt)
        if image_features is None and self.fusion.uses_image:
            image_features = self.encode_image(pixel_values)  # (B, 3, H, W) -> (B, Di)
        return text_features, image_features

    def forward_head(
        self, text_features: torch.Tensor | None, image_features: torch.Tensor | None, pre_logits: bool = False
    ) -> torch.Tensor:
        """Logits (B, 2) from the towers' outputs, or with `pre_logits` the fused vector that enters the
        head's last linear layer (B, hidden); for `late`, both branches' hidden vectors concatenated."""
        return self.fusion.forward_head(text_features, image_features, pre_logits=pre_logits)

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2), called as `model(**batch)` with the keyword arguments of `forward_features`:
        raw inputs, or precomputed (cached) features. It is `forward_head(*forward_features(**batch))`."""
        return self.forward_head(*self.forward_features(**batch))  # (B, 2)

    def lock_encoders(self) -> None:
        """Freeze both towers (no gradients, eval mode for BatchNorm/dropout): only the head trains."""
        for encoder in (self.text_encoder, self.image_encoder):
            encoder.requires_grad_(False)
            encoder.eval()

    def train(self, mode: bool = True) -> "MemeClassifier":
        super().train(mode)
        for encoder in (self.text_encoder, self.image_encoder):  # locked towers stay in eval mode
            if not any(p.requires_grad for p in encoder.parameters()):
                encoder.eval()
        return self


def build_model(cfg: ModelConfig, text_backbone_config: dict | None = None,
                image_backbone_config: dict | None = None) -> MemeClassifier:
    """A model for `cfg` with pretrained encoder weights, or, given the text backbone's saved config (and
    for a CLIP image tower its saved config), the bare architecture (no download) ready for a run folder's
    weights (see memelib.checkpoint). Both "clip" towers come from the one checkpoint `cfg.clip_model`."""
    text_encoder = build_text_encoder(cfg.text, backbone_config=text_backbone_config, clip_model=cfg.clip_model)
    image_encoder = build_image_encoder(cfg.image, load_weights=text_backbone_config is None, clip_model=cfg.clip_model,
                                        backbone_config=image_backbone_config)
    return MemeClassifier(cfg, text_encoder, image_encoder)
