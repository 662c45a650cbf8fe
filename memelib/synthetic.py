"""SynthMemes: a small synthetic stand-in for the Hateful Memes dataset.

The real dataset has to be obtained under its own licence, so the course can also run on memes
that this module draws. The folder it writes has the real layout: ``img/<id>.png`` and the
JSON-lines files ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl`` (no ``label`` in test), plus a
``meta.jsonl`` that says how every meme was made. Notebook 00 explores it.

Nobody real is targeted: the groups are invented (Zorblats, Quibbits, ...) and the pictures are
symbols drawn with a few shapes.

How a meme is made, in plain words:

- The **caption** either names a fictional ``group`` or is about something harmless ("my cat",
  "mondays"). A group caption has a ``frame``: "is" captions say the group *is* what the picture
  shows ("this is how zorblats live"); "never" captions say the group can *never have* it
  ("zorblats will never have this"). Both frames use several templates of the same lengths, so the
  length of a caption does not give its frame away.
- The **picture** is a scene with a ``valence``: "degrading" (trash heap, sewer, mud pit, swamp;
  browns, greys and murky greens) or "pleasant" (garden, trophy, beach, feast; bright blues,
  yellows and pinks). Details (positions, sizes, shades) are drawn from the ``scene_seed``.
- **The label rule.** A meme is hateful when its caption names a group and *either* it says the
  group is a degrading picture ("is" + degrading) *or* that the group can never have a pleasant
  one ("never" + pleasant). "is" + pleasant and "never" + degrading are benign, and so is every
  caption without a group. Frame and valence combine as an XOR: neither alone says anything, and no
  model that adds a text score to an image score (late fusion) can represent it.
- **Benign confounders.** Each split holds ``n // 3`` triplets: a hateful meme; its twin with the
  same text on a picture of the other valence (``benign_image_swap``); and its twin with the very
  same picture under another caption (``benign_text_swap``: half the time the same group with the
  other frame, half the time a caption without a group). The rest are ``benign_plain`` memes.
  So a model that reads only the text, or only looks at the picture, cannot solve the task.
- **Unseen phrasings.** Training captions use 7 of the 10 templates of each frame; dev and test use all
  10, so about 30% of their group captions are phrased in a way training never showed (``unseen`` in
  the meta), as in the real dataset's "unseen" splits. The model must generalise from meaning.
- The caption is drawn on the picture in a randomly varied size and position. Otherwise an image
  model could recognise each caption template by the shapes of its letters, learn its frame, and
  solve the task from the picture alone.

Run ``memelib synth data/synthmemes`` or call :func:`generate`.
"""
from __future__ import annotations

import io
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from .files import atomic_write_bytes, write_jsonl
from .scenes import SCENES, render_meme


__all__ = ["SynthConfig", "generate", "load_meta", "render_meme", "label_rule", "GROUPS", "SCENES"]

# Fictional groups only; captions never name a real group of people.
GROUPS = ("zorblats", "quibbits", "flumps", "grellings", "snorkels", "mooncalves")

# Caption templates. Each frame has templates of overlapping lengths (the CNN sees text length).
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
FRAMES = ("is", "never")
SPLITS = ("train", "dev", "test")
FIRST_ID = 10000  # the first meme id; ids go up across train, dev, test
# Train captions use only the first 7 templates of each frame; dev and test use all 10, so about 30% of
# their group captions are phrasings the model never saw in training (like the real "unseen" splits).
TRAIN_TEMPLATES = 7


@dataclass
class SynthConfig:
    """How many SynthMemes to draw, from which seed, at which size."""

    n_train: int = 1200  # memes in train.jsonl
    n_dev: int = 300  # memes in dev.jsonl
    n_test: int = 300  # memes in test.jsonl (written without labels, like the real test files)
    seed: int = 0  # same seed and config -> byte-identical files
    image_size: int = 128  # side of the square PNG images, in pixels


def label_rule(group: str | None, frame: str | None, valence: str) -> int:
    """Return 1 (hateful) when a group caption meets an "is"+degrading or "never"+pleasant picture."""
    if group is None:
        return 0
    return int((frame == "is") != (valence == "pleasant"))


# ----------------------------------------------------------------------------- planning


def _scene_names(valence: str) -> list[str]:
    return sorted(name for name, (v, _) in SCENES.items() if v == valence)


def _group_caption(rng: random.Random, group: str, frame: str, n_templates: int) -> tuple[str, bool]:
    """A caption of `frame` about `group` from the first `n_templates` templates, and whether its
    template is one that training never shows ("unseen")."""
    templates = IS_TEMPLATES if frame == "is" else NEVER_TEMPLATES
    i = rng.randrange(min(n_templates, len(templates)))
    return templates[i].format(g=group), i >= TRAIN_TEMPLATES


def _plain_caption(rng: random.Random) -> str:
    return rng.choice(PLAIN_TEMPLATES).format(s=rng.choice(SUBJECTS))


def _meme(kind: str, text: str, group: str | None, frame: str | None,
          valence: str, rng: random.Random, scene: str | None = None, scene_seed: int | None = None) -> dict:
    """One planned meme; draws a new picture of ``valence`` unless a scene is given."""
    if scene is None:
        scene, scene_seed = rng.choice(_scene_names(valence)), rng.randrange(2**31)
    return {"kind": kind, "text": text, "group": group, "frame": frame, "scene": scene,
            "scene_seed": scene_seed, "valence": valence, "label": label_rule(group, frame, valence)}


def _plan_split(n: int, rng: random.Random, n_templates: int) -> list[dict]:
    """Plan ``n`` memes: ``n // 3`` hateful triplets with their two benign twins, then plain ones."""
    memes: list[dict] = []
    for t in range(n // 3):
        group, frame = rng.choice(GROUPS), rng.choice(FRAMES)
        text, unseen = _group_caption(rng, group, frame, n_templates)
        valence = "degrading" if frame == "is" else "pleasant"  # the two hateful combinations
        other = "pleasant" if valence == "degrading" else "degrading"
        hateful = _meme("hateful", text, group, frame, valence, rng)
        image_swap = _meme("benign_image_swap", text, group, frame, other, rng)
        if rng.random() < 0.5:  # same group, other frame: the XOR flips back to benign
            frame2 = "never" if frame == "is" else "is"
            (text2, unseen2), group2 = _group_caption(rng, group, frame2, n_templates), group
        else:  # no group at all
            text2, group2, frame2, unseen2 = _plain_caption(rng), None, None, False
        text_swap = _meme("benign_text_swap", text2, group2, frame2, valence, rng,
                          hateful["scene"], hateful["scene_seed"])
        hateful["unseen"] = image_swap["unseen"] = unseen
        text_swap["unseen"] = unseen2
        for m in (hateful, image_swap, text_swap):
            m["triplet"] = t
        memes += [hateful, image_swap, text_swap]
    for _ in range(n - 3 * (n // 3)):
        plain = _meme("benign_plain", _plain_caption(rng), None, None,
                      rng.choice(("degrading", "pleasant")), rng)
        plain["triplet"], plain["unseen"] = None, False
        memes.append(plain)
    rng.shuffle(memes)
    return memes


# ----------------------------------------------------------------------------- writing


def _save_png(img: Image.Image, path: Path) -> None:
    """A PNG written atomically (fast compression: SynthMemes is regenerated in seconds when needed)."""
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=1)
    atomic_write_bytes(path, buffer.getvalue(), fsync=False)


def load_meta(data_dir: str | Path) -> dict[str, dict]:
    """Read ``meta.jsonl`` of a SynthMemes folder: ``str(id)`` -> how that meme was made.

    Each record has ``id``, ``split``, ``kind``, ``group``, ``frame``, ``scene``, ``scene_seed``,
    ``valence``, ``label``, ``triplet`` (the id of the hateful meme of its triplet, or None) and
    ``unseen`` (True when the caption's template never appears in train).
    """
    with open(Path(data_dir) / "meta.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {str(row["id"]): row for row in rows}


def _remove_stale_images(out: Path, keep: set[int]) -> None:
    """Delete images a previous run listed in meta.jsonl that this run does not write."""
    if not (out / "meta.jsonl").exists():
        return
    for key in load_meta(out):
        stale = out / "img" / f"{key}.png"
        if re.fullmatch(r"\d+", key) and int(key) not in keep and stale.exists():
            stale.unlink()


def generate(out_dir: str | Path, cfg: SynthConfig | None = None, progress: bool = False) -> dict[str, int]:
    """Write a SynthMemes folder at ``out_dir`` and return the number of memes per split.

    Creates ``out_dir/img/<id>.png``, ``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` (no labels)
    and ``meta.jsonl``. An earlier SynthMemes folder is overwritten; a folder that holds
    ``train.jsonl`` but no ``meta.jsonl`` (e.g. the real dataset) is refused.
    """
    cfg = cfg or SynthConfig()
    out = Path(out_dir)
    if (out / "train.jsonl").exists() and not (out / "meta.jsonl").exists():
        raise FileExistsError(f"{out} holds train.jsonl but no meta.jsonl: not a SynthMemes folder")
    (out / "img").mkdir(parents=True, exist_ok=True)
    sizes = {"train": cfg.n_train, "dev": cfg.n_dev, "test": cfg.n_test}
    n_templates = {"train": TRAIN_TEMPLATES, "dev": len(IS_TEMPLATES), "test": len(IS_TEMPLATES)}
    plans = {s: _plan_split(sizes[s], random.Random(f"synthmemes:{cfg.seed}:{s}"), n_templates[s]) for s in SPLITS}
    next_id, meta = FIRST_ID, []
    for split in SPLITS:
        for m in plans[split]:
            m["id"], m["split"] = next_id, split
            next_id += 1
        by_triplet = {m["triplet"]: m["id"] for m in plans[split] if m["kind"] == "hateful"}
        for m in plans[split]:
            m["triplet"] = by_triplet.get(m["triplet"])
    _remove_stale_images(out, set(range(FIRST_ID, next_id)))
    bar = tqdm(total=next_id - FIRST_ID, desc="SynthMemes", disable=not progress)
    for split in SPLITS:
        rows = []
        for m in plans[split]:
            img = render_meme(m["scene"], m["scene_seed"], m["text"], cfg.image_size)
            _save_png(img, out / "img" / f"{m['id']}.png")
            row = {"id": m["id"], "img": f"img/{m['id']}.png", "text": m["text"]}
            if split != "test":
                row["label"] = m["label"]
            rows.append(row)
            meta.append({k: m[k] for k in ("id", "split", "kind", "group", "frame", "scene",
                                           "scene_seed", "valence", "label", "triplet", "unseen")})
            bar.update(1)
        write_jsonl(out / f"{split}.jsonl", rows)
    bar.close()
    write_jsonl(out / "meta.jsonl", meta)
    return dict(sizes)
