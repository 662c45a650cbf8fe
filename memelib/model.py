"""MemeClassifier: text tower + image tower + fusion head, called as `model(**batch) -> logits`.

    caption -> tokenizer -> input_ids, attention_mask (B, L) -> text encoder  -> (B, Dt) --+
                                                                                           +-> fusion -> logits (B, 2)
    image   -> transform -> pixel_values (B, 3, H, W)          -> image encoder -> (B, Di) --+

With frozen encoders the two vectors can be computed once and cached (memelib.features); the same
model then takes `text_features` and `image_features` instead of raw inputs.
Explained in notebooks 02 (shapes), 03 (encoders) and 04 (fusion).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .config import ModelConfig
from .encoders import build_image_encoder, build_text_encoder
from .fusion import build_fusion

__all__ = ["MemeClassifier", "build_model", "resolve_device", "bf16_supported", "autocast"]


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

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, 2) from raw inputs, or from precomputed (cached) features when given."""
        if text_features is None and self.fusion.uses_text:
            text_features = self.encode_text(input_ids, attention_mask)  # (B, Dt)
        if image_features is None and self.fusion.uses_image:
            image_features = self.encode_image(pixel_values)  # (B, Di)
        return self.fusion(text_features, image_features)  # (B, 2)

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


def build_model(cfg: ModelConfig, text_backbone_config: dict | None = None) -> MemeClassifier:
    """A model for `cfg` with pretrained encoder weights, or, given the text backbone's saved config,
    the bare architecture (no download) ready for a run folder's weights (see memelib.checkpoint)."""
    text_encoder = build_text_encoder(cfg.text, backbone_config=text_backbone_config)
    image_encoder = build_image_encoder(cfg.image, load_weights=text_backbone_config is None)
    return MemeClassifier(cfg, text_encoder, image_encoder)


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" picks CUDA when a GPU is present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    """True where bfloat16 matrix units exist: a recent GPU, or a CPU with AVX-512 BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """Mixed precision for a forward pass: "bf16" computes matmuls and convolutions in bfloat16
    (about 2x faster where the hardware has bf16 units; results change in the 3rd decimal), "fp32"
    keeps float32, "auto" picks bf16 where `bf16_supported`. Weights and outputs stay float32."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    use_bf16 = precision == "bf16" or (precision == "auto" and bf16_supported(device))
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
