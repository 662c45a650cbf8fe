"""memelib.faithfulness: SynthMemes' known causes, found again from a meme's pixels and caption."""

import numpy as np
import torch

from memelib.annotations import read_split
from memelib.captions import cause_words
from memelib.faithfulness import heat_contrast, letters_mask, randomised_head, top_word_kind
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
