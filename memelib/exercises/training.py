"""Checks for notebook 05: training (the class-weighted loss, and the training loop the learner writes)."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from .verdict import call, unfinished, verdict

__all__ = ["check_weighted_loss", "check_training_loop"]


def check_weighted_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> bool:
    """Notebook 05: `fn(logits (B, 2), labels (B,), class_weight (2,)) -> ()`, the number that
    `nn.CrossEntropyLoss(weight=class_weight)(logits, labels)` gives: sum_i w_{y_i} loss_i / sum_i w_{y_i}."""
    g = torch.Generator().manual_seed(5)
    logits = 2 * torch.randn(8, 2, generator=g)  # (B, 2)
    labels = torch.tensor([0, 1, 0, 0, 1, 0, 0, 0])  # (B,): 6 benign, 2 hateful
    class_weight = torch.tensor([0.5, 2.0])  # (2,): in this batch the weights sum to 7, not B = 8
    got, problem = call(fn, logits.clone(), labels.clone(), class_weight.clone())
    hint = ("each meme's loss is -log_softmax(logits)[i, labels[i]] (notebook 02), times w = class_weight[labels[i]]; "
            "torch's CrossEntropyLoss(weight=...) does not divide the weighted sum by the number of memes: "
            "read its documentation (reduction='mean') to see what it divides by.")
    if problem:
        return verdict(False, problem, hint)
    try:
        got = float(torch.as_tensor(got, dtype=torch.float32).reshape(()))
    except (TypeError, ValueError, RuntimeError):
        return verdict(False, f"return one number (a 0-d tensor), not {type(got).__name__} "
                              f"{tuple(getattr(got, 'shape', ()))}", hint)
    per_meme = -F.log_softmax(logits, dim=1)[torch.arange(8), labels]  # (B,)
    w = class_weight[labels]  # (B,)
    want = float(F.cross_entropy(logits, labels, weight=class_weight))
    # Losses near 1: 1e-5 accepts any order of summing in float32 (~1e-7 apart), and no wrong formula (> 0.05 apart).
    close = lambda x: math.isclose(got, float(x), rel_tol=1e-5, abs_tol=1e-6)  # noqa: E731
    if close(want):
        return verdict(True, "the weighted sum over the sum of the weights, as torch takes it: a batch's loss stays "
                             "an average, whatever mix of classes the batch holds.")
    if close((w * per_meme).mean()):
        return verdict(False, "you divided the weighted sum by the number of memes; the check's 8 memes carry weights "
                              "that sum to 7", hint)
    if close(per_meme.mean()):
        return verdict(False, "that is plain cross-entropy: the class weights are missing", hint)
    return verdict(False, f"on the check's 8 memes you give {got:.4f}", hint)


# --- the training loop ---------------------------------------------------------------------------------------------

def _toy_run() -> tuple[nn.Module, list[list[dict[str, torch.Tensor]]], Callable, float]:
    """A tiny concat head (6 + 4 features -> 16 hidden -> 2), 2 epochs of seeded fake batches (50 memes in
    batches of 16, 16, 16 and 2; one batch with features 30x too big: a huge gradient), a maker of
    (optimizer, scheduler), and the clipping norm. The head comes in eval mode, as after a dev evaluation."""
    from ..config import FusionConfig
    from ..features import feature_batches
    from ..fusion import build_fusion

    g = torch.Generator().manual_seed(0)
    feats = {"text_features": torch.randn(50, 6, generator=g), "image_features": torch.randn(50, 4, generator=g)}
    feats["image_features"][16:32] *= 30  # (N, Di): the memes of one batch give a huge gradient
    labels = (torch.rand(50, generator=g) < 0.35).long()  # (N,)
    epochs = [list(feature_batches(feats, labels, 16)), list(feature_batches(feats, labels, 16, g))]
    with torch.random.fork_rng(devices=[]):  # the head's random init must not move the notebook's random numbers
        torch.manual_seed(0)
        head = build_fusion(FusionConfig(hidden_dim=16, dropout=0.2), 6, 4).eval()

    def optim(model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        from transformers import get_linear_schedule_with_warmup

        optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
        return optimizer, get_linear_schedule_with_warmup(optimizer, 2, 8)  # 2 warmup steps of 8

    return head, epochs, optim, 1.0


def _run(loop: Callable, **skip: bool) -> tuple[list[Any], nn.Module, Any]:
    """Two epochs of `loop` on a fresh copy of the toy head (dropout seeded the same every time).
    Returns (each epoch's returned value, the trained head, the scheduler); `skip` only for `_near_miss`."""
    from ..train import WeightedCrossEntropy

    head, epochs, optim, max_norm = _toy_run()
    model = copy.deepcopy(head)
    optimizer, scheduler = optim(model)
    loss_fn = WeightedCrossEntropy(weight=torch.tensor([0.8, 1.4]))
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)  # dropout's masks: the same in every run
        for batches in epochs:
            args = ([dict(b) for b in batches], optimizer, scheduler, loss_fn, max_norm)  # copies: a loop may pop
            out.append(loop(model, *args, **skip) if skip else loop(model, *args))
    return out, model, scheduler


def _near_miss(model: nn.Module, batches: Any, optimizer: Any, scheduler: Any, loss_fn: Callable, max_grad_norm: float,
               train_mode: bool = True, zero_grad: bool = True, clip: bool = True, per_meme: bool = True) -> float:
    """memelib's loop with one step left out: what a typical wrong answer computes."""
    if train_mode:
        model.train()
    losses, sizes = [], []
    for batch in batches:
        labels = batch.pop("labels")
        loss = loss_fn(model(**batch), labels)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        sizes.append(len(labels))
    return sum(l * n for l, n in zip(losses, sizes)) / sum(sizes) if per_meme else sum(losses) / len(losses)


NEAR_MISSES = {
    "zero_grad": "the losses drift away from memelib's: the gradients of earlier batches pile up in .grad "
                 "(backward adds to it; nothing empties it)",
    "clip": "the losses differ after the batch with the huge gradient: it was not clipped",
    "train_mode": "the head stayed in eval mode (dropout off): it arrives as the last dev evaluation left it",
    "per_meme": "you averaged the batches' losses; average over memes (the last batch holds only 2 memes)",
}


def check_training_loop(fn: Callable[..., float]) -> bool:
    """Notebook 05: `fn(model, batches, optimizer, scheduler, loss_fn, max_grad_norm) -> mean loss per meme`, one
    epoch as memelib.train.train_one_epoch does it. Two copies of one tiny head train two epochs from the same
    start, on the same batches, with the same dropout masks: one with `fn`, one with memelib's loop."""
    from ..runtime import head_threads

    with head_threads(torch.device("cpu")):  # one thread, as fit trains a head: fast and the same on any machine
        return _check_training_loop(fn)


def _check_training_loop(fn: Callable[..., float]) -> bool:
    from ..train import train_one_epoch

    hint = ("training mode first; then, for every batch: take the labels out of the batch, the logits from "
            "model(**batch), the loss, empty the old gradients, backward, clip, the optimizer's step, the schedule's "
            "step. A batch of B memes counts B times in the mean loss.")
    if unfinished(fn) or not callable(fn):
        return verdict(False, "the answer is not a function yet", hint)
    got, problem = call(_run, fn)
    if problem:  # _run itself is sound: a problem is the learner's loop raising
        return verdict(False, problem, hint)
    losses, model, scheduler = got
    if any(x is None or x is Ellipsis for x in losses):
        return verdict(False, "your function returns nothing yet (return the epoch's mean loss)", hint)
    try:
        losses = [float(x) for x in losses]
    except (TypeError, ValueError, RuntimeError):
        return verdict(False, f"return one number, the epoch's mean loss, not {type(losses[0]).__name__}", hint)
    want, ref_model, ref_scheduler = _run(lambda m, *a: train_one_epoch(m, *a, device=torch.device("cpu")))
    if scheduler.last_epoch != ref_scheduler.last_epoch:
        return verdict(False, f"the schedule took {scheduler.last_epoch} steps in 2 epochs of 4 batches, not 8: "
                              "call scheduler.step() once after every optimizer.step()", hint)
    # The same operations in the same order give the same numbers up to float rounding (how the mean is summed):
    # 1e-5 relative, while every near miss moves an epoch's loss by more than 5e-4 relative (tests check it).
    same = lambda a, b: all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(a, b))  # noqa: E731
    weights_same = all(torch.allclose(p, q, rtol=1e-4, atol=1e-5) for p, q in
                       zip(model.state_dict().values(), ref_model.state_dict().values()))
    if same(losses, want) and weights_same:
        return verdict(True, "two epochs of your loop give the losses and the trained weights of memelib's "
                             "train_one_epoch (within 1e-5).")
    for step, message in NEAR_MISSES.items():
        if same(losses, _run(_near_miss, **{step: False})[0]):
            return verdict(False, message, hint)
    if same(losses, want):
        return verdict(False, "your losses match memelib's, but the trained weights do not", hint)
    return verdict(False, f"your epoch losses {losses[0]:.4f}, {losses[1]:.4f}; memelib's loop gives "
                          f"{want[0]:.4f}, {want[1]:.4f}", hint)
