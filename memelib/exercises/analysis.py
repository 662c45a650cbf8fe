"""Checks for notebooks 06 (error analysis) and 07 (fairness and the held-out test)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .verdict import call, call_numbers, verdict

__all__ = ["check_precision_recall", "check_policy_threshold", "check_group_fpr", "check_bootstrap_interval"]


def check_precision_recall(fn: Callable[[Any], tuple[float, float]]) -> bool:
    """Notebook 06: `fn(cm) -> (precision, recall)` of the hateful class, cm = [[tn, fp], [fn, tp]]."""
    cm = [[50, 10], [20, 30]]
    got, problem = call_numbers(fn, cm, n=2, what="two numbers: (precision, recall)")
    hint = "rows are true classes, columns predictions: precision = tp / (tp + fp), recall = tp / (tp + fn)."
    if problem:
        return verdict(False, problem, hint)
    p, r = got
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
    got, problem = call_numbers(fn, labels, preds, groups, "a", n=2,
                                what="two numbers: (FPR of the group, FPR of all other memes)")
    hint = ("keep the benign memes only (labels == 0); in the group (groups == group) and outside it, take the mean of "
            "preds == 1. A hateful meme is never a false positive, and memes without a group count as 'other'.")
    if problem:
        return verdict(False, problem, hint)
    fpr, others = got
    want = (2 / 4, 1 / 5)  # group a: 2 of its 4 benign memes flagged; the others: 1 of 5
    if np.allclose([fpr, others], [3 / 5, 2 / 7], atol=1e-6):
        return verdict(False, "you counted the hateful memes too: a false positive is a benign meme flagged", hint)
    if not np.allclose([fpr, others], want, atol=1e-6):
        return verdict(False, f"on the 12 test memes you give {fpr:.3f} for the group and {others:.3f} for the others "
                               f"(want {want[0]:.3f} and {want[1]:.3f})", hint)
    return verdict(True, "2 of the group's 4 benign memes are flagged (0.500), 1 of the other 5 (0.200): a gap of 0.300.")


def _policy_reference(labels: np.ndarray, probs: np.ndarray, min_recall: float, flag: Callable = np.greater_equal,
                      cls: int = 1, strict: bool = False) -> float:
    """The highest value t of `probs` whose recall of class `cls` (share of its memes with `flag(prob, t)`) reaches
    `min_recall`. The defaults give the right answer; the other arguments give the typical wrong ones."""
    for t in np.unique(probs)[::-1]:  # the highest candidate first
        recall = flag(probs[labels == cls], t).mean()
        if recall > min_recall if strict else recall >= min_recall:
            return float(t)
    return float(np.min(probs))


def _policy_case(seed: int, n: int, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` hateful and `n` benign memes in a seeded order, with probabilities rounded to `decimals` digits
    (1 digit makes ties: several memes with the same probability)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat([0, 1], n))
    probs = np.where(labels == 1, rng.uniform(0.2, 0.95, 2 * n), rng.uniform(0.05, 0.8, 2 * n))
    return labels, np.round(probs, decimals)


def check_policy_threshold(fn: Callable[..., float]) -> bool:
    """Notebook 06: `fn(labels, probs, min_recall) -> t`, the highest value t of `probs` such that at least
    `min_recall` of the hateful memes (label 1) have `probs >= t`."""
    hint = ("try the values of probs from the highest down; at each t, recall = the share of hateful memes "
            "(labels == 1) with probs >= t; return the first t whose recall is >= min_recall.")
    labels, probs = _policy_case(seed=0, n=10, decimals=3)  # 20 memes, 10 hateful
    t, problem = call_numbers(fn, labels, probs, 0.9, what="one number, the threshold")
    if problem:
        return verdict(False, problem, hint)
    want = _policy_reference(labels, probs, 0.9)  # 0.488: 9 of the 10 hateful memes are at or above it
    # exact comparison: the threshold is one of the given probabilities, selected, never computed
    if t != want:
        lowest = float(probs.min())
        strict = _policy_reference(labels, probs, 0.9, strict=True)
        above = _policy_reference(labels, probs, 0.9, flag=np.greater)
        benign_flagged = _policy_reference(labels, probs, 0.9, cls=0)
        benign_recall = _policy_reference(labels, probs, 0.9, flag=np.less, cls=0)
        near_misses = [
            (lowest, "the lowest threshold flags every meme: the policy wants the HIGHEST threshold that still "
                     "catches enough hateful memes, so that as few benign memes as possible are flagged"),
            (strict, "a recall of exactly 0.9 meets the policy: `>=`, not `>`"),
            (above, "a meme whose probability equals t is flagged: probs >= t, not probs > t"),
            (benign_flagged, "you measured the share of BENIGN memes flagged: recall counts the hateful memes"),
            (benign_recall, "that is the recall of the not-hateful class; the policy counts the hateful memes caught"),
        ]
        for value, message in near_misses:
            if t == value:
                return verdict(False, message, hint)
        if t not in probs:
            return verdict(False, f"{t} is not one of the probabilities: return the value of probs itself", hint)
        return verdict(False, f"on 20 made-up memes you give {t}, want {want}", hint)
    labels, probs = _policy_case(seed=0, n=12, decimals=1)  # 24 memes with ties, another policy
    want, got = _policy_reference(labels, probs, 0.8), call(fn, labels, probs, 0.8)[0]
    if not isinstance(got, (int, float, np.number)) or float(got) != want:
        return verdict(False, f"with min_recall=0.8 and tied probabilities you give {got}, want {want}: memes with the "
                              "same probability as t are all flagged, and min_recall is an argument", hint)
    return verdict(True, "on 20 made-up memes, t = 0.488: 9 of the 10 hateful memes have probs >= t (recall 0.9), "
                         "and the next higher probability, 0.517, would catch only 8.")


def _bootstrap_aurocs(labels: np.ndarray, probs: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The AUROCs of the task's resamples: `n` resamples of the N memes drawn with replacement in one call,
    `rng.integers(0, N, size=(n, N))`, scored by scikit-learn; resamples holding one class only are skipped."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    N = len(labels)
    idx = rng.integers(0, N, size=(n, N))  # (n, N): row r lists the memes of resample r, repeats allowed
    return np.array([roc_auc_score(labels[i], probs[i]) for i in idx if 0 < labels[i].sum() < N])


def check_bootstrap_interval(fn: Callable[..., tuple[float, float]]) -> bool:
    """Notebook 07: `fn(labels, probs, n, seed) -> (low, high)`, the 95% percentile bootstrap interval of the
    AUROC, compared with the same resamples scored by scikit-learn's `roc_auc_score`."""
    hint = ("draw all n resamples in one call, as the task says; each row of idx picks the memes of one resample "
            "(labels[row], probs[row]); keep its AUROC only if it holds both classes; then the 2.5th and 97.5th "
            "percentiles of the kept AUROCs with np.percentile.")
    rng = np.random.default_rng(7)
    labels = rng.permutation(np.repeat([0, 1], [11, 3]))  # 14 memes, 3 hateful: 5 resamples of 100 hold none
    probs = np.round(np.clip(0.35 + 0.3 * labels + rng.normal(0, 0.2, 14), 0.01, 0.99), 3)
    n, seed = 100, 3
    got, problem = call_numbers(fn, labels, probs, n, seed, n=2, what="two numbers: (low, high)")
    if problem:
        if "one class" in problem.lower():
            problem += " (a resample without a hateful meme, or without a benign one, has no AUROC: skip it)"
        return verdict(False, problem, hint)
    lo, hi = got
    if np.isnan([lo, hi]).any():
        return verdict(False, "your interval holds nan: skip the resamples that hold one class only", hint)
    aurocs = _bootstrap_aurocs(labels, probs, n, seed)
    want = np.percentile(aurocs, [2.5, 97.5])
    # 1e-9: the same resamples give the same AUROCs up to the last digits, whichever AUROC code computes them
    if np.allclose([lo, hi], want, rtol=0, atol=1e-9):
        return verdict(True, f"on 14 made-up memes: ({want[0]:.3f}, {want[1]:.3f}); with so few memes the AUROC "
                             "could be almost anything in that range.")
    if np.allclose([lo, hi], np.percentile(aurocs, [5, 95]), rtol=0, atol=1e-9):
        return verdict(False, "that is a 90% interval: take the 2.5th and 97.5th percentiles", hint)
    if lo == hi:
        return verdict(False, "your interval has no width: if every resample holds each meme exactly once, all give "
                              "the same AUROC; draw WITH replacement (rng.integers)", hint)
    if np.allclose([lo, hi], np.percentile(_bootstrap_aurocs(labels, probs, n, 0), [2.5, 97.5]), rtol=0, atol=1e-9):
        return verdict(False, "your function ignores `seed`: make the generator with np.random.default_rng(seed)", hint)
    return verdict(False, f"on 14 made-up memes (n={n}, seed={seed}) you give ({lo:.4f}, {hi:.4f}), want "
                          f"({want[0]:.4f}, {want[1]:.4f}): draw the resamples exactly as the task says", hint)
