"""`ThresholdExplorer`: the confusion matrix at a threshold you choose, and the memes in each cell."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np

from ..annotations import Record
from ..errors import ImageError
from ..images import open_image
from ..metrics import LABEL_NAMES, compute_metrics
from ..synthetic import is_synthmemes
from .common import CELL_KEYS, CELL_NAMES, CSS, HIDDEN_CAPTION, png_thumbnail
from .why import WhyPanel

__all__ = ["ThresholdExplorer"]


class ThresholdExplorer:
    """The confusion matrix of dev predictions at a threshold you choose, and the memes in each cell.

        explorer = ThresholdExplorer(labels, probs, dev_records, data_dir, kinds, threshold=0.41)
        explorer.widget            # display it in a notebook
        explorer.set_threshold(0.3); explorer.select_cell(1, 0)   # the same from code: false negatives

    `labels` (N,) are 0/1, `probs` (N,) P(hateful), `records` the N memes (files under `root`), `kinds`
    an optional SynthMemes kind per meme. The gallery shows at most `max_memes` memes of the chosen
    cell, the most confident first (farthest from the threshold). `blur` (None: unless `root` is
    SynthMemes) blurs each meme and hides its caption until its Reveal button is clicked; a revealed
    meme stays clear while the slider moves, and its button (now "Hide") blurs it again. With a
    `predictor` (memelib.inference.Predictor of the run that gave `probs`), each meme has a "why?" button
    that explains its score in a panel below the gallery (`why`, a WhyPanel). Notebook 06 uses it.
    """

    def __init__(
        self, labels: Sequence[int], probs: Sequence[float], records: Sequence[Record], root: str | Path,
        kinds: Sequence[str] | None = None, threshold: float = 0.5, max_memes: int = 12, thumb_size: int = 128,
        blur: bool | None = None, predictor: Any = None,
    ):
        self.labels = np.asarray(labels).astype(int)  # (N,)
        self.probs = np.asarray(probs, dtype=float)  # (N,)
        self.records, self.root = list(records), Path(root)
        self.kinds = list(kinds) if kinds is not None else None
        sizes_differ = not len(self.labels) == len(self.probs) == len(self.records)
        if sizes_differ or (self.kinds is not None and len(self.kinds) != len(self.records)):
            raise ValueError(f"labels ({len(self.labels)}), probs ({len(self.probs)}), records ({len(self.records)})"
                             f"{'' if self.kinds is None else f' and kinds ({len(self.kinds)})'} must have the same length")
        if not np.isin(self.labels, (0, 1)).all():
            raise ValueError("labels must all be 0 or 1 (an unlabelled split cannot be analysed)")
        self.max_memes, self.thumb_size = max_memes, thumb_size
        self.blur = not is_synthmemes(self.root) if blur is None else bool(blur)
        self.revealed: set[int] = set()  # indices of the memes the learner chose to see (when blurring)
        self.selected: tuple[int, int] | None = None  # the cell whose memes the gallery shows
        self.shown: list[int] = []  # indices (into records) of the memes in the gallery, in order
        # (index, blurred) -> PNG thumbnail, so moving the slider reads no file twice
        self._thumbs: dict[tuple[int, bool], bytes] = {}

        self.slider = widgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01, description="threshold",
                                          readout_format=".2f", continuous_update=False,
                                          layout=widgets.Layout(width="420px"))
        self.slider.add_class("memelib-threshold")
        self.cells: dict[tuple[int, int], widgets.Button] = {}
        for (t, p) in CELL_NAMES:
            button = widgets.Button(tooltip=f"show the {CELL_NAMES[t, p]}s",
                                    layout=widgets.Layout(width="150px", height="52px"))
            button.style.button_color = "#d8f0d8" if t == p else "#f6d6d6"  # right: green, wrong: red
            button.add_class("memelib-cell")
            button.add_class(f"memelib-cell-{t}-{p}")
            button.on_click(lambda _b, key=(t, p): self.select_cell(*key))
            self.cells[t, p] = button
        header = [widgets.Label("")] + [widgets.Label(f"predicted {name}") for name in LABEL_NAMES]
        rows = [[widgets.Label(f"true {LABEL_NAMES[t]}"), self.cells[t, 0], self.cells[t, 1]] for t in (0, 1)]
        self.matrix = widgets.GridBox(header + rows[0] + rows[1],
                                      layout=widgets.Layout(grid_template_columns="120px 155px 155px", grid_gap="4px"))
        self.matrix.add_class("memelib-matrix")
        self.metrics_html = widgets.HTML()
        self.metrics_html.add_class("memelib-metrics")
        self.gallery_note = widgets.HTML("Click a cell of the confusion matrix to see its memes.")
        self.gallery_note.add_class("memelib-gallery-note")
        self.gallery = widgets.Box(layout=widgets.Layout(flex_flow="row wrap"))
        self.gallery.add_class("memelib-gallery")
        self.why = WhyPanel(predictor) if predictor is not None else None
        self.widget = widgets.VBox([widgets.HTML(CSS), self.slider,
                                    widgets.HBox([self.matrix, self.metrics_html], layout=widgets.Layout(grid_gap="24px")),
                                    self.gallery_note, self.gallery] + ([self.why.widget] if self.why else []))
        self.widget.add_class("memelib-explorer")
        self.slider.observe(lambda _change: self._update(), names="value")
        self._update()

    @property
    def threshold(self) -> float:
        return float(self.slider.value)

    @property
    def preds(self) -> np.ndarray:
        """Predicted labels (N,) at the current threshold."""
        return (self.probs >= self.threshold).astype(int)

    @property
    def counts(self) -> dict[str, int]:
        """{"tn", "fp", "fn", "tp"}: how many memes fall in each cell at the current threshold."""
        return {CELL_KEYS[t, p]: int(((self.labels == t) & (self.preds == p)).sum()) for (t, p) in CELL_NAMES}

    def set_threshold(self, threshold: float) -> None:
        """Move the slider (which updates everything, as a user's drag would)."""
        self.slider.value = float(threshold)

    def select_cell(self, true_label: int, predicted_label: int) -> None:
        """Show the memes of one cell, as a click on its button does."""
        self.selected = (int(true_label), int(predicted_label))
        self._update()

    def explain_meme(self, i: int) -> None:
        """Explain meme `i`'s score in the why panel, as a click on its "why?" button does (hidden memes stay
        hidden: blurred, and their words not shown)."""
        if self.why is None:
            raise ValueError("this explorer has no predictor: ThresholdExplorer(..., predictor=Predictor(run))")
        r = self.records[i]
        try:
            image = open_image(self.root / r.img)
        except ImageError as error:
            self.why.widget.layout.display = None
            self.why.title.value = f"<span style='color:#b00020'>Cannot explain meme {html.escape(r.id)}: {html.escape(str(error))}</span>"
            return
        hidden = self.blur and i not in self.revealed
        self.why.show(image, r.text, hidden=hidden, title=f"meme {r.id} (true: {LABEL_NAMES[self.labels[i]]})")

    def cell_indices(self, true_label: int, predicted_label: int) -> list[int]:
        """Indices of the memes in a cell at the current threshold, the most confident first."""
        idx = np.flatnonzero((self.labels == true_label) & (self.preds == predicted_label))
        order = np.argsort(-np.abs(self.probs[idx] - self.threshold), kind="stable")
        return [int(i) for i in idx[order]]

    # -- drawing
    def _update(self) -> None:
        counts = self.counts
        for key, button in self.cells.items():
            button.description = f"{CELL_NAMES[key]}\n{counts[CELL_KEYS[key]]}"
            # the selected cell keeps its colour (and readable dark text) and gets a dark frame
            (button.add_class if key == self.selected else button.remove_class)("memelib-selected")
        self.metrics_html.value = self._metrics_table()
        self._fill_gallery()

    def _metrics_table(self) -> str:
        m = compute_metrics(self.labels, self.probs, self.threshold)
        rows = [("accuracy", m["accuracy"]), ("macro-F1", m["macro_f1"]), ("precision (hateful)", m["precision"][1]),
                ("recall (hateful)", m["recall"][1]), ("AUROC (any threshold)", m["auroc"])]
        body = "".join(f"<tr><td>{name}</td><td style='text-align:right'>{value:.3f}</td></tr>" for name, value in rows)
        return f"<b>At threshold {self.threshold:.2f}</b> ({m['n']} memes)<table>{body}</table>"

    def _fill_gallery(self) -> None:
        if self.selected is None:
            self.shown = []
            return
        name = CELL_NAMES[self.selected]
        members = self.cell_indices(*self.selected)
        self.shown = members[: self.max_memes]
        if not members:
            self.gallery_note.value = f"No memes in the {name} cell at threshold {self.threshold:.2f}."
        else:
            capped = len(members) > len(self.shown)
            first = f"the {len(self.shown)} most confident shown" if capped else "all shown, most confident first"
            hidden = " Blurred, captions hidden: click <b>Reveal</b> to see one meme." if self.blur else ""
            self.gallery_note.value = (f"<b>{len(members)} {name}{'s' if len(members) != 1 else ''}</b> at threshold "
                                       f"{self.threshold:.2f} ({first}).{hidden}")
        self.gallery.children = [self._card(i) for i in self.shown]

    def _thumb(self, i: int, blurred: bool) -> bytes:
        key = (i, blurred)
        if key not in self._thumbs:
            try:
                self._thumbs[key] = png_thumbnail(self.root / self.records[i].img, self.thumb_size, blur=blurred)
            except ImageError:
                self._thumbs[key] = b""  # an unreadable file: the card still shows its caption
        return self._thumbs[key]

    def _card(self, i: int) -> widgets.VBox:
        image = widgets.Image(format="png", width=str(self.thumb_size))
        caption = widgets.HTML(layout=widgets.Layout(width=f"{self.thumb_size + 8}px"))
        button = widgets.Button(icon="eye", layout=widgets.Layout(width=f"{self.thumb_size}px")) if self.blur else None
        if button is not None:
            button.add_class("memelib-reveal")
            button.on_click(lambda _b: self._toggle(i, image, caption, button))
        self._draw(i, image, caption, button)
        why = []
        if self.why is not None:
            why = [widgets.Button(description="why?", icon="question", tooltip="which words and which part of the "
                                  "picture made this score", layout=widgets.Layout(width=f"{self.thumb_size}px"))]
            why[0].add_class("memelib-why")
            why[0].on_click(lambda _b: self.explain_meme(i))
        card = widgets.VBox([image, caption] + ([button] if button else []) + why,
                            layout=widgets.Layout(margin="4px", width=f"{self.thumb_size + 12}px"))
        card.add_class("memelib-meme")
        return card

    def _toggle(self, i: int, image: widgets.Image, caption: widgets.HTML, button: widgets.Button) -> None:
        """Reveal one meme (or blur it again): only this card changes."""
        self.revealed ^= {i}
        self._draw(i, image, caption, button)

    def _draw(self, i: int, image: widgets.Image, caption: widgets.HTML, button: widgets.Button | None) -> None:
        hidden = self.blur and i not in self.revealed
        r = self.records[i]
        text = f"<i>{HIDDEN_CAPTION}</i>" if hidden else html.escape(r.text)
        kind = f"<br>kind: {html.escape(self.kinds[i])}" if self.kinds is not None else ""
        image.value = self._thumb(i, hidden)
        caption.value = (f"<small>{text}<br>id {html.escape(r.id)} &middot; p = {self.probs[i]:.2f}"
                         f" &middot; true: {LABEL_NAMES[self.labels[i]]}{kind}</small>")
        if button is not None:
            button.description = "Reveal" if hidden else "Hide"
            button.tooltip = ("show this meme's picture and caption (it may be hateful)" if hidden
                              else "blur this meme again")
