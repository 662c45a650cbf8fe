"""Inference: probabilities from a model, and a `Predictor` that loads a run folder.

    predictor = Predictor("artifacts/run")
    predictor.predict("meme.png", "look at them")   # {"prob": 0.93, "label": 1}

The label uses the decision threshold tuned on dev and stored with the model. This module never
imports the training code: a deployed model needs only this file, the model and the run folder.
Explained in notebook 06.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .annotations import Record
from .checkpoint import load_run
from .data import MemeCollator, image_transform, make_loader
from .features import cached_features, feature_batches
from .images import open_image, to_rgb
from .model import MemeClassifier
from .runtime import autocast, head_threads, resolve_device

__all__ = ["predict_probs", "Predictor"]


@torch.inference_mode()
def predict_probs(
    model: MemeClassifier,
    batches: Iterable[dict[str, torch.Tensor]],
    device: str | torch.device = "cpu",
    progress: bool = False,
    precision: str = "auto",
) -> np.ndarray:
    """Hateful-class probabilities (N,) for batches of raw inputs or cached features."""
    model.eval()
    device = torch.device(device)
    probs = []
    for batch in tqdm(batches, desc="predicting", disable=not progress, leave=False):
        inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}
        cached = "text_features" in inputs or "image_features" in inputs  # the head alone: one CPU thread
        with autocast(device, precision), head_threads(device, enabled=cached):
            logits = model(**inputs)  # (B, 2)
        probs.append(torch.softmax(logits.float(), dim=-1)[:, 1].cpu())  # (B,): P(hateful)
    return torch.cat(probs).numpy() if probs else np.zeros(0)


class Predictor:
    """A trained run folder, ready to score memes: one at a time, a batch, or a whole split."""

    def __init__(self, run_dir: str | Path, device: str = "auto", precision: str = "auto"):
        self.device = resolve_device(device)
        self.precision = precision  # "auto": bf16 autocast where the hardware supports it
        self.model, self.cfg, self.tokenizer, info = load_run(run_dir, self.device)
        self.threshold: float = info.get("threshold", 0.5)
        self.transform = image_transform(self.cfg.model.image.image_size, self.cfg.model.image.preprocess)
        self.collate = MemeCollator(self.tokenizer, self.cfg.model.text.max_length)

    def _item(self, image: str | Path | Image.Image, text: str) -> dict[str, Any]:
        pil = to_rgb(image) if isinstance(image, Image.Image) else open_image(image)
        return {"text": text, "pixel_values": self.transform(pil), "label": -1}

    def predict_batch(self, images: Sequence[str | Path | Image.Image], texts: Sequence[str]) -> list[dict[str, Any]]:
        """[{"prob": P(hateful), "label": 0|1}, ...] for paired images (paths or PIL images) and captions."""
        if len(images) != len(texts):
            raise ValueError(f"got {len(images)} images but {len(texts)} captions")
        batch = self.collate([self._item(i, t) for i, t in zip(images, texts)])
        probs = predict_probs(self.model, [batch], self.device, precision=self.precision)
        return [{"prob": float(p), "label": int(p >= self.threshold)} for p in probs]

    def predict(self, image: str | Path | Image.Image, text: str) -> dict[str, Any]:
        """{"prob": P(hateful), "label": 0|1} for one meme."""
        return self.predict_batch([image], [text])[0]

    def predict_records(self, records: Sequence[Record], root: str | Path, batch_size: int = 32, progress: bool = True,
                        cache_dir: str | Path | None = None) -> np.ndarray:
        """P(hateful) (N,) for the records of a split. With `cache_dir`, the encoders' features come from memelib's
        feature cache (extracted into it on first use, keyed by the encoders' weights, so a fine-tuned run never
        reuses a frozen one's features) and only the head runs: as `fit` scores dev, with the same numbers."""
        if cache_dir is not None:
            features = cached_features(self.model, records, root, self.tokenizer, cache_dir, log=lambda s: None,
                                       device=self.device, progress=progress, precision=self.precision)
            no_labels = torch.zeros(len(records), dtype=torch.long)  # (N,) unused: batches carry labels
            return predict_probs(self.model, feature_batches(features, no_labels, 256), self.device, precision=self.precision)
        loader = make_loader(
            records, root, self.tokenizer, self.cfg.model.image.image_size, self.cfg.model.text.max_length,
            batch_size, pin_memory=self.device.type == "cuda", preprocess=self.cfg.model.image.preprocess,
        )
        return predict_probs(self.model, loader, self.device, progress=progress, precision=self.precision)
