"""Figures for reports and notebooks. Only this module (and widgets) import matplotlib/seaborn.

Every function draws on an `Axes` you pass (or returns a new `Figure`), labels its axes and title, and
changes no global state, so saving a PNG from the command line needs no display.
Explained in notebooks 00 (gallery), 03 (projection), 04 (bars), 05 (curves) and 06 (ROC, confusion,
explanations).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .annotations import Record
from .images import HIDDEN_CAPTION, blur_image, open_image
from .metrics import LABEL_NAMES
from .synthetic import is_synthmemes

if TYPE_CHECKING:  # only for the annotations: memelib.explain imports torch
    from PIL import Image

    from .explain import Explanation

__all__ = [
    "plot_confusion_matrix",
    "save_confusion_matrix",
    "meme_gallery",
    "plot_roc",
    "plot_history",
    "plot_bars",
    "plot_projection",
    "plot_explanation",
]


def plot_confusion_matrix(cm: Sequence[Sequence[int]], ax: Axes, title: str = "", labels: Sequence[str] = LABEL_NAMES) -> Axes:
    """Draw a 2x2 confusion matrix (rows: true class, columns: predicted class) with counts in the cells."""
    import seaborn as sns

    sns.heatmap(np.asarray(cm), annot=True, fmt="d", cmap="Blues", cbar=False, square=True, ax=ax,
                xticklabels=labels, yticklabels=labels, annot_kws={"size": 14})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return ax


def save_confusion_matrix(cm: Sequence[Sequence[int]], path: str | Path, title: str = "") -> Path:
    """Write the confusion matrix as a PNG and return its path."""
    fig = Figure(figsize=(4.2, 4.0), dpi=100)
    plot_confusion_matrix(cm, fig.add_subplot(), title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _short(text: str, width: int = 28) -> str:
    """Wrap a caption onto lines of about `width` characters for a subplot title."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])


def meme_gallery(
    records: Sequence[Record], root: str | Path, notes: Sequence[str] | None = None, ncols: int = 4, size: float = 2.6,
    blur: bool | None = None,
) -> Figure:
    """A grid of memes, each titled with its caption and an optional note (label, probability, kind).

    Real memes can be hateful: with `blur` None (the default) the pictures are blurred and the captions
    hidden unless `root` is SynthMemes (a folder with a meta.jsonl). `blur=False` shows them clearly,
    `blur=True` always hides them; the notes are shown either way."""
    if blur is None:
        blur = not is_synthmemes(root)
    n = max(len(records), 1)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(size * ncols, (size + 0.8) * nrows), dpi=90)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(records):
            continue
        r = records[i]
        image = open_image(Path(root) / r.img)
        ax.imshow(blur_image(image) if blur else image)
        note = f"\n{notes[i]}" if notes is not None else ""
        ax.set_title(f"{f'({HIDDEN_CAPTION})' if blur else _short(r.text)}{note}", fontsize=8)
    if blur:
        fig.supxlabel("Blurred, captions hidden: real memes can be hateful. meme_gallery(..., blur=False) shows them.",
                      fontsize=8)
    fig.tight_layout()
    return fig


def plot_roc(labels: np.ndarray, probs: np.ndarray, ax: Axes, name: str = "model", threshold: float | None = None) -> Axes:
    """ROC curve (false positive rate vs true positive rate) with its AUROC, and a dot at `threshold`."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, probs)
    ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(labels, probs):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUROC 0.5)")
    if threshold is not None:
        preds = np.asarray(probs) >= threshold
        y = np.asarray(labels).astype(bool)
        ax.scatter([(preds & ~y).sum() / max((~y).sum(), 1)], [(preds & y).sum() / max(y.sum(), 1)], color="red", zorder=3,
                   label=f"threshold {threshold:.2f}")
    ax.set_xlabel("false positive rate (benign memes flagged)")
    ax.set_ylabel("true positive rate (hateful memes caught)")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_history(history: Sequence[dict[str, Any]], axes: Sequence[Axes], label: str = "") -> None:
    """Training curves from `history.json`: train loss on axes[0], dev AUROC on axes[1]."""
    epochs = [row["epoch"] for row in history]
    axes[0].plot(epochs, [row["train_loss"] for row in history], marker="o", label=label or None)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss (cross-entropy)")
    axes[0].set_title("loss")
    axes[1].plot(epochs, [row["dev_auroc"] for row in history], marker="o", label=label or None)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("dev AUROC")
    axes[1].set_title("dev AUROC")
    if label:
        for ax in axes:
            ax.legend(fontsize=8)


def plot_bars(
    values: dict[str, float], ax: Axes, ylabel: str = "dev AUROC", title: str = "", xlabel: str = "fusion head",
    chance: float | None = 0.5,
) -> Axes:
    """A labelled bar chart of one number per name (e.g. AUROC per fusion head), values printed on bars."""
    names = list(values)
    bars = ax.bar(names, [values[n] for n in names], color="tab:blue")
    for bar, name in zip(bars, names):
        ax.annotate(f"{values[name]:.3f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    if chance is not None:
        ax.axhline(chance, linestyle="--", color="grey", label=f"chance ({chance})")
        ax.legend(fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def plot_projection(points: np.ndarray, labels: np.ndarray, ax: Axes, title: str, names: Sequence[str] = LABEL_NAMES) -> Axes:
    """A 2-D scatter (e.g. PCA of features) coloured by class."""
    points, labels = np.asarray(points), np.asarray(labels)
    for c, name in enumerate(names):
        sel = labels == c
        ax.scatter(points[sel, 0], points[sel, 1], s=8, alpha=0.6, label=name)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def _plot_words(words: Sequence[str], scores: Sequence[float], ax: Axes, per_line: int = 34) -> None:
    """The caption's words in a row (wrapped every ~`per_line` characters), each on a background coloured
    by its score (red towards hateful, blue away from it, white for nothing, scaled by the largest |score|)
    with the score printed under it."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    top = max((abs(s) for s in scores), default=0.0) or 1.0
    cmap, norm = colormaps["RdBu_r"], Normalize(-top, top)
    lines: list[list[int]] = [[]]
    for i, word in enumerate(words):
        if lines[-1] and sum(len(words[j]) + 1 for j in lines[-1]) + len(word) > per_line:
            lines.append([])
        lines[-1].append(i)
    for row, line in enumerate(lines):
        previous = None
        for i in line:  # each word placed just right of the previous one, whatever the font's widths
            where = dict(xy=(0.03, 0.78 - 0.25 * row), xycoords="axes fraction") if previous is None else dict(
                xy=(1, 0), xycoords=previous, xytext=(5, 0), textcoords="offset points")
            strong = abs(scores[i]) > 0.6 * top  # white letters on the darkest backgrounds
            previous = ax.annotate(words[i], va="bottom", fontsize=12, family="monospace", **where,
                                   color="white" if strong else "black",
                                   bbox=dict(boxstyle="round,pad=0.25", fc=cmap(norm(scores[i])), ec="none"))
            ax.annotate(f"{scores[i]:+.2f}", xy=(0.5, 0), xycoords=previous, xytext=(0, -6), textcoords="offset points",
                        ha="center", va="top", fontsize=7, color="dimgrey")
    ax.set_xlabel(f"red: towards hateful, blue: away (largest |score| {top:.3g})")


def _plot_heatmap(heatmap: np.ndarray, image: "Image.Image", ax: Axes) -> None:
    """The meme, and over it the heat map, opaque where hot and clear where 0 (stretched from the
    S x S square the model sees back over the meme)."""
    from matplotlib import colormaps

    overlay = colormaps["jet"](heatmap)  # (S, S, 4) RGBA
    overlay[..., 3] = 0.6 * heatmap  # transparency follows the heat
    width, height = image.size
    ax.imshow(overlay, extent=(0, width, height, 0))


def plot_explanation(expl: "Explanation", image: "Image.Image", axes: Sequence[Axes] | None = None) -> Figure:
    """Draw a `memelib.explain.Explanation` of `image`: the caption's words coloured by their scores
    (axes[0]), the heat map over the meme (axes[1]) and P(hateful) with each modality neutralised, and
    with your caption or picture (axes[2]). Without `axes`, on a new Figure of three panels; returns the Figure."""
    fig = None
    if axes is None:
        fig = Figure(figsize=(12, 3.8), dpi=100)
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.4, 1, 1]})
    words_ax, heat_ax, share_ax = axes
    words_ax.set(xticks=[], yticks=[])
    if expl.words:
        _plot_words(expl.words, expl.word_scores or [], words_ax)
    else:
        words_ax.text(0.5, 0.5, "this head reads no caption" if expl.words is None else "no words to score",
                      ha="center", va="center", transform=words_ax.transAxes)
    words_ax.set_title(f"words (integrated gradients), P(hateful) {expl.prob:.2f}")
    heat_ax.imshow(image)
    if expl.heatmap is not None:
        _plot_heatmap(expl.heatmap, image, heat_ax)
    title = {"gradcam": "Grad-CAM", "occlusion": "occlusion"}.get(expl.method or "", "this head reads no picture")
    zero = expl.heatmap is not None and not expl.heatmap.any()
    heat_ax.set_title(title + (" (zero everywhere)" if zero else ""))
    heat_ax.set_xlabel("red: where the picture pushes towards hateful")
    heat_ax.set(xticks=[], yticks=[])
    names = {"meme": "meme", "empty_caption": "empty\ncaption", "neutral_picture": "neutral\npicture",
             "caption": "your\ncaption", "picture": "your\npicture"}
    values = {names[k]: v for k, v in {**expl.shares, **expl.counterfactual}.items() if v is not None}
    plot_bars(values, share_ax, ylabel="P(hateful)", title="each modality's share", xlabel="input", chance=None)
    if fig is None:
        return words_ax.figure
    fig.tight_layout()
    return fig
