"""The **why?** panel: one meme's explanation (memelib.explain, taught in notebook 08) drawn with plain widgets.

    panel = WhyPanel(predictor)
    panel.widget                          # display it; hidden until the first explanation
    panel.show(image, "zorblats are vermin", title="your meme")

Its parts, each with a CSS class for tests and the browser: the caption's words coloured red (towards
hateful) or blue (away), as strongly as their integrated-gradients score (`memelib-why-words`, one
`memelib-why-word` span per word, its score in the tooltip); the meme with the Grad-CAM heat map laid over it
in red (`memelib-why-heat`); P(hateful) of the meme, with an empty caption and with a neutral picture
(`memelib-why-shares`). An explanation of a hidden (blurred) meme keeps it blurred and its words hidden.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
from PIL import Image

from ..images import blur_image
from .common import png_bytes

if TYPE_CHECKING:
    from ..explain import Explanation

__all__ = ["WhyPanel", "words_html", "heat_overlay_png"]

_HATEFUL_RGB, _AWAY_RGB = (214, 39, 40), (31, 119, 180)  # red: towards hateful; blue: away
_SHARE_NAMES = {"meme": "this meme", "empty_caption": "with an empty caption", "neutral_picture": "with a neutral picture"}


def words_html(expl: Explanation, hidden: bool = False) -> str:
    """The caption's words as HTML spans, each as red (towards hateful) or blue (away) as its score is
    strong relative to the largest |score|; the score in each word's tooltip. `hidden`: no words shown."""
    if expl.words is None:
        return "<i>This head reads no caption: no word scores.</i>"
    if hidden:
        return "<i>Caption hidden: click <b>Reveal</b> on the meme to see which of its words pushed the score.</i>"
    if not expl.words:
        return "<i>An empty caption: no words to score.</i>"
    scores = expl.word_scores or []
    top = max(abs(s) for s in scores) or 1.0
    spans = []
    for word, score in zip(expl.words, scores):
        r, g, b = _HATEFUL_RGB if score > 0 else _AWAY_RGB
        alpha = 0.1 + 0.8 * abs(score) / top  # every word stays readable; the strongest is nearly opaque
        spans.append(f"<span class='memelib-why-word' title='{score:+.3f}' style='background: rgba({r},{g},{b},"
                     f"{alpha:.2f}); padding: 1px 4px; margin: 1px; border-radius: 3px'>{html.escape(word)}</span>")
    steps = f" ({expl.steps} integration steps; scores add up to {expl.gap:+.2f}, within {abs(expl.delta):.3f})"
    return (" ".join(spans) + "<br><small>red: pushed towards hateful, blue: away; hover a word for its score"
            f"{steps}.</small>")


def heat_overlay_png(image: Image.Image, heatmap: np.ndarray | None, size: int = 192, blur: bool = False) -> bytes:
    """PNG of the meme as the model sees it (squeezed to the heat map's S x S square), red where the heat
    map (S, S) in [0, 1] is hot, then resized to `size` x `size`; blurred first when `blur`."""
    side = heatmap.shape[0] if heatmap is not None else size
    seen = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    if blur:
        seen = blur_image(seen)
    rgb = np.asarray(seen, dtype=np.float32)  # (S, S, 3)
    if heatmap is not None:
        weight = 0.65 * heatmap[..., None]  # (S, S, 1): opaque red where hottest, the meme where 0
        rgb = (1 - weight) * rgb + weight * np.array(_HATEFUL_RGB, dtype=np.float32)
    out = Image.fromarray(rgb.round().clip(0, 255).astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    return png_bytes(out)


def _shares_html(expl: Explanation) -> str:
    parts = [f"{name} <b>{expl.shares[k]:.2f}</b>" for k, name in _SHARE_NAMES.items() if expl.shares.get(k) is not None]
    notes = "".join(f"<br><small><i>{html.escape(n)}</i></small>" for n in expl.notes)
    return "P(hateful): " + " &middot; ".join(parts) + notes


class WhyPanel:
    """Why the model gave one meme its score, computed when `show` is called (about a second on a laptop CPU)."""

    def __init__(self, predictor: Any, size: int = 192):
        self.predictor, self.size = predictor, size
        self.explanation: Explanation | None = None  # the last one shown
        self.title = widgets.HTML()
        self.words = widgets.HTML()
        self.words.add_class("memelib-why-words")
        self.heat = widgets.Image(format="png", width=str(size))
        self.heat.add_class("memelib-why-heat")
        self.shares = widgets.HTML()
        self.shares.add_class("memelib-why-shares")
        self.widget = widgets.VBox([self.title, widgets.HBox([self.heat, self.words], layout=widgets.Layout(grid_gap="12px")),
                                    self.shares], layout=widgets.Layout(display="none", border="1px solid #ccc",
                                                                        padding="6px", margin="6px 0"))
        self.widget.add_class("memelib-why-panel")

    def show(self, image: Image.Image, text: str, hidden: bool = False, title: str = "this meme") -> None:
        """Explain `predictor`'s score of (image, text) and draw it; a message, never an exception, when the
        predictor cannot explain (not a memelib Predictor, or a model error)."""
        from ..explain import explain  # lazily: Captum is imported on the first click only

        self.widget.layout.display = None
        self.title.value = f"<b>Why?</b> {html.escape(title)}: computing..."
        try:
            expl = explain(self.predictor, image, text)
        except Exception as error:  # noqa: BLE001 - a widget callback must show the problem, not raise it
            self.explanation, self.heat.value, self.words.value, self.shares.value = None, b"", "", ""
            self.title.value = (f"<span style='color:#b00020'>Cannot explain {html.escape(title)}: "
                                f"{type(error).__name__}: {html.escape(str(error))}</span>")
            return
        self.explanation = expl
        verdict = "hateful" if expl.label else "not hateful"
        self.title.value = f"<b>Why?</b> {html.escape(title)}: P(hateful) = {expl.prob:.2f} -> <b>{verdict}</b>"
        self.words.value = words_html(expl, hidden)
        self.heat.value = heat_overlay_png(image, expl.heatmap, self.size, blur=hidden)
        self.shares.value = _shares_html(expl)
