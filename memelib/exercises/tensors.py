"""Checks for notebook 02 (tensors and shapes)."""

from __future__ import annotations

from typing import Any

from .verdict import unfinished, verdict

__all__ = ["check_shapes"]


def check_shapes(answers: dict[str, Any], expected: dict[str, tuple[int, ...]]) -> bool:
    """Notebook 02: the learner's predicted shapes against the shapes measured on a real batch."""
    hint = "text: (B, L) -> (B, L, D) -> (B, D); image: (B, 3, H, W) -> (B, Di); concat adds the widths."
    if unfinished(answers) or not isinstance(answers, dict):
        return verdict(False, "fill in the dictionary of shapes", hint)
    for key, shape in expected.items():
        given = answers.get(key)
        if unfinished(given):
            return verdict(False, f"no shape for {key!r} yet", hint)
        if tuple(given) != tuple(shape):
            return verdict(False, f"{key!r} is not {tuple(given)}", hint)
    return verdict(True, "every shape matches the real batch: " + ", ".join(f"{k} {tuple(v)}" for k, v in expected.items()))
