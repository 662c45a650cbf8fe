"""Checks for the notebooks' "Your turn" exercises: each says what is right, or what is wrong and a hint.

Every check prints one verdict and returns True/False, and never raises because of the learner's
answer: an unfinished answer (`...`), a wrong type or a function that crashes all get a hint.

The notebooks hold worked answers between `# BEGIN SOLUTION` and `# END SOLUTION`; `make student`
(`python -m memelib.exercises notebooks student`) writes copies with those lines replaced by `...`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

__all__ = [
    "check_twins",
    "check_masked_mean",
    "check_shapes",
    "check_cosine_similarity",
    "check_fusion_choice",
    "check_class_weights",
    "check_precision_recall",
    "check_group_fpr",
    "strip_solutions",
    "make_student_notebooks",
]

PLACEHOLDER = "...  # your code here"


def _verdict(ok: bool, message: str, hint: str = "") -> bool:
    if ok:
        print(f"Correct! {message}")
    else:
        print(f"Not yet: {message}" + (f"\nHint: {hint}" if hint else ""))
    return ok


def _unfinished(answer: Any) -> bool:
    return answer is Ellipsis or answer is None


def _call(fn: Callable, *args: Any) -> tuple[Any, str]:
    """(result, "") or (None, a description of what went wrong)."""
    if _unfinished(fn) or not callable(fn):
        return None, "the answer is not a function yet"
    try:
        result = fn(*args)
    except Exception as e:  # the learner's code may fail in any way: report it, do not crash the notebook
        return None, f"your function raised {type(e).__name__}: {e}"
    if _unfinished(result):
        return None, "your function returns nothing yet (replace the `...`)"
    return result, ""


def check_twins(data_dir: str | Path, hateful_id: int | str, same_text_id: Any, same_picture_id: Any) -> bool:
    """Notebook 00: the two benign twins of a hateful SynthMeme; for a hateful meme without twins, why it has none."""
    from .synthetic import load_meta

    meta = load_meta(data_dir)
    twins = {m["kind"]: m["id"] for m in meta.values() if m["triplet"] == int(hateful_id) and m["kind"] != "hateful"}
    hint = "load_meta(data_dir) tells each meme's `kind` and `triplet`; twins share the hateful meme's id as `triplet`."
    if not twins:  # the exercise's meme, not the learner's answer, is wrong: say why it has no twins
        kind = meta.get(str(hateful_id), {}).get("kind")
        why = {"hateful_caption": "it is hateful by its caption alone, and such memes have no twins",
               "hateful": "it lost both twins to the training bias (a bias orphan)"}.get(kind, "it is not a hateful meme")
        return _verdict(False, f"meme {hateful_id} has no twins: {why}", "pick a hateful meme whose id is some meme's `triplet`.")
    if _unfinished(same_text_id) or _unfinished(same_picture_id):
        return _verdict(False, "fill in both ids", hint)
    ok_text = str(same_text_id) == str(twins.get("benign_image_swap"))
    ok_pic = str(same_picture_id) == str(twins.get("benign_text_swap"))
    if ok_text and ok_pic:
        return _verdict(True, f"meme {same_text_id} has the same caption on another picture, meme {same_picture_id} the same picture under another caption.")
    wrong = "the same-caption twin" if not ok_text else "the same-picture twin"
    return _verdict(False, f"{wrong} is not right", hint)


def _check_tensor_fn(
    fn: Callable, args: tuple, expected: torch.Tensor, near_miss: torch.Tensor, near_miss_msg: str,
    wrong_msg: str, right_msg: str, hint: str, atol: float,
) -> bool:
    """Shared check: `fn(*args)` must equal `expected`; `near_miss` is the common wrong answer.

    "Equal" is `torch.allclose` at `atol` (and rtol 1e-5), never bit for bit: a right answer written
    another way, or run on another CPU's kernels, sums in another order and differs in its last digits."""
    got, problem = _call(fn, *args)
    if problem:
        return _verdict(False, problem, hint)
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return _verdict(False, f"expected a tensor of shape {tuple(expected.shape)}, got {getattr(got, 'shape', type(got).__name__)}", hint)
    if torch.allclose(got.float(), near_miss, atol=atol):
        return _verdict(False, near_miss_msg, hint)
    if not torch.allclose(got.float(), expected, atol=atol):
        return _verdict(False, wrong_msg, hint)
    return _verdict(True, right_msg)


def check_masked_mean(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 01: `fn(states (B, L, D), attention_mask (B, L)) -> (B, D)`, the mean over real tokens only."""
    g = torch.Generator().manual_seed(0)
    states = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    expected = torch.stack([states[i, : int(m.sum())].mean(0) for i, m in enumerate(mask)])  # (B, D)
    return _check_tensor_fn(
        fn, (states, mask), expected, states.mean(1), "this is the plain mean: padding positions are averaged in too",
        "the values differ from the mean over real tokens", "padding no longer changes the sentence vector.",
        "multiply the states by mask.unsqueeze(-1), sum over L (dim=1), divide by the number of real tokens.",
        1e-5,  # means of at most 5 values of size ~1: float32 rounding stays below 1e-6, the plain mean is 0.5 off
    )


def check_shapes(answers: dict[str, Any], expected: dict[str, tuple[int, ...]]) -> bool:
    """Notebook 02: the learner's predicted shapes against the shapes measured on a real batch."""
    hint = "text: (B, L) -> (B, L, D) -> (B, D); image: (B, 3, H, W) -> (B, Di); concat adds the widths."
    if _unfinished(answers) or not isinstance(answers, dict):
        return _verdict(False, "fill in the dictionary of shapes", hint)
    for key, shape in expected.items():
        given = answers.get(key)
        if _unfinished(given):
            return _verdict(False, f"no shape for {key!r} yet", hint)
        if tuple(given) != tuple(shape):
            return _verdict(False, f"{key!r} is not {tuple(given)}", hint)
    return _verdict(True, "every shape matches the real batch: " + ", ".join(f"{k} {tuple(v)}" for k, v in expected.items()))


def check_cosine_similarity(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 03: `fn(a (N, D), b (M, D)) -> (N, M)` cosine similarities."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 6, generator=g) * 3, torch.randn(5, 6, generator=g)
    expected = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T  # (N, M)
    return _check_tensor_fn(
        fn, (a, b), expected, a @ b.T, "that is the dot product; it grows with the vectors' lengths",
        "the values are not cosine similarities", "values lie in [-1, 1] whatever the vectors' lengths.",
        "divide each row by its L2 norm (torch.nn.functional.normalize(x, dim=1)), then a @ b.T.",
        1e-4,  # cosines in [-1, 1], rounded once per norm and product: float32 error below 1e-6
    )


def check_fusion_choice(answer: Any) -> bool:
    """Notebook 04: which heads can represent the XOR rule of SynthMemes?"""
    hint = ("a head that adds a text score and an image score, f(text) + g(image), cannot represent XOR; "
            "the unimodal heads see one modality only.")
    if _unfinished(answer):
        return _verdict(False, "give a set of fusion names", hint)
    chosen = {str(a).strip().lower() for a in answer}
    if chosen == {"concat", "cross"}:
        return _verdict(True, "concat and cross mix the two modalities inside a non-linear MLP; late fusion only adds.")
    if "late" in chosen:
        return _verdict(False, "late fusion is a sum of per-modality scores", hint)
    return _verdict(False, f"{sorted(chosen)} is not the set", hint)


def check_class_weights(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 05: `fn(labels (N,)) -> (2,)` inverse-frequency weights, N / (2 * count_c)."""
    from .train import class_weights

    labels = torch.tensor([0] * 6 + [1] * 2)
    got, problem = _call(fn, labels)
    hint = "count each class with torch.bincount(labels, minlength=2); weight_c = N / (2 * count_c)."
    if problem:
        return _verdict(False, problem, hint)
    got = torch.as_tensor(got, dtype=torch.float32)
    if tuple(got.shape) != (2,):
        return _verdict(False, f"expected two weights, got shape {tuple(got.shape)}", hint)
    if not torch.allclose(got, class_weights(labels), atol=1e-5):  # 2/3 and 2: one float32 rounding at most
        return _verdict(False, f"for 6 benign and 2 hateful memes you give {got.tolist()}", hint)
    return _verdict(True, "the rare hateful class weighs 3x more per meme, so both classes weigh the same in total.")


def check_precision_recall(fn: Callable[[Any], tuple[float, float]]) -> bool:
    """Notebook 06: `fn(cm) -> (precision, recall)` of the hateful class, cm = [[tn, fp], [fn, tp]]."""
    cm = [[50, 10], [20, 30]]
    got, problem = _call(fn, cm)
    hint = "rows are true classes, columns predictions: precision = tp / (tp + fp), recall = tp / (tp + fn)."
    if problem:
        return _verdict(False, problem, hint)
    try:
        p, r = (float(x) for x in got)
    except (TypeError, ValueError):
        return _verdict(False, "return two numbers: (precision, recall)", hint)
    # exact fractions 3/4 and 3/5: 1e-6 accepts them in float32 or float64, on any CPU
    if np.allclose([p, r], [30 / 50, 30 / 40], atol=1e-6) and not np.allclose([p, r], [30 / 40, 30 / 50]):
        return _verdict(False, "precision and recall are swapped", hint)
    if not np.allclose([p, r], [30 / 40, 30 / 50], atol=1e-6):
        return _verdict(False, f"for [[50, 10], [20, 30]] you give precision {p:.3f}, recall {r:.3f}", hint)
    return _verdict(True, "precision 0.750: of memes flagged, 3 in 4 are hateful; recall 0.600: 6 in 10 hateful memes are caught.")


def check_group_fpr(fn: Callable[..., tuple[float, float]]) -> bool:
    """Notebook 07: `fn(labels, preds, groups, group) -> (FPR of group, FPR of all other memes)`: the share of
    benign memes (label 0) predicted hateful (1), among `group`'s memes and among all the others."""
    labels = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1])
    preds = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1])
    groups = np.array(["a", "a", "a", "a", "a", "b", "b", "b", "b", None, "b", None], dtype=object)
    got, problem = _call(fn, labels, preds, groups, "a")
    hint = ("keep the benign memes only (labels == 0); in the group (groups == group) and outside it, take the mean of "
            "preds == 1. A hateful meme is never a false positive, and memes without a group count as 'other'.")
    if problem:
        return _verdict(False, problem, hint)
    try:
        fpr, others = (float(x) for x in got)
    except (TypeError, ValueError):
        return _verdict(False, "return two numbers: (FPR of the group, FPR of all other memes)", hint)
    want = (2 / 4, 1 / 5)  # group a: 2 of its 4 benign memes flagged; the others: 1 of 5
    if np.allclose([fpr, others], [3 / 5, 2 / 7], atol=1e-6):
        return _verdict(False, "you counted the hateful memes too: a false positive is a benign meme flagged", hint)
    if not np.allclose([fpr, others], want, atol=1e-6):
        return _verdict(False, f"on the 12 test memes you give {fpr:.3f} for the group and {others:.3f} for the others "
                               f"(want {want[0]:.3f} and {want[1]:.3f})", hint)
    return _verdict(True, "2 of the group's 4 benign memes are flagged (0.500), 1 of the other 5 (0.200): a gap of 0.300.")


# --------------------------------------------------------------------------- student copies

_BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION[^\n]*\n.*?^[ \t]*# END SOLUTION[^\n]*(\n|$)", re.MULTILINE | re.DOTALL)


def strip_solutions(source: str) -> str:
    """Replace every `# BEGIN SOLUTION ... # END SOLUTION` block by an indented `...` placeholder."""
    return _BLOCK.sub(lambda m: f"{m.group(1)}{PLACEHOLDER}{m.group(2)}", source)


def make_student_notebooks(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Copy every notebook of `src_dir` to `out_dir` with solutions stripped and outputs cleared."""
    import nbformat

    written = []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(src_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = strip_solutions(cell.source)
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, out / path.name)
        written.append(out / path.name)
    return written


if __name__ == "__main__":  # python -m memelib.exercises SRC_DIR OUT_DIR
    if len(sys.argv) != 3:
        sys.exit("usage: python -m memelib.exercises NOTEBOOKS_DIR OUT_DIR")
    files = make_student_notebooks(sys.argv[1], sys.argv[2])
    print(json.dumps({"written": [str(f) for f in files]}, indent=1))
