"""Checks for notebook 04 (fusion)."""

from __future__ import annotations

from typing import Any

from .verdict import unfinished, verdict

__all__ = ["check_fusion_choice"]


def check_fusion_choice(answer: Any) -> bool:
    """Notebook 04: which heads can represent the XOR rule of SynthMemes?"""
    hint = ("a head that adds a text score and an image score, f(text) + g(image), cannot represent XOR; "
            "the unimodal heads see one modality only.")
    if unfinished(answer):
        return verdict(False, "give a set of fusion names", hint)
    chosen = {str(a).strip().lower() for a in answer}
    if chosen == {"concat", "cross"}:
        return verdict(True, "concat and cross mix the two modalities inside a non-linear MLP; late fusion only adds.")
    if "late" in chosen:
        return verdict(False, "late fusion is a sum of per-modality scores", hint)
    return verdict(False, f"{sorted(chosen)} is not the set", hint)
