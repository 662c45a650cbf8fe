"""Per-example loss weights (`fit(..., example_weights=...)`): they travel with their memes, weights of 1
change nothing, zero weights change the model the expected way, bad weights are refused, and resume
keeps a run's weights."""

import json
import math

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from memelib.annotations import read_split
from memelib.config import TextEncoderConfig, preset
from memelib.data import MemeDataset, describe_example_weights, example_weight_tensor, make_loader
from memelib.encoders import load_tokenizer
from memelib.features import feature_batches
from memelib.train import WeightedCrossEntropy, fit
from memelib.validation import load_split

QUIET = dict(progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def train_records(synth_dir):
    return load_split(synth_dir, "train", require_labels=True)


def test_weights_travel_with_their_memes_through_the_shuffle():
    n = 37
    features = {"text_features": torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3),  # row i holds i
                "image_features": torch.zeros(n, 2)}
    weights = torch.arange(n, dtype=torch.float32) / 2  # meme i weighs i / 2
    batches = list(feature_batches(features, torch.zeros(n, dtype=torch.long), 8, torch.Generator().manual_seed(0), weights))
    rows = torch.cat([b["text_features"][:, 0] for b in batches])
    assert not torch.equal(rows, torch.arange(n, dtype=torch.float32)), "the batches are shuffled"
    for b in batches:
        assert torch.equal(b["weight"], b["text_features"][:, 0] / 2)
    unweighted = next(feature_batches(features, torch.zeros(n, dtype=torch.long), 8))
    assert "weight" not in unweighted


def test_raw_batches_carry_each_memes_weight(synth_dir):
    records = read_split(synth_dir, "train")
    weights = [2.0 if r.label == 1 else 0.5 for r in records]
    assert [MemeDataset(records, synth_dir, 16, weights)[i]["weight"] for i in range(5)] == weights[:5]
    tok = load_tokenizer(TextEncoderConfig(name="minilm"))
    loader = make_loader(records, synth_dir, tok, image_size=16, max_length=16, batch_size=8, shuffle=True, weights=weights)
    for batch in loader:
        assert batch["weight"].dtype == torch.float32 and batch["weight"].shape == batch["labels"].shape
        assert torch.equal(batch["weight"], torch.where(batch["labels"] == 1, 2.0, 0.5))
    assert "weight" not in next(iter(make_loader(records, synth_dir, tok, image_size=16, max_length=16, batch_size=8)))


def test_weighted_loss_is_the_weighted_mean():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 2), torch.tensor([0, 1, 1, 0, 1, 0])
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 0.0, 3.0])
    per_example = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    plain = WeightedCrossEntropy()
    assert torch.equal(plain(logits, labels), torch.nn.CrossEntropyLoss()(logits, labels))
    assert torch.allclose(plain(logits, labels, w), (w * per_example).sum() / w.sum())
    c = torch.tensor([0.75, 1.5])  # class weights multiply in, as torch's own weighted mean does
    assert torch.allclose(WeightedCrossEntropy(weight=c)(logits, labels, torch.ones(6)),
                          torch.nn.CrossEntropyLoss(weight=c)(logits, labels))
    assert plain(logits, labels, torch.zeros(6)).item() == 0.0, "an all-zero batch adds nothing, and no NaN"


@pytest.mark.parametrize("freeze, epochs", [(True, 3), (False, 2)], ids=["cached", "raw"])
def test_ones_change_nothing_and_zero_weight_on_hateful_predicts_hateful_less(freeze, epochs, synth_dir, train_records,
                                                                               tmp_path):
    """Weights of 1.0 give the same trained model as no weights: the same sums computed by other reductions,
    so equal within 1e-5 (float32; measured differences are ~2e-7), not necessarily bit for bit."""
    cfg = preset("tiny", freeze=freeze, epochs=epochs, patience=epochs)
    plain = fit(cfg, synth_dir, tmp_path / "plain", **QUIET)
    ones = fit(cfg, synth_dir, tmp_path / "ones", example_weights={r.id: 1.0 for r in train_records}, **QUIET)
    a, b = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("plain", "ones"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-5), k
    assert np.allclose(plain["dev_probs"], ones["dev_probs"], rtol=0, atol=1e-5)
    assert [r["train_loss"] for r in ones["history"]] == pytest.approx([r["train_loss"] for r in plain["history"]], rel=1e-5)
    benign_only = {r.id: 0.0 if r.label == 1 else 1.0 for r in train_records}
    assert 0 < sum(benign_only.values()) < len(train_records)
    skewed = fit(cfg, synth_dir, tmp_path / "skewed", example_weights=benign_only, **QUIET)
    assert skewed["dev_probs"].mean() < plain["dev_probs"].mean() - 0.01, "trained on benign memes only"


def test_the_run_folder_records_the_weights(synth_dir, train_records, tmp_path):
    weights = {r.id: 1.0 + (r.label or 0) for r in train_records}
    fit(preset("tiny", epochs=1), synth_dir, tmp_path / "w", example_weights=weights, **QUIET)
    recorded = json.loads((tmp_path / "w" / "metrics.json").read_text())["example_weights"]
    expected = describe_example_weights(train_records, example_weight_tensor(train_records, weights))
    assert recorded == expected and recorded["count"] == len(train_records)
    assert recorded["sum"] == sum(weights.values()) and len(recorded["fingerprint"]) == 16
    reordered = list(reversed(train_records))
    assert describe_example_weights(reordered, example_weight_tensor(reordered, weights)) == expected
    fit(preset("tiny", epochs=1), synth_dir, tmp_path / "plain", **QUIET)
    assert "example_weights" not in json.loads((tmp_path / "plain" / "metrics.json").read_text())
    with safe_open(str(tmp_path / "plain" / "train_state.safetensors"), framework="pt") as f:
        assert "example_weights" not in json.loads(f.metadata()["info"]), "unweighted: the state file as before"


def _bad_weights(records, case):
    weights = {r.id: 1.0 for r in records}
    first = records[0].id
    if case in ("negative", "nan", "inf", "text"):
        weights[first] = {"negative": -0.5, "nan": math.nan, "inf": math.inf, "text": "heavy"}[case]
    elif case == "unknown":
        weights["no-such-meme"] = 1.0
    elif case == "missing":
        for r in records[:5]:
            del weights[r.id]
    elif case == "zeros":
        weights = dict.fromkeys(weights, 0.0)
    return weights


@pytest.mark.parametrize("case, message", [
    ("negative", r"1 weights are negative, NaN.*-0\.5"),
    ("nan", r"1 weights are negative, NaN.*nan"),
    ("inf", r"1 weights are negative, NaN.*inf"),
    ("text", r"1 weights are negative, NaN.*'heavy'"),
    ("unknown", r"1 ids are not in the training split \(e\.g\. \['no-such-meme'\]\)"),
    ("missing", r"5 of the {n} training memes have no weight \(e\.g\. \['"),
    ("zeros", r"every weight is 0"),
])
def test_bad_weights_are_refused_before_training(case, message, synth_dir, train_records, tmp_path):
    logs = []
    with pytest.raises(ValueError, match=message.format(n=len(train_records))):
        fit(preset("tiny"), synth_dir, tmp_path / "run", progress=False, log=logs.append,
            example_weights=_bad_weights(train_records, case))
    assert not any("feature cache" in line for line in logs), "refused before any feature is extracted"
    assert not (tmp_path / "run").exists()


def test_missing_ids_are_named(train_records):
    weights = _bad_weights(train_records, "missing")
    with pytest.raises(ValueError) as e:
        example_weight_tensor(train_records, weights)
    assert all(repr(r.id) in str(e.value) for r in train_records[:3])


def test_resume_keeps_the_weights_and_refuses_others(synth_dir, train_records, tmp_path):
    cfg = preset("tiny", epochs=3, patience=3)
    weights = {r.id: 0.25 + (r.label or 0) for r in train_records}
    full = fit(cfg, synth_dir, tmp_path / "full", example_weights=weights, **QUIET)

    def stop_after_epoch_2(line: str) -> None:  # Ctrl-C during epoch 2, before its state is saved
        if line.startswith("epoch   2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, synth_dir, tmp_path / "cut", progress=False, log=stop_after_epoch_2, example_weights=weights)
    other = {**weights, train_records[0].id: 5.0}
    with pytest.raises(ValueError, match=r"with \d+ example weights .* but this run is with \d+ example weights"):
        fit(cfg, synth_dir, tmp_path / "cut", resume=True, example_weights=other, **QUIET)
    with pytest.raises(ValueError, match="but this run is without example weights"):
        fit(cfg, synth_dir, tmp_path / "cut", resume=True, **QUIET)
    resumed = fit(cfg, synth_dir, tmp_path / "cut", resume=True, example_weights=weights, **QUIET)
    assert [r["train_loss"] for r in resumed["history"]] == [r["train_loss"] for r in full["history"]]
    assert np.array_equal(resumed["dev_probs"], full["dev_probs"])

    fit(preset("tiny", epochs=1), synth_dir, tmp_path / "plain", **QUIET)
    with pytest.raises(ValueError, match="saved by a run without example weights"):
        fit(preset("tiny", epochs=1), synth_dir, tmp_path / "plain", resume=True, example_weights=weights, **QUIET)


def test_cell_weights_weigh_one_group_label_cell():
    from memelib.annotations import Record
    from memelib.data import cell_weights

    records = [Record(str(i), f"img/{i}.png", "x", label, "train.jsonl", i + 1) for i, label in enumerate([0, 1, 0, 0])]
    groups = ["quibbits", "quibbits", "flumps", None]
    weights = cell_weights(records, groups, {("quibbits", 0): 3.0})
    assert weights == {"0": 3.0, "1": 1.0, "2": 1.0, "3": 1.0}  # only the benign quibbits meme changes
    with pytest.raises(ValueError, match="3 group values for 4 records"):
        cell_weights(records, groups[:3], {})
