"""Run folders: weights in safetensors plus JSON, nothing pickled, every write atomic (memelib.files).

A run folder holds
    model.safetensors   all weights (encoders and head), loadable without running any code
    config.json         memelib's Config, both towers' architectures and widths, the tuned threshold, its format version
    tokenizer/          the tokenizer's files, so that a run loads with no network
    history.json        per-epoch loss and dev metrics (memelib.train)
    metrics.json        dev metrics at 0.5 and at the tuned threshold
    train_state.safetensors   what `--resume` needs (memelib.train_state)

`load_run` rebuilds the architecture from config.json (no download) and loads the weights strictly:
a file from another architecture, or a truncated one, fails with a message naming the problem.

config.json's `format_version`: 1 recorded the text backbone only; 2 (since the CLIP towers) also records the
image backbone (`image_backbone`) and the widths the head reads (`text_dim`, `image_dim`). Folders of both
versions load; a folder from a newer memelib is refused with a message.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError, safe_open

from .config import Config, config_from_dict
from .errors import CheckpointError
from .files import atomic_replace_dir, atomic_save_safetensors, write_json
from .encoders import IMAGE_ENCODERS
from .fusion import FusionHead, build_fusion
from .model import MemeClassifier, build_model
from .runtime import release_memory

__all__ = ["read_json", "save_run", "load_run", "load_head"]

FORMAT_VERSION = 2


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from e


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def save_run(out_dir: str | Path, model: MemeClassifier, cfg: Config, tokenizer: Any, threshold: float = 0.5) -> None:
    """Write model.safetensors, config.json (with the weights' SHA-256) and tokenizer/ into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_save_safetensors(out / "model.safetensors", model.state_dict(),
                            {"format": "memelib", "version": str(FORMAT_VERSION)})
    _save_tokenizer(tokenizer, out / "tokenizer")
    write_json(
        out / "config.json",
        {
            "format_version": FORMAT_VERSION,
            "config": cfg.to_dict(),
            "text_backbone": model.text_encoder.backbone.config.to_dict(),
            "image_backbone": _image_backbone(model),
            "text_dim": model.text_encoder.out_dim,
            "image_dim": model.image_encoder.out_dim,
            "threshold": float(threshold),
            "weights_sha256": _sha256(out / "model.safetensors"),
        },
    )


def _image_backbone(model: MemeClassifier) -> dict:
    """The image tower's architecture: a transformers config (CLIP's vision model), else its name and width."""
    backbone = model.image_encoder.backbone
    config = getattr(backbone, "config", None)
    if config is not None:
        return config.to_dict()
    return {"name": model.cfg.image.name, "out_dim": model.image_encoder.out_dim}


def _save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """save_pretrained into a temporary folder, then swap it in: never a half-written tokenizer."""
    atomic_replace_dir(folder, lambda tmp: tokenizer.save_pretrained(str(tmp)))


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[MemeClassifier, Config, Any, dict]:
    """(model in eval mode, Config, tokenizer, config.json contents) of a run folder. No network, no pickle."""
    from transformers import AutoTokenizer

    run, cfg, info, weights = _read_run(run_dir)
    try:
        model = build_model(cfg.model, text_backbone_config=info["text_backbone"],
                            image_backbone_config=info.get("image_backbone"))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{run / 'config.json'}: does not describe a memelib model ({e!r})") from e
    _load_weights(model, weights)
    release_memory()  # what reading the file and the architecture's random init left behind
    tokenizer = AutoTokenizer.from_pretrained(str(run / "tokenizer"))
    tokenizer.model_max_length = cfg.model.text.max_length
    return model.to(device).eval(), cfg, tokenizer, info


def load_head(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[FusionHead, Config, dict]:
    """(fusion head in eval mode, Config, config.json contents) of a run folder, without its encoders: what
    scores cached features (`head(text_features, image_features)` -> logits), in a fraction of the memory
    of `load_run`. The same checks: config, SHA-256, tensor names and shapes."""
    from transformers import AutoConfig

    run, cfg, info, weights = _read_run(run_dir)
    try:
        if "text_dim" in info:  # format 2
            text_dim, image_dim = info["text_dim"], info["image_dim"]
        else:  # format 1: the text backbone's width, the CNN's from its name (no weights built)
            text_dim = AutoConfig.for_model(**info["text_backbone"]).hidden_size
            image_dim = IMAGE_ENCODERS[cfg.model.image.name][1]
        head = build_fusion(cfg.model.fusion, int(text_dim), int(image_dim))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{run / 'config.json'}: does not describe a memelib model ({e!r})") from e
    _load_weights(head, weights, prefix="fusion.")
    return head.to(device).eval(), cfg, info


def _read_run(run_dir: str | Path) -> tuple[Path, Config, dict, Path]:
    """A run folder's path, Config, config.json contents and checked weights file."""
    run = Path(run_dir)
    if not run.is_dir():
        raise CheckpointError(f"{run}: not a run folder (it does not exist)")
    info = read_json(run / "config.json")
    version = info.get("format_version", 1) if isinstance(info, dict) else None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{run / 'config.json'}: format_version {version!r}; this memelib reads versions 1 to "
                              f"{FORMAT_VERSION}. Fix: update memelib (git pull in its folder, then make venv) to load this run.")
    try:
        cfg = config_from_dict(info["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{run / 'config.json'}: does not describe a memelib model ({e!r})") from e
    weights = run / "model.safetensors"
    if not weights.exists():
        raise CheckpointError(f"{weights}: missing")
    expected = info.get("weights_sha256")
    if expected and _sha256(weights) != expected:
        raise CheckpointError(
            f"{weights}: its SHA-256 does not match the one recorded in config.json: the file was changed "
            "or truncated after training. Copy the run folder again."
        )
    return run, cfg, info, weights


def _load_weights(model: torch.nn.Module, weights: Path, prefix: str = "") -> None:
    """Copy the tensors of the safetensors file `weights` whose names start with `prefix` into `model`, whose
    names (after the prefix) and shapes they must match.

    One tensor at a time, as load_state_dict copies them (in place, cast to the model's dtype), each read
    through its own opening of the file: safetensors maps the whole file into memory, and every page
    read stays resident until the file is closed, so reading all tensors through one opening, or
    load_file, holds a second copy of every weight beside the model's (~140 MB for the offline
    preset, ~350 MB for the full one). This way the extra memory is one tensor's."""
    target = {prefix + k: v for k, v in model.state_dict().items()}  # the model's own tensors, by name in the file
    try:
        with safe_open(str(weights), framework="pt") as f:  # the header only: names and shapes
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys() if k.startswith(prefix)}
        missing, unexpected = _compare_keys(target, shapes)
        if missing or unexpected:
            raise CheckpointError(
                f"{weights}: weights do not match the architecture in config.json "
                f"(missing {len(missing)} tensors, e.g. {missing[:3]}; unexpected {len(unexpected)}, e.g. {unexpected[:3]})"
            )
        wrong = [f"{k}: {shape} in the file, {tuple(target[k].shape)} in the model"
                 for k, shape in shapes.items() if shape != tuple(target[k].shape)]
        if wrong:
            raise CheckpointError(f"{weights}: tensor shapes do not match config.json ({'; '.join(wrong)[:300]})")
        with torch.no_grad():
            for name in shapes:
                with safe_open(str(weights), framework="pt") as f:
                    target[name].copy_(f.get_tensor(name))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: unreadable or truncated ({e})") from e


def _compare_keys(expected: dict, found: Iterable[str]) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
