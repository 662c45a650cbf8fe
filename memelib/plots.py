"""Figures for reports and notebooks. Only this module (and widgets) import matplotlib/seaborn.

Figures are built with `matplotlib.figure.Figure`, not pyplot, so saving a PNG from the command line
needs no display and changes no global state. Explained in notebook 06.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .metrics import LABEL_NAMES

__all__ = ["plot_confusion_matrix", "save_confusion_matrix"]


def plot_confusion_matrix(cm: Sequence[Sequence[int]], ax: Axes, title: str = "", labels: Sequence[str] = LABEL_NAMES) -> Axes:
    """Draw a 2x2 confusion matrix (rows: true class, columns: predicted class) with counts in the cells."""
    import seaborn as sns

    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, square=True, ax=ax,
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
