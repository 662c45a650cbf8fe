"""Metrics from scikit-learn: AUROC (the task's official metric), accuracy, macro-F1, per-class
precision and recall, confusion matrix; a decision threshold tuned on dev; and the same errors per
group of memes (who is a meme about?), to see whether the model flags one group's benign memes more.

Why a tuned threshold: a model trained on 1/3 hateful memes tends to give hateful memes
probabilities below 0.5, so at 0.5 its hateful recall is low. AUROC does not depend on the threshold;
accuracy, F1 and recall do. Explained in notebooks 04 to 07.

scikit-learn is imported by the functions that use it, not with this module: memelib.train imports
this module, and a notebook that only wants `seed_everything` would otherwise hold scikit-learn's
~90 MB of memory for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
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
    "NO_GROUP",
    "GroupRow",
    "GroupReport",
    "group_report",
    "format_group_report",
]

LABEL_NAMES = ("not hateful", "hateful")
NO_GROUP = "(none)"  # the row of memes whose group value is None or an empty list


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
    memes against that kind only: which confounders fool the model? A benign kind is one whose memes are all
    labelled 0 (other hateful kinds, such as SynthMemes' "hateful_caption", are left out)."""
    from sklearn.metrics import roc_auc_score

    kinds_arr = np.asarray(kinds)
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels).astype(int)
    pos = kinds_arr == positive
    out = {}
    for kind in sorted(set(kinds) - {positive}):
        if labels[kinds_arr == kind].any():  # not a kind of benign meme
            continue
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


@dataclass(frozen=True)
class GroupRow:
    """The model's errors on the memes of one group (a row of :func:`group_report`)."""

    group: str  # the group's value as text; NO_GROUP for the memes without one
    n: int  # memes in the group
    n_hateful: int  # of which hateful (label 1)
    fpr: float  # false positive rate: benign memes flagged hateful / benign memes; NaN when none is benign
    fnr: float  # false negative rate: hateful memes missed / hateful memes; NaN when none is hateful
    auroc: float | None  # None when the group holds memes of one class only
    fpr_others: float  # the FPR of all memes outside the group, pooled; NaN when none of them is benign
    fpr_gap: float  # fpr - fpr_others: above 0 when this group's benign memes are flagged more often


@dataclass(frozen=True)
class GroupReport:
    """Per-group errors at one threshold, and the group whose benign memes are flagged most unfairly."""

    threshold: float  # the decision threshold the rates are measured at
    rows: list[GroupRow]  # one per group, sorted by name, NO_GROUP last
    largest_gap_group: str | None  # the group with the largest fpr_gap; None when no gap is defined
    largest_gap: float  # that group's fpr_gap; NaN when none

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists, for metrics.json."""
        return asdict(self)


def group_report(labels: np.ndarray, probs: np.ndarray, groups: Sequence[Any], threshold: float) -> GroupReport:
    """False positive and negative rates and AUROC per group, and the largest FPR gap.

    `labels` (N,) are 0/1, `probs` (N,) P(hateful), `groups` (N,) each meme's group value: a scalar,
    None (no group) or a list (a meme about several groups counts in each; an empty list is no group).
    Memes without a group form the NO_GROUP row. A group's FPR gap is its FPR minus the FPR of all the
    memes not in it, pooled: a gap above 0 means the model flags benign memes about that group more often
    than other benign memes, as if the group's name alone were a sign of hate.
    """
    labels = np.asarray(labels).astype(int)
    probs = np.asarray(probs, dtype=float)
    if not len(labels) == len(probs) == len(groups):
        raise ValueError(f"labels ({len(labels)}), probs ({len(probs)}) and groups ({len(groups)}) differ in length")
    preds = (probs >= threshold).astype(int)  # (N,) 1 = flagged hateful
    rows = [_group_row(name, member, labels, probs, preds) for name, member in _memberships(groups).items()]
    defined = [row for row in rows if not math.isnan(row.fpr_gap)]
    worst = max(defined, key=lambda row: row.fpr_gap, default=None)  # ties: the first in row order
    return GroupReport(float(threshold), rows, worst.group if worst else None,
                       worst.fpr_gap if worst else math.nan)


def format_group_report(report: GroupReport, title: str = "", mark: str = "", largest: bool = True) -> str:
    """A plain-text table of a :func:`group_report`, then (with `largest`) its largest FPR gap. `mark` goes
    before every number the model's scores decide, as in :func:`format_report`; rates that are not defined
    print "n/a"."""
    def num(x: float | None, sign: str = "") -> str:
        return "n/a" if x is None or math.isnan(x) else f"{mark}{x:{sign}.4f}"

    width = max([len("group")] + [len(row.group) for row in report.rows]) + 2
    lines = [title] if title else []
    lines.append(f"{'group':{width}s}{'memes':>7s}{'hateful':>9s}{'FPR':>10s}{'FNR':>10s}{'AUROC':>10s}{'FPR gap':>10s}")
    for r in report.rows:
        lines.append(f"{r.group:{width}s}{r.n:>7d}{r.n_hateful:>9d}{num(r.fpr):>10s}{num(r.fnr):>10s}"
                     f"{num(r.auroc):>10s}{num(r.fpr_gap, '+'):>10s}")
    lines.append(f"(FPR: benign memes flagged hateful; FNR: hateful memes missed; at threshold {mark}{report.threshold:.3f})")
    if not largest:
        return "\n".join(lines)
    if report.largest_gap_group is None:
        lines.append("largest FPR gap: n/a (no group has benign memes both in it and outside it)")
    else:
        row = next(r for r in report.rows if r.group == report.largest_gap_group)
        lines.append(f"largest FPR gap: {row.group}, {num(row.fpr_gap, '+')} "
                     f"(FPR {num(row.fpr)} in it, {num(row.fpr_others)} for all other memes)")
    return "\n".join(lines)


def _memberships(groups: Sequence[Any]) -> dict[str, np.ndarray]:
    """Group name -> (N,) bool mask of its memes, sorted by name with NO_GROUP last."""
    members: dict[str, list[int]] = {}
    for i, value in enumerate(groups):
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(item, (dict, list, tuple)) for item in items):
            raise ValueError(f"meme {i}: a group value is a string, a number, None or a list of those, not {value!r}")
        names = [str(item) for item in items if item is not None] or [NO_GROUP]
        for name in dict.fromkeys(names):  # a group listed twice counts once
            members.setdefault(name, []).append(i)
    order = sorted(members, key=lambda name: (name == NO_GROUP, name))
    masks = {name: np.zeros(len(groups), dtype=bool) for name in order}
    for name in order:
        masks[name][members[name]] = True
    return masks


def _group_row(name: str, member: np.ndarray, labels: np.ndarray, probs: np.ndarray, preds: np.ndarray) -> GroupRow:
    """One row of :func:`group_report`: the memes where `member` (N,) is True, against all the others."""
    from sklearn.metrics import roc_auc_score

    (tn, fp), (fn, tp) = _confusion(labels[member], preds[member])
    (other_tn, other_fp), _ = _confusion(labels[~member], preds[~member])
    y = labels[member]
    fpr, fpr_others = _rate(fp, tn + fp), _rate(other_fp, other_tn + other_fp)
    auroc = float(roc_auc_score(y, probs[member])) if len(np.unique(y)) == 2 else None
    return GroupRow(name, int(member.sum()), int(y.sum()), fpr, _rate(fn, fn + tp), auroc, fpr_others, fpr - fpr_others)


def _confusion(labels: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """sklearn's 2x2 confusion matrix (rows true, columns predicted); zeros for no memes, which sklearn refuses."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(labels, preds, labels=[0, 1]) if len(labels) else np.zeros((2, 2), dtype=int)


def _rate(count: int, total: int) -> float:
    """count / total, NaN when total is 0."""
    return float(count) / float(total) if total else math.nan
