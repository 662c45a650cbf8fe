"""What the widgets share: the confusion matrix's cell names, their style sheet, and PNG thumbnails."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from ..images import HIDDEN_CAPTION, blur_image, open_image, to_rgb

__all__ = ["CELL_NAMES", "CELL_KEYS", "CSS", "HIDDEN_CAPTION", "png_thumbnail", "png_bytes"]

# (true label, predicted label) -> the cell's name and its short key in `ThresholdExplorer.counts`
CELL_NAMES = {(0, 0): "true negative", (0, 1): "false positive", (1, 0): "false negative", (1, 1): "true positive"}
CELL_KEYS = {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}
# Buttons show "name\ncount" on two lines; a button collapses "\n" to a space unless told otherwise.
CSS = ("<style>.memelib-cell { white-space: pre-line; line-height: 1.3; }"
        " .memelib-cell.memelib-selected { outline: 3px solid #1f3a5f; outline-offset: -3px; font-weight: bold; }"
        " .memelib-meme .widget-html-content { line-height: 1.35; }</style>")


def png_thumbnail(image: str | Path | Image.Image, size: int = 128, blur: bool = False) -> bytes:
    """PNG bytes of `image` (a path, opened with `open_image`, or a PIL image) shrunk to fit size x size;
    with `blur`, blurred (`memelib.images.blur_image`) so that what it shows cannot be made out."""
    pil = to_rgb(image) if isinstance(image, Image.Image) else open_image(image)
    pil.thumbnail((size, size))  # in place, keeps the aspect ratio, never enlarges
    if blur:
        pil = blur_image(pil)  # the clear pixels never reach the browser
    return png_bytes(pil)


def png_bytes(image: Image.Image) -> bytes:
    """The PNG encoding of a PIL image, as an `ipywidgets.Image` shows it."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


