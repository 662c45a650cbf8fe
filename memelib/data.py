"""Dataset and collate: annotation records -> batches of tensors.

One item is a dict {"text": str, "pixel_values": (3, H, W), "label": int}; the collator tokenizes the
batch's captions together and pads them only to the longest caption in the batch (dynamic padding):

    batch = {
        "input_ids":      (B, L) int64   token ids, padded with [PAD] = 0
        "attention_mask": (B, L) int64   1 for a real token, 0 for padding
        "pixel_values":   (B, 3, H, W)   normalised image
        "labels":         (B,)    int64  0 not hateful, 1 hateful, -1 unknown (test files)
    }

Explained in notebooks 01 (tokens and masks) and 02 (tensors and shapes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision import transforms

from .annotations import Record
from .images import open_image

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "image_transform", "MemeDataset", "MemeCollator", "make_loader"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the statistics torchvision's pretrained CNNs were trained with
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_transform(image_size: int) -> Callable[[Image.Image], torch.Tensor]:
    """RGB PIL image -> (3, S, S) float tensor, normalised like ImageNet. The whole meme is squeezed
    to a square (no crop) so that no part of the picture or its caption is cut off."""
    return transforms.Compose(
        [
            transforms.Resize((image_size, image_size), antialias=True),
            transforms.ToTensor(),  # (H, W, 3) uint8 -> (3, H, W) float in [0, 1]
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


class MemeDataset(Dataset):
    """Records of one split; an item is the caption, the transformed image and the label."""

    def __init__(self, records: Sequence[Record], root: str | Path, image_size: int):
        self.records = list(records)
        self.root = Path(root)
        self.transform = image_transform(image_size)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        image = open_image(self.root / record.img)  # opened by content, converted to RGB
        return {
            "text": record.text,
            "pixel_values": self.transform(image),  # (3, H, W)
            "label": -1 if record.label is None else record.label,
        }


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
        return {
            "input_ids": tokens["input_ids"],  # (B, L)
            "attention_mask": tokens["attention_mask"],  # (B, L)
            "pixel_values": torch.stack([item["pixel_values"] for item in items]),  # (B, 3, H, W)
            "labels": torch.tensor([item["label"] for item in items], dtype=torch.long),  # (B,)
        }


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
) -> DataLoader:
    """A DataLoader of collated batches; shuffling uses its own seeded generator (reproducible order).
    With `rank_world` = (rank, world) and world > 1, a DistributedSampler gives each process its share."""
    generator = torch.Generator().manual_seed(seed)
    dataset = MemeDataset(records, root, image_size)
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
