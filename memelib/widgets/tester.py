"""`MemeTester`: score a meme of your own, and ask why."""

from __future__ import annotations

import datetime as dt
import html
import io
import mimetypes
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from PIL import Image

from ..errors import ImageError
from ..images import open_image
from ..metrics import LABEL_NAMES
from ..synthetic import is_synthmemes
from .common import HIDDEN_CAPTION, png_thumbnail
from .why import WhyPanel

__all__ = ["MemeTester"]


class MemeTester:
    """Score your own meme: upload an image, type its caption, click Predict; then "why?" to see which words
    and which part of the picture made the score (a WhyPanel, `why`; needs a memelib Predictor).

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
        self.why_button = widgets.Button(description="why?", icon="question",
                                         tooltip="which words and which part of the picture made the score")
        self.why_button.add_class("memelib-why")
        self.why_button.on_click(self.why_clicked)
        self.why = WhyPanel(predictor)
        self.upload.observe(lambda _change: self._show_preview(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.upload, self.example_button]), self.caption,
                                    widgets.HBox([self.button, self.why_button]), self.preview, self.reveal_button,
                                    self.result, self.why.widget])
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

    def _input(self) -> tuple[str, Image.Image, str] | None:
        """(file name, image, caption) to score; None after saying what is missing."""
        try:
            name, image = self._uploaded()
        except ValueError as error:
            self._say(str(error))
            return None
        return name, image, self.caption.value.strip() or (self.hidden_caption.strip() if self.example_hidden else "")

    def why_clicked(self, button: widgets.Button | None = None) -> None:
        """Explain the score of the uploaded meme with its caption (a hidden example stays hidden)."""
        given = self._input()
        if given is not None:
            name, image, text = given
            self.why.show(image, text, hidden=self.example_hidden, title=name)

    def predict_clicked(self, button: widgets.Button | None = None) -> None:
        """Read the upload and the caption, predict, show P(hateful) and the verdict."""
        given = self._input()
        if given is None:
            return
        name, image, text = given
        try:
            prob = float(self.predictor.predict(image, text)["prob"])
        except Exception as error:  # noqa: BLE001 - a widget callback must show the problem, not raise it
            self._say(f"The model could not score {html.escape(name)}: {type(error).__name__}: {html.escape(str(error))}")
            return
        threshold = float(getattr(self.predictor, "threshold", 0.5))
        verdict = LABEL_NAMES[int(prob >= threshold)]
        note = "" if text else "<br><i>No caption: the model saw the picture with empty text.</i>"
        self.result.value = f"P(hateful) = {prob:.2f} -> <b>{verdict}</b> (threshold {threshold:.2f}){note}"
