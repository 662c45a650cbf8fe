"""Checks for notebook 04 (fusion): late fusion by hand, and AUROC by counting pairs."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from .verdict import call, call_numbers, verdict

__all__ = ["check_late_fusion", "check_auroc_pairs"]


def _close(got: Any, ref: torch.Tensor) -> bool:
    """Equal up to float32 rounding (1e-6): the check runs in float64, a learner's float32 softmax is off by ~1e-7;
    the near misses below are off by 0.02 or more."""
    return isinstance(got, torch.Tensor) and got.shape == ref.shape and torch.allclose(got.double(), ref, atol=1e-6)


def check_late_fusion(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 04: `fn(text_logits (B, 2), image_logits (B, 2)) -> (B,)`, the probability of "hateful" that memelib's
    `late` head gives: the two branches' logits added, then a softmax over the 2 classes, column 1.
    When right, the check also measures the interaction of the log-odds on its own 2 captions x 2 pictures: 0."""
    g = torch.Generator().manual_seed(4)
    text_logits, image_logits = (torch.randn(6, 2, generator=g, dtype=torch.float64) * 2 for _ in range(2))  # (B, 2)
    hint = "add the two (B, 2) logits, take torch.softmax(..., dim=-1) over the 2 classes, keep column 1 (hateful)."
    got, problem = call(fn, text_logits, image_logits)
    if problem:
        return verdict(False, problem, hint)
    if not isinstance(got, torch.Tensor) or got.shape != (6,):
        return verdict(False, f"for 6 memes expected a tensor of shape (6,), got {getattr(got, 'shape', type(got).__name__)}", hint)
    summed = text_logits + image_logits  # (B, 2)
    near_misses = [
        ((text_logits.softmax(-1)[:, 1] + image_logits.softmax(-1)[:, 1]) / 2,
         "that is the average of the two branches' probabilities, another kind of late fusion; memelib's head adds "
         "the logits, before the softmax"),
        (summed.softmax(-1)[:, 0], "that is the probability of 'not hateful' (column 0)"),
        (summed.softmax(0)[:, 1], "the softmax runs over the batch (dim 0); it must run over the 2 classes of each meme"),
        (summed[:, 1], "that is a logit, not a probability: apply the softmax over the 2 classes"),
    ]
    for near, message in near_misses:
        if _close(got, near):
            return verdict(False, message, hint)
    if not _close(got, summed.softmax(-1)[:, 1]):
        return verdict(False, "the values differ from softmax(text_logits + image_logits)[:, 1]", hint)
    # two captions x two pictures, logits small enough that p stays in (0.05, 0.95): the interaction of the log-odds
    t_grid, i_grid = (torch.randn(2, 2, generator=g, dtype=torch.float64) * 0.5 for _ in range(2))  # (2, 2) each
    t, i = t_grid[[0, 0, 1, 1]], i_grid[[0, 1, 0, 1]]  # (4, 2): (t1, i1), (t1, i2), (t2, i1), (t2, i2)
    p, problem = call(fn, t.clone(), i.clone())  # (4,)
    if problem or not isinstance(p, torch.Tensor) or p.shape != (4,):
        return verdict(False, problem or "on 4 memes your function does not return a tensor of shape (4,)", hint)
    s = torch.log(p.double() / (1 - p.double()))  # (4,): the log-odds, section 5's score s(t, i)
    interaction = float(s[0] + s[3] - s[1] - s[2])
    if abs(interaction) > 1e-4:  # float32 log-odds of probabilities in (0.05, 0.95) are off by ~1e-6 at most
        return verdict(False, f"on a 2 x 2 grid of captions and pictures your log-odds have interaction {interaction:.4f}, "
                              "not 0: the score must be a sum of a text part and an image part", hint)
    return verdict(True, f"on the check's 2 captions x 2 pictures the interaction of your log-odds is {abs(interaction):.3f}: "
                         "late fusion is a sum, whatever its branches learn.")


def check_auroc_pairs(fn: Callable[[np.ndarray, np.ndarray], float]) -> bool:
    """Notebook 04: `fn(labels (N,) 0/1, scores (N,)) -> float`, the share of (hateful, benign) pairs whose hateful
    meme has the higher score, a tie counting 1/2. Compared with sklearn.metrics.roc_auc_score."""
    from sklearn.metrics import roc_auc_score

    labels = np.array([1, 0, 0, 1, 0, 1, 0, 0, 1, 0])
    scores = np.array([0.8, 0.3, 0.8, 0.4, 0.4, 0.9, 0.1, 0.6, 0.3, 0.2])  # ties across the classes: 0.8, 0.4, 0.3
    hint = ("for every hateful score h and every benign score b, count 1 if h > b and 0.5 if h == b; divide by the "
            "number of pairs (hateful count x benign count). NumPy broadcasting: h[:, None] > b[None, :].")
    value, problem = call_numbers(fn, labels.copy(), scores.copy())
    if problem:
        return verdict(False, problem, hint)
    want = roc_auc_score(labels, scores)  # 17.5 / 24 = 0.7292: 16 pairs right, 3 ties, 5 wrong
    # an exact ratio of small integers: counted in float64 it comes out to 1e-15, in float32 (torch's default) to
    # ~1e-7; 1e-6 accepts both, and the near misses are at least 1/48 away
    near_misses = [(16 / 24, "ties count 0 here; a tie counts 1/2 (the score cannot tell the two memes apart)"),
                   (19 / 24, "ties count 1 here; a tie counts 1/2 (the score cannot tell the two memes apart)"),
                   (1 - want, "that is the share of pairs where the *benign* meme scores higher")]
    for near, message in near_misses:
        if abs(value - near) < 1e-6:
            return verdict(False, message, hint)
    if abs(value - want) > 1e-6:
        return verdict(False, f"on the check's 10 memes you give {value:.4f}, scikit-learn's roc_auc_score {want:.4f}", hint)
    return verdict(True, f"{want:.4f} on the check's 10 memes (4 hateful x 6 benign = 24 pairs), as roc_auc_score.")
