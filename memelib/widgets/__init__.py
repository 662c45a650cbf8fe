"""Interactive widgets for error analysis, explained in notebook 06 (error analysis).

- `ThresholdExplorer`: a threshold slider, the confusion matrix as four buttons, the metrics at that
  threshold, and a gallery of the memes in the cell you click; given a predictor, each meme has a
  **why?** button.
- `MemeTester`: upload a meme (or load an example), type its caption, click Predict, then **why?**.
- `WhyPanel`: what **why?** shows (memelib.explain, notebook 08): the caption's words coloured by how much
  each pushed the score towards hateful, the heat map over the meme, and P(hateful) with each modality
  taken away. Computed for one meme when clicked.

Real memes can be hateful, so on data other than SynthMemes (a SynthMemes folder holds a `meta.jsonl`)
the widgets blur the memes they show and hide their captions, until the learner clicks **Reveal** on one
(`blur=False` shows them all; `blur=True` blurs SynthMemes too); a hidden meme's explanation stays
blurred and its words hidden too.

They are built from plain widgets only (no `Output` widget capturing prints), so their state can be
read in tests and in a browser: each main widget has a stable CSS class (`memelib-threshold`,
`memelib-cell-1-0`, `memelib-metrics`, `memelib-gallery`, `memelib-upload`, `memelib-reveal`,
`memelib-why`, `memelib-why-panel`, ...). This is the only memelib package that imports ipywidgets; the
core never imports it, and importing it loads no model and no Captum.
"""

from .common import CELL_NAMES, HIDDEN_CAPTION, png_thumbnail
from .explorer import ThresholdExplorer
from .tester import MemeTester
from .why import WhyPanel, heat_overlay_png, words_html

__all__ = ["CELL_NAMES", "HIDDEN_CAPTION", "ThresholdExplorer", "MemeTester", "WhyPanel", "png_thumbnail",
           "heat_overlay_png", "words_html"]
