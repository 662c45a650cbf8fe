"""Checks of notebook 05 (the class-weighted loss, the training loop) and of notebook 00's label rule:
right answers pass, the typical wrong ones get their own message, unfinished or crashing ones a hint, nothing raises."""

import pytest
import torch
from torch.nn import functional as F

from memelib.exercises import training
from memelib.exercises.data import check_label_rule
from memelib.exercises.training import check_training_loop, check_weighted_loss
from memelib.train import train_one_epoch


def _loop(model, batches, optimizer, scheduler, loss_fn, max_grad_norm, skip=""):
    """A learner's loop, right unless `skip` names the step it forgets."""
    if skip != "train_mode":
        model.train()
    total, seen, losses = 0.0, 0, []
    for batch in batches:
        labels = batch.pop("labels")
        logits = model(**batch)  # (B, 2)
        loss = loss_fn(logits, labels)
        if skip != "zero_grad":
            optimizer.zero_grad()
        loss.backward()
        if skip != "clip":
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        if skip != "scheduler":
            scheduler.step()
        total += loss.item() * len(labels)
        seen += len(labels)
        losses.append(loss.item())
    return sum(losses) / len(losses) if skip == "per_meme" else total / seen


def _verdict(capsys):
    out = capsys.readouterr().out
    assert out.startswith(("Correct!", "Not yet:")), out
    assert out.startswith("Correct!") or "Hint:" in out
    return out


def test_training_loop_right_answers(capsys):
    assert check_training_loop(_loop) is True
    assert _verdict(capsys).startswith("Correct!")
    # written another way (a tensor sum for the mean, zero_grad first, a 0-d tensor returned): still right
    def other(model, batches, optimizer, scheduler, loss_fn, max_grad_norm):
        model.train()
        total, seen = torch.zeros(()), 0
        for batch in batches:
            optimizer.zero_grad(set_to_none=False)
            labels = batch["labels"]
            loss = loss_fn(model(text_features=batch["text_features"], image_features=batch["image_features"]), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), max_grad_norm)
            optimizer.step()
            scheduler.step()
            total, seen = total + loss.detach() * labels.numel(), seen + labels.numel()
        return total / seen
    assert check_training_loop(other) is True


@pytest.mark.parametrize("skip, words", [
    ("zero_grad", "pile up"), ("clip", "not clipped"), ("train_mode", "eval mode"), ("per_meme", "average over memes"),
    ("scheduler", "scheduler.step()"),
])
def test_training_loop_near_misses_are_named(skip, words, capsys):
    assert check_training_loop(lambda *args: _loop(*args, skip=skip)) is False
    out = _verdict(capsys)
    assert out.startswith("Not yet:") and words in out.splitlines()[0], out


@pytest.mark.parametrize("wrong", [..., None, "train", lambda *a: 1 / 0, lambda *a: None, lambda *a: "low",
                                   lambda *a: 0.5, lambda m, b, *rest: [m(**x) for x in b]])
def test_training_loop_wrong_answers_never_raise(wrong, capsys):
    assert check_training_loop(wrong) is False
    assert _verdict(capsys).startswith("Not yet:")


def test_training_loop_near_misses_are_far_from_the_right_losses():
    """The tolerance (1e-5 relative) tells them apart with a wide margin: each moves an epoch's loss by > 5e-4."""
    want = training._run(lambda m, *a: train_one_epoch(m, *a, device=torch.device("cpu")))[0]
    assert training._run(training._near_miss)[0] == pytest.approx(want, rel=1e-6)
    for step in training.NEAR_MISSES:
        got = training._run(training._near_miss, **{step: False})[0]
        assert max(abs(g - w) / w for g, w in zip(got, want)) > 5e-4, step


def test_training_loop_check_leaves_random_numbers_and_threads_alone(capsys):
    threads, state = torch.get_num_threads(), torch.random.get_rng_state()
    check_training_loop(_loop)
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), state)


def _weighted_ce(logits, labels, class_weight):
    per_meme = -F.log_softmax(logits, dim=1)[torch.arange(len(labels)), labels]  # (B,)
    w = class_weight[labels]  # (B,)
    return (w * per_meme).sum() / w.sum()


def test_weighted_loss(capsys):
    assert check_weighted_loss(_weighted_ce) is True
    assert check_weighted_loss(lambda *a: float(_weighted_ce(*a))) is True  # a float is fine too
    assert check_weighted_loss(lambda *a: _weighted_ce(*a) * (1 + 2**-20)) is True  # other last digits
    assert _verdict(capsys).startswith("Correct!")
    wrongs = {
        lambda l, y, w: (w[y] * F.cross_entropy(l, y, reduction="none")).mean(): "number of memes",
        lambda l, y, w: F.cross_entropy(l, y): "plain cross-entropy",
        lambda l, y, w: -F.log_softmax(l, 1)[:, 1].mean(): "you give",
        lambda l, y, w: torch.zeros(2): "return one number",
        ...: "not a function",
        lambda l, y, w: 1 / 0: "ZeroDivisionError",
        lambda l, y, w: None: "returns nothing",
    }
    for wrong, words in wrongs.items():
        assert check_weighted_loss(wrong) is False
        out = _verdict(capsys)
        assert out.startswith("Not yet:") and words in out, out


def _label_of(frame, valence):
    if frame == "attack":
        return 1
    if frame in ("is", "never"):
        return int((frame == "is") == (valence == "degrading"))
    return 0


def test_label_rule(capsys):
    assert check_label_rule(_label_of) is True
    assert check_label_rule(lambda f, v: bool(_label_of(f, v))) is True  # True/False count as 1/0
    assert _verdict(capsys).startswith("Correct!")
    wrongs = {
        lambda f, v: int(f in ("is", "never", "attack") and v == "degrading"): "flip the frame",
        lambda f, v: int(f in ("is", "attack")): "ignore the picture",
        lambda f, v: 0 if f == "attack" else _label_of(f, v): "'attack'",
        lambda f, v: 1 if f is None else _label_of(f, v): "None",
        lambda f, v: "hateful": "return 0 or 1",
        lambda f, v: int(f.startswith("i")): "AttributeError",  # crashes on None (no group)
        lambda f, v: None: "returns nothing",
        ...: "not a function",
    }
    for wrong, words in wrongs.items():
        assert check_label_rule(wrong) is False
        out = _verdict(capsys)
        assert out.startswith("Not yet:") and words in out, out


def test_label_rule_agrees_with_the_generated_memes(synth_dir):
    """The answer the check accepts gives every SynthMeme its true label (dev's file labels are the true ones)."""
    from memelib.annotations import read_split
    from memelib.synthetic import load_meta

    meta = load_meta(synth_dir)
    assert all(_label_of(m["frame"], m["valence"]) == m["true_label"] for m in meta.values())
    assert all(_label_of(meta[r.id]["frame"], meta[r.id]["valence"]) == r.label for r in read_split(synth_dir, "dev"))
