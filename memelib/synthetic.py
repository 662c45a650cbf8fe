"""SynthMemes: a small synthetic stand-in for the Hateful Memes dataset, a teaching world.

The real dataset has to be obtained under its own licence, so the course can also run on memes that this
module draws. The folder it writes has the real layout: ``img/<id>.png`` and the JSON-lines files
``train.jsonl``, ``dev.jsonl``, ``test_seen.jsonl`` (labelled, held out) and ``test.jsonl`` (no labels,
like the real test files), plus a ``meta.jsonl`` that says how every meme was made. Notebook 00 explores it.

Nobody real is targeted: the groups are invented (Zorblats, Quibbits, ...; see :mod:`memelib.captions`)
and the pictures are symbols drawn with a few shapes.

How a meme is made, in plain words:

- The **caption** names an invented ``group`` or is about something harmless ("my cat", "mondays"). A
  group caption has a ``frame``: "is" (the group *is* what the picture shows), "never" (the group can
  *never have* it), "attack" (a dehumanising statement, hateful by the words alone) or "mention" (the group
  named neutrally, benign).
- The **picture** is a scene with a ``valence``: "degrading" (trash heap, sewer, mud pit, swamp) or
  "pleasant" (garden, trophy, beach, feast). Details come from the ``scene_seed``.
- **The label rule** (:func:`memelib.captions.label_rule`): "attack" is hateful on any picture; "is" +
  degrading and "never" + pleasant are hateful; everything else is benign. For "is" and "never" frame and
  valence combine as an XOR: neither alone says anything, and no model that adds a text score to an image
  score (late fusion) can represent it.
- **Benign confounders.** Part of each split (``twin_share``) is triplets: a hateful "is"/"never" meme; its
  twin with the same text on a picture of the other valence (``benign_image_swap``); and its twin with the
  very same picture under another caption (``benign_text_swap``: half the time the same group with the
  other frame, half the time a caption without a group).
- **Hateful by the caption alone** (``hateful_caption``, ``caption_hate_share``): an "attack" caption on any
  picture, no twins, as many real hateful memes are. **Neutral mentions** (``benign_mention``,
  ``mention_share``) name a group on any picture. The rest, if any, are ``benign_plain`` memes without a
  group; in train, plain memes also take the places of the twins the bias removes.
- **Annotator disagreement.** ``label_noise`` of the *training* labels are flipped, as real annotators
  disagree; dev and test keep the true labels. meta.jsonl has both (``label`` as written, ``true_label``).
- **A dataset bias**, in the training split only: for one group (``bias_group``), ``bias_share`` of its
  triplets lose both benign twins (plain memes take their places), so that group is over-represented among
  hateful memes without a twin. A model can learn "this name means hateful" and flag that group's benign
  memes more often: notebook 07 measures it.
- **Unseen phrasings.** Training captions use 7 of the 10 templates of each group frame; dev and test use
  all 10 (``unseen`` in the meta), as in the real dataset's "unseen" splits.
- The caption is drawn on the picture in a randomly varied size and position, so that an image model
  cannot recognise a caption template by the shapes of its letters.

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

from .captions import GROUPS, TRAIN_TEMPLATES, TEMPLATES, group_caption, label_rule, plain_caption
from .files import atomic_write_bytes, atomic_write_text, write_jsonl
from .scenes import SCENES, render_meme


__all__ = ["SynthConfig", "generate", "load_meta", "render_meme", "label_rule", "GROUPS", "SCENES", "SPLITS", "FORMAT",
           "KINDS", "META_KEYS", "META_FILE", "plan", "is_synthmemes", "is_generated", "stamp", "STAMP_FILE"]

# Written in this order, ids going up across them; test.jsonl without labels, like the real test files.
SPLITS = ("train", "dev", "test_seen", "test")
KINDS = ("hateful", "benign_image_swap", "benign_text_swap", "hateful_caption", "benign_mention", "benign_plain")
META_KEYS = ("id", "split", "kind", "group", "frame", "scene", "scene_seed", "valence", "label", "true_label",
             "triplet", "unseen")
FIRST_ID = 10000  # the first meme id
META_FILE = "meta.jsonl"  # how each meme was made; only a SynthMemes folder has one
STAMP_FILE = ".synthconfig"  # written by generate; what ensure_synthmemes and make check look for
FORMAT = 2  # the version of SynthMemes' rules: 2 added captions hateful alone, mentions, noise, bias, test_seen


@dataclass
class SynthConfig:
    """How many SynthMemes to draw, from which seed, at which size, and how hard the task is."""

    n_train: int = 900  # memes in train.jsonl
    n_dev: int = 300  # memes in dev.jsonl (early stopping and threshold tuning use it)
    n_test: int = 300  # memes in test.jsonl (written without labels, like the real test files)
    seed: int = 0  # same seed and config -> byte-identical files
    image_size: int = 128  # side of the square PNG images, in pixels
    n_test_seen: int = 300  # memes in test_seen.jsonl: labelled, held out, scored once at the end
    twin_share: float = 0.8  # share of each split in hateful "is"/"never" triplets with their two benign twins
    caption_hate_share: float = 0.05  # share hateful by the caption alone ("attack" captions, no twins)
    mention_share: float = 0.15  # share that name a group neutrally (benign); the rest have no group
    label_noise: float = 0.15  # share of TRAINING labels flipped (annotators disagree); 0 for clean labels
    bias_group: str | None = "quibbits"  # over-represented among hateful training memes without a twin; None: none
    bias_share: float = 0.6  # share of that group's training triplets whose two benign twins are left out

    def __post_init__(self) -> None:
        for name in ("n_train", "n_dev", "n_test", "n_test_seen"):
            if getattr(self, name) < 0:
                raise ValueError(f"SynthConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("twin_share", "caption_hate_share", "mention_share", "label_noise", "bias_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SynthConfig.{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.twin_share + self.caption_hate_share + self.mention_share > 1.0:
            raise ValueError("SynthConfig: twin_share + caption_hate_share + mention_share must be at most 1")
        if self.bias_group is not None and self.bias_group not in GROUPS:
            raise ValueError(f"SynthConfig.bias_group must be one of {', '.join(GROUPS)} or None, got {self.bias_group!r}")

    def size(self, split: str) -> int:
        return {"train": self.n_train, "dev": self.n_dev, "test_seen": self.n_test_seen, "test": self.n_test}[split]


# ----------------------------------------------------------------------------- planning


def _scene_names(valence: str) -> list[str]:
    return sorted(name for name, (v, _) in SCENES.items() if v == valence)


def _balanced(rng: random.Random, k: int, groups: tuple[str, ...] = GROUPS) -> list[str]:
    """`k` groups, each as often as the others (up to one), in random order."""
    out = [groups[i % len(groups)] for i in range(k)]
    rng.shuffle(out)
    return out


def _meme(kind: str, text: str, group: str | None, frame: str | None, valence: str, rng: random.Random,
          scene: str | None = None, scene_seed: int | None = None, unseen: bool = False) -> dict:
    """One planned meme; draws a new picture of ``valence`` unless a scene is given."""
    if scene is None:
        scene, scene_seed = rng.choice(_scene_names(valence)), rng.randrange(2**31)
    label = label_rule(group, frame, valence)
    return {"kind": kind, "text": text, "group": group, "frame": frame, "scene": scene, "scene_seed": scene_seed,
            "valence": valence, "label": label, "true_label": label, "triplet": None, "unseen": unseen}


def _triplet(rng: random.Random, t: int, group: str, n_templates: int) -> list[dict]:
    """A hateful "is"/"never" meme, its image-swap twin and its text-swap twin, all tagged `triplet` t."""
    frame = rng.choice(("is", "never"))
    text, unseen = group_caption(rng, group, frame, n_templates)
    valence = "degrading" if frame == "is" else "pleasant"  # the two hateful combinations
    other = "pleasant" if valence == "degrading" else "degrading"
    hateful = _meme("hateful", text, group, frame, valence, rng, unseen=unseen)
    image_swap = _meme("benign_image_swap", text, group, frame, other, rng, unseen=unseen)
    if rng.random() < 0.5:  # same group, other frame: the XOR flips back to benign
        frame2 = "never" if frame == "is" else "is"
        (text2, unseen2), group2 = group_caption(rng, group, frame2, n_templates), group
    else:  # no group at all
        text2, group2, frame2, unseen2 = plain_caption(rng), None, None, False
    text_swap = _meme("benign_text_swap", text2, group2, frame2, valence, rng, hateful["scene"],
                      hateful["scene_seed"], unseen2)
    for m in (hateful, image_swap, text_swap):
        m["triplet"] = t
    return [hateful, image_swap, text_swap]


def _any_valence(rng: random.Random) -> str:
    return rng.choice(("degrading", "pleasant"))


def _orphan(memes: list[dict], cfg: SynthConfig, rng: random.Random) -> list[dict]:
    """The training bias: `bias_share` of `bias_group`'s triplets lose both benign twins (a plain meme takes
    each twin's place), so that group is over-represented among hateful memes without a twin."""
    if cfg.bias_group is None:
        return memes
    triplets = sorted({m["triplet"] for m in memes if m["kind"] == "hateful" and m["group"] == cfg.bias_group})
    dropped = set(rng.sample(triplets, round(cfg.bias_share * len(triplets))))
    out = []
    for m in memes:
        if m["triplet"] in dropped and m["kind"] != "hateful":
            m = _meme("benign_plain", plain_caption(rng), None, None, _any_valence(rng), rng)
        out.append(m)
    return out


def _plan_split(split: str, rng: random.Random, cfg: SynthConfig) -> list[dict]:
    """Plan the memes of `split`: triplets, hateful-by-caption memes, neutral mentions, plain memes, shuffled;
    on train, with the dataset bias and the flipped labels."""
    n, train = cfg.size(split), split == "train"
    n_templates = TRAIN_TEMPLATES if train else len(TEMPLATES["is"])
    n_triplets = min(round(cfg.twin_share * n / 3), n // 3)  # (the min: a split smaller than its shares)
    n_attack = min(round(cfg.caption_hate_share * n), n - 3 * n_triplets)
    n_mention = min(round(cfg.mention_share * n), n - 3 * n_triplets - n_attack)
    memes: list[dict] = []
    for t, group in enumerate(_balanced(rng, n_triplets)):
        memes += _triplet(rng, t, group, n_templates)
    if train:
        memes = _orphan(memes, cfg, rng)
    for group in _balanced(rng, n_attack):
        text, unseen = group_caption(rng, group, "attack", n_templates)
        memes.append(_meme("hateful_caption", text, group, "attack", _any_valence(rng), rng, unseen=unseen))
    for group in _balanced(rng, n_mention):
        text, unseen = group_caption(rng, group, "mention", n_templates)
        memes.append(_meme("benign_mention", text, group, "mention", _any_valence(rng), rng, unseen=unseen))
    while len(memes) < n:
        memes.append(_meme("benign_plain", plain_caption(rng), None, None, _any_valence(rng), rng))
    rng.shuffle(memes)
    if train:
        for m in rng.sample(memes, round(cfg.label_noise * len(memes))):
            m["label"] = 1 - m["true_label"]  # an annotator's disagreement
    return memes


# ----------------------------------------------------------------------------- writing


def _save_png(img: Image.Image, path: Path) -> None:
    """A PNG written atomically (fast compression: SynthMemes is regenerated in seconds when needed)."""
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=1)
    atomic_write_bytes(path, buffer.getvalue(), fsync=False)


def is_synthmemes(data_dir: str | Path) -> bool:
    """Whether `data_dir` holds SynthMemes (invented groups, nothing to hide), which its meta.jsonl says."""
    return (Path(data_dir) / META_FILE).is_file()


def load_meta(data_dir: str | Path) -> dict[str, dict]:
    """Read ``meta.jsonl`` of a SynthMemes folder: ``str(id)`` -> how that meme was made.

    Each record has ``id``, ``split``, ``kind`` (one of :data:`KINDS`), ``group``, ``frame``, ``scene``,
    ``scene_seed``, ``valence``, ``label`` (as written in the split file: flipped for a share of training
    memes), ``true_label`` (what the label rule says), ``triplet`` (the id of the hateful meme of its triplet,
    or None) and ``unseen`` (True when the caption's template never appears in train).
    """
    path = Path(data_dir) / META_FILE
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if rows and "true_label" not in rows[0]:
        raise ValueError(f"{path}: written by an older memelib (no true_label); generate SynthMemes again")
    return {str(row["id"]): row for row in rows}


def _remove_stale_images(out: Path, keep: set[int]) -> None:
    """Delete images a previous run listed in meta.jsonl that this run does not write."""
    if not (out / "meta.jsonl").exists():
        return
    with open(out / "meta.jsonl", encoding="utf-8") as f:
        keys = [str(json.loads(line)["id"]) for line in f if line.strip()]
    for key in keys:
        stale = out / "img" / f"{key}.png"
        if re.fullmatch(r"\d+", key) and int(key) not in keep and stale.exists():
            stale.unlink()


def plan(cfg: SynthConfig) -> dict[str, list[dict]]:
    """Every split's memes as planned (the meta records, ids given), without drawing a picture."""
    plans = {s: _plan_split(s, random.Random(f"synthmemes:{cfg.seed}:{s}"), cfg) for s in SPLITS}
    next_id = FIRST_ID
    for split in SPLITS:
        for m in plans[split]:
            m["id"], m["split"] = next_id, split
            next_id += 1
        by_triplet = {m["triplet"]: m["id"] for m in plans[split] if m["kind"] == "hateful"}
        for m in plans[split]:
            m["triplet"] = by_triplet.get(m["triplet"])
    return {s: [{k: m[k] for k in META_KEYS} | {"text": m["text"]} for m in plans[s]] for s in SPLITS}


def generate(out_dir: str | Path, cfg: SynthConfig | None = None, progress: bool = False) -> dict[str, int]:
    """Write a SynthMemes folder at ``out_dir`` and return the number of memes per split.

    Creates ``out_dir/img/<id>.png``, ``train.jsonl``, ``dev.jsonl``, ``test_seen.jsonl``, ``test.jsonl``
    (no labels) and ``meta.jsonl``. An earlier SynthMemes folder is overwritten; a folder that holds
    ``train.jsonl`` but no ``meta.jsonl`` (e.g. the real dataset) is refused.
    """
    cfg = cfg or SynthConfig()
    out = Path(out_dir)
    if (out / "train.jsonl").exists() and not (out / "meta.jsonl").exists():
        raise FileExistsError(f"{out} holds train.jsonl but no meta.jsonl: not a SynthMemes folder")
    (out / "img").mkdir(parents=True, exist_ok=True)
    plans = plan(cfg)
    _remove_stale_images(out, {m["id"] for memes in plans.values() for m in memes})
    bar = tqdm(total=sum(len(memes) for memes in plans.values()), desc="SynthMemes", disable=not progress)
    for split in SPLITS:
        rows = []
        for m in plans[split]:
            img = render_meme(m["scene"], m["scene_seed"], m["text"], cfg.image_size)
            _save_png(img, out / "img" / f"{m['id']}.png")
            row = {"id": m["id"], "img": f"img/{m['id']}.png", "text": m["text"]}
            rows.append(row if split == "test" else row | {"label": m["label"]})
            bar.update(1)
        write_jsonl(out / f"{split}.jsonl", rows)
    bar.close()
    write_jsonl(out / "meta.jsonl", [{k: m[k] for k in META_KEYS} for s in SPLITS for m in plans[s]])
    atomic_write_text(out / STAMP_FILE, stamp(cfg))  # last: a folder with the stamp is complete
    return {s: len(plans[s]) for s in SPLITS}


def stamp(cfg: SynthConfig) -> str:
    """The text of a SynthMemes folder's `.synthconfig`: the rules' version and the configuration it was made with."""
    return f"SynthMemes format {FORMAT}: {cfg!r}"


def is_generated(folder: str | Path, cfg: SynthConfig | None = None) -> bool:
    """True when `folder` holds exactly the SynthMemes set `cfg` (default: the course's) generates: its stamp, and
    every split complete."""
    cfg, folder = cfg or SynthConfig(), Path(folder)
    marker = folder / STAMP_FILE
    if not marker.is_file() or marker.read_text() != stamp(cfg):
        return False
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            if sum(1 for line in f if line.strip()) != cfg.size(split):
                return False
    return True
