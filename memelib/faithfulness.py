"""Do the explanations tell the truth? SynthMemes knows why each of its memes is hateful, so we can check.

    kind = top_word_kind(expl.words, expl.word_scores, caption)     # "group", "frame" or "other"
    scene, letters = heat_contrast(expl.heatmap, letters_mask(meta, caption, 128))
    randomised = randomised_head(predictor)                          # Adebayo et al. (2018)'s sanity check

- **Words.** A hateful SynthMeme's caption is hateful because of its group word and its template's frame
  words (:func:`memelib.captions.cause_words`): the top-scored word should be one of them.
- **Picture.** A SynthMeme's letters are drawn over a scene; which scene goes with which caption is part of
  the label (benign confounders swap pictures), the letters' pixels themselves are not. The letters are
  found by drawing the same meme again without its caption: a heat map should be hotter per pixel on the
  scene than on the letters.
- **Sanity check.** An explanation that stays the same when the model's weights are replaced by random ones
  explains the input, not the model (Adebayo et al., 2018, "Sanity checks for saliency maps"):
  :func:`randomised_head` gives a copy of the model whose head is re-initialised.

Used by notebook 08 and benchmarks/explain_bench.py. Real memes have no such ground truth: these checks exist
only in the teaching world.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import torch

from .captions import cause_words
from .inference import Predictor
from .scenes import render_meme

__all__ = ["letters_mask", "top_word_kind", "heat_contrast", "randomised_head"]


def letters_mask(meta: dict, text: str, size: int) -> np.ndarray:
    """(size, size) bool: the pixels where the caption's letters (with their outline) are drawn, for the
    SynthMeme described by `meta` (a row of meta.jsonl: its scene and scene_seed)."""
    with_text = np.asarray(render_meme(meta["scene"], meta["scene_seed"], text, size))  # (S, S, 3)
    bare = np.asarray(render_meme(meta["scene"], meta["scene_seed"], "", size))  # (S, S, 3)
    return (with_text != bare).any(-1)


def top_word_kind(words: list[str], scores: list[float], text: str) -> str:
    """"group", "frame" or "other": what the top-scored word of a SynthMemes caption is."""
    group, frame_words = cause_words(text)
    top = words[int(np.argmax(scores))].lower()
    parts = {p for w in frame_words for p in re.findall(r"[a-z]+", w)}  # "can't" -> "can", "t" as the tokenizer splits it
    return "group" if top == group else "frame" if top in parts else "other"


def heat_contrast(heatmap: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean heat per pixel on the scene, on the letters); `mask` (True on letters) is resized to the map's
    size by nearest neighbour when they differ."""
    if mask.shape != heatmap.shape:
        index = np.arange(heatmap.shape[0]) * mask.shape[0] // heatmap.shape[0]
        mask = mask[index][:, index]
    return float(heatmap[~mask].mean()), float(heatmap[mask].mean())


def randomised_head(predictor: Predictor, seed: int = 0) -> Predictor:
    """A copy of `predictor` whose fusion head's Linear layers are re-initialised at random (seeded); the
    towers are shared with the original (not copied, not changed) and the original predictor is untouched."""
    model = copy.copy(predictor.model)  # shares the towers (they are not changed), so no second copy of them
    model._modules = dict(model._modules)
    model.fusion = copy.deepcopy(predictor.model.fusion)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for module in model.fusion.modules():
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()
    finally:
        torch.random.set_rng_state(generator_state)  # the caller's random stream is not disturbed
    randomised = copy.copy(predictor)
    randomised.model = model
    return randomised
