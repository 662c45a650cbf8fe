"""memelib.faithfulness: SynthMemes' known causes, found again from a meme's pixels and caption."""

import numpy as np
import torch

from memelib.annotations import read_split
from memelib.captions import cause_words
from memelib.explain import explain
from memelib.faithfulness import (PICTURE_KINDS, heat_contrast, letters_mask, randomised_head, scene_chance,
                                  top_word_kind, truth_row, truth_summary, word_chance)
from memelib.images import open_image
from memelib.inference import Predictor
from memelib.synthetic import load_meta


def test_letters_mask_is_where_the_caption_is_drawn(synth_dir):
    meta = load_meta(synth_dir)
    for r in read_split(synth_dir, "dev")[:6]:
        image = np.asarray(open_image(synth_dir / r.img))  # (S, S, 3)
        mask = letters_mask(meta[r.id], r.text, image.shape[0])
        assert mask.shape == image.shape[:2] and mask.dtype == bool
        assert 0.01 < mask.mean() < 0.6, (r.text, mask.mean())  # some pixels are letters, most are scene
        assert not letters_mask(meta[r.id], "", image.shape[0]).any()  # no caption, no letters


def test_top_word_kind_names_group_frame_or_other():
    text = next(t for t in ("zorblats are vermin", "zorblats will never have this") if cause_words(t)[0])
    group, frame = cause_words(text)
    words = text.split()
    scores = [1.0 if w == group else 0.0 for w in words]
    assert top_word_kind(words, scores, text) == "group"
    frame_word = next(w for w in words if w in frame)
    assert top_word_kind(words, [1.0 if w == frame_word else 0.0 for w in words], text) == "frame"
    other = next(w for w in words if w != group and w not in frame)
    assert top_word_kind(words, [1.0 if w == other else 0.0 for w in words], text) == "other"


def test_heat_contrast_per_pixel_and_resized_mask():
    heat = np.zeros((4, 4))
    heat[:2] = 1.0  # the top half is hot
    mask = np.zeros((8, 8), bool)
    mask[4:] = True  # the letters: the bottom half, at twice the map's size
    assert heat_contrast(heat, mask) == (1.0, 0.0)
    assert heat_contrast(heat, mask[::2, ::2]) == (1.0, 0.0)


def test_randomised_head_changes_only_a_copy_of_the_head(tiny_run):
    p = Predictor(tiny_run, device="cpu", precision="fp32")
    before = {k: v.clone() for k, v in p.model.state_dict().items()}
    state = torch.random.get_rng_state()
    r = randomised_head(p, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream untouched
    assert all(torch.equal(v, p.model.state_dict()[k]) for k, v in before.items())
    after = r.model.state_dict()
    changed = {k for k, v in before.items() if not torch.equal(v, after[k])}
    assert changed and all(k.startswith("fusion.") for k in changed), changed
    assert {k for k in before if k.startswith("fusion.") and k.endswith("weight")} <= changed
    assert r.model.text_encoder is p.model.text_encoder and r.model.fusion is not p.model.fusion  # towers shared


def test_word_chance_is_the_share_of_cause_words():
    text = next(t for t in ("zorblats are vermin", "zorblats will never have this") if cause_words(t)[0])
    group, frame = cause_words(text)
    words = text.split()
    causes = sum(w == group or w in frame for w in words)
    assert word_chance(words, text) == causes / len(words) and 0 < causes < len(words)
    assert word_chance([], text) == 0.0


def test_scene_chance_of_random_coarse_maps():
    half = np.zeros((32, 32), bool)
    half[16:] = True  # letters on the bottom half: a random map is as likely hotter on either half
    assert 0.4 < scene_chance(half, grid=4, draws=400) < 0.6
    assert scene_chance(half, grid=4, draws=400) == scene_chance(half, grid=4, draws=400)  # seeded
    corner = np.zeros((32, 32), bool)
    corner[:2, :2] = True  # a tiny patch of letters: its mean swings more than the scene's, still about even
    assert 0.3 < scene_chance(corner, grid=4, draws=400) < 0.7


def test_truth_rows_and_summary(tiny_run, synth_dir):
    predictor = Predictor(tiny_run, device="cpu", precision="fp32")
    meta = load_meta(synth_dir)
    hateful = [r for r in read_split(synth_dir, "dev") if meta[r.id]["true_label"] == 1][:4]
    kinds = {meta[r.id]["kind"] for r in hateful}
    assert "hateful" in kinds and kinds <= {"hateful", "hateful_caption"}
    before = {k: v.clone() for k, v in predictor.model.state_dict().items()}
    rows = [truth_row(predictor, r, synth_dir, meta, occlusion=True) for r in hateful]
    assert all(torch.equal(v, predictor.model.state_dict()[k]) for k, v in before.items())  # the model untouched
    assert [r["occlusion"] is not None for r in rows] == [r["needs_picture"] for r in rows]  # only where it counts
    for row, r in zip(rows, hateful):
        assert row["needs_picture"] == (meta[r.id]["kind"] in PICTURE_KINDS)
        assert row["top_kind"] in ("group", "frame", "other") and len(row["words"]) == len(row["word_scores"])
        assert 0 <= row["word_chance"] <= 1 and 0 <= row["scene_chance"] <= 1
    summary = truth_summary(rows)
    picture = [r for r in rows if r["needs_picture"]]
    assert summary["words: top word is a cause"] == np.mean([r["top_kind"] != "other" for r in rows])
    if picture:
        assert summary["Grad-CAM: scene hotter"] == np.mean([r["gradcam"][0] > r["gradcam"][1] for r in picture])
    expl = explain(predictor, open_image(synth_dir / hateful[0].img), hateful[0].text)
    reused = truth_row(predictor, hateful[0], synth_dir, meta, explanation=expl)
    assert reused["word_scores"] == expl.word_scores and reused["gradcam"] == heat_contrast(
        expl.heatmap, letters_mask(meta[hateful[0].id], hateful[0].text, 64))
