"""The training loop: AdamW, linear warmup/decay, gradient clipping, class-weighted cross-entropy,
early stopping on dev AUROC, the best model kept, a history of every epoch.

Every epoch ends by saving the full training state (model, optimizer, schedule, random number
generators, best score) to `train_state.safetensors` in the run folder, atomically; `resume=True`
(`memelib train ... --resume`) continues a run that was killed or stopped with Ctrl-C exactly where
its last completed epoch left it, with the same result as an uninterrupted run.

Two modes:
- frozen (`TrainConfig.freeze=True`, the default): encoders are locked, their features are extracted
  once (and cached on disk, see memelib.features), and only the fusion head trains, on CPU in seconds;
- fine-tune: every weight trains, from raw images and captions; encoders get a smaller learning rate.

In both, `example_weights` ({record id: weight}) can weight each training meme's loss, for instance to
try a fairness mitigation (weights by group x label); dev evaluation and early stopping stay unweighted.

    fit(preset("offline"), "data/synthmemes", "artifacts/run")

Explained in notebook 05.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .annotations import Record
from .checkpoint import save_run
from .config import Config, TrainConfig
from .data import describe_example_weights, example_weight_tensor, make_loader
from .distributed import Dist, init_distributed, shard, wrap_model
from .encoders import load_tokenizer
from .features import cached_features, feature_batches
from .files import write_json
from .inference import predict_probs
from .metrics import compute_metrics, evaluation_report, format_report, tune_threshold
from .model import MemeClassifier, build_model
from .runtime import autocast, head_threads, release_memory, resolve_device
from .train_state import STATE_FILE, Progress, TrainingState
from .validation import load_split

__all__ = ["seed_everything", "param_groups", "make_optimizer", "class_weights", "WeightedCrossEntropy",
           "train_one_epoch", "count_truncated", "fit"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch: the same seed gives the same run on the same CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def param_groups(model: MemeClassifier, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases and normalisation weights (decaying them only hurts);
    encoders, when they train at all, get the smaller `encoder_lr`."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim < 2  # biases, LayerNorm and BatchNorm weights are the 1-D parameters
        is_encoder = not name.startswith("fusion.")
        groups.setdefault((is_encoder, no_decay), []).append(p)
    return [
        {
            "params": params,
            "lr": cfg.encoder_lr if is_encoder else cfg.lr,
            "weight_decay": 0.0 if no_decay else cfg.weight_decay,
        }
        for (is_encoder, no_decay), params in sorted(groups.items())
    ]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over `param_groups`, fused into one kernel where this torch supports it: the update of a
    head on cached features otherwise costs as much as its forward and backward passes together."""
    try:
        return torch.optim.AdamW(param_groups(model, cfg), fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or a device without a fused kernel
        return torch.optim.AdamW(param_groups(model, cfg))


def class_weights(labels: torch.Tensor, num_classes: int = 2) -> torch.Tensor:
    """Inverse class frequency, N / (C * count_c): each class weighs the same in the loss in total."""
    counts = torch.bincount(labels, minlength=num_classes).float().clamp(min=1)
    return labels.numel() / (num_classes * counts)  # (C,)


class WeightedCrossEntropy(nn.CrossEntropyLoss):
    """nn.CrossEntropyLoss (class-weighted when `weight` is given) that also takes per-example weights.

    `loss_fn(logits, labels)` is exactly nn.CrossEntropyLoss; `loss_fn(logits, labels, example_weights)`
    is the weighted mean sum_i w_i c_i loss_i / sum_i w_i c_i, with w_i the example's weight and c_i its
    label's class weight (1 without class weights), as torch itself averages a class-weighted loss.
    A batch whose weights are all 0 has loss 0 (and no gradient)."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, example_weights: torch.Tensor | None = None) -> torch.Tensor:
        if example_weights is None:
            return super().forward(logits, labels)
        per_example = F.cross_entropy(logits, labels, weight=self.weight, reduction="none")  # (B,): c_i * loss_i
        c = self.weight[labels] if self.weight is not None else torch.ones_like(example_weights)  # (B,)
        total = (example_weights * c).sum()
        return (example_weights * per_example).sum() / torch.where(total > 0, total, torch.ones_like(total))


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loss_fn: nn.Module,
    max_grad_norm: float,
    device: torch.device,
    precision: str = "fp32",
    bar: Any = None,
) -> float:
    """One pass over `batches`: forward, loss, backward, clip, step. Returns the mean training loss.

    Batches with a "weight" (B,) entry train on the weighted loss `loss_fn(logits, labels, weight)`
    (a `WeightedCrossEntropy`), and the mean is weighted the same way."""
    model.train()
    total_loss, seen = 0.0, 0.0
    for batch in batches:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        labels = batch.pop("labels")
        weights = batch.pop("weight", None)  # (B,) per-example loss weights, or None; not a model input
        with autocast(device, precision):  # bf16 where supported, when encoders run
            logits = model(**batch)  # (B, 2)
        loss = loss_fn(logits.float(), labels) if weights is None else loss_fn(logits.float(), labels, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        share = labels.numel() if weights is None else weights.sum().item()  # this batch's part of the mean
        total_loss += loss.item() * share
        seen += share
        if bar is not None:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return total_loss / seen if seen > 0 else 0.0


def count_truncated(tokenizer: Any, records: list[Record], max_length: int) -> int:
    """How many captions have more tokens than `max_length` (they are cut to fit)."""
    lengths = tokenizer([r.text for r in records], truncation=False, verbose=False)["input_ids"]
    return sum(len(ids) > max_length for ids in lengths)


@dataclass
class Split:
    """The memes of one split, read and validated, with their labels."""

    records: list[Record]
    labels: torch.Tensor  # (N,) 0/1
    weights: torch.Tensor | None = None  # (N,) per-example loss weights (fit's example_weights), or None

    def __len__(self) -> int:
        return len(self.records)


@dataclass
class Batches:
    """How one run gets its batches: cached features (frozen encoders) or raw memes (fine-tuning)."""

    train: Callable[[], Iterable[dict[str, torch.Tensor]]]  # a new pass over train, shuffled
    dev: Callable[[], Iterable[dict[str, torch.Tensor]]]  # a pass over dev, in file order
    steps_per_epoch: int
    generator: torch.Generator  # the shuffle's random generator (saved with the training state)
    set_epoch: Callable[[int], None] = lambda epoch: None  # DistributedSampler's per-epoch shuffle


@dataclass
class Run:
    """Everything the steps of `fit` share, built once by `set_up`."""

    cfg: Config
    dist: Dist  # one process, or one of torchrun's
    model: MemeClassifier
    train_model: nn.Module  # `model`, or its DistributedDataParallel wrapper under torchrun
    tokenizer: Any
    train: Split
    dev: Split
    batches: Batches
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss_fn: nn.Module
    state: TrainingState  # what --resume restores, saved after every epoch
    log: Callable[[str], None]
    progress: bool  # progress bars

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def head_precision(self) -> str:
        """A head on cached features is cheap in fp32; fine-tuning uses the configured precision."""
        return "fp32" if self.cfg.train.freeze else self.cfg.train.precision


def fit(
    cfg: Config,
    data_dir: str | Path,
    out_dir: str | Path,
    train_split: str = "train",
    dev_split: str = "dev",
    progress: bool = True,
    log: Callable[[str], None] = print,
    skip_invalid: bool = False,
    resume: bool = False,
    example_weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Train `cfg` on `data_dir`'s train split, select on dev, write a run folder to `out_dir`.

    Data with unusable rows stops with the validation report, unless `skip_invalid` (the rows are
    dropped and counted by reason). `resume` continues from `out_dir`'s last saved epoch.
    `example_weights` {training record id: weight} weights each meme's training loss: each batch's loss
    is sum_i w_i loss_i / sum_i w_i (times the class weights, if on; see WeightedCrossEntropy). All or
    nothing: every training meme needs a finite weight >= 0, and every id must be a training meme's
    (after `skip_invalid` drops rows), or a ValueError says which; None trains exactly as without it.
    Dev scores and early stopping stay unweighted. metrics.json and the saved state record the weights'
    count and fingerprint, and `resume` refuses a state saved with other weights (or none).
    Returns {"history": [...], "best_epoch": int, "threshold": float, "report": metrics at 0.5 and tuned,
    "dev_probs": P(hateful) of every dev meme, in file order}."""
    # -- set up: processes, seed, data, model, batches, optimiser, the state saved after every epoch
    run = set_up(cfg, data_dir, Path(out_dir), (train_split, dev_split), progress, log, skip_invalid, example_weights)
    so_far = run.state.load(run.device, run.log) if resume else Progress()
    run.log(summary(run))
    with head_threads(run.device, enabled=cfg.train.freeze):  # a head on cached features: one CPU thread
        # -- train epoch after epoch, evaluate on dev, keep the best, save the state; stop early
        so_far = train_epochs(run, so_far)
        # -- restore the best epoch, tune the threshold on dev, write the run folder
        result = finish(run, so_far, Path(out_dir), dev_split)
    # -- drop the model (both towers), its optimiser and features, and hand their memory back to the system:
    # glibc would keep it, and a notebook's next cell (often another fit) would add its own peak on top
    del run, so_far
    release_memory()
    return result


def set_up(cfg: Config, data_dir: str | Path, out: Path, splits: tuple[str, str], progress: bool,
           log: Callable[[str], None], skip_invalid: bool, example_weights: Mapping[str, float] | None = None) -> Run:
    """Join torchrun's processes (if any), seed, read and validate the splits (and the example weights),
    build the model, its batches, AdamW with a linear warmup/decay schedule and the class-weighted loss."""
    tc = cfg.train
    d = init_distributed(resolve_device(tc.device))
    log, progress = d.main_only(log), progress and d.is_main
    seed_everything(tc.seed)
    train, dev = (read_labelled(data_dir, s, skip_invalid, log) for s in splits)
    if example_weights is not None:  # checked before any feature is extracted
        train.weights = example_weight_tensor(train.records, example_weights)  # (N,)
    model = build_model(cfg.model)  # pretrained encoders + a freshly seeded head
    tokenizer = load_tokenizer(cfg.model)
    truncated = count_truncated(tokenizer, train.records + dev.records, cfg.model.text.max_length)
    if truncated:
        log(f"{truncated} captions are longer than {cfg.model.text.max_length} tokens and are truncated")
    make = cached_feature_batches if tc.freeze else raw_batches
    batches = make(cfg, model, tokenizer, data_dir, train, dev, d, log, progress)
    model.to(d.device)
    train_model = wrap_model(model, d)  # DistributedDataParallel under torchrun, else the model itself
    optimizer = make_optimizer(model, tc)
    total_steps = batches.steps_per_epoch * tc.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(tc.warmup_ratio * total_steps), total_steps)
    weight = class_weights(train.labels).to(d.device) if tc.class_weights else None
    trainable = [k for k in model.state_dict() if not tc.freeze or k.startswith("fusion.")]  # what changes
    described = None if train.weights is None else describe_example_weights(train.records, train.weights)
    state = TrainingState(out / STATE_FILE, model, optimizer, scheduler, batches.generator, trainable, cfg.to_dict(),
                          described)
    return Run(cfg, d, model, train_model, tokenizer, train, dev, batches, optimizer, scheduler,
               WeightedCrossEntropy(weight=weight), state, log, progress)


def read_labelled(data_dir: str | Path, split: str, skip_invalid: bool, log: Callable[[str], None]) -> Split:
    """A split's usable records after a full validation (memelib.validation.load_split), with labels."""
    records = load_split(data_dir, split, require_labels=True, skip_invalid=skip_invalid, log=log)
    return Split(records, torch.tensor([r.label for r in records]))


def cached_feature_batches(cfg: Config, model: MemeClassifier, tokenizer: Any, data_dir: str | Path, train: Split,
                           dev: Split, d: Dist, log: Callable[[str], None], progress: bool) -> Batches:
    """Lock the encoders, extract (or read from the cache) both splits' features once, and batch those."""
    tc = cfg.train
    model.lock_encoders()
    if not d.is_main:
        d.barrier()  # wait until rank 0 has extracted and cached the features, then read them
    feats = {
        name: cached_features(model, split.records, data_dir, tokenizer, tc.cache_dir or None, log=log, batch_size=64,
                              device=d.device, num_workers=tc.num_workers, progress=progress, precision=tc.precision)
        for name, split in (("train", train), ("dev", dev))
    }
    if d.is_main:
        d.barrier()
    feats = {s: {k: v.to(d.device) for k, v in f.items()} for s, f in feats.items()}
    generator = torch.Generator().manual_seed(tc.seed)
    y_train, y_dev = train.labels.to(d.device), dev.labels.to(d.device)
    w_train = None if train.weights is None else train.weights.to(d.device)  # (N,) or None
    return Batches(
        train=lambda: feature_batches(feats["train"], y_train, tc.batch_size, generator, w_train),
        dev=lambda: feature_batches(feats["dev"], y_dev, 256),
        steps_per_epoch=-(-len(train) // tc.batch_size),
        generator=generator,
    )


def raw_batches(cfg: Config, model: MemeClassifier, tokenizer: Any, data_dir: str | Path, train: Split, dev: Split,
                d: Dist, log: Callable[[str], None], progress: bool) -> Batches:
    """DataLoaders of raw memes (tokenised captions, transformed images), for fine-tuning; under torchrun
    each process loads its share of every batch."""
    tc = cfg.train
    args = dict(tokenizer=tokenizer, image_size=cfg.model.image.image_size, max_length=cfg.model.text.max_length,
                num_workers=tc.num_workers, pin_memory=d.device.type == "cuda", preprocess=cfg.model.image.preprocess)
    train_loader = make_loader(train.records, data_dir, batch_size=max(1, tc.batch_size // d.world), shuffle=True,
                               seed=tc.seed, rank_world=(d.rank, d.world), weights=train.weights, **args)
    dev_loader = make_loader(dev.records, data_dir, batch_size=tc.batch_size, **args)
    sampler = train_loader.sampler
    return Batches(
        train=lambda: train_loader,
        dev=lambda: dev_loader,
        steps_per_epoch=len(train_loader),
        generator=train_loader.generator,
        set_epoch=sampler.set_epoch if hasattr(sampler, "set_epoch") else (lambda epoch: None),
    )


def summary(run: Run) -> str:
    """The line logged before training starts (as Hugging Face's scripts do)."""
    tc = run.cfg.train
    n_trainable = sum(p.numel() for p in run.model.parameters() if p.requires_grad)
    mode = "frozen encoders (cached features)" if tc.freeze else "fine-tuning"
    w = run.state.example_weights
    weighted = "" if w is None else f", loss weighted by {w['count']} example weights (fingerprint {w['fingerprint']})"
    return (f"training {run.cfg.model.fusion.name} fusion, {mode}: {len(run.train)} train / {len(run.dev)} dev memes, "
            f"{tc.epochs} epochs x {run.batches.steps_per_epoch} steps, batch {tc.batch_size}, "
            f"{n_trainable:,} trainable parameters, device {run.device}{weighted}")


def train_epochs(run: Run, so_far: Progress) -> Progress:
    """Epochs from `so_far.epoch + 1` until `cfg.train.epochs`, or until dev AUROC has not improved for
    `patience` epochs. After each: evaluate, keep the best weights, save the state. Ctrl-C says how to resume."""
    tc = run.cfg.train
    epoch = so_far.epoch
    try:
        for epoch in range(so_far.epoch + 1, tc.epochs + 1):
            if so_far.bad_epochs >= tc.patience:
                break
            t0 = time.perf_counter()
            train_loss = run_epoch(run, epoch)
            so_far = evaluate_epoch(run, so_far, epoch, train_loss, time.perf_counter() - t0)
            if run.dist.is_main:  # only rank 0 writes
                write_json(run.state.path.parent / "history.json", so_far.history)
                run.state.save(so_far)
            if so_far.bad_epochs >= tc.patience:
                run.log(f"early stopping: no better dev AUROC for {tc.patience} epochs")
    except KeyboardInterrupt:
        run.log(f"\ninterrupted during epoch {epoch}; the state after epoch {epoch - 1} is saved in {run.state.path}.\n"
                "Continue with the same command plus --resume (memelib train ... --resume).")
        raise
    return so_far


def run_epoch(run: Run, epoch: int) -> float:
    """One pass over the training batches (`train_one_epoch`); returns the mean loss."""
    tc = run.cfg.train
    run.batches.set_epoch(epoch)  # a new shuffle per epoch, the same on every rank (DistributedSampler)
    # a bar per batch only when batches are slow (fine-tuning); cached-feature epochs take a second
    bar = tqdm(run.batches.train(), total=run.batches.steps_per_epoch, desc=f"epoch {epoch}",
               disable=not run.progress or tc.freeze, leave=False)
    batches = (shard(b, run.dist) for b in bar) if tc.freeze else bar  # this rank's share of cached-feature batches
    return train_one_epoch(run.train_model, batches, run.optimizer, run.scheduler, run.loss_fn, tc.max_grad_norm,
                           run.device, run.head_precision, bar)


def evaluate_epoch(run: Run, so_far: Progress, epoch: int, train_loss: float, seconds: float) -> Progress:
    """Dev metrics after `epoch`, one history row, and the best weights kept when dev AUROC improved."""
    dev_probs = predict_probs(run.model, run.batches.dev(), run.device, precision=run.head_precision)
    m = compute_metrics(run.dev.labels.numpy(), dev_probs, 0.5)
    row = {"epoch": epoch, "train_loss": train_loss, "dev_auroc": m["auroc"], "dev_accuracy": m["accuracy"],
           "dev_macro_f1": m["macro_f1"], "dev_recall_hateful": m["recall"][1],
           "lr": run.scheduler.get_last_lr()[-1], "seconds": seconds}
    so_far.history.append(row)
    so_far.epoch = epoch
    improved = m["auroc"] > so_far.best_auroc
    if improved:
        so_far.best_auroc, so_far.best_epoch, so_far.bad_epochs = m["auroc"], epoch, 0
        sd = run.model.state_dict()
        so_far.best_weights = {k: sd[k].detach().clone() for k in run.state.trainable}
    else:
        so_far.bad_epochs += 1
    run.log(f"epoch {epoch:3d}  loss {train_loss:.4f}  dev AUROC {m['auroc']:.4f}  acc {m['accuracy']:.4f}"
            f"  macro-F1 {m['macro_f1']:.4f}{'  *best' if improved else ''}")
    return so_far


def finish(run: Run, so_far: Progress, out: Path, dev_split: str) -> dict[str, Any]:
    """Load the best epoch's weights, tune the decision threshold on dev, write the run folder."""
    run.model.load_state_dict(so_far.best_weights, strict=False)
    dev_probs = predict_probs(run.model, run.batches.dev(), run.device, precision=run.head_precision)
    y_dev = run.dev.labels.numpy()
    threshold = tune_threshold(y_dev, dev_probs)
    report = evaluation_report(y_dev, dev_probs, threshold)
    if run.dist.is_main:
        save_run(out, run.model, run.cfg, run.tokenizer, threshold)
        weights = {} if run.state.example_weights is None else {"example_weights": run.state.example_weights}
        write_json(out / "metrics.json", {"split": dev_split, "best_epoch": so_far.best_epoch, **report, **weights})
    run.dist.barrier()
    run.dist.close()
    run.log(format_report(report, title=f"dev ({dev_split}), best epoch {so_far.best_epoch}"))
    return {"history": so_far.history, "best_epoch": so_far.best_epoch, "threshold": threshold, "report": report,
            "dev_probs": dev_probs}
