import numpy as np
import pytest

from memelib.metrics import compute_metrics, evaluation_report, format_report, tune_threshold


def test_metrics_on_a_known_example():
    labels = np.array([0, 0, 0, 1, 1])
    probs = np.array([0.1, 0.4, 0.6, 0.45, 0.9])
    m = compute_metrics(labels, probs, 0.5)
    assert m["confusion_matrix"] == [[2, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx([2 / 3, 1 / 2])
    assert m["precision"] == pytest.approx([2 / 3, 1 / 2])
    assert m["auroc"] == pytest.approx(5 / 6)  # pairs (pos > neg): 0.45 beats 0.1, 0.4; 0.9 beats all three
    assert m["support"] == [3, 2]


def test_tuned_threshold_is_at_least_as_good_as_half():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probs = np.clip(0.3 * labels + rng.normal(0.3, 0.15, 200), 0, 1)  # hateful memes score low, as in the baseline
    t = tune_threshold(labels, probs)
    report = evaluation_report(labels, probs, t)
    assert report["at_tuned"]["macro_f1"] >= report["at_0.5"]["macro_f1"]
    assert report["at_tuned"]["recall"][1] > report["at_0.5"]["recall"][1]
    text = format_report(report, "dev")
    assert "AUROC" in text and "recall hateful" in text and f"{t:.3f}" in text


def test_single_class_auroc_is_nan_not_an_exception():
    assert np.isnan(compute_metrics(np.array([1, 1]), np.array([0.2, 0.9]))["auroc"])


def test_auroc_by_kind_and_confident_mistakes():
    from memelib.metrics import auroc_by_kind, most_confident_mistakes

    kinds = ["hateful", "hateful", "benign_text_swap", "benign_text_swap", "benign_plain"]
    probs = np.array([0.9, 0.6, 0.7, 0.1, 0.2])
    by = auroc_by_kind(np.array([1, 1, 0, 0, 0]), probs, kinds)
    assert by == {"benign_plain": 1.0, "benign_text_swap": 0.75}
    assert most_confident_mistakes(np.array([1, 1, 0, 0, 0]), probs, 0.5, k=3) == [2]
    assert most_confident_mistakes(np.array([0, 0, 1, 1, 0]), probs, 0.5) == [0, 3, 1]
