"""Tests for memelib.synthetic: layout, determinism, the confounder rules, label noise and the bias of SynthMemes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memelib.synthetic import GROUPS, KINDS, META_KEYS, SCENES, SynthConfig, generate, label_rule, load_meta, plan, render_meme

SMALL = SynthConfig(n_train=60, n_dev=30, n_test=16, seed=3, image_size=64, n_test_seen=20)
SPLITS = ("train", "dev", "test_seen", "test")
SIZES = {"train": SMALL.n_train, "dev": SMALL.n_dev, "test_seen": SMALL.n_test_seen, "test": SMALL.n_test}
# A few real-world words for protected groups; no caption may contain any of them.
REAL_GROUP_WORDS = ("jew", "muslim", "christian", "black", "white", "asian", "arab", "african", "mexican",
                    "gay", "lesbian", "trans", "immigrant", "refugee", "women", "disabled", "hindu", "gypsy")


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "synthmemes"
    generate(out, SMALL)
    return out


def test_layout_and_record_fields(small_dir: Path) -> None:
    assert (small_dir / "img").is_dir()
    for split in SPLITS:
        rows = _read_jsonl(small_dir / f"{split}.jsonl")
        assert len(rows) == SIZES[split]
        for row in rows:
            expected = {"id", "img", "text"} if split == "test" else {"id", "img", "text", "label"}
            assert set(row) == expected
            assert isinstance(row["id"], int) and row["id"] >= 10000
            assert row["img"] == f"img/{row['id']}.png"
            assert isinstance(row["text"], str) and row["text"]
            if split != "test":
                assert row["label"] in (0, 1)
    assert not list(small_dir.glob("*.tmp"))


def test_returns_counts_and_ids_unique(tmp_path: Path) -> None:
    counts = generate(tmp_path / "d", SMALL)
    assert counts == SIZES
    ids = [r["id"] for s in SPLITS for r in _read_jsonl(tmp_path / "d" / f"{s}.jsonl")]
    assert len(ids) == len(set(ids)) == sum(counts.values())
    assert min(ids) == 10000


def test_images_open_with_configured_size(small_dir: Path) -> None:
    for split in SPLITS:
        for row in _read_jsonl(small_dir / f"{split}.jsonl"):
            with Image.open(small_dir / row["img"]) as img:
                assert img.format == "PNG"
                assert img.size == (SMALL.image_size, SMALL.image_size)
                assert img.mode == "RGB"


def test_meta_matches_jsonl(small_dir: Path) -> None:
    meta = load_meta(small_dir)
    keys = {"id", "split", "kind", "group", "frame", "scene", "scene_seed", "valence", "label", "true_label",
            "triplet", "unseen"}
    assert set(META_KEYS) == keys
    assert len(meta) == sum(SIZES.values())
    for split in SPLITS:
        for row in _read_jsonl(small_dir / f"{split}.jsonl"):
            m = meta[str(row["id"])]
            assert set(m) == keys
            assert m["split"] == split
            assert m["kind"] in KINDS
            assert m["scene"] in SCENES and SCENES[m["scene"]][0] == m["valence"]
            if split != "test":
                assert row["label"] == m["label"]


def test_label_rule_on_every_row(small_dir: Path) -> None:
    for m in load_meta(small_dir).values():
        assert m["true_label"] == label_rule(m["group"], m["frame"], m["valence"])
        assert m["true_label"] == int(m["kind"] in ("hateful", "hateful_caption"))
        if m["split"] != "train":
            assert m["label"] == m["true_label"]  # only training labels are noisy
        if m["group"] is None:
            assert m["frame"] is None and m["true_label"] == 0
        else:
            assert m["group"] in GROUPS and m["frame"] in ("is", "never", "attack", "mention")
    # the XOR table itself
    assert label_rule("flumps", "is", "degrading") == 1
    assert label_rule("flumps", "is", "pleasant") == 0
    assert label_rule("flumps", "never", "pleasant") == 1
    assert label_rule("flumps", "never", "degrading") == 0
    assert label_rule(None, None, "degrading") == 0
    # the caption alone decides: any picture
    for valence in ("degrading", "pleasant"):
        assert label_rule("flumps", "attack", valence) == 1
        assert label_rule("flumps", "mention", valence) == 0


def test_structure_counts() -> None:
    cfg = SynthConfig(n_train=600, n_dev=300, n_test=150, n_test_seen=300, bias_group=None)
    for split, memes in plan(cfg).items():
        n, kinds = cfg.size(split), [m["kind"] for m in memes]
        triplets = round(cfg.twin_share * n / 3)
        assert kinds.count("hateful") == kinds.count("benign_image_swap") == kinds.count("benign_text_swap") == triplets
        assert kinds.count("hateful_caption") == round(cfg.caption_hate_share * n)
        assert kinds.count("benign_mention") == round(cfg.mention_share * n)
        assert len(kinds) == n
        # caption-decided memes come on pictures of both valences
        for kind in ("hateful_caption", "benign_mention"):
            assert {m["valence"] for m in memes if m["kind"] == kind} == {"degrading", "pleasant"}


def test_every_group_has_enough_benign_memes_to_measure_its_false_positive_rate() -> None:
    memes = plan(SynthConfig())  # the defaults
    for group in GROUPS:
        benign = [m for s in ("dev", "test_seen") for m in memes[s] if m["group"] == group and m["true_label"] == 0]
        assert len(benign) >= 40, (group, len(benign))


def test_label_noise_flips_the_stated_share_of_training_labels_only() -> None:
    cfg = SynthConfig(n_train=600, n_dev=300, n_test=30, n_test_seen=30, label_noise=0.1)
    memes = plan(cfg)
    flipped = [m for m in memes["train"] if m["label"] != m["true_label"]]
    assert len(flipped) == round(0.1 * 600)
    assert {m["label"] for m in flipped} == {0, 1}  # both directions
    assert all(m["label"] == m["true_label"] for s in ("dev", "test_seen", "test") for m in memes[s])
    clean = plan(SynthConfig(n_train=600, n_dev=300, n_test=30, n_test_seen=30, label_noise=0.0))
    assert all(m["label"] == m["true_label"] for m in clean["train"])


def test_the_bias_group_is_over_represented_among_training_hateful_memes_without_a_twin() -> None:
    cfg = SynthConfig(n_train=1200, n_dev=300, n_test=30, n_test_seen=300)
    memes = plan(cfg)

    def orphans(split: str) -> list[dict]:
        has_twin = {m["triplet"] for m in memes[split] if m["kind"] != "hateful" and m["triplet"] is not None}
        return [m for m in memes[split] if m["kind"] == "hateful" and m["id"] not in has_twin]

    train_orphans = orphans("train")
    assert train_orphans and {m["group"] for m in train_orphans} == {cfg.bias_group}
    bias_triplets = [m for m in memes["train"] if m["kind"] == "hateful" and m["group"] == cfg.bias_group]
    assert len(train_orphans) == round(cfg.bias_share * len(bias_triplets))
    # twin-less hateful memes: hateful by caption (balanced over the groups) and the orphans
    no_twin = train_orphans + [m for m in memes["train"] if m["kind"] == "hateful_caption"]
    share = sum(m["group"] == cfg.bias_group for m in no_twin) / len(no_twin)
    assert share > 2 / len(GROUPS), share
    assert not orphans("dev") and not orphans("test_seen")  # dev and test are fair
    fair = plan(SynthConfig(n_train=1200, n_dev=30, n_test=3, n_test_seen=3, bias_group=None))
    assert not any(m["kind"] == "hateful" and m["triplet"] is None for m in fair["train"])


@pytest.mark.parametrize("bad, reason", [(dict(label_noise=1.5), "label_noise must be between 0 and 1"),
                                         (dict(n_dev=-1), "n_dev must be >= 0"),
                                         (dict(bias_group="humans"), "bias_group must be one of"),
                                         (dict(twin_share=0.9, mention_share=0.2), "must be at most 1")])
def test_config_refuses_impossible_settings(bad: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        SynthConfig(**bad)


def test_every_hateful_meme_outside_the_bias_has_both_twins(small_dir: Path) -> None:
    meta = load_meta(small_dir)
    text = {str(r["id"]): r["text"] for s in SPLITS for r in _read_jsonl(small_dir / f"{s}.jsonl")}
    for key, m in meta.items():
        if m["kind"] != "hateful" or (m["split"] == "train" and m["group"] == SMALL.bias_group):
            continue
        assert m["triplet"] == m["id"]
        same_split = [o for k, o in meta.items() if o["split"] == m["split"] and k != key]
        image_swaps = [o for o in same_split if o["true_label"] == 0 and text[str(o["id"])] == text[key]
                       and o["valence"] != m["valence"] and o["kind"] == "benign_image_swap"]
        text_swaps = [o for o in same_split if o["true_label"] == 0 and o["kind"] == "benign_text_swap"
                      and (o["scene"], o["scene_seed"]) == (m["scene"], m["scene_seed"])]
        assert any(o["triplet"] == m["id"] for o in image_swaps)
        twin = next(o for o in text_swaps if o["triplet"] == m["id"])
        assert text[str(twin["id"])] != text[key]
        if twin["group"] is not None:  # same group, other frame
            assert twin["group"] == m["group"] and twin["frame"] != m["frame"]


def test_text_swap_twin_has_identical_picture() -> None:
    bare = render_meme("sewer", 1234, "", 64)
    again = render_meme("sewer", 1234, "", 64)
    assert bare.mode == "RGB" and bare.size == (64, 64)
    assert np.array_equal(np.asarray(bare), np.asarray(again))
    other_seed = render_meme("sewer", 1235, "", 64)
    assert not np.array_equal(np.asarray(bare), np.asarray(other_seed))
    # a caption changes only some pixels: the picture under it is the same
    a = np.asarray(render_meme("sewer", 1234, "zorblats will never have this", 64))
    b = np.asarray(render_meme("sewer", 1234, "my cat at 3 am", 64))
    untouched = (a == np.asarray(bare)).all(-1) & (b == np.asarray(bare)).all(-1)
    assert untouched.mean() > 0.3
    assert not np.array_equal(a, b)


def test_saved_image_is_render_meme(small_dir: Path) -> None:
    meta = load_meta(small_dir)
    row = _read_jsonl(small_dir / "dev.jsonl")[0]
    m = meta[str(row["id"])]
    with Image.open(small_dir / row["img"]) as img:
        saved = np.asarray(img.convert("RGB"))
    drawn = np.asarray(render_meme(m["scene"], m["scene_seed"], row["text"], SMALL.image_size))
    assert np.array_equal(saved, drawn)


def _all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_deterministic_same_seed_and_different_other_seed(tmp_path: Path, small_dir: Path) -> None:
    generate(tmp_path / "again", SMALL)
    assert _all_bytes(tmp_path / "again") == _all_bytes(small_dir)
    other = SynthConfig(**{**SMALL.__dict__, "seed": SMALL.seed + 1})
    generate(tmp_path / "other", other)
    a, b = _all_bytes(small_dir), _all_bytes(tmp_path / "other")
    assert a["train.jsonl"] != b["train.jsonl"]
    assert a["img/10000.png"] != b["img/10000.png"]


def test_no_real_group_names(small_dir: Path) -> None:
    texts = [r["text"] for s in SPLITS for r in _read_jsonl(small_dir / f"{s}.jsonl")]
    for text in texts:
        for word in REAL_GROUP_WORDS:
            assert not re.search(rf"\b{word}", text.lower()), (word, text)


def test_generate_reuses_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "d"
    generate(out, SynthConfig(n_train=12, n_dev=6, n_test=6, n_test_seen=6, seed=0, image_size=32))
    counts = generate(out, SynthConfig(n_train=6, n_dev=3, n_test=3, n_test_seen=3, seed=1, image_size=48))
    assert counts == {"train": 6, "dev": 3, "test_seen": 3, "test": 3}
    assert len(load_meta(out)) == 15
    pngs = sorted(out.glob("img/*.png"))
    assert len(pngs) == 15  # images of the larger first run are removed
    with Image.open(pngs[0]) as img:
        assert img.size == (48, 48)


def test_refuses_a_folder_that_is_not_synthmemes(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"id": 1, "img": "img/1.png", "text": "x", "label": 0}\n')
    with pytest.raises(FileExistsError):
        generate(tmp_path, SMALL)


def test_tiny_splits(tmp_path: Path) -> None:
    counts = generate(tmp_path / "t", SynthConfig(n_train=2, n_dev=0, n_test=1, n_test_seen=0, image_size=32))
    assert counts == {"train": 2, "dev": 0, "test_seen": 0, "test": 1}
    assert {m["kind"] for m in load_meta(tmp_path / "t").values()} == {"benign_plain"}
    assert (tmp_path / "t" / "dev.jsonl").read_text() == ""


def test_train_never_shows_the_unseen_phrasings(tmp_path):
    from memelib.captions import TEMPLATES, TRAIN_TEMPLATES

    generate(tmp_path, SynthConfig(n_train=300, n_dev=300, n_test=30, n_test_seen=0, seed=0, image_size=32))
    meta = load_meta(tmp_path)
    assert not any(m["unseen"] for m in meta.values() if m["split"] == "train")
    dev_group = [m for m in meta.values() if m["split"] == "dev" and m["group"]]
    share = sum(m["unseen"] for m in dev_group) / len(dev_group)
    assert 0.15 < share < 0.45, share
    seen = {t.format(g=g) for templates in TEMPLATES.values() for t in templates[:TRAIN_TEMPLATES] for g in GROUPS}
    train_group_texts = {m_text for m_text, m in _texts_and_meta(tmp_path, "train") if m["group"]}
    assert train_group_texts <= seen
    dev_unseen = {m_text for m_text, m in _texts_and_meta(tmp_path, "dev") if m["unseen"]}
    assert dev_unseen and not dev_unseen & seen


def _texts_and_meta(folder, split):
    meta = load_meta(folder)
    for line in (folder / f"{split}.jsonl").read_text().splitlines():
        row = json.loads(line)
        yield row["text"], meta[str(row["id"])]


def test_generate_stamps_the_folder_so_the_course_reuses_it(tmp_path):
    """`memelib synth` (make demo) and the notebooks' ensure_synthmemes agree on what a complete set is."""
    from memelib.course import ensure_synthmemes
    from memelib.synthetic import STAMP_FILE, is_generated, stamp

    cfg = SynthConfig(n_train=12, n_dev=6, n_test=3, n_test_seen=3, image_size=32)
    assert not is_generated(tmp_path, cfg)
    generate(tmp_path, cfg)
    assert (tmp_path / STAMP_FILE).read_text() == stamp(cfg) and is_generated(tmp_path, cfg)
    args = dict(n_train=12, n_dev=6, n_test=3, n_test_seen=3, image_size=32)
    assert ensure_synthmemes(tmp_path, **args) is False  # already there: nothing generated again
    (tmp_path / "dev.jsonl").write_text("\n".join((tmp_path / "dev.jsonl").read_text().splitlines()[:-1]) + "\n")
    assert not is_generated(tmp_path, cfg)  # a split cut short
    assert ensure_synthmemes(tmp_path, **args) is True and is_generated(tmp_path, cfg)
    assert not is_generated(tmp_path, SynthConfig(n_train=13, n_dev=6, n_test=3, n_test_seen=3, image_size=32))
