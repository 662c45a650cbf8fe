"""Tests for memelib.synthetic: layout, determinism and the confounder rules of SynthMemes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memelib.synthetic import GROUPS, SCENES, SynthConfig, generate, label_rule, load_meta, render_meme

SMALL = SynthConfig(n_train=30, n_dev=15, n_test=16, seed=3, image_size=64)
SPLITS = ("train", "dev", "test")
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
    sizes = {"train": SMALL.n_train, "dev": SMALL.n_dev, "test": SMALL.n_test}
    for split in SPLITS:
        rows = _read_jsonl(small_dir / f"{split}.jsonl")
        assert len(rows) == sizes[split]
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
    assert counts == {"train": 30, "dev": 15, "test": 16}
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
    keys = {"id", "split", "kind", "group", "frame", "scene", "scene_seed", "valence", "label", "triplet", "unseen"}
    assert len(meta) == SMALL.n_train + SMALL.n_dev + SMALL.n_test
    for split in SPLITS:
        for row in _read_jsonl(small_dir / f"{split}.jsonl"):
            m = meta[str(row["id"])]
            assert set(m) == keys
            assert m["split"] == split
            assert m["kind"] in ("hateful", "benign_image_swap", "benign_text_swap", "benign_plain")
            assert m["scene"] in SCENES and SCENES[m["scene"]][0] == m["valence"]
            if split != "test":
                assert row["label"] == m["label"]


def test_label_rule_on_every_row(small_dir: Path) -> None:
    for m in load_meta(small_dir).values():
        assert m["label"] == label_rule(m["group"], m["frame"], m["valence"])
        assert m["label"] == int(m["kind"] == "hateful")
        if m["group"] is None:
            assert m["frame"] is None and m["label"] == 0
        else:
            assert m["group"] in GROUPS and m["frame"] in ("is", "never")
    # the XOR table itself
    assert label_rule("flumps", "is", "degrading") == 1
    assert label_rule("flumps", "is", "pleasant") == 0
    assert label_rule("flumps", "never", "pleasant") == 1
    assert label_rule("flumps", "never", "degrading") == 0
    assert label_rule(None, None, "degrading") == 0


def test_structure_counts(small_dir: Path) -> None:
    meta = list(load_meta(small_dir).values())
    sizes = {"train": SMALL.n_train, "dev": SMALL.n_dev, "test": SMALL.n_test}
    for split, n in sizes.items():
        kinds = [m["kind"] for m in meta if m["split"] == split]
        assert kinds.count("hateful") == kinds.count("benign_image_swap") == kinds.count("benign_text_swap") == n // 3
        assert kinds.count("benign_plain") == n - 3 * (n // 3)


def test_every_hateful_meme_has_both_twins(small_dir: Path) -> None:
    meta = load_meta(small_dir)
    text = {str(r["id"]): r["text"] for s in SPLITS for r in _read_jsonl(small_dir / f"{s}.jsonl")}
    for key, m in meta.items():
        if m["kind"] != "hateful":
            continue
        assert m["triplet"] == m["id"]
        same_split = [o for k, o in meta.items() if o["split"] == m["split"] and k != key]
        image_swaps = [o for o in same_split if o["label"] == 0 and text[str(o["id"])] == text[key]
                       and o["valence"] != m["valence"] and o["kind"] == "benign_image_swap"]
        text_swaps = [o for o in same_split if o["label"] == 0 and o["kind"] == "benign_text_swap"
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
    generate(out, SynthConfig(n_train=12, n_dev=6, n_test=6, seed=0, image_size=32))
    counts = generate(out, SynthConfig(n_train=6, n_dev=3, n_test=3, seed=1, image_size=48))
    assert counts == {"train": 6, "dev": 3, "test": 3}
    assert len(load_meta(out)) == 12
    pngs = sorted(out.glob("img/*.png"))
    assert len(pngs) == 12  # images of the larger first run are removed
    with Image.open(pngs[0]) as img:
        assert img.size == (48, 48)


def test_refuses_a_folder_that_is_not_synthmemes(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"id": 1, "img": "img/1.png", "text": "x", "label": 0}\n')
    with pytest.raises(FileExistsError):
        generate(tmp_path, SMALL)


def test_tiny_splits(tmp_path: Path) -> None:
    counts = generate(tmp_path / "t", SynthConfig(n_train=2, n_dev=0, n_test=1, image_size=32))
    assert counts == {"train": 2, "dev": 0, "test": 1}
    assert {m["kind"] for m in load_meta(tmp_path / "t").values()} == {"benign_plain"}
    assert (tmp_path / "t" / "dev.jsonl").read_text() == ""


def test_train_never_shows_the_unseen_phrasings(tmp_path):
    from memelib.synthetic import IS_TEMPLATES, NEVER_TEMPLATES, TRAIN_TEMPLATES

    generate(tmp_path, SynthConfig(n_train=300, n_dev=300, n_test=30, seed=0, image_size=32))
    meta = load_meta(tmp_path)
    assert not any(m["unseen"] for m in meta.values() if m["split"] == "train")
    dev_group = [m for m in meta.values() if m["split"] == "dev" and m["group"]]
    share = sum(m["unseen"] for m in dev_group) / len(dev_group)
    assert 0.15 < share < 0.45, share
    seen = {t.format(g=g) for t in IS_TEMPLATES[:TRAIN_TEMPLATES] + NEVER_TEMPLATES[:TRAIN_TEMPLATES] for g in GROUPS}
    train_group_texts = {m_text for m_text, m in _texts_and_meta(tmp_path, "train") if m["group"]}
    assert train_group_texts <= seen
    dev_unseen = {m_text for m_text, m in _texts_and_meta(tmp_path, "dev") if m["unseen"]}
    assert dev_unseen and not dev_unseen & seen


def _texts_and_meta(folder, split):
    meta = load_meta(folder)
    for line in (folder / f"{split}.jsonl").read_text().splitlines():
        row = json.loads(line)
        yield row["text"], meta[str(row["id"])]
