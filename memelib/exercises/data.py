"""Checks for notebook 00 (start here): SynthMemes, its kinds of meme and their twins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .verdict import unfinished, verdict

__all__ = ["check_twins"]


def check_twins(data_dir: str | Path, hateful_id: int | str, same_text_id: Any, same_picture_id: Any) -> bool:
    """Notebook 00: the two benign twins of a hateful SynthMeme; for a hateful meme without twins, why it has none."""
    from ..synthetic import load_meta

    meta = load_meta(data_dir)
    twins = {m["kind"]: m["id"] for m in meta.values() if m["triplet"] == int(hateful_id) and m["kind"] != "hateful"}
    hint = "load_meta(data_dir) tells each meme's `kind` and `triplet`; twins share the hateful meme's id as `triplet`."
    if not twins:  # the exercise's meme, not the learner's answer, is wrong: say why it has no twins
        kind = meta.get(str(hateful_id), {}).get("kind")
        why = {"hateful_caption": "it is hateful by its caption alone, and such memes have no twins",
               "hateful": "it lost both twins to the training bias (a bias orphan)"}.get(kind, "it is not a hateful meme")
        return verdict(False, f"meme {hateful_id} has no twins: {why}", "pick a hateful meme whose id is some meme's `triplet`.")
    if unfinished(same_text_id) or unfinished(same_picture_id):
        return verdict(False, "fill in both ids", hint)
    ok_text = str(same_text_id) == str(twins.get("benign_image_swap"))
    ok_pic = str(same_picture_id) == str(twins.get("benign_text_swap"))
    if ok_text and ok_pic:
        return verdict(True, f"meme {same_text_id} has the same caption on another picture, meme {same_picture_id} the same picture under another caption.")
    wrong = "the same-caption twin" if not ok_text else "the same-picture twin"
    return verdict(False, f"{wrong} is not right", hint)
