"""Checks for notebook 03 (encoders)."""

from __future__ import annotations

from typing import Callable

import torch

from .verdict import check_tensor_fn

__all__ = ["check_cosine_similarity"]


def check_cosine_similarity(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 03: `fn(a (N, D), b (M, D)) -> (N, M)` cosine similarities."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 6, generator=g) * 3, torch.randn(5, 6, generator=g)
    expected = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T  # (N, M)
    return check_tensor_fn(
        fn, (a, b), expected, a @ b.T, "that is the dot product; it grows with the vectors' lengths",
        "the values are not cosine similarities", "values lie in [-1, 1] whatever the vectors' lengths.",
        "divide each row by its L2 norm (torch.nn.functional.normalize(x, dim=1)), then a @ b.T.",
        1e-4,  # cosines in [-1, 1], rounded once per norm and product: float32 error below 1e-6
    )
