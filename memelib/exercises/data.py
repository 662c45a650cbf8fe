"""Checks for notebook 00 (start here): SynthMemes, its label rule, its kinds of meme and their twins."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .verdict import call, unfinished, verdict

__all__ = ["check_twins", "check_label_rule"]


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


def check_label_rule(fn: Callable[[str | None, str], Any]) -> bool:
    """Notebook 00: `fn(frame, valence) -> 0 or 1`, SynthMemes' label rule (memelib.synthetic.label_rule) for a
    caption's frame ("is", "never", "attack", "mention", or None for a caption without a group) over a picture
    of valence "degrading" or "pleasant". Every one of the 10 cases is tried."""
    from ..synthetic import label_rule

    hint = ("read each frame's example caption over each kind of picture: 'this is how zorblats live' over a trash heap, "
            "then over a garden; 'zorblats will never have this' over the same two. Which one attacks the group?")
    if unfinished(fn) or not callable(fn):
        return verdict(False, "the answer is not a function yet", hint)
    cases = [(f, v) for f in ("is", "never", "attack", "mention", None) for v in ("degrading", "pleasant")]
    got = {}
    for frame, valence in cases:
        answer, problem = call(fn, frame, valence)
        if problem:
            return verdict(False, f"label_of({frame!r}, {valence!r}): {problem}", hint)
        if answer not in (0, 1):  # True and False count as 1 and 0
            return verdict(False, f"label_of({frame!r}, {valence!r}) returns {answer!r}: return 0 or 1", hint)
        got[frame, valence] = int(answer)
    want = {(f, v): label_rule(None if f is None else "zorblats", f, v) for f, v in cases}
    wrong = [case for case in cases if got[case] != want[case]]
    if not wrong:
        return verdict(True, "all 10 cases follow the rule: an XOR for 'is' and 'never', the words alone for the rest.")
    xor = [c for c in cases if c[0] in ("is", "never")]
    if all(got[c] == got["is", c[1]] for c in xor):
        return verdict(False, "'is' and 'never' get the same labels: flip the frame and the meaning flips", hint)
    if all(got[c] == got[c[0], "degrading"] for c in xor):
        return verdict(False, "your 'is' and 'never' labels ignore the picture: these captions need it", hint)
    frames = sorted({repr(f) for f, _ in wrong})
    return verdict(False, f"{len(wrong)} of the 10 cases are wrong, for the frame(s) {', '.join(frames)}", hint)
