"""Checks of notebooks 01 and 02: padding a batch (check_pad_batch) and cross-entropy by hand (check_cross_entropy)."""

import pytest
import torch
import torch.nn.functional as F

from memelib.exercises.tensors import check_cross_entropy
from memelib.exercises.tokens import check_pad_batch


def _pad_batch(rows, pad_id):
    longest = max(len(r) for r in rows)
    ids = [r + [pad_id] * (longest - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (longest - len(r)) for r in rows]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}


def _with(**changes):
    """The right answer with one key's tensor replaced by `changes[key](rows, pad_id, right_tensor)`."""
    def fn(rows, pad_id):
        out = _pad_batch(rows, pad_id)
        return {k: changes[k](rows, pad_id, v) if k in changes else v for k, v in out.items()}
    return fn


def _left(rows, pad_id):
    longest = max(len(r) for r in rows)
    return {"input_ids": torch.tensor([[pad_id] * (longest - len(r)) + r for r in rows]),
            "attention_mask": torch.tensor([[0] * (longest - len(r)) + [1] * len(r) for r in rows])}


def _cross_entropy(logits, labels):
    return -torch.log_softmax(logits, dim=-1)[torch.arange(len(labels)), labels].mean()


def _verdict(check, answer, capsys):
    ok = check(answer)
    out = capsys.readouterr().out
    assert out.startswith("Correct!" if ok else "Not yet:") and (ok or "Hint:" in out)
    return ok, out


def test_pad_batch_right_answers(capsys):
    assert _verdict(check_pad_batch, _pad_batch, capsys)[0]
    # the same, written with torch's own padding helper
    def with_torch(rows, pad_id):
        ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(r) for r in rows], batch_first=True, padding_value=pad_id)
        return {"input_ids": ids, "attention_mask": (torch.arange(ids.shape[1]) < torch.tensor([len(r) for r in rows])[:, None]).long()}
    assert _verdict(check_pad_batch, with_torch, capsys)[0]


@pytest.mark.parametrize("wrong, words", [
    (_with(attention_mask=lambda r, p, m: torch.ones_like(m)), "all ones"),
    (_left, "on the left"),
    (_with(attention_mask=lambda r, p, m: 1 - m), "upside down"),
    (lambda rows, pad_id: _pad_batch(rows, 0), "padded with 0, not with pad_id"),
    (lambda rows, pad_id: _pad_batch([r + [pad_id] * (8 - len(r)) for r in rows], pad_id), "pad to the longest"),
    (_with(attention_mask=lambda r, p, m: m.float()), "dtype torch.float32"),
    (lambda rows, pad_id: [r + [pad_id] * 3 for r in rows], "return a dict"),
    (_with(input_ids=lambda r, p, t: t.tolist()), "not a tensor"),
    (lambda rows, pad_id: ..., "returns nothing"),
    (lambda rows, pad_id: 1 / 0, "ZeroDivisionError"),
    (..., "not a function"),
])
def test_pad_batch_wrong_answers_get_their_own_hint(wrong, words, capsys):
    ok, out = _verdict(check_pad_batch, wrong, capsys)
    assert not ok and words in out, out


def test_pad_batch_does_not_trust_an_answer_that_edits_its_input(capsys):
    def in_place(rows, pad_id):  # pads the caller's lists themselves: must still be judged on the original rows
        longest = max(len(r) for r in rows)
        for r in rows:
            r.extend([pad_id] * (longest - len(r)))
        return _pad_batch(rows, pad_id) | {"attention_mask": torch.tensor([[int(t != pad_id) for t in r] for r in rows])}
    assert _verdict(check_pad_batch, in_place, capsys)[0]


def test_cross_entropy_right_answers(capsys):
    assert _verdict(check_cross_entropy, _cross_entropy, capsys)[0]
    # another way to write it, and a result off in its last digits (another CPU's kernels): still right
    by_logsumexp = lambda z, y: (z.logsumexp(-1) - z.gather(1, y[:, None])[:, 0]).mean()  # noqa: E731
    assert _verdict(check_cross_entropy, by_logsumexp, capsys)[0]
    assert _verdict(check_cross_entropy, lambda z, y: _cross_entropy(z, y) * (1 + 2**-20), capsys)[0]
    assert _verdict(check_cross_entropy, lambda z, y: _cross_entropy(z, y).item(), capsys)[0]  # a float is a scalar too


@pytest.mark.parametrize("wrong, words", [
    (lambda z, y: -z.softmax(-1)[torch.arange(len(y)), y].mean(), "the log is missing"),
    (lambda z, y: -_cross_entropy(z, y), "the sign is wrong"),
    (lambda z, y: _cross_entropy(z, y) * len(y), "sum over the batch"),
    (lambda z, y: _cross_entropy(z.softmax(-1), y), "softmax was applied twice"),
    (lambda z, y: -torch.log_softmax(z, -1).mean(), "pick only the true class"),
    (lambda z, y: -torch.log(z.softmax(-1))[torch.arange(len(y)), y].mean(), "underflows"),  # right, except at large logits
    (lambda z, y: -torch.log_softmax(z, -1)[torch.arange(len(y)), y], "one number"),
    (lambda z, y: F.cross_entropy(z, y), "what this exercise rebuilds"),
    (lambda z, y: torch.nn.CrossEntropyLoss()(z, y), "what this exercise rebuilds"),
    (lambda z, y: torch.zeros(()), "F.cross_entropy gives"),
    (lambda z, y: ..., "returns nothing"),
    (lambda z, y: 1 / 0, "ZeroDivisionError"),
    (..., "not a function"),
])
def test_cross_entropy_wrong_answers_get_their_own_hint(wrong, words, capsys):
    ok, out = _verdict(check_cross_entropy, wrong, capsys)
    assert not ok and words in out, out


def test_cross_entropy_check_gives_torch_its_loss_back(capsys):
    saved = F.cross_entropy, F.nll_loss
    check_cross_entropy(lambda z, y: F.cross_entropy(z, y))
    check_cross_entropy(lambda z, y: 1 / 0)
    assert (F.cross_entropy, F.nll_loss) == saved
    assert float(F.cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([0]))) == pytest.approx(0.6931, abs=1e-4)
