"""Atomic writes: the new file appears whole, a failed write leaves the old one intact, nothing is left behind."""

import json

import pytest

from memelib.files import atomic_replace_dir, atomic_write_bytes, write_json, write_jsonl


def test_writers_produce_the_expected_content(tmp_path):
    write_json(tmp_path / "a" / "x.json", {"k": [1, 2]})
    write_jsonl(tmp_path / "rows.jsonl", [{"id": 1}, {"id": 2}])
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"k": [1, 2]}
    assert (tmp_path / "rows.jsonl").read_text() == '{"id": 1}\n{"id": 2}\n'


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "rows.jsonl"
    write_jsonl(target, [{"id": 1}])

    def rows():
        yield {"id": 2}
        raise KeyboardInterrupt  # stopped half-way through

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(target, rows())
    assert target.read_text() == '{"id": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_replace_dir_swaps_a_whole_folder_or_nothing(tmp_path):
    folder = tmp_path / "tokenizer"
    atomic_replace_dir(folder, lambda tmp: (tmp / "vocab.txt").write_text("old"))

    def broken(tmp):
        (tmp / "vocab.txt").write_text("new, half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_replace_dir(folder, broken)
    assert (folder / "vocab.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer"]
    atomic_replace_dir(folder, lambda tmp: (tmp / "vocab.txt").write_text("new"))
    assert (folder / "vocab.txt").read_text() == "new"


def test_bytes_land_exactly(tmp_path):
    atomic_write_bytes(tmp_path / "b.bin", bytes(range(256)), fsync=False)
    assert (tmp_path / "b.bin").read_bytes() == bytes(range(256))
