"""Frozen features: run the encoders once over a split, store the vectors, reuse them.

With frozen encoders, every epoch would compute the same text and image vectors again; the encoders
are >99% of the cost. So we extract them once and train the fusion head on the stored vectors,
thousands of memes per second instead of a few.

A cache file is keyed by a fingerprint of (a) the encoders: their config and a hash of their weights,
and (b) the data: every record's id, image path and text, and the bytes of every image. Any change,
a new caption or an edited image, gives a new key, so a stale cache is never used. Files are
safetensors in float16 (half the size, plenty of precision for a classifier head), written atomically.
The head then trains on shuffled batches of them (`feature_batches`). Explained in notebook 03.

On a workshop server, $MEMELIB_SHARED_CACHE_DIR names a warm cache that every learner reads and nobody
writes (the teacher fills it once): a file found there is used as it is, and a feature it lacks is extracted
into the learner's own cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from tqdm.auto import tqdm

from .annotations import Record
from .checkpoint import atomic_save_safetensors
from .data import make_loader
from .model import MemeClassifier
from .runtime import autocast, frozen_bf16_weights, release_memory, resolve_precision

__all__ = ["default_cache_dir", "shared_cache_dirs", "encoder_fingerprint", "data_fingerprint", "extract_features",
           "cache_path", "cached_features", "feature_batches"]

IMAGE_CHUNK = 8  # at most this many images per pass of the image tower during extraction on a CPU


def default_cache_dir() -> Path:
    """$MEMELIB_CACHE_DIR, else ~/.cache/memelib/features."""
    return Path(os.environ.get("MEMELIB_CACHE_DIR") or Path.home() / ".cache" / "memelib" / "features")


def shared_cache_dirs() -> list[Path]:
    """The read-only caches named by $MEMELIB_SHARED_CACHE_DIR (several joined by os.pathsep), searched in that
    order before a cache folder of one's own; none when it is unset."""
    return [Path(d) for d in os.environ.get("MEMELIB_SHARED_CACHE_DIR", "").split(os.pathsep) if d]


def encoder_fingerprint(model: MemeClassifier) -> str:
    """Hash of the encoders' configs and weights."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({"text": asdict(model.cfg.text), "image": asdict(model.cfg.image)}, sort_keys=True).encode())
    for encoder in (model.text_encoder, model.image_encoder):
        for name, tensor in encoder.state_dict().items():
            h.update(name.encode())
            # hashed through the buffer, not .tobytes(): no copy of every weight (the embeddings alone are ~47 MB)
            h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def data_fingerprint(records: Sequence[Record], root: str | Path) -> str:
    """Hash of the records (id, image path, text) and of every image file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    root = Path(root)
    for r in records:
        h.update(json.dumps([r.id, r.img, r.text]).encode())
        with open(root / r.img, "rb") as f:
            h.update(hashlib.file_digest(f, "blake2b").digest())
    return h.hexdigest()


@torch.inference_mode()
def extract_features(
    model: MemeClassifier,
    records: Sequence[Record],
    root: str | Path,
    tokenizer: Any,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
    precision: str = "auto",
) -> dict[str, torch.Tensor]:
    """{"text_features": (N, Dt), "image_features": (N, Di)} float32, in the order of `records`.

    Memes are batched by caption length (shortest first), so each batch pads its captions only to
    similar lengths; the outputs are put back in the records' order. On a CPU a batch's images go
    through the image tower a few at a time (`encode_images`), which saves memory, not numbers."""
    cfg = model.cfg
    device = torch.device(device)
    lengths = [len(ids) for ids in tokenizer([r.text for r in records], truncation=True, max_length=cfg.text.max_length)["input_ids"]]
    order = sorted(range(len(records)), key=lambda i: lengths[i])
    loader = make_loader(
        [records[i] for i in order], root, tokenizer, cfg.image.image_size, cfg.text.max_length, batch_size,
        num_workers=num_workers, pin_memory=device.type == "cuda", preprocess=cfg.image.preprocess,
    )
    model.eval().to(device)
    text, image = [], []
    with autocast(device, precision), frozen_bf16_weights(model, device, precision):  # the same numbers, faster
        for batch in tqdm(loader, desc="extracting features", disable=not progress, leave=False):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            text.append(model.encode_text(batch["input_ids"], batch["attention_mask"]).float().cpu())  # (B, Dt)
            image.append(encode_images(model, batch["pixel_values"]).float().cpu())  # (B, Di)
    release_memory()  # the encoders' activations, freed, are handed back rather than kept by malloc
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))  # position of each record in the sorted order
    return {"text_features": torch.cat(text)[inverse], "image_features": torch.cat(image)[inverse]}  # (N, Dt), (N, Di)


def encode_images(model: MemeClassifier, pixel_values: torch.Tensor, chunk: int = IMAGE_CHUNK) -> torch.Tensor:
    """`model.encode_image(pixel_values)`, (B, 3, H, W) -> (B, Di), on a CPU `chunk` images at a time.

    Why: a ResNet's first layers hold ~1 MB of activations per 128-px image (4 MB at 224 px), so a
    64-meme batch in one pass added ~150 MB to a notebook's peak memory (measured: extracting the
    train split peaked 205 MB above where it ended, 58 MB in chunks of 8). The vectors do not change:
    in eval mode each image's vector does not depend on the other images in its batch, bit for bit
    (tests/test_memory.py), except that a lone image can take another code path; so the chunks are of
    equal size (one image apart at most), never of one image unless the batch is. On a GPU, where
    memory is not the limit, the batch goes in one pass."""
    n = pixel_values.shape[0]
    if pixel_values.device.type != "cpu" or n <= chunk:
        return model.encode_image(pixel_values)
    return torch.cat([model.encode_image(part) for part in pixel_values.tensor_split(-(-n // chunk))])  # (B, Di)


def cache_path(encoders: str, records: Sequence[Record], root: str | Path, cache_dir: str | Path, precision: str) -> Path:
    """The cache file of the features of `records` (under `root`) by the encoders whose `encoder_fingerprint` is
    `encoders`, computed in `precision` ("fp32" or "bf16", resolved): the same inputs, the same file."""
    key = hashlib.blake2b((encoders + data_fingerprint(records, root) + precision).encode(), digest_size=16).hexdigest()
    return Path(cache_dir) / f"{key}.safetensors"


def cached_features(
    model: MemeClassifier,
    records: Sequence[Record],
    root: str | Path,
    tokenizer: Any,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
    **extract_kwargs: Any,
) -> dict[str, torch.Tensor]:
    """`extract_features`, read from the cache when the same encoders already saw the same data: from the shared
    caches first (`shared_cache_dirs`, never written), then from `cache_dir`, where new features are written."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    device = torch.device(extract_kwargs.get("device", "cpu"))
    # the key names what actually runs ("auto" resolved), so bf16 and fp32 features never mix
    precision = extract_kwargs["precision"] = resolve_precision(device, extract_kwargs.get("precision", "auto"))
    path = cache_path(encoder_fingerprint(model), records, root, cache_dir, precision)
    for shared in shared_cache_dirs():
        stored = _read_cache(shared / path.name, len(records), log, "in the shared cache", "skipping it")
        if stored is not None:
            return stored
    stored = _read_cache(path, len(records), log, "", "rebuilding it")
    if stored is not None:
        return stored
    log(f"feature cache: none for these encoders and data, extracting {len(records)} memes")
    features = extract_features(model, records, root, tokenizer, **extract_kwargs)
    atomic_save_safetensors(path, {k: _compact(v) for k, v in features.items()}, {"n": str(len(records))})
    # Return what the cache holds, so that a first run and a cached run train on identical numbers.
    return {k: _compact(v).float() for k, v in features.items()}


def _read_cache(path: Path, n: int, log: Callable[[str], None], where: str,
                otherwise: str) -> dict[str, torch.Tensor] | None:
    """The features stored in `path` (float32) when it exists and holds `n` memes; else None, logged unless absent."""
    if not path.exists():
        return None
    try:
        stored = load_file(str(path))
        if stored["text_features"].shape[0] == n == stored["image_features"].shape[0]:
            log(f"feature cache: found {path.name}{' ' + where if where else ''} ({n} memes), reusing it")
            return {k: v.float() for k, v in stored.items()}
        log(f"feature cache: {path} does not match its data, {otherwise}")
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        log(f"feature cache: {path} is unreadable ({e}), {otherwise}")
    return None


def _compact(x: torch.Tensor) -> torch.Tensor:
    """float16 when every value fits (|x| < 65504), else float32."""
    half = x.half()
    return (half if torch.isfinite(half).all() else x.float()).contiguous()


def feature_batches(
    features: dict[str, torch.Tensor], labels: torch.Tensor, batch_size: int, generator: torch.Generator | None = None,
    weights: torch.Tensor | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of cached features, shuffled by `generator` (in order when None); with `weights` (N,),
    each batch also holds its memes' loss weights as "weight"."""
    n = labels.numel()
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        batch = {
            "text_features": features["text_features"][idx],  # (B, Dt)
            "image_features": features["image_features"][idx],  # (B, Di)
            "labels": labels[idx],  # (B,)
        }
        if weights is not None:
            batch["weight"] = weights[idx]  # (B,)
        yield batch
