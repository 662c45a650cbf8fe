"""Explain one prediction: which words, which part of the picture, and how much each modality matters.

    predictor = Predictor("artifacts/run")
    expl = explain(predictor, "meme.png", "zorblats are vermin")
    expl.words, expl.word_scores   # ["zorblats", "are", "vermin"], e.g. [0.32, 0.26, 0.50]
    expl.heatmap                   # (S, S) in [0, 1]: where the picture pushes towards hateful
    expl.shares                    # P(hateful) of the meme, with an empty caption, with a neutral picture

Three questions, each answered with Captum (https://captum.ai), the attribution library of PyTorch:

- **Words.** Integrated gradients (`LayerIntegratedGradients`) on the text tower's input-embedding layer,
  for the hateful logit. The baseline is the same caption with every real token replaced by [PAD]
  ([CLS], [SEP] and the mask kept; for CLIP's tokenizer, which pads with its end token, token 0:
  `baseline_token_id`), so a word's score says how much going from "nothing here" to that
  word moves the hateful logit. WordPieces are summed back into the tokenizer's words ("zorblats" is
  "z ##or ##bla ##ts"); punctuation is a word of its own, as the tokenizer sees it. The scores add up to
  `gap` = f(caption) - f(all [PAD]) up to `delta`, the convergence error: `DEFAULT_STEPS` steps first,
  doubled (up to `MAX_STEPS`) while |delta| > 5% of |gap| (benchmarks/explain_bench.py measures how often).
- **Picture.** Grad-CAM (`LayerGradCam`) on the image tower's last convolutional block (ResNet's
  `layer4`, TinyCNN's last block), or occlusion (`Occlusion`: grey out one patch at a time; slower, but
  it needs no convolutions). Either map is upsampled to the S x S meme the model sees, its negative part
  dropped and scaled by its maximum: `heatmap` is in [0, 1], 1 where the picture pushes the hateful logit
  up most, 0 where it does not push it up at all (an all-zero map: nothing in the picture does).
- **Shares.** P(hateful) of the meme, of the meme with an empty caption and of the meme with a neutral
  picture (every pixel the mean pixel, zeros after normalisation); optionally with a caption or a picture
  you supply instead (`counterfactual`). Computed as Predictor.predict computes them (same precision), so
  `prob` is what `memelib predict` says; the attributions run in float32.

A head that reads one modality only (`text`, `image`) has None for the other part and a note saying so.
The model and the run folder are never changed: every module's training flag is put back and no
weight gets a gradient. Importing this module loads nothing; calling `explain` imports Captum (whose
package also imports matplotlib, for its own drawing helpers, which memelib does not use).
Explained in notebook 08.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image
from torch import nn

from .images import open_image, to_rgb
from .inference import Predictor, predict_probs
from .model import MemeClassifier

__all__ = ["Explanation", "WordScores", "explain", "word_attributions", "picture_heatmap", "modality_shares",
           "gradcam_layer", "eval_mode", "DEFAULT_STEPS", "MAX_STEPS", "TOLERANCE", "METHODS"]

# Integrated gradients' steps (Gauss-Legendre). Measured on the offline preset (concat head, first 120 dev memes,
# benchmarks/explain_bench.py): |delta| <= 5% of |gap| at 16 steps for 60% of memes, at 32 for 85%, 64 for 94%,
# 128 for 97.5%, 512 for all. So 32 first, doubled while the delta is too large, up to 512.
DEFAULT_STEPS = 32
MAX_STEPS = 512
INTERNAL_BATCH = 32  # path points run through the text tower at once: memory stays that of 32 steps at 512
TOLERANCE = 0.05  # the largest |delta| / |gap| accepted before doubling the steps
METHODS = ("gradcam", "occlusion")  # how the picture's heat map is computed


@dataclass
class Explanation:
    """Why the model gave a meme its score; `to_dict()` is JSON-able. Made by `explain`."""

    text: str  # the caption as given
    prob: float  # P(hateful) of the meme, as Predictor.predict gives it
    label: int  # 1 (hateful) when prob >= the run's tuned threshold, else 0
    words: list[str] | None  # the caption's words as the tokenizer splits them; None: the head reads no text
    word_scores: list[float] | None  # one per word: > 0 pushes the hateful logit up (towards hateful), < 0 down
    delta: float | None  # convergence delta: sum(word_scores) - gap (0 for exact integrated gradients)
    gap: float | None  # f(caption) - f(all-[PAD] caption), f the hateful logit: what the word scores share out
    steps: int | None  # integration steps used for the word scores
    heatmap: np.ndarray | None  # (S, S) in [0, 1] over the S x S meme the model sees; None: the head reads no picture
    method: str | None  # "gradcam" or "occlusion" (None without a heat map)
    shares: dict[str, float | None]  # P(hateful) of the "meme", with an "empty_caption", with a "neutral_picture"
    counterfactual: dict[str, float | None] = field(default_factory=dict)  # P(hateful) with your "caption"/"picture"
    counterfactual_text: str | None = None  # the caption you supplied, if any
    notes: list[str] = field(default_factory=list)  # what is missing and why, in plain words

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (the heat map as nested lists, rounded to 4 decimals)."""
        d = asdict(self)
        d["heatmap"] = None if self.heatmap is None else np.round(self.heatmap, 4).tolist()
        return d


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout, BatchNorm's running statistics) while explaining; afterwards every module's
    training flag is what it was (MemeClassifier.train would keep locked towers in eval mode, so the flags
    are put back one by one)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


@dataclass
class WordScores:
    """Integrated gradients of one caption, merged into words."""

    words: list[str]  # the caption's words as the tokenizer splits them (punctuation apart), original case
    scores: list[float]  # (n_words,) summed over each word's pieces and the embedding width
    delta: float  # convergence delta: sum(scores) - gap
    gap: float  # f(caption) - f(all-[PAD] caption), f the hateful logit
    steps: int  # integration steps used


def baseline_token_id(tokenizer: Any) -> int:
    """The token that stands for "no word" in the baseline caption: [PAD]. CLIP's tokenizer pads with its end
    token, which also marks where CLIP reads the caption's vector (the first end token), so a caption of end
    tokens would move that place; for CLIP the baseline is token 0 ("!"), which open_clip pads with."""
    pad = tokenizer.pad_token_id
    return 0 if pad is None or pad == tokenizer.eos_token_id else int(pad)


def word_attributions(predictor: Predictor, text: str, pixel_values: torch.Tensor, n_steps: int = DEFAULT_STEPS,
                      max_steps: int = MAX_STEPS, tolerance: float = TOLERANCE) -> WordScores:
    """Integrated gradients of the hateful logit on the text tower's input embeddings for `text` on the
    picture `pixel_values` (1, 3, S, S), from `n_steps` steps, doubled up to `max_steps` while
    |delta| > tolerance * |gap|. Call with gradients enabled and the model in eval mode (`explain` does)."""
    from captum.attr import LayerIntegratedGradients  # lazily: captum.attr imports matplotlib

    model, device = predictor.model, predictor.device
    enc = predictor.tokenizer(text, truncation=True, max_length=predictor.collate.max_length, return_tensors="pt")
    input_ids, attention_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)  # (1, L)
    word_ids = enc.word_ids(0)  # (L,) the word of each token; None for [CLS] and [SEP]
    if all(w is None for w in word_ids):
        return WordScores([], [], 0.0, 0.0, 0)  # an empty caption: nothing to share out
    real = torch.tensor([w is not None for w in word_ids], device=device)  # (L,)
    baseline = torch.where(real, baseline_token_id(predictor.tokenizer), input_ids)  # (1, L): [CLS] [PAD] ... [SEP]
    with torch.no_grad():
        image_features = model.encode_image(pixel_values.to(device)) if model.fusion.uses_image else None  # (1, Di)

    def hateful_logits(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        feats = None if image_features is None else image_features.expand(ids.shape[0], -1)  # (n, Di)
        return model(input_ids=ids, attention_mask=mask, image_features=feats)  # (n, 2)

    with torch.no_grad():
        logits = hateful_logits(torch.cat([input_ids, baseline]), attention_mask.expand(2, -1))[:, 1]  # (2,)
    gap = float(logits[0] - logits[1])
    lig = LayerIntegratedGradients(hateful_logits, model.text_encoder.backbone.get_input_embeddings())
    steps = n_steps
    while True:  # where the logit bends sharply along the path, more steps
        attr, delta = lig.attribute(input_ids, baselines=baseline, additional_forward_args=(attention_mask,),
                                    target=1, n_steps=steps, return_convergence_delta=True,
                                    internal_batch_size=INTERNAL_BATCH)  # (1, L, D), (1,)
        if abs(float(delta[0])) <= tolerance * abs(gap) or 2 * steps > max_steps:
            break
        steps *= 2
    per_token = attr.sum(-1)[0].detach().cpu()  # (L,): summed over the embedding width
    n_words = max(w for w in word_ids if w is not None) + 1
    scores = [0.0] * n_words
    for token, w in enumerate(word_ids):
        if w is not None:
            scores[w] += float(per_token[token])
    words = [text[span.start:span.end] for span in (enc.word_to_chars(0, w) for w in range(n_words))]
    return WordScores(words, scores, float(delta[0]), gap, steps)


def _is_vision_transformer(image_encoder: nn.Module) -> bool:
    """True for CLIP's image tower (transformers' CLIPVisionModelWithProjection has a `vision_model`)."""
    return hasattr(getattr(image_encoder, "backbone", image_encoder), "vision_model")


def gradcam_layer(image_encoder: nn.Module) -> nn.Module:
    """The image tower's last convolutional block: ResNet's `layer4`, a `features` stack's last block,
    else the last Conv2d. A ValueError when the tower has no convolution (use method="occlusion")."""
    backbone = getattr(image_encoder, "backbone", image_encoder)
    if _is_vision_transformer(image_encoder):  # CLIP's ViT: its only convolution cuts the picture into patches
        raise ValueError("Grad-CAM needs a convolutional feature map and a vision transformer (CLIP) has none; "
                         "use method='occlusion', which works with any image tower")
    if isinstance(getattr(backbone, "layer4", None), nn.Module):
        return backbone.layer4
    features = getattr(backbone, "features", None)
    if isinstance(features, nn.Sequential) and any(isinstance(m, nn.Conv2d) for m in features.modules()):
        return features[-1]
    convs = [m for m in backbone.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"Grad-CAM needs a convolutional layer and the image tower {type(backbone).__name__} has "
                         "none; use method='occlusion', which works with any image tower")
    return convs[-1]


def picture_heatmap(predictor: Predictor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    pixel_values: torch.Tensor, method: str = "gradcam") -> np.ndarray:
    """(S, S) map in [0, 1] of where the picture `pixel_values` (1, 3, S, S) pushes the hateful logit up,
    under the caption (input_ids, attention_mask) (1, L). `method` is "gradcam" or "occlusion"."""
    from captum.attr import LayerAttribution, LayerGradCam, Occlusion  # lazily: captum.attr imports matplotlib

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    model, device = predictor.model, predictor.device
    pixel_values = pixel_values.to(device)
    size = tuple(pixel_values.shape[-2:])  # (S, S)
    with torch.no_grad():
        text_features = model.encode_text(input_ids.to(device), attention_mask.to(device)) if model.fusion.uses_text else None

    def hateful_logits(pv: torch.Tensor) -> torch.Tensor:
        feats = None if text_features is None else text_features.expand(pv.shape[0], -1)  # (n, Dt)
        return model(pixel_values=pv, text_features=feats)  # (n, 2)

    if method == "gradcam":
        layer = gradcam_layer(model.image_encoder)
        pv = pixel_values.clone().requires_grad_(True)  # a graph to the layer even when every weight is frozen
        cam = LayerGradCam(hateful_logits, layer).attribute(pv, target=1, relu_attributions=True)  # (1, 1, h, w)
        heat = LayerAttribution.interpolate(cam.detach(), size, interpolate_mode="bilinear")[0, 0]  # (S, S)
    else:
        window, stride = max(1, size[0] // 8), max(1, size[0] // 16)  # 16 x 16 patches every 8 px at 128 px
        with torch.no_grad():  # occlusion only runs the model forward
            attr = Occlusion(hateful_logits).attribute(
                pixel_values, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
                baselines=0.0, target=1, perturbations_per_eval=16)  # (1, 3, S, S); 0.0: the mean pixel
        heat = attr[0].sum(0)  # (S, S)
    heat = heat.clamp(min=0).float().cpu()  # only what pushes towards hateful
    top = float(heat.max())
    return (heat / top if top > 0 else heat).numpy()  # (S, S) in [0, 1]


def _rgb(image: str | Path | Image.Image) -> Image.Image:
    return to_rgb(image) if isinstance(image, Image.Image) else open_image(image)


def modality_shares(predictor: Predictor, image: Image.Image, text: str, counterfactual_text: str | None = None,
                    counterfactual_image: Image.Image | None = None) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """({"meme", "empty_caption", "neutral_picture"}, {"caption", "picture"}) -> P(hateful), in one batch.
    A modality the head does not read gives None (changing it cannot change anything)."""
    fusion = predictor.model.fusion
    pixel_values = predictor.transform(image)  # (3, S, S)
    cases: dict[str, tuple[torch.Tensor, str] | None] = {
        "meme": (pixel_values, text),
        "empty_caption": (pixel_values, "") if fusion.uses_text else None,
        "neutral_picture": (torch.zeros_like(pixel_values), text) if fusion.uses_image else None,  # the mean pixel
    }
    if counterfactual_text is not None:
        cases["caption"] = (pixel_values, counterfactual_text) if fusion.uses_text else None
    if counterfactual_image is not None:
        cases["picture"] = (predictor.transform(counterfactual_image), text) if fusion.uses_image else None
    asked = {k: v for k, v in cases.items() if v is not None}
    batch = predictor.collate([{"text": t, "pixel_values": p, "label": -1} for p, t in asked.values()])
    probs = dict(zip(asked, predict_probs(predictor.model, [batch], predictor.device, precision=predictor.precision)))
    out = {k: None if v is None else float(probs[k]) for k, v in cases.items()}
    return ({k: out[k] for k in ("meme", "empty_caption", "neutral_picture")},
            {k: out[k] for k in ("caption", "picture") if k in out})


def _notes(model: MemeClassifier, words: WordScores | None, heatmap: np.ndarray | None, truncated: bool) -> list[str]:
    name, notes = model.cfg.fusion.name, []
    if not model.fusion.uses_text:
        notes.append(f"the {name!r} head reads no caption: no word scores, and an empty caption changes nothing")
    if not model.fusion.uses_image:
        notes.append(f"the {name!r} head reads no picture: no heat map, and a neutral picture changes nothing")
    if words is not None and words.words and abs(words.delta) > TOLERANCE * abs(words.gap):
        notes.append(f"the word scores did not converge in {words.steps} steps (delta {words.delta:+.3g}, gap "
                     f"{words.gap:+.3g}): read them as rough")
    if heatmap is not None and not heatmap.any():
        notes.append("the heat map is zero everywhere: no part of the picture pushes towards hateful")
    if words is not None and truncated:
        notes.append(f"the caption is longer than {model.cfg.text.max_length} tokens: the model (and these scores) "
                     "see only its beginning")
    return notes


def explain(predictor: Predictor, image: str | Path | Image.Image, text: str, method: str = "gradcam",
            n_steps: int = DEFAULT_STEPS, counterfactual_text: str | None = None,
            counterfactual_image: str | Path | Image.Image | None = None, max_steps: int = MAX_STEPS) -> Explanation:
    """Explain `predictor`'s score of one meme (an image path or PIL image, and its caption): word scores,
    a heat map over the picture (`method` "gradcam" or "occlusion") and P(hateful) with each modality
    neutralised, plus with your own caption or picture (`counterfactual_*`). The word scores take `n_steps`
    integration steps, doubled up to `max_steps` while |delta| > TOLERANCE * |gap| (max_steps=n_steps: never).
    Preprocessing and probabilities are Predictor's; the model is left as it was (training flags, weights,
    no gradients)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    pil = _rgb(image)
    other = None if counterfactual_image is None else _rgb(counterfactual_image)
    model = predictor.model
    switched = method == "gradcam" and _is_vision_transformer(model.image_encoder)
    method = "occlusion" if switched else method  # a ViT tower (CLIP) has no feature map for Grad-CAM
    batch = predictor.collate([{"text": text, "pixel_values": predictor.transform(pil), "label": -1}])
    word_scores, heatmap = None, None
    with eval_mode(model), torch.enable_grad():
        if model.fusion.uses_text:
            word_scores = word_attributions(predictor, text, batch["pixel_values"], n_steps, max(n_steps, max_steps))
        if model.fusion.uses_image:
            heatmap = picture_heatmap(predictor, batch["input_ids"], batch["attention_mask"], batch["pixel_values"], method)
        shares, counterfactual = modality_shares(predictor, pil, text, counterfactual_text, other)
    truncated = len(predictor.tokenizer(text, verbose=False)["input_ids"]) > predictor.collate.max_length
    w = word_scores
    text_part = dict.fromkeys(("words", "word_scores", "delta", "gap", "steps")) if w is None else dict(
        words=w.words, word_scores=w.scores, delta=w.delta, gap=w.gap, steps=w.steps)
    prob = float(shares["meme"])
    return Explanation(
        text=text, prob=prob, label=int(prob >= predictor.threshold), **text_part, heatmap=heatmap,
        method=method if heatmap is not None else None, shares=shares, counterfactual=counterfactual,
        counterfactual_text=counterfactual_text,
        notes=_notes(model, word_scores, heatmap, truncated) + (["the image tower is a vision transformer, which has no "
              "convolutional feature map for Grad-CAM: the heat map is occlusion's"] if switched else []),
    )
