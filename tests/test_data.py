"""Dataset and collate: shapes, dynamic padding, masks, labels."""

import torch

from memelib.annotations import read_split
from memelib.config import TextEncoderConfig
from memelib.data import MemeCollator, MemeDataset, make_loader
from memelib.encoders import load_tokenizer


def test_item_and_batch_shapes(synth_dir):
    records = read_split(synth_dir, "train")
    item = MemeDataset(records, synth_dir, image_size=40)[0]
    assert item["pixel_values"].shape == (3, 40, 40) and item["label"] in (0, 1)
    tok = load_tokenizer(TextEncoderConfig(name="minilm"))
    batch = next(iter(make_loader(records, synth_dir, tok, image_size=40, max_length=64, batch_size=8)))
    assert set(batch) == {"input_ids", "attention_mask", "pixel_values", "labels"}
    b, length = batch["input_ids"].shape
    assert b == 8 and batch["attention_mask"].shape == (8, length)
    assert batch["pixel_values"].shape == (8, 3, 40, 40) and batch["labels"].dtype == torch.long
    # dynamic padding: as long as the longest caption of this batch, not max_length
    lengths = [len(tok(r.text)["input_ids"]) for r in records[:8]]
    assert length == max(lengths) < 64
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tok.pad_token_id).all()


def test_truncation_and_empty_captions():
    tok = load_tokenizer(TextEncoderConfig(name="minilm"))
    items = [{"text": t, "pixel_values": torch.zeros(3, 4, 4), "label": -1} for t in ["word " * 200, "", "🙂🙂"]]
    batch = MemeCollator(tok, max_length=16)(items)
    assert batch["input_ids"].shape == (3, 16)
    assert batch["attention_mask"].sum(1).tolist()[1] == 2  # [CLS] [SEP] only
    assert batch["labels"].tolist() == [-1, -1, -1]


def test_unlabelled_test_split_gives_minus_one(synth_dir):
    records = read_split(synth_dir, "test")
    assert all(r.label is None for r in records)
    assert MemeDataset(records, synth_dir, 32)[0]["label"] == -1


def test_shuffle_is_seeded(synth_dir):
    records = read_split(synth_dir, "train")
    tok = load_tokenizer(TextEncoderConfig(name="minilm"))

    def order(seed):
        loader = make_loader(records, synth_dir, tok, 16, 32, 48, shuffle=True, seed=seed)
        return next(iter(loader))["input_ids"].sum(1).tolist()

    assert order(0) == order(0) and order(0) != order(1)
