"""Dataset and collate: annotation records -> batches of tensors.

One item is a dict {"text": str, "pixel_values": (3, H, W), "label": int}; the collator tokenizes the
batch's captions together and pads them only to the longest caption in the batch (dynamic padding):

    batch = {
        "input_ids":      (B, L) int64   token ids, padded with [PAD] = 0
        "attention_mask": (B, L) int64   1 for a real token, 0 for padding
        "pixel_values":   (B, 3, H, W)   normalised image
        "labels":         (B,)    int64  0 not hateful, 1 hateful, -1 unknown (test files)
        "weight":         (B,)  float32  per-example loss weight, only when the dataset has weights
    }

`fit(..., example_weights={record id: weight})` weights each training meme's loss; `example_weight_tensor`
checks such a mapping against a split and lines the weights up with its records, and the weight then
travels in the batch with its meme, through any shuffle. The model never sees it (`fit` pops it).

Explained in notebooks 01 (tokens and masks) and 02 (tensors and shapes).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision import transforms

from .annotations import Record
from .images import open_image

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CLIP_MEAN", "CLIP_STD", "PREPROCESSING", "image_transform", "MemeDataset", "MemeCollator", "make_loader",
           "example_weight_tensor", "describe_example_weights", "cell_weights"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the statistics torchvision's pretrained CNNs were trained with
IMAGENET_STD = (0.229, 0.224, 0.225)
# The colour statistics of CLIP's training images (OpenAI's preprocessing, kept by the CLIP checkpoints on the hub)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PREPROCESSING = ("squeeze", "clip")  # ImageEncoderConfig.preprocess


def image_transform(image_size: int, preprocess: str = "squeeze") -> Callable[[Image.Image], torch.Tensor]:
    """RGB PIL image -> (3, S, S) float tensor.

    "squeeze" (the CNN towers): the whole meme is squeezed to a square (no crop) so that no part of the
    picture or its caption is cut off, then normalised like ImageNet. "clip": what CLIP was trained on,
    and what a CLIP tower expects: the shorter side resized to S (bicubic), the centre S x S cropped,
    normalised with CLIP's statistics. A wide meme loses its sides."""
    if preprocess == "clip":
        return transforms.Compose(
            [
                transforms.Resize(image_size, interpolation=transforms.InterpolationMode.BICUBIC, antialias=True),
                transforms.CenterCrop(image_size),  # (3, S, S) from the middle of the picture
                transforms.ToTensor(),
                transforms.Normalize(CLIP_MEAN, CLIP_STD),
            ]
        )
    if preprocess != "squeeze":
        raise ValueError(f"unknown image preprocessing {preprocess!r}; choose one of {PREPROCESSING}")
    return transforms.Compose(
        [
            transforms.Resize((image_size, image_size), antialias=True),
            transforms.ToTensor(),  # (H, W, 3) uint8 -> (3, H, W) float in [0, 1]
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


class MemeDataset(Dataset):
    """Records of one split; an item is the caption, the transformed image and the label (and the
    record's loss weight, when `weights` gives one per record)."""

    def __init__(self, records: Sequence[Record], root: str | Path, image_size: int,
                 weights: Sequence[float] | None = None, preprocess: str = "squeeze"):
        self.records = list(records)
        self.root = Path(root)
        self.transform = image_transform(image_size, preprocess)
        self.weights = None if weights is None else [float(w) for w in weights]  # in the order of `records`
        if self.weights is not None and len(self.weights) != len(self.records):
            raise ValueError(f"{len(self.weights)} weights for {len(self.records)} records")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        image = open_image(self.root / record.img)  # opened by content, converted to RGB
        item = {
            "text": record.text,
            "pixel_values": self.transform(image),  # (3, H, W)
            "label": -1 if record.label is None else record.label,
        }
        if self.weights is not None:
            item["weight"] = self.weights[index]
        return item


class MemeCollator:
    """List of items -> one batch dict whose keys are `MemeClassifier.forward`'s arguments (+ labels)."""

    def __init__(self, tokenizer: Any, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(
            [item["text"] for item in items],
            padding="longest",  # pad to the longest caption in this batch, never to 512
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        batch = {
            "input_ids": tokens["input_ids"],  # (B, L)
            "attention_mask": tokens["attention_mask"],  # (B, L)
            "pixel_values": torch.stack([item["pixel_values"] for item in items]),  # (B, 3, H, W)
            "labels": torch.tensor([item["label"] for item in items], dtype=torch.long),  # (B,)
        }
        if "weight" in items[0]:  # a weighted training set: each meme's loss weight rides along
            batch["weight"] = torch.tensor([item["weight"] for item in items], dtype=torch.float32)  # (B,)
        return batch


def make_loader(
    records: Sequence[Record],
    root: str | Path,
    tokenizer: Any,
    image_size: int,
    max_length: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    rank_world: tuple[int, int] = (0, 1),
    weights: Sequence[float] | None = None,
    preprocess: str = "squeeze",
) -> DataLoader:
    """A DataLoader of collated batches; shuffling uses its own seeded generator (reproducible order).
    With `rank_world` = (rank, world) and world > 1, a DistributedSampler gives each process its share.
    With `weights` (one per record), every batch also holds each meme's loss weight as "weight".
    `preprocess` is the image tower's (`image_transform`)."""
    generator = torch.Generator().manual_seed(seed)
    dataset = MemeDataset(records, root, image_size, weights, preprocess)
    sampler = None
    if rank_world[1] > 1:
        sampler = DistributedSampler(dataset, num_replicas=rank_world[1], rank=rank_world[0], shuffle=shuffle, seed=seed)
        shuffle = False  # the sampler shuffles (call loader.sampler.set_epoch(epoch) every epoch)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        generator=generator,
        collate_fn=MemeCollator(tokenizer, max_length),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
    )


def example_weight_tensor(records: Sequence[Record], example_weights: Mapping[str, float]) -> torch.Tensor:
    """The loss weights (N,) float32 of `records`, in their order, from {record id: weight}.

    All or nothing: every record needs a weight and every id must be a record's, or a ValueError names
    what is wrong (how many ids, and a few of them). Weights are finite and >= 0, and not all 0."""
    ids = [r.id for r in records]
    known = set(ids)
    values: dict[str, float] = {}
    bad: list[str] = []  # "id: value" of weights that are not finite numbers >= 0
    for key, value in example_weights.items():
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            values[key] = math.nan
        if not (math.isfinite(values[key]) and values[key] >= 0):
            bad.append(f"{key!r}: {value!r}")
    unknown = [key for key in example_weights if key not in known]
    missing = [i for i in ids if i not in values]
    problems = []
    if bad:
        problems.append(f"{len(bad)} weights are negative, NaN, infinite or not numbers (e.g. {', '.join(bad[:3])})")
    if unknown:
        problems.append(f"{len(unknown)} ids are not in the training split (e.g. {unknown[:3]})")
    if missing:
        problems.append(f"{len(missing)} of the {len(ids)} training memes have no weight (e.g. {missing[:3]}); "
                        "give every training meme a weight (1.0 leaves it as it is), or pass None")
    if not problems and ids and not any(values[i] > 0 for i in ids):
        problems.append("every weight is 0: nothing would train")
    if problems:
        raise ValueError("example_weights: " + "; ".join(problems))
    return torch.tensor([values[i] for i in ids], dtype=torch.float32)  # (N,)


def cell_weights(records: Sequence[Record], groups: Sequence[Any], weights: Mapping[tuple[Any, int], float]) -> dict[str, float]:
    """{record id: weight} for `fit(example_weights=...)` by (group, label) cell: a record whose
    (group, label) is a key of `weights` gets that weight, every other record 1.0. `groups` (N,) are
    the records' group values (`annotations.group_values`), e.g. `{("quibbits", 0): 3.0}` makes that
    group's benign memes count three times (notebook 07's mitigation)."""
    if len(groups) != len(records):
        raise ValueError(f"{len(groups)} group values for {len(records)} records")
    return {r.id: float(weights.get((g, r.label), 1.0)) for r, g in zip(records, groups)}


def describe_example_weights(records: Sequence[Record], weights: torch.Tensor) -> dict[str, Any]:
    """What a run folder records about its loss weights: how many, their range and sum, and a short
    fingerprint of the (id, weight) pairs, the same whatever the records' order."""
    pairs = sorted(zip((r.id for r in records), weights.tolist()))
    fingerprint = hashlib.blake2b(json.dumps(pairs).encode(), digest_size=8).hexdigest()
    values = [w for _, w in pairs]
    return {"count": len(values), "sum": math.fsum(values), "min": min(values, default=0.0),
            "max": max(values, default=0.0), "fingerprint": fingerprint}
