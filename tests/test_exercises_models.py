"""The checks of notebooks 03 (attention) and 04 (late fusion, AUROC by pairs): right answers pass, the typical
wrong answers get their own message and a hint, unfinished or crashing answers get a verdict, nothing raises."""

import math

import numpy as np
import pytest
import torch

from memelib.exercises.encoders import check_attention
from memelib.exercises.fusion import check_auroc_pairs, check_late_fusion


def _attention(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)  # (B, L, L)
    return weights @ v, weights


def _late(text_logits, image_logits):
    return torch.softmax(text_logits + image_logits, dim=-1)[:, 1]


def _auroc(labels, scores):
    h, b = scores[labels == 1], scores[labels == 0]
    return float(((h[:, None] > b[None, :]) + 0.5 * (h[:, None] == b[None, :])).mean())


def _raises(*args):
    raise RuntimeError("boom")


def _no_scaling(q, k, v):
    weights = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    return weights @ v, weights


def _wrong_dim(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=1)
    return weights @ v, weights


def _average_of_probabilities(t, i):
    return (t.softmax(-1)[:, 1] + i.softmax(-1)[:, 1]) / 2


def _strict(labels, scores):  # ties count 0
    h, b = scores[labels == 1], scores[labels == 0]
    return float((h[:, None] > b[None, :]).mean())


CASES = [
    (check_attention, _attention, [(_no_scaling, "sqrt(D)"), (_wrong_dim, "over the queries"),
                                   (lambda q, k, v: _attention(q, k, v)[0], "two tensors"),
                                   (lambda q, k, v: (q, _attention(q, k, v)[1]), "output is not")]),
    (check_late_fusion, _late, [(_average_of_probabilities, "average"),
                                (lambda t, i: torch.softmax(t + i, dim=-1)[:, 0], "column 0"),
                                (lambda t, i: (t + i)[:, 1], "logit"),
                                (lambda t, i: torch.sigmoid((t * i).sum(-1)), "differ")]),
    (check_auroc_pairs, _auroc, [(_strict, "ties count 0"), (lambda y, s: 1 - _auroc(y, s), "benign"),
                                 (lambda y, s: "high", "one number")]),
]


@pytest.mark.parametrize("check, right, wrongs", CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_right_wrong_unfinished_and_crashing_answers(check, right, wrongs, capsys):
    assert check(right) is True
    assert capsys.readouterr().out.startswith("Correct!")
    for wrong, words in wrongs:
        assert check(wrong) is False
        out = capsys.readouterr().out
        assert out.startswith("Not yet:") and "Hint:" in out and words in out, out
    for unfinished in (..., lambda *args: ..., _raises, "not a function"):
        assert check(unfinished) is False
        out = capsys.readouterr().out
        assert out.startswith("Not yet:") and "Hint:" in out


def test_answers_in_other_last_digits_or_another_precision_pass(capsys):
    """Another CPU's kernels, float32 instead of float64, or sklearn's own function: still right."""
    assert check_attention(lambda q, k, v: tuple(t * (1 + 2**-20) for t in _attention(q, k, v)))
    assert check_attention(lambda q, k, v: (torch.nn.functional.scaled_dot_product_attention(q, k, v),
                                            _attention(q, k, v)[1]))
    assert check_late_fusion(lambda t, i: _late(t.float(), i.float()))
    assert check_late_fusion(lambda t, i: torch.sigmoid((t[:, 1] + i[:, 1]) - (t[:, 0] + i[:, 0])))
    from sklearn.metrics import roc_auc_score
    assert check_auroc_pairs(lambda y, s: roc_auc_score(y, s))
    assert check_auroc_pairs(lambda y, s: np.float32(_auroc(y, s)))  # counted in float32, as torch would
    assert capsys.readouterr().out.count("Correct!") == 6


def test_late_fusion_success_reports_a_zero_interaction(capsys):
    check_late_fusion(_late)
    assert "interaction of your log-odds is 0.000" in capsys.readouterr().out
