"""The checks of notebooks 06 and 07 (memelib.exercises.analysis): a right answer passes, the typical wrong
answers are named, an unfinished or crashing answer gets a hint, and nothing raises."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from memelib.exercises.analysis import check_bootstrap_interval, check_policy_threshold


def policy_threshold(labels, probs, min_recall=0.9, strict=False, flagged=np.greater_equal):
    hateful = probs[labels == 1]
    for t in sorted(set(probs.tolist()), reverse=True):
        recall = flagged(hateful, t).mean()
        if (recall > min_recall) if strict else (recall >= min_recall):
            return t
    return probs.min()


def policy_by_sorting(labels, probs, min_recall=0.9):
    """Another right answer: the k-th highest hateful probability, k the fewest memes that meet the policy."""
    hateful = np.sort(probs[labels == 1])[::-1]
    k = next(k for k in range(1, len(hateful) + 1) if k / len(hateful) >= min_recall)
    return hateful[k - 1]


def bootstrap_auroc_interval(labels, probs, n=1000, seed=0, q=(2.5, 97.5), replace=True):
    rng = np.random.default_rng(seed)
    N = len(labels)
    idx = rng.integers(0, N, size=(n, N)) if replace else np.stack([rng.permutation(N) for _ in range(n)])
    aurocs = [roc_auc_score(labels[i], probs[i]) for i in idx if 0 < labels[i].sum() < N]
    return tuple(np.percentile(aurocs, q))


def mann_whitney_auroc(labels, probs):
    """AUROC as the share of (hateful, benign) pairs ranked the right way, ties counting half."""
    pos, neg = probs[labels == 1][:, None], probs[labels == 0][None, :]
    return (pos > neg).mean() + 0.5 * (pos == neg).mean()


def bootstrap_mann_whitney(labels, probs, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(labels), size=(n, len(labels)))
    kept = [mann_whitney_auroc(labels[i], probs[i]) for i in idx if 0 < labels[i].sum() < len(labels)]
    return np.percentile(kept, [2.5, 97.5])


def bootstrap_without_skipping(labels, probs, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(labels), size=(n, len(labels)))
    return tuple(np.percentile([roc_auc_score(labels[i], probs[i]) for i in idx], [2.5, 97.5]))


def crash(*args):
    raise RuntimeError("boom")


def verdict_of(check, fn, capsys):
    ok = check(fn)
    return ok, capsys.readouterr().out


@pytest.mark.parametrize("right", [policy_threshold, policy_by_sorting])
def test_policy_threshold_right_answers(right, capsys):
    ok, out = verdict_of(check_policy_threshold, right, capsys)
    assert ok is True and out.startswith("Correct!")


@pytest.mark.parametrize("wrong, words", [
    (lambda labels, probs, r=0.9: probs.min(), "lowest threshold"),
    (lambda labels, probs, r=0.9: policy_threshold(labels, probs, r, strict=True), "`>=`, not `>`"),
    (lambda labels, probs, r=0.9: policy_threshold(labels, probs, r, flagged=np.greater), "probs >= t, not probs > t"),
    (lambda labels, probs, r=0.9: policy_threshold(1 - labels, probs, r), "BENIGN"),
    (lambda labels, probs, r=0.9: policy_threshold(labels, probs, 0.9), "min_recall is an argument"),
    (lambda labels, probs, r=0.9: 0.5, "not one of the probabilities"),
    (lambda labels, probs, r=0.9: ..., "returns nothing yet"),
    (crash, "raised RuntimeError"),
    (lambda labels, probs, r=0.9: "high", "return one number"),
])
def test_policy_threshold_wrong_answers(wrong, words, capsys):
    ok, out = verdict_of(check_policy_threshold, wrong, capsys)
    assert ok is False and out.startswith("Not yet:") and "Hint:" in out and words in out, out


def test_policy_threshold_reference_answers():
    """The made-up memes of the check: its success message quotes these numbers."""
    from memelib.exercises.analysis import _policy_case, _policy_reference

    labels, probs = _policy_case(seed=0, n=10, decimals=3)
    assert _policy_reference(labels, probs, 0.9) == 0.488 and np.sort(probs[probs > 0.488])[0] == 0.517
    assert (probs[labels == 1] >= 0.517).sum() == 8


def test_policy_threshold_unfinished(capsys):
    ok, out = verdict_of(check_policy_threshold, ..., capsys)
    assert ok is False and "not a function yet" in out


@pytest.mark.parametrize("right", [bootstrap_auroc_interval, bootstrap_mann_whitney])
def test_bootstrap_interval_right_answers(right, capsys):
    ok, out = verdict_of(check_bootstrap_interval, right, capsys)
    assert ok is True and out.startswith("Correct!")


@pytest.mark.filterwarnings("ignore:Only one class is present")  # the answer that does not skip one-class resamples
@pytest.mark.parametrize("wrong, words", [
    (lambda labels, probs, n=1000, seed=0: bootstrap_auroc_interval(labels, probs, n, seed, q=(5, 95)), "90%"),
    (lambda labels, probs, n=1000, seed=0: bootstrap_auroc_interval(labels, probs, n, seed, replace=False), "WITH"),
    (lambda labels, probs, n=1000, seed=0: bootstrap_auroc_interval(labels, probs, n, 0), "ignores `seed`"),
    (lambda labels, probs, n=1000, seed=0: bootstrap_auroc_interval(labels, probs, 2 * n, seed), "exactly as the task"),
    (bootstrap_without_skipping, "skip"),
    (lambda labels, probs, n=1000, seed=0: (np.nan, 1.0), "nan"),
    (lambda labels, probs, n=1000, seed=0: 0.8, "two numbers"),
    (lambda labels, probs, n=1000, seed=0: ..., "returns nothing yet"),
    (crash, "raised RuntimeError"),
])
def test_bootstrap_interval_wrong_answers(wrong, words, capsys):
    ok, out = verdict_of(check_bootstrap_interval, wrong, capsys)
    assert ok is False and out.startswith("Not yet:") and "Hint:" in out and words in out, out


def test_bootstrap_interval_unfinished(capsys):
    ok, out = verdict_of(check_bootstrap_interval, ..., capsys)
    assert ok is False and "not a function yet" in out
