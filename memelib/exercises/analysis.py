"""Checks for notebooks 06 (error analysis) and 07 (fairness and the held-out test)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .verdict import call, verdict

__all__ = ["check_precision_recall", "check_group_fpr"]


def check_precision_recall(fn: Callable[[Any], tuple[float, float]]) -> bool:
    """Notebook 06: `fn(cm) -> (precision, recall)` of the hateful class, cm = [[tn, fp], [fn, tp]]."""
    cm = [[50, 10], [20, 30]]
    got, problem = call(fn, cm)
    hint = "rows are true classes, columns predictions: precision = tp / (tp + fp), recall = tp / (tp + fn)."
    if problem:
        return verdict(False, problem, hint)
    try:
        p, r = (float(x) for x in got)
    except (TypeError, ValueError):
        return verdict(False, "return two numbers: (precision, recall)", hint)
    # exact fractions 3/4 and 3/5: 1e-6 accepts them in float32 or float64, on any CPU
    if np.allclose([p, r], [30 / 50, 30 / 40], atol=1e-6) and not np.allclose([p, r], [30 / 40, 30 / 50]):
        return verdict(False, "precision and recall are swapped", hint)
    if not np.allclose([p, r], [30 / 40, 30 / 50], atol=1e-6):
        return verdict(False, f"for [[50, 10], [20, 30]] you give precision {p:.3f}, recall {r:.3f}", hint)
    return verdict(True, "precision 0.750: of memes flagged, 3 in 4 are hateful; recall 0.600: 6 in 10 hateful memes are caught.")


def check_group_fpr(fn: Callable[..., tuple[float, float]]) -> bool:
    """Notebook 07: `fn(labels, preds, groups, group) -> (FPR of group, FPR of all other memes)`: the share of
    benign memes (label 0) predicted hateful (1), among `group`'s memes and among all the others."""
    labels = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1])
    preds = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1])
    groups = np.array(["a", "a", "a", "a", "a", "b", "b", "b", "b", None, "b", None], dtype=object)
    got, problem = call(fn, labels, preds, groups, "a")
    hint = ("keep the benign memes only (labels == 0); in the group (groups == group) and outside it, take the mean of "
            "preds == 1. A hateful meme is never a false positive, and memes without a group count as 'other'.")
    if problem:
        return verdict(False, problem, hint)
    try:
        fpr, others = (float(x) for x in got)
    except (TypeError, ValueError):
        return verdict(False, "return two numbers: (FPR of the group, FPR of all other memes)", hint)
    want = (2 / 4, 1 / 5)  # group a: 2 of its 4 benign memes flagged; the others: 1 of 5
    if np.allclose([fpr, others], [3 / 5, 2 / 7], atol=1e-6):
        return verdict(False, "you counted the hateful memes too: a false positive is a benign meme flagged", hint)
    if not np.allclose([fpr, others], want, atol=1e-6):
        return verdict(False, f"on the 12 test memes you give {fpr:.3f} for the group and {others:.3f} for the others "
                               f"(want {want[0]:.3f} and {want[1]:.3f})", hint)
    return verdict(True, "2 of the group's 4 benign memes are flagged (0.500), 1 of the other 5 (0.200): a gap of 0.300.")
