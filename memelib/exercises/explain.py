"""Checks for notebook 08 (explaining predictions): integrated gradients by hand, and what deleting a word takes
off P(hateful)."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from .verdict import call, verdict

__all__ = ["check_integrated_gradients", "check_deletion_drop", "ToyPredictor", "IG_STEPS"]

IG_STEPS = 50  # the integration steps the check asks for
# The check's functions are float64 and their attributions of size ~1 to 5. A right answer by the midpoint rule
# differs from Captum's "riemann_middle" by ~1e-7 at most (from alphas computed in float32), one by the trapezoid
# rule from ours as little; a left or right Riemann sum misses by ~1e-2, every other near miss by far more.
IG_ATOL, IG_RTOL = 1e-6, 1e-6

Function = Callable[[torch.Tensor], torch.Tensor]


def _ig_cases() -> list[tuple[str, Function, torch.Tensor, torch.Tensor]]:
    """(name, f: (n, d) -> (n,), x (d,), baseline (d,)): a quadratic and a small tanh network, seeded, float64.
    The baselines are not zero, so that (x - baseline) and x differ."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    d = 5
    w, v = randn(d), randn(d)
    w1, b1, w2 = randn(d, 8), randn(8), randn(8)

    def quadratic(z: torch.Tensor) -> torch.Tensor:
        return (z ** 2 * w).sum(-1) + z @ v  # (n, d) -> (n,)

    def tanh_network(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ w1 + b1) @ w2  # (n, d) -> (n, 8) -> (n,)

    return [("a quadratic", quadratic, randn(d), 0.5 * randn(d)),
            ("a small tanh network", tanh_network, randn(d), 0.5 * randn(d))]


def _captum_ig(f: Function, x: torch.Tensor, baseline: torch.Tensor, steps: int, method: str) -> torch.Tensor:
    """Captum's IntegratedGradients of f at x from baseline, (d,), by the Riemann rule `method`."""
    from captum.attr import IntegratedGradients  # lazily: captum.attr imports matplotlib

    attr = IntegratedGradients(f).attribute(x[None], baselines=baseline[None], n_steps=steps, method=method)
    return attr[0].detach()  # (d,)


def _trapezoid(f: Function, x: torch.Tensor, baseline: torch.Tensor, points: int) -> torch.Tensor:
    """Integrated gradients by the trapezoid rule over `points` evenly spaced points from baseline to x, ends
    included (Captum's "riemann_trapezoid" weighs its points 1/n, not 1/(n - 1), so it is not used here)."""
    alphas = torch.linspace(0, 1, points, dtype=torch.float64)  # (points,)
    weights = torch.full((points,), 1 / (points - 1), dtype=torch.float64)
    weights[[0, -1]] /= 2  # the two ends count half
    grads = _gradients(f, baseline + alphas[:, None] * (x - baseline))  # (points, d)
    return (weights[:, None] * grads).sum(0) * (x - baseline)  # (d,)


def _gradients(f: Function, points: torch.Tensor) -> torch.Tensor:
    """(k, d) points -> (k, d): the gradient of f at each point."""
    p = points.clone().requires_grad_(True)
    (grads,) = torch.autograd.grad(f(p).sum(), p)
    return grads


def _as_vector(got: Any, d: int) -> torch.Tensor | None:
    """`got` as a float64 (d,) tensor, or None when it is not d numbers."""
    try:
        t = got.detach() if isinstance(got, torch.Tensor) else torch.as_tensor(np.asarray(got, dtype=np.float64))
    except (TypeError, ValueError):
        return None
    return t.to(torch.float64).cpu() if t.shape == (d,) else None


def _ig_near_misses(f: Function, x: torch.Tensor, baseline: torch.Tensor, steps: int, want: torch.Tensor) -> list:
    """(wrong answer (d,), what is wrong) for the usual mistakes."""
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps  # (steps,) the midpoints
    mean_grad = _gradients(f, baseline + alphas[:, None] * (x - baseline)).mean(0)  # (d,)
    grad_x = _gradients(f, x[None])[0]  # (d,)
    return [
        (mean_grad, "you return the mean gradient along the path: multiply it by (x - baseline)"),
        (grad_x * (x - baseline), "you take the gradient at x only: average it over points all along the path "
                                  "from baseline to x"),
        (grad_x * x, "that is gradients x inputs, the gradient at x times x: average the gradient along the path, "
                     "and multiply by (x - baseline)"),
        (mean_grad * x, "multiply the mean gradient by (x - baseline), not by x: the baseline is not zero here"),
        (want * steps, "you sum the gradients over the steps: take their mean (or divide the sum by steps)"),
        (-want, "the sign is flipped: the path goes from the baseline to x, and the factor is (x - baseline)"),
        (_captum_ig(f, x, baseline, steps, "riemann_left"), "you take each step's gradient at its start (a left "
                                                            "Riemann sum): take it at the middle, (k + 0.5) / steps"),
        (_captum_ig(f, x, baseline, steps, "riemann_right"), "you take each step's gradient at its end (a right "
                                                             "Riemann sum): take it at the middle, (k + 0.5) / steps"),
    ]


def check_integrated_gradients(fn: Callable[[Function, torch.Tensor, torch.Tensor, int], torch.Tensor]) -> bool:
    """Notebook 08: `fn(f, x, baseline, steps) -> (d,)`, integrated gradients of f: (n, d) -> (n,) at x (d,) from
    `baseline` (d,), by the midpoint rule over `steps` points of the straight path (the trapezoid rule passes too).
    Compared with Captum's IntegratedGradients ("riemann_middle") on a quadratic and a small tanh network."""
    hint = ("put the points baseline + a * (x - baseline), a = (k + 0.5) / steps, in one (steps, d) tensor that "
            "requires gradients; torch.autograd.grad of the sum of f over them gives the (steps, d) gradients; "
            "average them over the steps and multiply by (x - baseline).")
    for name, f, x, baseline in _ig_cases():
        got, problem = call(fn, f, x.clone(), baseline.clone(), IG_STEPS)
        if problem:
            return verdict(False, problem, hint)
        mine = _as_vector(got, len(x))
        if mine is None:
            return verdict(False, f"for x of shape ({len(x)},) return one attribution per input, shape ({len(x)},); "
                                  f"got {getattr(got, 'shape', type(got).__name__)}", hint)
        want = _captum_ig(f, x, baseline, IG_STEPS, "riemann_middle")  # (d,)
        right = [want, _trapezoid(f, x, baseline, IG_STEPS), _trapezoid(f, x, baseline, IG_STEPS + 1)]
        if any(torch.allclose(mine, r, rtol=IG_RTOL, atol=IG_ATOL) for r in right):
            continue
        for wrong, message in _ig_near_misses(f, x, baseline, IG_STEPS, want):
            if torch.allclose(mine, wrong, rtol=IG_RTOL, atol=IG_ATOL):
                return verdict(False, f"on {name}: {message}", hint)
        with torch.no_grad():
            gap = float(f(x[None])[0] - f(baseline[None])[0])
        return verdict(False, f"on {name} your attributions sum to {float(mine.sum()):.4f}, but f(x) - f(baseline) "
                              f"is {gap:.4f}, and they differ from Captum's by up to "
                              f"{float((mine - want).abs().max()):.3g}", hint)
    with torch.no_grad():  # f, x, baseline and mine are the last case's: the tanh network
        gap = float(f(x[None])[0] - f(baseline[None])[0])
    return verdict(True, f"on a quadratic and a small tanh network of 5 inputs yours matches Captum's "
                         f"IntegratedGradients ({IG_STEPS} steps) to 6 digits; on the tanh network it sums to "
                         f"{float(mine.sum()):.3f}, and f(x) - f(baseline) = {gap:.3f}: complete.")


class ToyPredictor:
    """A stand-in for memelib's Predictor in the deletion check, with the same `predict` and `predict_batch`:
    P(hateful) = sigmoid(-1 + the caption's word weights + the red of the picture's first pixel). Words are
    what `text.split()` gives, so "a b" and "ab" differ, as they do for a real tokenizer."""

    WEIGHTS = {"zorblats": 1.2, "never": 0.9, "will": 0.2, "have": -0.3, "this": 0.4, "just": -0.2, "being": 0.5}

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def predict(self, image: Image.Image, text: str) -> dict[str, Any]:
        z = -1.0 + sum(self.WEIGHTS.get(w, 0.0) for w in text.split()) + image.getpixel((0, 0))[0] / 255
        prob = 1 / (1 + math.exp(-z))
        return {"prob": prob, "label": int(prob >= self.threshold)}

    def predict_batch(self, images: list[Image.Image], texts: list[str]) -> list[dict[str, Any]]:
        return [self.predict(i, t) for i, t in zip(images, texts)]


def _deletion_problem(fn: Callable, image: Image.Image, words: list[str], i: int) -> str:
    """What is wrong with `fn` on one caption, or "" when it is right."""
    toy = ToyPredictor()
    got, problem = call(fn, toy, image, list(words), i)
    if problem:
        return problem
    try:
        drop = float(got)
    except (TypeError, ValueError):
        return f"return one number, a difference of two probabilities (got {type(got).__name__})"

    def prob(ws: list[str]) -> float:
        return toy.predict(image, " ".join(ws))["prob"]

    full, without = prob(words), prob(words[:i] + words[i + 1:])
    near_misses = [
        (without - full, "the sign is flipped: P(hateful) of the caption minus P(hateful) without the word"),
        (without, "you return P(hateful) without the word: subtract it from P(hateful) of the whole caption"),
        (full - prob([w for w in words if w != words[i]]), f"you removed every {words[i]!r}: remove only the word "
                                                            f"at position i"),
        (full - toy.predict(image, "".join(words[:i] + words[i + 1:]))["prob"],
         "join the remaining words with spaces: ' '.join(...), as the caption was written"),
    ]
    # 1e-9: the same arithmetic on the same strings; a right answer differs from these only in the last digits
    if math.isclose(drop, full - without, rel_tol=0, abs_tol=1e-9):
        return ""
    for wrong, message in near_misses:
        if math.isclose(drop, wrong, rel_tol=0, abs_tol=1e-9):
            return message
    return (f"for the words {words} without position {i} you give {drop:.4f}; P(hateful) goes from {full:.4f} to "
            f"{without:.4f}, a drop of {full - without:.4f}")


def check_deletion_drop(fn: Callable[[Any, Image.Image, list[str], int], float]) -> bool:
    """Notebook 08: `fn(predictor, image, words, i) -> float`, P(hateful) of the caption " ".join(words) minus
    P(hateful) of the same caption without the i-th word, on the same picture, both from `predictor.predict`.
    Tried with a toy predictor whose probabilities are known (ToyPredictor)."""
    hint = ("build the caption without the word with words[:i] + words[i + 1:], join each list with ' ', and "
            "subtract predictor.predict(image, shorter)['prob'] from predictor.predict(image, caption)['prob'].")
    cases = [
        (Image.new("RGB", (8, 8), (200, 40, 40)), ["just", "zorblats", "being", "zorblats"], 1),
        (Image.new("RGB", (8, 8), (20, 90, 200)), ["zorblats", "will", "never", "have", "this"], 2),
    ]
    for image, words, i in cases:
        problem = _deletion_problem(fn, image, words, i)
        if problem:
            return verdict(False, problem, hint)
    return verdict(True, "on a toy predictor: deleting 'never' from 'zorblats will never have this' takes "
                         f"{_toy_drop(*cases[1]):.3f} off P(hateful), and deleting the first 'zorblats' from "
                         f"'just zorblats being zorblats' {_toy_drop(*cases[0]):.3f}.")


def _toy_drop(image: Image.Image, words: list[str], i: int) -> float:
    toy = ToyPredictor()
    return toy.predict(image, " ".join(words))["prob"] - toy.predict(image, " ".join(words[:i] + words[i + 1:]))["prob"]
