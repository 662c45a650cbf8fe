"""Checks for notebook 01 (tokens and masks)."""

from __future__ import annotations

from typing import Callable

import torch

from .verdict import check_tensor_fn

__all__ = ["check_masked_mean"]


def check_masked_mean(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 01: `fn(states (B, L, D), attention_mask (B, L)) -> (B, D)`, the mean over real tokens only."""
    g = torch.Generator().manual_seed(0)
    states = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    expected = torch.stack([states[i, : int(m.sum())].mean(0) for i, m in enumerate(mask)])  # (B, D)
    return check_tensor_fn(
        fn, (states, mask), expected, states.mean(1), "this is the plain mean: padding positions are averaged in too",
        "the values differ from the mean over real tokens", "padding no longer changes the sentence vector.",
        "multiply the states by mask.unsqueeze(-1), sum over L (dim=1), divide by the number of real tokens.",
        1e-5,  # means of at most 5 values of size ~1: float32 rounding stays below 1e-6, the plain mean is 0.5 off
    )
