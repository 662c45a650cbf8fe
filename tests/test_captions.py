"""Frame words and cause_words: every SynthMemes caption leads back to its group word and frame words."""

import random
import re

import pytest

from memelib.captions import FRAME_WORDS, GROUPS, MENTION_TEMPLATES, TEMPLATES, cause_words, group_caption, plain_caption
from memelib.synthetic import SynthConfig, plan


def _words(template: str) -> list[str]:
    return re.findall(r"[a-z']+|\{g\}", template)


def test_every_group_template_has_frame_words_taken_from_its_own_words():
    templates = [t for frame in TEMPLATES.values() for t in frame]
    assert sorted(FRAME_WORDS) == sorted(templates)
    for template, words in FRAME_WORDS.items():
        assert all(w in _words(template) for w in words), template
    for frame in ("is", "never", "attack"):  # frames carried by words
        assert all(FRAME_WORDS[t] for t in TEMPLATES[frame])
    assert all(FRAME_WORDS[t] == () for t in MENTION_TEMPLATES)  # a mention says nothing about the group


@pytest.mark.parametrize("frame", list(TEMPLATES))
def test_cause_words_finds_the_template_of_every_caption(frame):
    for template in TEMPLATES[frame]:
        for group in GROUPS:
            assert cause_words(template.format(g=group)) == (group, FRAME_WORDS[template])
            assert cause_words("  " + template.format(g=group).upper() + " ") == (group, FRAME_WORDS[template])


def test_each_caption_matches_exactly_one_template():
    for template in FRAME_WORDS:
        caption = template.format(g=GROUPS[0])
        matching = [t for t in FRAME_WORDS if re.fullmatch(re.escape(t).replace(r"\{g\}", GROUPS[0]), caption)]
        assert matching == [template]


def test_captions_without_a_group_have_no_cause_words():
    rng = random.Random(0)
    for _ in range(50):
        assert cause_words(plain_caption(rng)) == (None, ())
    assert cause_words("") == (None, ())
    assert cause_words("just zorblats being flumps") == (None, ())  # a repeated {g} is one group
    assert cause_words("zorblats are vermin indeed") == (None, ())  # the whole caption, not a part


def test_cause_words_agrees_with_how_synthmemes_were_planned():
    plans = plan(SynthConfig(n_train=60, n_dev=60, n_test=0, n_test_seen=0, seed=3))
    for meme in plans["train"] + plans["dev"]:
        group, frame_words = cause_words(meme["text"])
        assert group == meme["group"]
        if meme["frame"] in ("is", "never", "attack"):
            assert frame_words
    rng = random.Random(1)
    caption, _ = group_caption(rng, "flumps", "attack", 10)
    assert cause_words(caption)[0] == "flumps"
