"""The training state that `memelib train --resume` restores, saved and loaded in one place.

After every epoch `fit` saves, in one safetensors file renamed into place (a kill at any moment leaves
the previous epoch's state intact):
- tensors: the weights that train (`model.*`), the best epoch's weights (`best.*`), the optimizer's
  moments (`optim.<param>.<name>`), the random generators of torch, of the batch order and of CUDA (`rng.*`);
- in the metadata, one JSON string (`info`): the epoch, the best dev AUROC and its epoch, the epochs
  without improvement, the history, the configuration, the optimizer's groups, the schedule, and the
  random states of Python and NumPy; for a run with per-example loss weights (`fit(example_weights=...)`),
  their count and fingerprint (the key is absent for an unweighted run, as in files written before it existed).
Loading restores every one of them, so a resumed run ends exactly as an uninterrupted one; a state is
only resumed with the same configuration and the same example weights (or none, as before).
Explained in notebook 05.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import SafetensorError
from torch import nn

from .errors import CheckpointError
from .files import atomic_save_safetensors

__all__ = ["STATE_FILE", "Progress", "TrainingState"]

STATE_FILE = "train_state.safetensors"


@dataclass
class Progress:
    """How far training has come: what early stopping and keeping the best epoch need."""

    epoch: int = 0  # the last completed epoch
    best_auroc: float = -1.0  # the best dev AUROC so far
    best_epoch: int = 0  # the epoch that reached it
    bad_epochs: int = 0  # epochs since the last improvement
    history: list[dict[str, Any]] = field(default_factory=list)  # one row of metrics per epoch
    best_weights: dict[str, torch.Tensor] = field(default_factory=dict)  # the trainable weights of best_epoch


@dataclass
class TrainingState:
    """The objects whose state a resumed run needs back, and the file that holds it."""

    path: Path  # RUN/train_state.safetensors
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # a torch learning-rate scheduler
    generator: torch.Generator | None  # the batch order's random generator
    trainable: list[str]  # the model's state_dict keys that training changes
    config: dict[str, Any]  # Config.to_dict(): a state is only resumed with the same configuration
    example_weights: dict[str, Any] | None = None  # data.describe_example_weights, or None: unweighted loss

    def save(self, progress: Progress) -> None:
        """Write the whole state after `progress.epoch`, atomically."""
        sd = self.model.state_dict()
        opt_tensors, opt_groups = _optimizer_to_tensors(self.optimizer)
        tensors = {**{f"model.{k}": sd[k] for k in self.trainable},
                   **{f"best.{k}": v for k, v in progress.best_weights.items()},
                   **opt_tensors, **_rng_tensors(self.generator)}
        info = {"epoch": progress.epoch, "best_auroc": progress.best_auroc, "best_epoch": progress.best_epoch,
                "bad_epochs": progress.bad_epochs, "history": progress.history, "config": self.config,
                "optimizer": opt_groups, "scheduler": self.scheduler.state_dict(), "rng_python": random.getstate(),
                "rng_numpy": [x.tolist() if hasattr(x, "tolist") else x for x in np.random.get_state()]}
        if self.example_weights is not None:  # unweighted runs write the same file as before weights existed
            info["example_weights"] = self.example_weights
        atomic_save_safetensors(self.path, tensors, {"format": "memelib-train-state", "info": json.dumps(info)})

    def load(self, device: torch.device, log: Callable[[str], None] = print) -> Progress:
        """Restore the model, optimizer, schedule and random generators; return the progress saved."""
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no saved training state to resume; train without --resume")
        tensors, info = _read(self.path)
        if info["config"] != self.config:
            raise ValueError(f"{self.path}: saved by a run with another configuration; resume with the same options")
        saved = info.get("example_weights")
        if _fingerprint(saved) != _fingerprint(self.example_weights):
            raise ValueError(f"{self.path}: saved by a run {_weights_note(saved)}, but this run is "
                             f"{_weights_note(self.example_weights)}; resume with the same example_weights")
        self.model.load_state_dict(_with_prefix(tensors, "model."), strict=False)
        _optimizer_from_tensors(self.optimizer, tensors, info["optimizer"])
        self.scheduler.load_state_dict(info["scheduler"])
        _restore_rngs(tensors, info, self.generator)
        best = {k: v.to(device) for k, v in _with_prefix(tensors, "best.").items()}
        progress = Progress(info["epoch"], info["best_auroc"], info["best_epoch"], info["bad_epochs"], info["history"], best)
        log(f"resuming {self.path.parent} after epoch {progress.epoch} "
            f"(best dev AUROC {progress.best_auroc:.4f} at epoch {progress.best_epoch})")
        return progress


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, info) of a training state file; CheckpointError when it is unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return tensors, json.loads(meta["info"])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable training state ({e})") from e


def _fingerprint(example_weights: dict[str, Any] | None) -> str | None:
    return None if example_weights is None else example_weights.get("fingerprint")


def _weights_note(example_weights: dict[str, Any] | None) -> str:
    if example_weights is None:
        return "without example weights"
    return f"with {example_weights.get('count')} example weights (fingerprint {_fingerprint(example_weights)})"


def _with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state_dict split into tensors ("optim.<param>.<name>") and JSON-able groups."""
    sd = optimizer.state_dict()
    tensors = {f"optim.{i}.{name}": t for i, st in sd["state"].items() for name, t in st.items()}
    return tensors, {"param_groups": sd["param_groups"]}


def _optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        if key.startswith("optim."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = t
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in info["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _rng_tensors(generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    t = {"rng.torch": torch.get_rng_state()}
    if generator is not None:
        t["rng.batches"] = generator.get_state()
    if torch.cuda.is_available():
        t["rng.cuda"] = torch.cuda.get_rng_state()
    return t


def _restore_rngs(tensors: dict[str, torch.Tensor], info: dict[str, Any], generator: torch.Generator | None) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if generator is not None:
        generator.set_state(tensors["rng.batches"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    version, internal, gauss = info["rng_python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(info["rng_numpy"]))
