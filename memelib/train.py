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

    fit(preset("offline"), "data/synthmemes", "artifacts/run")

Explained in notebook 05.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .annotations import Record
from .checkpoint import load_train_state, optimizer_from_tensors, optimizer_to_tensors, save_run, save_train_state, write_json
from .config import Config, TrainConfig
from .data import make_loader
from .distributed import init_distributed, shard, wrap_model
from .encoders import load_tokenizer
from .features import cached_features, feature_batches, fastest_threads
from .inference import predict_probs
from .metrics import compute_metrics, evaluation_report, format_report, tune_threshold
from .model import MemeClassifier, autocast, build_model, resolve_device
from .validation import load_split

__all__ = ["seed_everything", "param_groups", "make_optimizer", "class_weights", "train_one_epoch", "count_truncated", "fit"]

STATE_FILE = "train_state.safetensors"


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
    """One pass over `batches`: forward, loss, backward, clip, step. Returns the mean training loss."""
    model.train()
    total_loss, seen = 0.0, 0
    for batch in batches:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        labels = batch.pop("labels")
        with autocast(device, precision):  # bf16 where supported, when encoders run
            logits = model(**batch)  # (B, 2)
        loss = loss_fn(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * labels.numel()
        seen += labels.numel()
        if bar is not None:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return total_loss / max(seen, 1)


def count_truncated(tokenizer: Any, records: list[Record], max_length: int) -> int:
    """How many captions have more tokens than `max_length` (they are cut to fit)."""
    lengths = tokenizer([r.text for r in records], truncation=False, verbose=False)["input_ids"]
    return sum(len(ids) > max_length for ids in lengths)


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
) -> dict[str, Any]:
    """Train `cfg` on `data_dir`'s train split, select on dev, write a run folder to `out_dir`.

    Data with unusable rows stops with the validation report, unless `skip_invalid` (the rows are
    dropped and counted by reason). `resume` continues from `out_dir`'s last saved epoch.
    Returns {"history": [...], "best_epoch": int, "threshold": float, "report": metrics at 0.5 and tuned,
    "dev_probs": P(hateful) of every dev meme, in file order}."""
    tc = cfg.train
    out = Path(out_dir)
    d = init_distributed(resolve_device(tc.device))  # one process, or one of torchrun's
    device, log, progress = d.device, d.main_only(log), progress and d.is_main
    seed_everything(tc.seed)
    train_records = load_split(data_dir, train_split, require_labels=True, skip_invalid=skip_invalid, log=log)
    dev_records = load_split(data_dir, dev_split, require_labels=True, skip_invalid=skip_invalid, log=log)
    model = build_model(cfg.model)  # pretrained encoders + a freshly seeded head
    tokenizer = load_tokenizer(cfg.model.text)
    truncated = count_truncated(tokenizer, train_records + dev_records, cfg.model.text.max_length)
    if truncated:
        log(f"{truncated} captions are longer than {cfg.model.text.max_length} tokens and are truncated")
    y_train = torch.tensor([r.label for r in train_records])
    y_dev = np.array([r.label for r in dev_records])

    # -- data: cached features (frozen) or raw batches (fine-tune)
    loader_args = dict(tokenizer=tokenizer, image_size=cfg.model.image.image_size, max_length=cfg.model.text.max_length)
    set_epoch: Callable[[int], None] = lambda epoch: None  # noqa: E731
    if tc.freeze:
        model.lock_encoders()
        if not d.is_main:
            d.barrier()  # wait until rank 0 has extracted and cached the features, then read them
        feats = {
            split: cached_features(model, recs, data_dir, tokenizer, tc.cache_dir or None, log=log,
                                   batch_size=64, device=device, num_workers=tc.num_workers, progress=progress,
                                   precision=tc.precision)
            for split, recs in (("train", train_records), ("dev", dev_records))
        }
        if d.is_main:
            d.barrier()
        feats = {s: {k: v.to(device) for k, v in f.items()} for s, f in feats.items()}
        generator = torch.Generator().manual_seed(tc.seed)
        train_batches = lambda: feature_batches(feats["train"], y_train.to(device), tc.batch_size, generator)  # noqa: E731
        dev_batches = lambda: feature_batches(feats["dev"], torch.from_numpy(y_dev).to(device), 256)  # noqa: E731
        steps_per_epoch = -(-len(train_records) // tc.batch_size)
    else:
        pin = device.type == "cuda"
        train_loader = make_loader(train_records, data_dir, batch_size=max(1, tc.batch_size // d.world), shuffle=True,
                                   seed=tc.seed, num_workers=tc.num_workers, pin_memory=pin,
                                   rank_world=(d.rank, d.world), **loader_args)
        dev_loader = make_loader(dev_records, data_dir, batch_size=tc.batch_size, num_workers=tc.num_workers,
                                 pin_memory=pin, **loader_args)
        generator = train_loader.generator
        sampler = train_loader.sampler
        if hasattr(sampler, "set_epoch"):  # DistributedSampler under torchrun
            set_epoch = sampler.set_epoch
        train_batches, dev_batches = (lambda: train_loader), (lambda: dev_loader)
        steps_per_epoch = len(train_loader)
    model.to(device)
    ddp_model = wrap_model(model, d)  # DistributedDataParallel under torchrun, else the model itself

    # -- optimisation: AdamW, linear warmup then decay, class-weighted cross-entropy
    optimizer = make_optimizer(model, tc)
    total_steps = steps_per_epoch * tc.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(tc.warmup_ratio * total_steps), total_steps)
    weight = class_weights(y_train).to(device) if tc.class_weights else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    trainable = [k for k in model.state_dict() if not tc.freeze or k.startswith("fusion.")]  # what changes
    head_precision = "fp32" if tc.freeze else tc.precision  # a head on cached features is cheap in fp32

    # -- the state saved after every epoch, restored by resume
    history: list[dict[str, Any]] = []
    best_auroc, best_epoch, best_state, bad_epochs, done_epochs = -1.0, 0, None, 0, 0
    state_path = out / STATE_FILE
    if resume:
        if not state_path.exists():
            raise FileNotFoundError(f"{state_path}: no saved training state to resume; train without --resume")
        tensors, info = load_train_state(state_path)
        if info["config"] != cfg.to_dict():
            raise ValueError(f"{state_path}: saved by a run with another configuration; resume with the same options")
        model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, strict=False)
        best_state = {k[len("best."):]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
        optimizer_from_tensors(optimizer, tensors, info["optimizer"])
        scheduler.load_state_dict(info["scheduler"])
        _restore_rngs(tensors, info, generator)
        history, done_epochs = info["history"], info["epoch"]
        best_auroc, best_epoch, bad_epochs = info["best_auroc"], info["best_epoch"], info["bad_epochs"]
        log(f"resuming {out} after epoch {done_epochs} (best dev AUROC {best_auroc:.4f} at epoch {best_epoch})")

    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(
        f"training {cfg.model.fusion.name} fusion, {'frozen encoders (cached features)' if tc.freeze else 'fine-tuning'}: "
        f"{len(train_records)} train / {len(dev_records)} dev memes, {tc.epochs} epochs x {steps_per_epoch} steps, "
        f"batch {tc.batch_size}, {n_trainable:,} trainable parameters, device {device}"
    )
    epoch = done_epochs
    threads = torch.get_num_threads()  # restored at the end; a head on cached features picks its own
    try:
        for epoch in range(done_epochs + 1, tc.epochs + 1):
            if bad_epochs >= tc.patience:
                break
            # -- forward, backward, update
            set_epoch(epoch)  # a new shuffle per epoch, the same on every rank (DistributedSampler)
            t0 = time.perf_counter()
            # a bar per batch only when batches are slow (fine-tuning); cached-feature epochs take a second
            bar = tqdm(train_batches(), total=steps_per_epoch, desc=f"epoch {epoch}", disable=not progress or tc.freeze,
                       leave=False)
            batches = (shard(b, d) for b in bar) if tc.freeze else bar  # this rank's share of cached-feature batches
            if tc.freeze and device.type == "cpu":  # small products: one thread or all, whichever is faster now
                batches = fastest_threads(batches, most=threads)
            train_loss = train_one_epoch(ddp_model, batches, optimizer, scheduler, loss_fn, tc.max_grad_norm, device,
                                         head_precision, bar)

            # -- evaluate on dev, keep the best model
            dev_probs = predict_probs(model, dev_batches(), device, precision=head_precision)
            m = compute_metrics(y_dev, dev_probs, 0.5)
            row = {"epoch": epoch, "train_loss": train_loss, "dev_auroc": m["auroc"],
                   "dev_accuracy": m["accuracy"], "dev_macro_f1": m["macro_f1"], "dev_recall_hateful": m["recall"][1],
                   "lr": scheduler.get_last_lr()[-1], "seconds": time.perf_counter() - t0}
            history.append(row)
            improved = m["auroc"] > best_auroc
            if improved:
                best_auroc, best_epoch, bad_epochs = m["auroc"], epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in trainable}
            else:
                bad_epochs += 1
            log(f"epoch {epoch:3d}  loss {row['train_loss']:.4f}  dev AUROC {m['auroc']:.4f}  acc {m['accuracy']:.4f}"
                f"  macro-F1 {m['macro_f1']:.4f}{'  *best' if improved else ''}")

            # -- save everything needed to continue after this epoch (rank 0 only writes)
            if not d.is_main:
                continue
            write_json(out / "history.json", history)
            sd = model.state_dict()
            opt_tensors, opt_info = optimizer_to_tensors(optimizer)
            tensors = {**{f"model.{k}": sd[k] for k in trainable}, **{f"best.{k}": v for k, v in best_state.items()},
                       **opt_tensors, **_rng_tensors(generator)}
            info = {"epoch": epoch, "best_auroc": best_auroc, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                    "history": history, "config": cfg.to_dict(), "optimizer": opt_info,
                    "scheduler": scheduler.state_dict(), "rng_python": random.getstate(),
                    "rng_numpy": [x.tolist() if hasattr(x, "tolist") else x for x in np.random.get_state()]}
            save_train_state(state_path, tensors, info)
            if bad_epochs >= tc.patience:
                log(f"early stopping: no better dev AUROC for {tc.patience} epochs")
    except KeyboardInterrupt:
        log(f"\ninterrupted during epoch {epoch}; the state after epoch {epoch - 1} is saved in {state_path}.\n"
            "Continue with the same command plus --resume (memelib train ... --resume).")
        raise
    finally:
        torch.set_num_threads(threads)

    # -- restore the best epoch, tune the threshold on dev, write the run folder
    model.load_state_dict(best_state, strict=False)
    dev_probs = predict_probs(model, dev_batches(), device, precision=head_precision)
    threshold = tune_threshold(y_dev, dev_probs)
    report = evaluation_report(y_dev, dev_probs, threshold)
    if d.is_main:
        save_run(out, model, cfg, tokenizer, threshold)
        write_json(out / "metrics.json", {"split": dev_split, "best_epoch": best_epoch, **report})
    d.barrier()
    d.close()
    log(format_report(report, title=f"dev ({dev_split}), best epoch {best_epoch}"))
    return {"history": history, "best_epoch": best_epoch, "threshold": threshold, "report": report, "dev_probs": dev_probs}
