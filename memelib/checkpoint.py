"""Run folders: weights in safetensors plus JSON, nothing pickled, every write atomic.

A run folder holds
    model.safetensors   all weights (encoders and head), loadable without running any code
    config.json         memelib's Config, the text backbone's architecture, the tuned threshold
    tokenizer/          the tokenizer's files, so that a run loads with no network
    history.json        per-epoch loss and dev metrics (memelib.train)
    metrics.json        dev metrics at 0.5 and at the tuned threshold

`load_run` rebuilds the architecture from config.json (no download) and loads the weights strictly:
a file from another architecture, or a truncated one, fails with a message naming the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import Config, config_from_dict
from .model import MemeClassifier, build_model

__all__ = [
    "CheckpointError",
    "atomic_write_bytes",
    "write_json",
    "read_json",
    "save_run",
    "load_run",
    "save_train_state",
    "load_train_state",
    "optimizer_to_tensors",
    "optimizer_from_tensors",
]

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A run folder cannot be loaded; the message names the file and the problem."""


def _rename_into_place(tmp: str | Path, path: Path) -> None:
    """os.replace(tmp, path), first giving `tmp` the permissions a plain open() or mkdir() would have:
    tempfile makes files owner-only (0600, folders 0700), which a run on a shared disk must not be."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (0o777 if Path(tmp).is_dir() else 0o666) & ~umask)
    os.replace(tmp, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: a crash leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _rename_into_place(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from e


def atomic_save_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """safetensors file written under a temporary name, then renamed: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        _rename_into_place(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            "threshold": float(threshold),
            "weights_sha256": _sha256(out / "model.safetensors"),
        },
    )


def _save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """save_pretrained into a temporary folder, then swap it in: never a half-written tokenizer."""
    import shutil

    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tokenizer."))
    try:
        tokenizer.save_pretrained(str(tmp))
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        _rename_into_place(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[MemeClassifier, Config, Any, dict]:
    """(model in eval mode, Config, tokenizer, config.json contents) of a run folder. No network, no pickle."""
    from transformers import AutoTokenizer

    run = Path(run_dir)
    if not run.is_dir():
        raise CheckpointError(f"{run}: not a run folder (it does not exist)")
    info = read_json(run / "config.json")
    try:
        cfg = config_from_dict(info["config"])
        model = build_model(cfg.model, text_backbone_config=info["text_backbone"])
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
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: unreadable or truncated ({e})") from e
    missing, unexpected = _compare_keys(model.state_dict(), state)
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: weights do not match the architecture in config.json "
            f"(missing {len(missing)} tensors, e.g. {missing[:3]}; unexpected {len(unexpected)}, e.g. {unexpected[:3]})"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{weights}: tensor shapes do not match config.json ({str(e)[:300]})") from e
    tokenizer = AutoTokenizer.from_pretrained(str(run / "tokenizer"))
    tokenizer.model_max_length = cfg.model.text.max_length
    return model.to(device).eval(), cfg, tokenizer, info


def _compare_keys(expected: dict, found: dict) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(found)), sorted(set(found) - set(expected))


# --------------------------------------------------------------------------- resumable training state
# One safetensors file holds every tensor (weights, optimizer moments, RNG states) and, in its
# metadata, one JSON string with the rest (epoch, best score, history, RNG states of Python/NumPy).
# A single file renamed into place: a kill at any moment leaves the previous epoch's state intact.


def save_train_state(path: str | Path, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    atomic_save_safetensors(path, tensors, {"format": "memelib-train-state", "info": json.dumps(info)})


def load_train_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, info) of a training state file; CheckpointError when it is unreadable."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return tensors, json.loads(meta["info"])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable training state ({e})") from e


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state_dict split into tensors ("optim.<param>.<name>") and JSON-able groups."""
    sd = optimizer.state_dict()
    tensors = {f"optim.{i}.{name}": t for i, st in sd["state"].items() for name, t in st.items()}
    return tensors, {"param_groups": sd["param_groups"]}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        if key.startswith("optim."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = t
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in info["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
