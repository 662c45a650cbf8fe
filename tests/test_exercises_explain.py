"""The checks of notebook 08 (memelib.exercises.explain): a right answer passes, the typical wrong answers are
named, an unfinished or crashing answer gets a hint, and nothing raises."""

import numpy as np
import pytest
import torch

from memelib.exercises.explain import IG_STEPS, ToyPredictor, check_deletion_drop, check_integrated_gradients


def integrated_gradients(f, x, baseline, steps):
    alphas = (torch.arange(steps) + 0.5) / steps  # (steps,) the midpoints
    path = (baseline + alphas[:, None] * (x - baseline)).requires_grad_(True)  # (steps, d)
    (grads,) = torch.autograd.grad(f(path).sum(), path)  # (steps, d)
    return grads.mean(0) * (x - baseline)  # (d,)


def ig_loop_numpy(f, x, baseline, steps):
    """Another right answer: one point at a time, returned as a numpy array."""
    total = torch.zeros_like(x)
    for k in range(steps):
        point = (baseline + (k + 0.5) / steps * (x - baseline)).requires_grad_(True)
        total += torch.autograd.grad(f(point[None])[0], point)[0]
    return (total / steps * (x - baseline)).numpy()


def ig_trapezoid(f, x, baseline, steps):
    """The trapezoid rule over steps + 1 points, ends counting half."""
    alphas = torch.linspace(0, 1, steps + 1, dtype=x.dtype)
    path = (baseline + alphas[:, None] * (x - baseline)).requires_grad_(True)
    (grads,) = torch.autograd.grad(f(path).sum(), path)
    weights = torch.full((steps + 1,), 1 / steps, dtype=x.dtype)
    weights[[0, -1]] /= 2
    return (weights[:, None] * grads).sum(0) * (x - baseline)


def ig_with(alphas_of=None, factor=None, reduce="mean"):
    """A wrong answer: other alphas, another factor than (x - baseline), or summed instead of averaged."""
    def fn(f, x, baseline, steps):
        alphas = alphas_of(steps) if alphas_of else (torch.arange(steps) + 0.5) / steps
        path = (baseline + alphas[:, None] * (x - baseline)).requires_grad_(True)
        (grads,) = torch.autograd.grad(f(path).sum(), path)
        g = grads.mean(0) if reduce == "mean" else grads.sum(0)
        return g * (factor(x, baseline) if factor else (x - baseline))
    return fn


def gradient_at_x(f, x, baseline, steps):
    point = x.clone().requires_grad_(True)
    return torch.autograd.grad(f(point[None])[0], point)[0] * (x - baseline)


def crash(*args):
    raise RuntimeError("boom")


def verdict_of(check, fn, capsys):
    ok = check(fn)
    out = capsys.readouterr().out
    assert out.startswith("Correct!" if ok else "Not yet:") and (ok or "Hint:" in out), out
    return ok, out


@pytest.mark.parametrize("right", [integrated_gradients, ig_loop_numpy, ig_trapezoid])
def test_integrated_gradients_right_answers(right, capsys):
    ok, out = verdict_of(check_integrated_gradients, right, capsys)
    assert ok is True and "complete" in out


@pytest.mark.parametrize("wrong, words", [
    (ig_with(factor=lambda x, b: 1.0), "mean gradient along the path"),
    (gradient_at_x, "gradient at x only"),
    (ig_with(factor=lambda x, b: x), "not by x"),
    (ig_with(reduce="sum"), "take their mean"),
    (ig_with(factor=lambda x, b: b - x), "sign is flipped"),
    (ig_with(alphas_of=lambda n: torch.arange(n) / n), "left"),
    (ig_with(alphas_of=lambda n: (torch.arange(n) + 1) / n), "right"),
    (lambda f, x, b, steps: torch.zeros(len(x) + 1), "shape (5,)"),
    (lambda f, x, b, steps: torch.ones(len(x)), "sum to 5.0000"),
    (lambda f, x, b, steps: ..., "returns nothing yet"),
    (crash, "raised RuntimeError"),
])
def test_integrated_gradients_wrong_answers(wrong, words, capsys):
    ok, out = verdict_of(check_integrated_gradients, wrong, capsys)
    assert ok is False and words in out, out


def test_integrated_gradients_check_uses_the_asked_steps(capsys):
    seen = []

    def spy(f, x, baseline, steps):
        seen.append(steps)
        return integrated_gradients(f, x, baseline, steps)

    assert verdict_of(check_integrated_gradients, spy, capsys)[0] and set(seen) == {IG_STEPS}


def deletion_drop(predictor, image, words, i):
    shorter = words[:i] + words[i + 1:]
    return predictor.predict(image, " ".join(words))["prob"] - predictor.predict(image, " ".join(shorter))["prob"]


def deletion_drop_batch(predictor, image, words, i):
    """Another right answer: both captions in one batch, a numpy float returned."""
    full, without = predictor.predict_batch([image, image], [" ".join(words), " ".join(words[:i] + words[i + 1:])])
    return np.float64(full["prob"] - without["prob"])


@pytest.mark.parametrize("right", [deletion_drop, deletion_drop_batch])
def test_deletion_drop_right_answers(right, capsys):
    ok, out = verdict_of(check_deletion_drop, right, capsys)
    assert ok is True and "toy predictor" in out


@pytest.mark.parametrize("wrong, words", [
    (lambda p, im, w, i: -deletion_drop(p, im, w, i), "sign is flipped"),
    (lambda p, im, w, i: p.predict(im, " ".join(w[:i] + w[i + 1:]))["prob"], "without the word: subtract"),
    (lambda p, im, w, i: p.predict(im, " ".join(w))["prob"]
     - p.predict(im, " ".join(x for x in w if x != w[i]))["prob"], "removed every 'zorblats'"),
    (lambda p, im, w, i: p.predict(im, " ".join(w))["prob"] - p.predict(im, "".join(w[:i] + w[i + 1:]))["prob"],
     "with spaces"),
    (lambda p, im, w, i: deletion_drop(p, im, w, i + 1), "a drop of"),
    (lambda p, im, w, i: p.predict(im, " ".join(w)), "return one number"),
    (lambda p, im, w, i: ..., "returns nothing yet"),
    (crash, "raised RuntimeError"),
])
def test_deletion_drop_wrong_answers(wrong, words, capsys):
    ok, out = verdict_of(check_deletion_drop, wrong, capsys)
    assert ok is False and words in out, out


def test_toy_predictor_reads_words_and_picture():
    from PIL import Image

    toy, red, blue = ToyPredictor(), Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))
    assert toy.predict(red, "zorblats")["prob"] > toy.predict(blue, "zorblats")["prob"] > toy.predict(blue, "")["prob"]
    assert toy.predict(red, "will never")["prob"] != toy.predict(red, "willnever")["prob"]
    assert toy.predict_batch([red, blue], ["a", "b"]) == [toy.predict(red, "a"), toy.predict(blue, "b")]
