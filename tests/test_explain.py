"""memelib.explain on the tiny preset: complete word scores, every head, heat map shapes, an untouched
model, the randomised-head sanity check, the figure and the `memelib explain` command."""

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from memelib.annotations import read_split
from memelib.checkpoint import save_run
from memelib.config import preset
from memelib.encoders import ImageEncoder, load_tokenizer
from memelib.explain import DEFAULT_STEPS, TOLERANCE, Explanation, explain, gradcam_layer
from memelib.faithfulness import randomised_head
from memelib.fusion import FUSIONS
from memelib.images import open_image
from memelib.inference import Predictor
from memelib.model import MemeClassifier, build_model


@pytest.fixture(scope="module")
def predictor(tiny_run):
    return Predictor(tiny_run, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def memes(synth_dir):
    """(PIL image, caption) of the first 24 dev memes."""
    return [(open_image(synth_dir / r.img), r.text) for r in read_split(synth_dir, "dev")[:24]]


def _head_predictor(name: str, folder: Path) -> Predictor:
    """A Predictor of an untrained tiny model with fusion head `name` (a run folder written in `folder`)."""
    cfg = preset("tiny", fusion__name=name)
    torch.manual_seed(0)
    save_run(folder, build_model(cfg.model), cfg, load_tokenizer(cfg.model.text))
    return Predictor(folder, device="cpu", precision="fp32")


def _with_model(predictor: Predictor, model: MemeClassifier) -> Predictor:
    other = copy.copy(predictor)  # same tokenizer, transform and collate; another model
    other.model = model
    return other


def test_word_scores_are_complete_at_the_default_steps(predictor, memes):
    for image, text in memes[:6]:
        e = explain(predictor, image, text, max_steps=DEFAULT_STEPS)  # no doubling
        assert e.steps == DEFAULT_STEPS and abs(e.delta) <= 0.05 * abs(e.gap), (text, e.delta, e.gap)
        assert sum(e.word_scores) == pytest.approx(e.gap + e.delta, rel=1e-3, abs=1e-7)
        assert len(e.words) == len(e.word_scores) and "".join(e.words) == "".join(text.split())


def test_steps_double_until_the_scores_are_complete(predictor, memes):
    for image, text in memes:  # a meme where one integration step is not enough
        rough = explain(predictor, image, text, n_steps=1, max_steps=1)
        if abs(rough.delta) > TOLERANCE * abs(rough.gap):
            break
    assert rough.steps == 1 and abs(rough.delta) > TOLERANCE * abs(rough.gap)
    assert any("did not converge" in n for n in rough.notes)
    e = explain(predictor, image, text, n_steps=1)
    assert e.steps > 1 and abs(e.delta) <= TOLERANCE * abs(e.gap) and not any("converge" in n for n in e.notes)


def test_words_are_whole_words(predictor, memes):
    image = memes[0][0]
    e = explain(predictor, image, "Zorblats can't even imagine it", n_steps=8)
    assert e.words == ["Zorblats", "can", "'", "t", "even", "imagine", "it"]  # WordPieces merged, case kept
    empty = explain(predictor, image, "")
    assert empty.words == [] and empty.word_scores == [] and empty.delta == 0.0


@pytest.mark.parametrize("name", list(FUSIONS))
def test_every_head_returns_an_explanation(name, memes, tmp_path):
    p = _head_predictor(name, tmp_path / name)
    image, text = memes[1]
    e = explain(p, image, text, counterfactual_text="my cat at 3 am", counterfactual_image=memes[2][0])
    assert isinstance(e, Explanation)
    assert e.prob == pytest.approx(p.predict(image, text)["prob"], abs=1e-5)
    size = p.cfg.model.image.image_size
    if name == "text":
        assert e.heatmap is None and e.method is None and e.shares["neutral_picture"] is None
        assert e.counterfactual["picture"] is None and any("no picture" in n for n in e.notes)
    else:
        assert e.heatmap.shape == (size, size) and 0 <= e.heatmap.min() and e.heatmap.max() <= 1
    if name == "image":
        assert e.words is None and e.word_scores is None and e.delta is None and e.shares["empty_caption"] is None
        assert e.counterfactual["caption"] is None and any("no caption" in n for n in e.notes)
    else:
        assert e.words and e.shares["empty_caption"] == pytest.approx(p.predict(image, "")["prob"], abs=1e-5)
        assert e.counterfactual["caption"] == pytest.approx(p.predict(image, "my cat at 3 am")["prob"], abs=1e-5)
    json.dumps(e.to_dict())


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_heatmap_covers_the_model_input(predictor, memes, method):
    e = explain(predictor, memes[3][0], memes[3][1], method=method)
    size = predictor.cfg.model.image.image_size
    assert e.method == method and e.heatmap.shape == (size, size) and e.heatmap.dtype == np.float32
    assert e.heatmap.min() >= 0 and e.heatmap.max() <= 1 and np.isfinite(e.heatmap).all()
    assert e.shares["neutral_picture"] == pytest.approx(
        _neutral_prob(predictor, memes[3][1]), abs=1e-5)  # the neutral picture: zeros after normalisation


def _neutral_prob(predictor: Predictor, text: str) -> float:
    size = predictor.cfg.model.image.image_size
    batch = predictor.collate([{"text": text, "pixel_values": torch.zeros(3, size, size), "label": -1}])
    batch.pop("labels")
    with torch.no_grad():
        return float(torch.softmax(predictor.model(**batch), -1)[0, 1])


def test_a_tower_without_convolutions_needs_occlusion(predictor, memes):
    size = predictor.cfg.model.image.image_size
    mlp_tower = ImageEncoder(nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 64)), 64, channels_last=False)
    model = MemeClassifier(predictor.cfg.model, predictor.model.text_encoder, mlp_tower).eval()
    with pytest.raises(ValueError, match="occlusion"):
        gradcam_layer(mlp_tower)
    p = _with_model(predictor, model)
    with pytest.raises(ValueError, match="occlusion"):
        explain(p, *memes[0])
    assert explain(p, *memes[0], method="occlusion").heatmap.shape == (size, size)
    assert gradcam_layer(predictor.model.image_encoder) is predictor.model.image_encoder.backbone.features[-1]
    with pytest.raises(ValueError, match="method"):
        explain(predictor, *memes[0], method="saliency")


def _snapshot(model: nn.Module) -> tuple:
    return ({k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()])


@pytest.mark.parametrize("state", ["eval", "train", "finetune"])
def test_explain_leaves_the_model_and_the_run_folder_as_they_were(predictor, memes, tiny_run, state):
    model = copy.deepcopy(predictor.model)
    if state != "eval":
        model.train()  # training mode: the locked towers stay in eval mode, the head trains
    if state == "finetune":
        model.requires_grad_(True).train()
    p = _with_model(predictor, model)
    files = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in tiny_run.rglob("*") if f.is_file()}
    weights, modes, grads = _snapshot(model)
    for method in ("gradcam", "occlusion"):
        explain(p, *memes[4], method=method, counterfactual_text="hello")
    after = _snapshot(model)
    assert all(torch.equal(weights[k], after[0][k]) for k in weights)
    assert after[1] == modes and after[2] == grads and any(modes) == (state != "eval")
    assert all(param.grad is None for param in model.parameters())
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in tiny_run.rglob("*") if f.is_file()} == files


def test_word_scores_change_when_the_head_is_randomised(predictor, memes):
    """Adebayo et al. (2018)'s model-randomisation check: scores that do not change when the learned weights
    are replaced by random ones explain nothing about the model. The tiny preset's towers are random, so
    this checks only that the scores follow the head; benchmarks/explain_bench.py repeats the check on
    a trained offline run, where it means more."""
    from scipy.stats import spearmanr

    randomised = randomised_head(predictor, seed=123)
    assert randomised.model is not predictor.model and randomised.tokenizer is predictor.tokenizer
    rhos = []
    for image, text in memes:
        a, b = explain(predictor, image, text), explain(randomised, image, text)
        if len(a.words) >= 3:
            rhos.append(spearmanr(a.word_scores, b.word_scores).statistic)
    assert len(rhos) >= 20 and np.mean(rhos) < 0.5, rhos


def test_plot_explanation_draws_three_labelled_panels(predictor, memes, tmp_path):
    from memelib.plots import plot_explanation

    image, text = memes[5]
    e = explain(predictor, image, text, counterfactual_text="my cat")
    fig = plot_explanation(e, image)
    assert len(fig.axes) == 3 and all(ax.get_title() for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].texts][::2] == e.words  # each word, then its score
    assert len(fig.axes[2].patches) == 4  # meme, empty caption, neutral picture, your caption
    fig.savefig(tmp_path / "e.png")
    for name in ("text", "image"):
        p = _head_predictor(name, tmp_path / name)
        fig = plot_explanation(explain(p, image, text), image)
        assert len(fig.axes[2].patches) == 2


def _memelib(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "memelib", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_explain_command_writes_json_and_png(tiny_run, synth_dir, tmp_path):
    record = read_split(synth_dir, "dev")[0]
    out = _memelib("explain", str(tiny_run), "--image", str(synth_dir / record.img), "--text", record.text,
                   "--out", str(tmp_path / "out"), "--device", "cpu", "--precision", "fp32", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = json.loads((tmp_path / "out" / "explanation.json").read_text())
    assert written["words"] and len(written["heatmap"]) == 32 and written["method"] == "gradcam"
    assert (tmp_path / "out" / "explanation.png").read_bytes()[:4] == b"\x89PNG"
    assert all(word in out.stdout for word in written["words"]) and "neutral picture" in out.stdout
    assert written["prob"] == pytest.approx(Predictor(tiny_run, device="cpu", precision="fp32").predict(
        synth_dir / record.img, record.text)["prob"], abs=1e-5)
    assert DEFAULT_STEPS > 0


def test_explain_command_errors_are_clear(tiny_run, synth_dir, tmp_path, capsys):
    from memelib.cli import main

    image = str(next((synth_dir / "img").glob("*.png")))
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    (tmp_path / "empty-run").mkdir()
    cases = {
        (str(tiny_run), str(tmp_path / "missing.png")): "missing.png",
        (str(tiny_run), str(tmp_path / "broken.png")): "not an image file",
        (str(tmp_path / "empty-run"), image): "config.json: missing",
        (str(tmp_path / "no-run"), image): "not a run folder",
    }
    for (run, img), message in cases.items():
        assert main(["explain", run, "--image", img, "--text", "hi", "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err, err
    assert not (tmp_path / "x").exists()
