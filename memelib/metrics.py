"""Metrics from scikit-learn: AUROC (the task's official metric), accuracy, macro-F1, per-class
precision and recall, confusion matrix; and a decision threshold tuned on dev.

Why a tuned threshold: a model trained on 1/3 hateful memes tends to give hateful memes
probabilities below 0.5, so at 0.5 its hateful recall is low. AUROC does not depend on the threshold;
accuracy, F1 and recall do. Explained in notebooks 05 and 06.

scikit-learn is imported by the functions that use it, not with this module: memelib.train imports
this module, and a notebook that only wants `seed_everything` would otherwise hold scikit-learn's
~90 MB of memory for nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "LABEL_NAMES",
    "compute_metrics",
    "tune_threshold",
    "evaluation_report",
    "format_report",
    "auroc_by_kind",
    "most_confident_mistakes",
]

LABEL_NAMES = ("not hateful", "hateful")


def compute_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Metrics of hateful-class probabilities `probs` (N,) against 0/1 `labels` (N,) at `threshold`."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score

    labels = np.asarray(labels).astype(int)
    probs = np.asarray(probs, dtype=float)
    preds = (probs >= threshold).astype(int)
    precision, recall, _, support = precision_recall_fscore_support(labels, preds, labels=[0, 1], zero_division=0)
    both_classes = len(np.unique(labels)) == 2
    return {
        "threshold": float(threshold),
        "auroc": float(roc_auc_score(labels, probs)) if both_classes else float("nan"),
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, average="macro", labels=[0, 1], zero_division=0)),
        "precision": [float(p) for p in precision],  # [not hateful, hateful]
        "recall": [float(r) for r in recall],
        "support": [int(s) for s in support],
        "confusion_matrix": confusion_matrix(labels, preds, labels=[0, 1]).tolist(),  # rows true, cols predicted
        "n": int(len(labels)),
    }


def tune_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The threshold that maximises macro-F1 on these (dev) predictions; ties go to the one nearest 0.5."""
    from sklearn.metrics import f1_score

    labels = np.asarray(labels).astype(int)
    probs = np.asarray(probs, dtype=float)
    candidates = np.unique(np.concatenate([probs, [0.5]]))
    best, best_f1 = 0.5, -1.0
    for t in candidates:
        f1 = f1_score(labels, (probs >= t).astype(int), average="macro", labels=[0, 1], zero_division=0)
        if f1 > best_f1 + 1e-12 or (abs(f1 - best_f1) <= 1e-12 and abs(t - 0.5) < abs(best - 0.5)):
            best, best_f1 = float(t), f1
    return best


def evaluation_report(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, Any]:
    """Metrics at 0.5 and at the tuned `threshold`, as written to metrics.json."""
    return {"at_0.5": compute_metrics(labels, probs, 0.5), "at_tuned": compute_metrics(labels, probs, threshold)}


def format_report(report: dict[str, Any], title: str = "", mark: str = "") -> str:
    """A plain-text table of an `evaluation_report`. `mark` goes before every number the model's scores
    decide (the course prints "~": measurements that move a little from one CPU to another)."""
    lines = [title] if title else []
    a, b = report["at_0.5"], report["at_tuned"]
    lines.append(f"{'':24s}{'threshold 0.5':>16s}{'tuned ' + mark + format(b['threshold'], '.3f'):>16s}")
    num = lambda x: f"{mark}{x:.4f}"  # noqa: E731
    rows = [("AUROC", "auroc"), ("accuracy", "accuracy"), ("macro-F1", "macro_f1")]
    for name, key in rows:
        lines.append(f"{name:24s}{num(a[key]):>16s}{num(b[key]):>16s}")
    for c, label in enumerate(LABEL_NAMES):
        lines.append(f"{'precision ' + label:24s}{num(a['precision'][c]):>16s}{num(b['precision'][c]):>16s}")
        lines.append(f"{'recall ' + label:24s}{num(a['recall'][c]):>16s}{num(b['recall'][c]):>16s}")
    for name, m in (("0.5", a), ("tuned", b)):
        (tn, fp), (fn, tp) = ([f"{mark}{n}" for n in row] for row in m["confusion_matrix"])
        lines.append(f"confusion ({name}): true 0 -> [{tn} {fp}]  true 1 -> [{fn} {tp}]   (columns: predicted 0, 1)")
    lines.append(f"memes: {a['n']} ({a['support'][1]} hateful)")
    return "\n".join(lines)


def auroc_by_kind(labels: np.ndarray, probs: np.ndarray, kinds: list[str], positive: str = "hateful") -> dict[str, float]:
    """For each kind of benign meme (e.g. SynthMemes' "benign_text_swap"), the AUROC of the `positive`
    memes against that kind only: which confounders fool the model? NaN where a kind has no memes."""
    from sklearn.metrics import roc_auc_score

    kinds_arr = np.asarray(kinds)
    probs = np.asarray(probs, dtype=float)
    pos = kinds_arr == positive
    out = {}
    for kind in sorted(set(kinds) - {positive}):
        sel = pos | (kinds_arr == kind)
        y = pos[sel].astype(int)
        out[kind] = float(roc_auc_score(y, probs[sel])) if 0 < y.sum() < y.size else float("nan")
    return out


def most_confident_mistakes(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5, k: int = 8) -> list[int]:
    """Indices of the `k` wrong predictions farthest from the threshold (the model was most sure)."""
    labels = np.asarray(labels).astype(int)
    probs = np.asarray(probs, dtype=float)
    wrong = np.flatnonzero((probs >= threshold).astype(int) != labels)
    order = np.argsort(-np.abs(probs[wrong] - threshold), kind="stable")
    return [int(i) for i in wrong[order][:k]]
