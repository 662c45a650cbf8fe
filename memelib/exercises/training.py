"""Checks for notebook 05: training."""

from __future__ import annotations

from typing import Callable

import torch

from .verdict import call, verdict

__all__ = ["check_class_weights"]


def check_class_weights(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 05: `fn(labels (N,)) -> (2,)` inverse-frequency weights, N / (2 * count_c)."""
    from ..train import class_weights

    labels = torch.tensor([0] * 6 + [1] * 2)
    got, problem = call(fn, labels)
    hint = "count each class with torch.bincount(labels, minlength=2); weight_c = N / (2 * count_c)."
    if problem:
        return verdict(False, problem, hint)
    got = torch.as_tensor(got, dtype=torch.float32)
    if tuple(got.shape) != (2,):
        return verdict(False, f"expected two weights, got shape {tuple(got.shape)}", hint)
    if not torch.allclose(got, class_weights(labels), atol=1e-5):  # 2/3 and 2: one float32 rounding at most
        return verdict(False, f"for 6 benign and 2 hateful memes you give {got.tolist()}", hint)
    return verdict(True, "the rare hateful class weighs 3x more per meme, so both classes weigh the same in total.")
