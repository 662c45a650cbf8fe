"""Checks for notebook 01 (tokens and masks): the masked mean, and padding a batch of token ids."""

from __future__ import annotations

from typing import Any, Callable

import torch

from .verdict import call, check_tensor_fn, verdict

__all__ = ["check_masked_mean", "check_pad_batch"]


def check_masked_mean(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 01: `fn(states (B, L, D), attention_mask (B, L)) -> (B, D)`, the mean over real tokens only."""
    g = torch.Generator().manual_seed(0)
    states = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    expected = torch.stack([states[i, : int(m.sum())].mean(0) for i, m in enumerate(mask)])  # (B, D)
    return check_tensor_fn(
        fn, (states, mask), expected, states.mean(1), "this is the plain mean: padding positions are averaged in too",
        "the values differ from the mean over real tokens", "padding no longer changes the sentence vector.",
        "multiply the states by mask.unsqueeze(-1), sum over L (dim=1), divide by the number of real tokens.",
        1e-5,  # means of at most 5 values of size ~1: float32 rounding stays below 1e-6, the plain mean is 0.5 off
    )


def _padded(rows: list[list[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The right answer (or, with `left=True`, the left-padded near miss): input_ids and attention_mask (B, L)."""
    longest = max(len(r) for r in rows)
    ids, mask = [], []
    for r in rows:
        fill = longest - len(r)
        ids.append([pad_id] * fill + r if left else r + [pad_id] * fill)
        mask.append([0] * fill + [1] * len(r) if left else [1] * len(r) + [0] * fill)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)


def _same(got: Any, ref: torch.Tensor) -> bool:
    """Equal values, exactly: token ids and 0/1 are integers, there is no rounding to allow for."""
    return isinstance(got, torch.Tensor) and got.shape == ref.shape and torch.equal(got.to(torch.long), ref)


def _pad_problem(got: Any, rows: list[list[int]], pad_id: int) -> str:
    """What is wrong with `got` for these rows, or "" when it is right."""
    if not isinstance(got, dict) or not {"input_ids", "attention_mask"} <= set(got):
        return "return a dict with the keys 'input_ids' and 'attention_mask'"
    ids, mask = got["input_ids"], got["attention_mask"]
    want_ids, want_mask = _padded(rows, pad_id)
    for name, value in (("input_ids", ids), ("attention_mask", mask)):
        if not isinstance(value, torch.Tensor):
            return f"{name} is a {type(value).__name__}, not a tensor"
        if value.shape != want_ids.shape:
            return (f"{name} has shape {tuple(value.shape)}; for {len(rows)} lists whose longest has "
                    f"{want_ids.shape[1]} ids it must be {tuple(want_ids.shape)} (pad to the longest list)")
    left_ids, left_mask = _padded(rows, pad_id, left=True)
    if not _same(ids, want_ids):
        if _same(ids, left_ids):
            return "input_ids is padded on the left: put the padding after the ids, on the right"
        if pad_id != 0 and _same(ids, _padded(rows, 0)[0]):
            return f"input_ids is padded with 0, not with pad_id (here {pad_id})"
        return f"input_ids differs from the ids followed by pad_id: expected {want_ids.tolist()}, got {ids.tolist()}"
    if not _same(mask, want_mask):
        if _same(mask, torch.ones_like(want_mask)):
            return "the attention_mask is all ones: padding positions must get 0"
        if _same(mask, 1 - want_mask):
            return "the attention_mask is upside down: 1 for real tokens, 0 for padding"
        if _same(mask, left_mask):
            return "the attention_mask has its zeros on the left, but the padding is on the right"
        return f"the attention_mask differs: expected {want_mask.tolist()}, got {mask.tolist()}"
    for name, value in (("input_ids", ids), ("attention_mask", mask)):
        if value.dtype != torch.long:  # what the tokenizer returns, and what an embedding layer looks ids up with
            return f"the values are right, but {name} has dtype {value.dtype}: make it torch.long (int64)"
    return ""


def check_pad_batch(fn: Callable[[list[list[int]], int], dict[str, torch.Tensor]]) -> bool:
    """Notebook 01: `fn(token id lists, pad_id) -> {"input_ids": (B, L), "attention_mask": (B, L)}`, both
    torch.long, every list padded with pad_id on the right up to the longest (L), the mask 1 on real ids, 0 on padding.

    Two batches: one with the [PAD] id 0, one with pad_id 99 (so that a function that always pads with 0 is caught)."""
    hint = ("L is the length of the longest list; extend each list on the right with pad_id up to L, build each mask "
            "row the same way from ones and zeros, then make tensors with torch.tensor(..., dtype=torch.long).")
    cases = [([[101, 7592, 2088, 102], [101, 2307, 102], [101, 1037, 2307, 2154, 999, 102]], 0),
             ([[5, 6, 7], [5, 9], [8]], 99)]
    for rows, pad_id in cases:
        got, problem = call(fn, [list(r) for r in rows], pad_id)  # copies: a function that edits its input spoils nothing
        if problem:
            return verdict(False, problem, hint)
        problem = _pad_problem(got, rows, pad_id)
        if problem:
            return verdict(False, f"{problem}  (inputs: {rows}, pad_id={pad_id})", hint)
    return verdict(True, "every list is padded on the right to the longest, and the mask marks the real tokens.")
