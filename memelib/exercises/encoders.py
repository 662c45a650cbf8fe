"""Checks for notebook 03 (encoders): cosine similarity, and scaled dot-product attention."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .verdict import call, check_tensor_fn, verdict

__all__ = ["check_cosine_similarity", "check_attention"]


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


def _close(got: Any, ref: torch.Tensor) -> bool:
    """Equal up to float32 rounding: softmax and matmuls of a few numbers of size ~10 are off by ~1e-6 at most,
    another CPU's kernels or another way to write it included; the near misses below are off by 0.05 or more."""
    return isinstance(got, torch.Tensor) and got.shape == ref.shape and torch.allclose(got.float(), ref, atol=1e-5)


def check_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> bool:
    """Notebook 03: `fn(q, k, v)`, each (B, L, D) -> (output (B, L, D), weights (B, L, L)), scaled dot-product
    attention: weights = softmax(q k^T / sqrt(D)) over the last dimension (each row sums to 1), output = weights v.
    Compared with torch.nn.functional.scaled_dot_product_attention."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 5, 8, generator=g) * 2 for _ in range(3))  # (B, L, D); * 2: the scaling matters
    hint = ("scores = q @ k.transpose(-2, -1) / math.sqrt(D), shape (B, L, L); weights = scores.softmax(dim=-1), so "
            "that each query's row sums to 1; output = weights @ v. Return (output, weights).")
    got, problem = call(fn, q, k, v)
    if problem:
        return verdict(False, problem, hint)
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)):
        return verdict(False, "return two tensors: (output, weights)", hint)
    output, weights = got
    if output.shape != (2, 5, 8) or weights.shape != (2, 5, 5):
        return verdict(False, f"for q, k, v of shape (2, 5, 8) expected output (2, 5, 8) and weights (2, 5, 5), "
                              f"got {tuple(output.shape)} and {tuple(weights.shape)}", hint)
    scores = q @ k.transpose(-2, -1)  # (B, L, L): every query against every key
    expected = (scores / math.sqrt(8)).softmax(dim=-1)  # (B, L, L)
    near_misses = [
        (scores.softmax(dim=-1), "the scores are not divided by sqrt(D): with large D the softmax becomes almost one-hot"),
        ((scores / 8).softmax(dim=-1), "the scores are divided by D; scaled dot-product attention divides by sqrt(D)"),
        ((scores / math.sqrt(8)).softmax(dim=1), "the softmax runs over the queries (dim 1): each *row* of a query's "
                                                 "weights must sum to 1, so take it over the keys, the last dimension"),
    ]
    for near, message in near_misses:
        if _close(weights, near):
            return verdict(False, message, hint)
    if not _close(weights, expected):
        return verdict(False, "the weights differ from softmax(q k^T / sqrt(D))", hint)
    if not _close(output, torch.nn.functional.scaled_dot_product_attention(q, k, v)):  # (B, L, D)
        return verdict(False, "the weights are right, the output is not: it is the weights times v", hint)
    return verdict(True, "the same as torch.nn.functional.scaled_dot_product_attention; every row of weights sums to 1.")
