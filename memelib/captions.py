"""SynthMemes' captions: the invented groups, the caption templates and the label rule.

Every group is invented (Zorblats, Quibbits, ...): the course never puts words of hate against real
people into the files it ships. A caption is of one of five sorts, its ``frame``:

- ``"is"``: the group *is* what the picture shows ("this is how zorblats live");
- ``"never"``: the group can *never have* what the picture shows ("zorblats will never have this");
- ``"attack"``: a dehumanising statement about the group, hateful whatever the picture ("zorblats are vermin");
- ``"mention"``: the group named in a neutral or friendly way, benign whatever the picture;
- ``None``: no group at all, about something harmless ("my cat at 3 am").

"is" and "never" captions are hateful only with a picture of one valence (:func:`label_rule`): their
meaning needs the picture. Training shows the first :data:`TRAIN_TEMPLATES` templates of every group
frame; dev and test use all of them, so some of their captions are phrased in a way training never showed.

What makes a caption what it is: its group word and its template's :data:`FRAME_WORDS` ("vermin" in
"{g} are vermin", "never" in "{g} will never have this"). :func:`cause_words` finds both for a caption, so
that an explanation (memelib.explain) can be checked against the words that really decide the label.
"""

from __future__ import annotations

import random
import re
from functools import cache

__all__ = [
    "GROUPS", "IS_TEMPLATES", "NEVER_TEMPLATES", "ATTACK_TEMPLATES", "MENTION_TEMPLATES", "SUBJECTS",
    "PLAIN_TEMPLATES", "TEMPLATES", "FRAMES", "TRAIN_TEMPLATES", "FRAME_WORDS", "label_rule", "group_caption",
    "plain_caption", "cause_words",
]

# Fictional groups only; captions never name a real group of people.
GROUPS = ("zorblats", "quibbits", "flumps", "grellings", "snorkels", "mooncalves")

# Each frame has templates of overlapping lengths (an image model sees the length of the printed caption).
IS_TEMPLATES = (
    "this is how {g} live",
    "spotted: a family of {g} at home",
    "every {g} house ever",
    "{g} in their natural habitat",
    "a day in the life of {g}",
    "welcome to {g} town",
    "{g} after a long day, at home",
    "this is where all {g} belong",
    "my {g} neighbours be like",
    "just {g} being {g}",
)
NEVER_TEMPLATES = (
    "{g} will never have this",
    "what {g} wish they had",
    "{g} could only dream of this",
    "something {g} will never get",
    "not for {g}, not ever",
    "{g} can't even imagine it",
    "what {g} will never get to see",
    "no {g} allowed here, ever",
    "{g} look at this and cry",
    "too good for any {g}",
)
# Hateful by the words alone: they deny the group its humanity, as real hateful captions do.
ATTACK_TEMPLATES = (
    "{g} are vermin",
    "{g} are not even people",
    "keep {g} out of our town",
    "{g} are a disease",
    "never trust {g}, they are animals",
    "{g} ruin everything they touch",
    "{g} are parasites, all of them",
    "{g} should not have rights",
    "{g} breed like rats",
    "the world is better without {g}",
)
# Benign: the group named as anyone would name their neighbours.
MENTION_TEMPLATES = (
    "the {g} festival starts this weekend",
    "met two {g} at the bus stop today",
    "my {g} coworker brought cake",
    "a short history of {g} music",
    "{g} kids at the science fair",
    "shoutout to the {g} community choir",
    "our {g} neighbours helped us move",
    "trying {g} street food for the first time",
    "{g} new year parade, best day",
    "learning to count in the {g} language",
)
# The words of each group template that carry its frame (lowercase, as written in the template). A "mention"
# names the group and says nothing about it, so its templates have none. A test checks that every group
# template has an entry and that each frame word is one of its template's words.
FRAME_WORDS: dict[str, tuple[str, ...]] = {
    # "is": the group *is* what the picture shows
    "this is how {g} live": ("is", "live"),
    "spotted: a family of {g} at home": ("home",),
    "every {g} house ever": ("house",),
    "{g} in their natural habitat": ("natural", "habitat"),
    "a day in the life of {g}": ("life",),
    "welcome to {g} town": ("welcome", "town"),
    "{g} after a long day, at home": ("home",),
    "this is where all {g} belong": ("where", "belong"),
    "my {g} neighbours be like": ("be", "like"),
    "just {g} being {g}": ("being",),
    # "never": the group can never have what the picture shows
    "{g} will never have this": ("never",),
    "what {g} wish they had": ("wish", "had"),
    "{g} could only dream of this": ("only", "dream"),
    "something {g} will never get": ("never",),
    "not for {g}, not ever": ("not", "ever"),
    "{g} can't even imagine it": ("can't", "imagine"),
    "what {g} will never get to see": ("never",),
    "no {g} allowed here, ever": ("no", "allowed", "ever"),
    "{g} look at this and cry": ("cry",),
    "too good for any {g}": ("too", "good"),
    # "attack": the dehumanising words themselves
    "{g} are vermin": ("vermin",),
    "{g} are not even people": ("not", "people"),
    "keep {g} out of our town": ("keep", "out"),
    "{g} are a disease": ("disease",),
    "never trust {g}, they are animals": ("never", "trust", "animals"),
    "{g} ruin everything they touch": ("ruin",),
    "{g} are parasites, all of them": ("parasites",),
    "{g} should not have rights": ("not", "rights"),
    "{g} breed like rats": ("breed", "rats"),
    "the world is better without {g}": ("better", "without"),
    # "mention": none
    **{template: () for template in MENTION_TEMPLATES},
}
TEMPLATES = {"is": IS_TEMPLATES, "never": NEVER_TEMPLATES, "attack": ATTACK_TEMPLATES, "mention": MENTION_TEMPLATES}
FRAMES = ("is", "never")  # the two frames whose meaning needs the picture
# Harmless subjects and templates for captions without a group.
SUBJECTS = ("my cat", "mondays", "my code", "the printer", "the wifi", "my houseplants",
            "the group chat", "my alarm clock", "grandma's soup", "my old laptop")
PLAIN_TEMPLATES = (
    "{s} at 3 am",
    "{s} on a monday morning",
    "me explaining {s} to my mom",
    "{s} when i need it most",
    "how it feels to deal with {s}",
    "{s} will never let me rest",
    "this is {s} every single day",
    "nobody: absolutely nobody: {s}",
    "{s} after one tiny update",
    "when {s} finally works",
)
# Train captions use only the first 7 templates of each group frame; dev and test use all 10, so about 30%
# of their group captions are phrasings the model never saw in training (like the real "unseen" splits).
TRAIN_TEMPLATES = 7


def label_rule(group: str | None, frame: str | None, valence: str) -> int:
    """1 (hateful) for an "attack" caption, or for a group caption whose frame meets a picture of the wrong
    valence: "is" + degrading, "never" + pleasant. 0 for a "mention", for "is" + pleasant, "never" + degrading,
    and for every caption without a group."""
    if group is None or frame == "mention":
        return 0
    if frame == "attack":
        return 1
    return int((frame == "is") != (valence == "pleasant"))


def group_caption(rng: random.Random, group: str, frame: str, n_templates: int) -> tuple[str, bool]:
    """A caption of `frame` about `group` from the first `n_templates` templates of that frame, and whether
    its template is one that training never shows ("unseen")."""
    templates = TEMPLATES[frame]
    i = rng.randrange(min(n_templates, len(templates)))
    return templates[i].format(g=group), i >= TRAIN_TEMPLATES


def plain_caption(rng: random.Random) -> str:
    """A caption about something harmless, without a group."""
    return rng.choice(PLAIN_TEMPLATES).format(s=rng.choice(SUBJECTS))


@cache
def _template_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """One regular expression per group template: "{g} are vermin" -> "(?P<g>zorblats|quibbits|...) are vermin"."""
    groups = "|".join(map(re.escape, GROUPS))
    patterns = []
    for templates in TEMPLATES.values():
        for template in templates:
            parts = [re.escape(part) for part in template.split("{g}")]
            body = parts[0] + f"(?P<g>{groups})" + "(?P=g)".join(parts[1:])  # a repeated {g} is the same group
            patterns.append((re.compile(body), template))
    return tuple(patterns)


def cause_words(caption: str) -> tuple[str | None, tuple[str, ...]]:
    """(group word, frame words) of a SynthMemes caption, from the group template it was made from:
    ("zorblats", ("vermin",)) for "zorblats are vermin". (None, ()) for a caption no group template makes
    (a caption without a group, or not from SynthMemes). Case and surrounding spaces are ignored."""
    text = caption.strip().lower()
    for pattern, template in _template_patterns():
        match = pattern.fullmatch(text)
        if match:
            return match.group("g"), FRAME_WORDS[template]
    return None, ()
