"""Plots draw labelled figures without a display."""

import numpy as np
from matplotlib.figure import Figure

from memelib import plots
from memelib.annotations import read_split


def test_every_plot_draws_labelled_axes(synth_dir, tmp_path):
    fig = Figure()
    axes = fig.subplots(2, 3).flat
    rng = np.random.default_rng(0)
    labels, probs = rng.integers(0, 2, 50), rng.random(50)
    plots.plot_confusion_matrix([[3, 1], [2, 4]], axes[0], "cm")
    plots.plot_roc(labels, probs, axes[1], threshold=0.5)
    plots.plot_history([{"epoch": 1, "train_loss": 0.7, "dev_auroc": 0.6}, {"epoch": 2, "train_loss": 0.5, "dev_auroc": 0.8}], [axes[2], axes[3]])
    plots.plot_bars({"text": 0.6, "concat": 0.99}, axes[4], title="AUROC")
    plots.plot_projection(rng.normal(size=(50, 2)), labels, axes[5], "PCA")
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    records = read_split(synth_dir, "dev")[:5]
    gallery = plots.meme_gallery(records, synth_dir, notes=[f"p={p:.2f}" for p in probs[:5]], ncols=3)
    assert len([ax for ax in gallery.axes if ax.images]) == 5
    path = plots.save_confusion_matrix([[1, 2], [3, 4]], tmp_path / "cm.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
