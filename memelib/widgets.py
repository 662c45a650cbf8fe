"""Interactive widgets for error analysis, explained in notebook 06 (error analysis).

- `ThresholdExplorer`: a threshold slider, the confusion matrix as four buttons, the metrics at that
  threshold, and a gallery of the memes in the cell you click.
- `MemeTester`: upload a meme (or load an example), type its caption, click Predict.

Real memes can be hateful, so on data other than SynthMemes (a SynthMemes folder holds a `meta.jsonl`)
both blur the memes they show and hide their captions, until the learner clicks **Reveal** on one
(`blur=False` shows them all; `blur=True` blurs SynthMemes too).

They are built from plain widgets only (no `Output` widget capturing prints), so their state can be
read in tests and in a browser: each main widget has a stable CSS class (`memelib-threshold`,
`memelib-cell-1-0`, `memelib-metrics`, `memelib-gallery`, `memelib-upload`, `memelib-reveal`, ...).
This is the only memelib module that imports ipywidgets; the core never imports it.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import mimetypes
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
from PIL import Image

from .annotations import Record
from .errors import ImageError
from .images import HIDDEN_CAPTION, blur_image, open_image, to_rgb
from .metrics import LABEL_NAMES, compute_metrics
from .synthetic import is_synthmemes

__all__ = ["CELL_NAMES", "HIDDEN_CAPTION", "ThresholdExplorer", "MemeTester", "png_thumbnail"]

# (true label, predicted label) -> the cell's name and its short key in `ThresholdExplorer.counts`
CELL_NAMES = {(0, 0): "true negative", (0, 1): "false positive", (1, 0): "false negative", (1, 1): "true positive"}
_CELL_KEYS = {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}
# Buttons show "name\ncount" on two lines; a button collapses "\n" to a space unless told otherwise.
_CSS = ("<style>.memelib-cell { white-space: pre-line; line-height: 1.3; }"
        " .memelib-cell.memelib-selected { outline: 3px solid #1f3a5f; outline-offset: -3px; font-weight: bold; }"
        " .memelib-meme .widget-html-content { line-height: 1.35; }</style>")
def png_thumbnail(image: str | Path | Image.Image, size: int = 128, blur: bool = False) -> bytes:
    """PNG bytes of `image` (a path, opened with `open_image`, or a PIL image) shrunk to fit size x size;
    with `blur`, blurred (`memelib.images.blur_image`) so that what it shows cannot be made out."""
    pil = to_rgb(image) if isinstance(image, Image.Image) else open_image(image)
    pil.thumbnail((size, size))  # in place, keeps the aspect ratio, never enlarges
    if blur:
        pil = blur_image(pil)  # the clear pixels never reach the browser
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


class ThresholdExplorer:
    """The confusion matrix of dev predictions at a threshold you choose, and the memes in each cell.

        explorer = ThresholdExplorer(labels, probs, dev_records, data_dir, kinds, threshold=0.41)
        explorer.widget            # display it in a notebook
        explorer.set_threshold(0.3); explorer.select_cell(1, 0)   # the same from code: false negatives

    `labels` (N,) are 0/1, `probs` (N,) P(hateful), `records` the N memes (files under `root`), `kinds`
    an optional SynthMemes kind per meme. The gallery shows at most `max_memes` memes of the chosen
    cell, the most confident first (farthest from the threshold). `blur` (None: unless `root` is
    SynthMemes) blurs each meme and hides its caption until its Reveal button is clicked; a revealed
    meme stays clear while the slider moves, and its button (now "Hide") blurs it again. Notebook 06 uses it.
    """

    def __init__(
        self, labels: Sequence[int], probs: Sequence[float], records: Sequence[Record], root: str | Path,
        kinds: Sequence[str] | None = None, threshold: float = 0.5, max_memes: int = 12, thumb_size: int = 128,
        blur: bool | None = None,
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
        self.widget = widgets.VBox([widgets.HTML(_CSS), self.slider,
                                    widgets.HBox([self.matrix, self.metrics_html], layout=widgets.Layout(grid_gap="24px")),
                                    self.gallery_note, self.gallery])
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
        return {_CELL_KEYS[t, p]: int(((self.labels == t) & (self.preds == p)).sum()) for (t, p) in CELL_NAMES}

    def set_threshold(self, threshold: float) -> None:
        """Move the slider (which updates everything, as a user's drag would)."""
        self.slider.value = float(threshold)

    def select_cell(self, true_label: int, predicted_label: int) -> None:
        """Show the memes of one cell, as a click on its button does."""
        self.selected = (int(true_label), int(predicted_label))
        self._update()

    def cell_indices(self, true_label: int, predicted_label: int) -> list[int]:
        """Indices of the memes in a cell at the current threshold, the most confident first."""
        idx = np.flatnonzero((self.labels == true_label) & (self.preds == predicted_label))
        order = np.argsort(-np.abs(self.probs[idx] - self.threshold), kind="stable")
        return [int(i) for i in idx[order]]

    # -- drawing
    def _update(self) -> None:
        counts = self.counts
        for key, button in self.cells.items():
            button.description = f"{CELL_NAMES[key]}\n{counts[_CELL_KEYS[key]]}"
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
        card = widgets.VBox([image, caption] + ([button] if button else []),
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


class MemeTester:
    """Score your own meme: upload an image, type its caption, click Predict.

        tester = MemeTester(Predictor("artifacts/runs/06-concat"), example=("data/.../img/1.png", "a caption"))
        tester.widget

    `predictor` is a `memelib.inference.Predictor` (or anything with `.predict(PIL image, text)` returning
    {"prob": ...} and a `.threshold`). Any image format works (the bytes are read by `open_image`, not
    the file name); a missing or broken upload gives a message, never an exception. `blur` (None: unless
    the example lies in a SynthMemes folder) shows the example blurred with its caption hidden (it is still
    what Predict scores) until Reveal is clicked; your own uploads are never blurred. Notebook 06 uses it.
    """

    def __init__(self, predictor: Any, example: tuple[str | Path, str] | None = None, blur: bool | None = None):
        self.predictor = predictor
        self.example = example
        folders = Path(example[0]).parents[:2] if example else ()  # img/ and the data folder above it
        self.blur = not any(is_synthmemes(f) for f in folders) if blur is None else bool(blur)
        self.showing_example = False  # True while the upload box holds the example (not your own file)
        self.example_hidden = False  # True while that example is blurred and its caption hidden
        self.hidden_caption = ""  # the example's caption while it is hidden
        self._loading_example = False
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload a meme")
        self.upload.add_class("memelib-upload")
        self.caption = widgets.Text(description="caption", placeholder="the words on the meme",
                                    layout=widgets.Layout(width="420px"))
        self.caption.add_class("memelib-caption")
        self.button = widgets.Button(description="Predict", button_style="primary", icon="search")
        self.button.add_class("memelib-predict")
        self.button.on_click(self.predict_clicked)
        self.example_button = widgets.Button(description="Use an example", disabled=example is None,
                                             tooltip="load a meme from the course's data as if you had uploaded it")
        self.example_button.add_class("memelib-example")
        self.example_button.on_click(lambda _b: self.use_example(*self.example) if self.example else None)
        self.preview = widgets.Image(format="png", width="192")
        self.preview.add_class("memelib-preview")
        self.reveal_button = widgets.Button(description="Reveal", icon="eye", layout=widgets.Layout(display="none"))
        self.reveal_button.add_class("memelib-reveal")
        self.reveal_button.on_click(self.reveal_clicked)
        self.result = widgets.HTML("Upload a meme image (or use the example), type its caption and click <b>Predict</b>.")
        self.result.add_class("memelib-result")
        self.upload.observe(lambda _change: self._show_preview(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.upload, self.example_button]), self.caption,
                                    self.button, self.preview, self.reveal_button, self.result])
        self.widget.add_class("memelib-tester")

    def use_example(self, path: str | Path, caption: str | None = None) -> None:
        """Load an image file into the upload box as if the user had uploaded it (and its caption);
        blurred, with the caption kept out of the caption box, when this tester blurs."""
        path = Path(path)
        data = path.read_bytes()
        self._loading_example = True  # tells _show_preview to blur it
        try:
            self.upload.value = ({"name": path.name, "type": mimetypes.guess_type(path.name)[0] or "", "size": len(data),
                                  "content": memoryview(data), "last_modified": dt.datetime.now(dt.timezone.utc)},)
        finally:
            self._loading_example = False
        if caption is not None and self.example_hidden:
            self.hidden_caption, self.caption.value = caption, ""
        elif caption is not None:
            self.caption.value = caption

    def reveal_clicked(self, button: widgets.Button | None = None) -> None:
        """Show the example's picture and caption, or (clicked again) blur and hide them again."""
        if not self.showing_example:
            return  # your own upload is never blurred
        self.example_hidden = not self.example_hidden
        if self.example_hidden:
            self.hidden_caption, self.caption.value = self.caption.value, ""
        else:
            self.caption.value, self.hidden_caption = self.hidden_caption, ""
        self._draw_preview(self._uploaded()[1])

    def _uploaded(self) -> tuple[str, Image.Image]:
        """(file name, RGB image) of the upload; raises ValueError with a message for the learner."""
        if not self.upload.value:
            raise ValueError("No image yet: upload a meme (PNG, JPEG, GIF, WebP...) or click <b>Use an example</b>.")
        file = self.upload.value[-1]
        name = str(file.get("name") or "the uploaded file")
        try:
            return name, open_image(io.BytesIO(bytes(file["content"])))  # the format comes from the bytes
        except ImageError as error:
            raise ValueError(f"Cannot use {html.escape(name)}: {html.escape(error.reason)}.") from None

    def _show_preview(self) -> None:
        self.showing_example, self.hidden_caption = self._loading_example, ""
        self.example_hidden = self.blur and self.showing_example
        self.result.value = ("Example loaded, blurred and its caption hidden (it may be hateful): click <b>Predict</b>"
                             " to score it, or <b>Reveal</b> to see it." if self.example_hidden
                             else "Now type the caption and click <b>Predict</b>.")
        try:
            self._draw_preview(self._uploaded()[1])
        except ValueError as error:
            self.preview.value = b""
            self.showing_example = self.example_hidden = False
            self._say(str(error))
        self.reveal_button.layout.display = None if self.example_hidden else "none"  # shown for a blurred example

    def _draw_preview(self, image: Image.Image) -> None:
        self.preview.value = png_thumbnail(image, 192, blur=self.example_hidden)
        self.caption.placeholder = f"({HIDDEN_CAPTION}: Reveal shows it)" if self.example_hidden else "the words on the meme"
        self.reveal_button.description = "Reveal" if self.example_hidden else "Hide"

    def _say(self, message: str) -> None:
        self.result.value = f"<span style='color:#b00020'>{message}</span>"

    def predict_clicked(self, button: widgets.Button | None = None) -> None:
        """Read the upload and the caption, predict, show P(hateful) and the verdict."""
        try:
            name, image = self._uploaded()
        except ValueError as error:
            self._say(str(error))
            return
        text = self.caption.value.strip() or (self.hidden_caption.strip() if self.example_hidden else "")
        try:
            prob = float(self.predictor.predict(image, text)["prob"])
        except Exception as error:  # noqa: BLE001 - a widget callback must show the problem, not raise it
            self._say(f"The model could not score {html.escape(name)}: {type(error).__name__}: {html.escape(str(error))}")
            return
        threshold = float(getattr(self.predictor, "threshold", 0.5))
        verdict = LABEL_NAMES[int(prob >= threshold)]
        note = "" if text else "<br><i>No caption: the model saw the picture with empty text.</i>"
        self.result.value = f"P(hateful) = {prob:.2f} -> <b>{verdict}</b> (threshold {threshold:.2f}){note}"
