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
- **Over several models.** One trained model's pass rate is not a property of a method: the same method on two
  models trained from the same data can pass on 0.47 and on 0.87 of a sample. :func:`truth_row` measures one meme
  (the word test on every hateful meme, the picture test only where the label needs the picture, SynthMemes' kind
  ``hateful``), :func:`truth_summary` one model's sample, each beside its chance rate (:func:`word_chance`,
  :func:`scene_chance`: how often a random word, a random map would pass); notebook 08 and the benchmark take the
  mean and spread over seeds.
- **Sanity check.** An explanation that stays the same when the model's weights are replaced by random ones
  explains the input, not the model (Adebayo et al., 2018, "Sanity checks for saliency maps"):
  :func:`randomised_head` gives a copy of the model whose head is re-initialised.

Used by notebook 08 and benchmarks/explain_bench.py. Real memes have no such ground truth: these checks exist
only in the teaching world.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .annotations import Record
from .captions import cause_words
from .explain import DEFAULT_STEPS, Explanation, eval_mode, picture_heatmap, word_attributions
from .images import open_image
from .inference import Predictor
from .scenes import render_meme

__all__ = ["letters_mask", "top_word_kind", "heat_contrast", "randomised_head", "word_chance", "scene_chance",
           "truth_row", "truth_summary", "PICTURE_KINDS", "GRADCAM_STRIDE"]

PICTURE_KINDS = ("hateful",)  # SynthMemes kinds whose label needs the picture (the twins swap it); "hateful_caption"
# memes are hateful by their words alone, on any picture
GRADCAM_STRIDE = 32  # pixels per cell of a ResNet's last block: a 128 px meme gives Grad-CAM a 4 x 4 grid
CHANCE_DRAWS = 500  # random maps per meme in scene_chance


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


def word_chance(words: list[str], text: str) -> float:
    """How often the word test passes by chance: the share of the caption's words (as `explain` splits them)
    that are its group word or one of its frame words, i.e. the chance that a word picked at random is a cause."""
    return float(np.mean([top_word_kind([w], [1.0], text) != "other" for w in words])) if words else 0.0


def scene_chance(mask: np.ndarray, grid: int, draws: int = CHANCE_DRAWS, seed: int = 0) -> float:
    """How often the picture test passes by chance on a meme whose letters are `mask` (S, S): the share of
    `draws` random maps, uniform values on a `grid` x `grid` lattice stretched over the meme as Grad-CAM's are
    (bilinear), that are hotter per pixel on the scene than on the letters. Seeded: the same on every computer."""
    rng = np.random.default_rng(seed)
    cells = torch.from_numpy(rng.random((draws, 1, grid, grid), dtype=np.float32))  # (draws, 1, g, g)
    maps = F.interpolate(cells, size=mask.shape, mode="bilinear")[:, 0].numpy()  # (draws, S, S)
    return float(np.mean(maps[:, ~mask].mean(1) > maps[:, mask].mean(1)))


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


def truth_row(predictor: Predictor, record: Record, data_dir: str | Path, meta: dict, occlusion: bool = False,
              explanation: Explanation | None = None) -> dict[str, Any]:
    """One hateful SynthMeme's explanation tested against its known causes: the top word's kind (and the word
    scores), Grad-CAM's (scene, letters) heat per pixel, occlusion's too when `occlusion` and the label needs the
    picture (225 runs of the model), and each test's chance rate. The words and the Grad-CAM map of `explanation` (explain's, method "gradcam") are
    reused when given; else integrated gradients take DEFAULT_STEPS steps, never doubled (the top word, all the test
    reads, is settled long before the scores add up to 5% of the gap). The model is left as it was."""
    picture = open_image(Path(data_dir) / record.img)
    batch = predictor.collate([{"text": record.text, "pixel_values": predictor.transform(picture), "label": -1}])
    ids, mask, pixels = batch["input_ids"], batch["attention_mask"], batch["pixel_values"]  # (1, L), (1, L), (1, 3, S, S)
    with eval_mode(predictor.model), torch.enable_grad():
        if explanation is None:
            scored = word_attributions(predictor, record.text, pixels, DEFAULT_STEPS, max_steps=DEFAULT_STEPS)
            words, scores = scored.words, scored.scores
            gradcam = picture_heatmap(predictor, ids, mask, pixels, "gradcam")  # (S, S)
        else:
            words, scores, gradcam = explanation.words, explanation.word_scores, explanation.heatmap
        kind = meta[record.id]["kind"]
        wanted = occlusion and kind in PICTURE_KINDS  # only the picture test reads it
        occluded = picture_heatmap(predictor, ids, mask, pixels, "occlusion") if wanted else None
    letters = letters_mask(meta[record.id], record.text, picture.size[0])  # (S, S)
    return {"id": record.id, "kind": kind, "needs_picture": kind in PICTURE_KINDS, "words": words,
            "word_scores": scores, "top_kind": top_word_kind(words, scores, record.text),
            "word_chance": word_chance(words, record.text),
            "gradcam": heat_contrast(gradcam, letters),
            "occlusion": None if occluded is None else heat_contrast(occluded, letters),
            "scene_chance": scene_chance(letters, max(1, pixels.shape[-1] // GRADCAM_STRIDE))}


def truth_summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """One model's results on a sample of `truth_row`s: the share passing each test beside its chance rate. The word
    test counts every meme; the picture tests count only the memes whose label needs the picture. An all-zero map
    (nothing in the picture pushes the logit up, to first order) is hotter nowhere: it fails the picture test."""
    picture = [r for r in rows if r["needs_picture"]]
    occluded = [r for r in picture if r["occlusion"] is not None]

    def hotter(rs: list[dict[str, Any]], method: str) -> float:
        return float(np.mean([r[method][0] > r[method][1] for r in rs])) if rs else float("nan")

    return {
        "words: top word is a cause": float(np.mean([r["top_kind"] != "other" for r in rows])),
        "words: chance": float(np.mean([r["word_chance"] for r in rows])),
        "Grad-CAM: scene hotter": hotter(picture, "gradcam"),
        "Grad-CAM: all-zero maps": float(np.mean([sum(r["gradcam"]) == 0 for r in picture])) if picture else float("nan"),
        "occlusion: scene hotter": hotter(occluded, "occlusion"),
        "picture: chance": float(np.mean([r["scene_chance"] for r in picture])) if picture else float("nan"),
    }
