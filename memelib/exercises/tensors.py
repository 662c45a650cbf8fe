"""Checks for notebook 02 (tensors and shapes): predicted shapes, and cross-entropy built by hand."""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .verdict import call, unfinished, verdict

__all__ = ["check_shapes", "check_cross_entropy"]


def check_shapes(answers: dict[str, Any], expected: dict[str, tuple[int, ...]]) -> bool:
    """Notebook 02: the learner's predicted shapes against the shapes measured on a real batch."""
    hint = ("text: (B, L) -> states (B, L, Dt) -> pooled (B, Dt); image: (B, 3, S, S) -> feature map (B, Di, S/32, S/32) "
            "-> pooled (B, Di); concat adds the widths; logits: one column per class.")
    if unfinished(answers) or not isinstance(answers, dict):
        return verdict(False, "fill in the dictionary of shapes", hint)
    for key, shape in expected.items():
        given = answers.get(key)
        if unfinished(given):
            return verdict(False, f"no shape for {key!r} yet", hint)
        if tuple(given) != tuple(shape):
            return verdict(False, f"{key!r} is not {tuple(given)}", hint)
    return verdict(True, "every shape matches the real batch: " + ", ".join(f"{k} {tuple(v)}" for k, v in expected.items()))


def _call_without_torch_loss(fn: Callable, *args: Any) -> tuple[Any, str]:
    """`call(fn, *args)`, with torch's own cross-entropy and nll_loss made to refuse while it runs."""
    saved = F.cross_entropy, F.nll_loss

    def refuse(*_: Any, **__: Any) -> None:
        raise RuntimeError("F.cross_entropy / F.nll_loss are what this exercise rebuilds: compute it yourself")

    F.cross_entropy = F.nll_loss = refuse  # torch.nn.CrossEntropyLoss calls them too, so it is caught as well
    try:
        return call(fn, *args)
    finally:
        F.cross_entropy, F.nll_loss = saved


def _as_number(x: Any) -> float | None:
    """A scalar answer as a float: a 0-d (or one-element) tensor or a Python number; None for anything else."""
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return float(x.detach().float())
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def check_cross_entropy(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> bool:
    """Notebook 02: `fn(logits (B, C) float, labels (B,) long) -> scalar`, the mean cross-entropy, as
    `F.cross_entropy(logits, labels)`, written without F.cross_entropy or F.nll_loss.

    Then one row of logits (1000, 0) with label 1: the right loss is 1000; log(softmax) gives inf there."""
    hint = ("log-softmax over the classes (dim=-1), then pick one entry per row, the true class's, by indexing with "
            "two tensors (the row numbers 0..B-1, and the labels); the loss is minus the mean of those B numbers.")
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(6, 3, generator=g)  # (B, C): 6 examples, 3 classes, scores of a few units
    labels = torch.tensor([0, 2, 1, 1, 0, 2])  # (B,)
    expected = float(F.cross_entropy(logits, labels))
    probs = logits.softmax(-1)
    picked = probs[torch.arange(6), labels]  # (B,) the probability of each true class
    near_misses = [  # the usual slips, each with its own message
        (float(-picked.mean()), "this is minus the mean *probability* of the true class: the log is missing"),
        (float(picked.log().mean()), "the sign is wrong: log-probabilities are negative, the loss is minus their mean"),
        (float(F.cross_entropy(logits, labels, reduction="sum")), "this is the sum over the batch: take the mean"),
        (float(F.cross_entropy(probs, labels)), "softmax was applied twice: the input is already logits, not probabilities"),
        (float(-probs.log().mean()), "this averages the log-probabilities of every class: pick only the true class of each row"),
    ]
    got, problem = _call_without_torch_loss(fn, logits.clone(), labels.clone())
    if problem:
        return verdict(False, problem, hint)
    value = _as_number(got)
    if value is None:
        return verdict(False, f"return one number (a 0-d tensor), not {getattr(got, 'shape', type(got).__name__)}", hint)
    tol = 1e-5  # losses of ~1-3 in float32: another summation order or CPU moves the 7th digit, a slip moves the 1st

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= tol * max(1.0, abs(b))

    if not close(value, expected):
        message = next((msg for wrong, msg in near_misses if close(value, wrong)),
                       f"got {value:.5f}, but F.cross_entropy gives {expected:.5f}")
        return verdict(False, message, hint)
    got, problem = _call_without_torch_loss(fn, torch.tensor([[1000.0, 0.0]]), torch.tensor([1]))
    big = _as_number(got) if not problem else None
    if big is None or not close(big, 1000.0):
        return verdict(False, f"for logits [[1000., 0.]] and label 1 the loss is 1000, you get {big if big is not None else problem}: "
                       "log(softmax(...)) underflows to log(0) = -inf; torch.log_softmax stays exact", hint)
    return verdict(True, f"your loss matches F.cross_entropy (within {tol:g}), even for logits as large as 1000.")
