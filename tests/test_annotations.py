"""Tests for memelib.annotations: split files are found, every line fault is named by file:line.

Each test writes its own small data folder in pytest's tmp_path; nothing is downloaded.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import memelib.annotations as annotations
import memelib.validation as validation
from memelib.validation import ValidationReport, validate
from memelib.annotations import (
    SPLIT_ALIASES,
    AnnotationError,
    Problem,
    Record,
    available_splits,
    group_values,
    parse_line,
    read_split,
    split_path,
)


def row(id=1, img=None, text="hello", label=0, **extra) -> dict:
    out = {"id": id, "img": img if img is not None else f"img/{id}.png", "text": text}
    if label is not None:
        out["label"] = label
    return {**out, **extra}


def write_split(folder: Path, name: str, rows, images: bool = True, newline: str = "\n") -> Path:
    """Write ``rows`` (dicts, or raw strings written as they are) to folder/name."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path = folder / name
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    if images:
        (folder / "img").mkdir(exist_ok=True)
        for r in rows:
            if isinstance(r, dict) and isinstance(r.get("img"), str) and r["img"].startswith("img/"):
                shade = sum(r["img"].encode()) % 256  # a different picture per file name
                Image.new("RGB", (4, 4), (200, 10, shade)).save(folder / r["img"], format="PNG")
    return path


# ---------------------------------------------------------------- finding split files


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text("")


@pytest.mark.parametrize(("present", "split", "expected"), [
    (["dev.jsonl", "val.jsonl", "dev_seen.jsonl"], "dev", "dev.jsonl"),
    (["val.jsonl", "dev_seen.jsonl"], "dev", "val.jsonl"),
    (["dev_seen.jsonl", "dev_unseen.jsonl"], "dev", "dev_seen.jsonl"),
    (["dev_unseen.jsonl"], "val", "dev_unseen.jsonl"),
    (["dev.jsonl", "dev_unseen.jsonl"], "dev_unseen", "dev_unseen.jsonl"),
    (["dev.jsonl", "dev_seen.jsonl"], "dev_seen.jsonl", "dev_seen.jsonl"),
    (["test_seen.jsonl", "test_unseen.jsonl"], "test", "test_seen.jsonl"),
    (["test.jsonl", "test_unseen.jsonl"], "test_unseen", "test_unseen.jsonl"),
    (["train.jsonl"], "train", "train.jsonl"),
])
def test_split_path_resolution(tmp_path, present, split, expected):
    touch(tmp_path, *present)
    assert split_path(tmp_path, split) == tmp_path / expected


def test_exact_stem_never_falls_back_to_another_file(tmp_path):
    touch(tmp_path, "dev.jsonl", "dev_seen.jsonl")
    with pytest.raises(FileNotFoundError):
        split_path(tmp_path, "dev_unseen")
    assert SPLIT_ALIASES["dev_seen"] == ("dev_seen.jsonl",)
    assert SPLIT_ALIASES["val"] == SPLIT_ALIASES["dev"]


def test_missing_split_message_names_folder_candidates_and_files_present(tmp_path):
    touch(tmp_path, "train.jsonl", "notes.jsonl")
    with pytest.raises(FileNotFoundError) as info:
        split_path(tmp_path, "dev")
    message = str(info.value)
    for part in (str(tmp_path), "dev.jsonl", "val.jsonl", "dev_seen.jsonl", "train.jsonl", "notes.jsonl"):
        assert part in message


def test_missing_folder_and_path_like_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        split_path(tmp_path / "nope", "train")
    with pytest.raises(ValueError):
        split_path(tmp_path, "../train.jsonl")


def test_available_splits_lists_known_split_files(tmp_path):
    touch(tmp_path, "train.jsonl", "dev_seen.jsonl", "test_unseen.jsonl", "predictions.jsonl")
    (tmp_path / "dev.jsonl").mkdir()  # a folder is not a split file
    assert available_splits(tmp_path) == ["train", "dev_seen", "test_unseen"]


# ---------------------------------------------------------------- reading lines


def test_read_split_returns_records_in_order(tmp_path):
    write_split(tmp_path, "train.jsonl", [row(1, label=1), row("a7", text="two", label=0)])
    records = read_split(tmp_path, "train", require_labels=True)
    assert records == [
        Record("1", "img/1.png", "hello", 1, str(tmp_path / "train.jsonl"), 1),
        Record("a7", "img/a7.png", "two", 0, str(tmp_path / "train.jsonl"), 2),
    ]


def test_bom_crlf_and_blank_lines(tmp_path):
    body = "\r\n".join([json.dumps(row(1)), "", "   ", json.dumps(row(2)), ""]) + "\r\n"
    (tmp_path / "train.jsonl").write_bytes(b"\xef\xbb\xbf" + body.encode())
    records = read_split(tmp_path, "train")
    assert [(r.id, r.line, r.text) for r in records] == [("1", 1, "hello"), ("2", 4, "hello")]


def test_test_split_may_omit_labels(tmp_path):
    write_split(tmp_path, "test_unseen.jsonl", [row(1, label=None), row(2, label=None)])
    assert [r.label for r in read_split(tmp_path, "test")] == [None, None]
    with pytest.raises(AnnotationError, match="missing key.*label"):
        read_split(tmp_path, "test", require_labels=True)


BAD_LINES = [  # (line, code, words the reason must contain)
    ('{"id": 1, "img": "img/1.png", "text": "x", "label": 0', "invalid_json", "invalid JSON"),
    ("[1, 2, 3]", "invalid_json", "JSON object"),
    ('{"id": 1, "text": "x", "label": 0}', "missing_key", "img"),
    ('{"img": "img/1.png", "text": "x", "label": 0}', "missing_key", "id"),
    ('{"id": 1.5, "img": "img/1.png", "text": "x", "label": 0}', "wrong_type", "id"),
    ('{"id": 1, "img": 3, "text": "x", "label": 0}', "wrong_type", "img"),
    ('{"id": 1, "img": "img/1.png", "text": null, "label": 0}', "wrong_type", "text"),
    ('{"id": 1, "img": "img/1.png", "text": "x", "label": true}', "wrong_type", "label"),
    ('{"id": 1, "img": "img/1.png", "text": "x", "label": "1"}', "wrong_type", "label"),
    ('{"id": 1, "img": "img/1.png", "text": "x", "label": 2}', "bad_label", "0 or 1"),
    ('{"id": 1, "img": "/etc/passwd", "text": "x", "label": 0}', "unsafe_path", "relative"),
    ('{"id": 1, "img": "../secret.png", "text": "x", "label": 0}', "unsafe_path", "relative"),
    ('{"id": 1, "img": "img/../../x.png", "text": "x", "label": 0}', "unsafe_path", "relative"),
    ('{"id": 1, "img": "C:\\\\x.png", "text": "x", "label": 0}', "unsafe_path", "relative"),
]


@pytest.mark.parametrize(("bad", "code", "words"), BAD_LINES)
def test_each_fault_names_file_and_line(tmp_path, bad, code, words):
    path = write_split(tmp_path, "train.jsonl", [row(1), row(2), bad, row(4)])
    with pytest.raises(AnnotationError) as info:
        read_split(tmp_path, "train", require_labels=True)
    error = info.value
    assert (error.path, error.line) == (str(path), 3)
    assert str(error).startswith(f"{path}:3: ") and words in error.reason
    report = validate(tmp_path, ["train"], check_images=False)
    assert [(p.line, p.code) for p in report.problems if p.fatal] == [(3, code)]


def test_bad_utf8_names_its_line(tmp_path):
    good = json.dumps(row(1)).encode()
    (tmp_path / "train.jsonl").write_bytes(good + b"\n" + b'{"id": 2, "text": "\xff\xfe"}\n' + good)
    with pytest.raises(AnnotationError, match=r"train\.jsonl:2: not valid UTF-8"):
        read_split(tmp_path, "train")


def test_read_split_stops_at_the_first_bad_line(tmp_path):
    write_split(tmp_path, "dev.jsonl", [row(1), row(2, label=5), "not json", row(4)])
    with pytest.raises(AnnotationError) as info:
        read_split(tmp_path, "dev")
    assert info.value.line == 2 and "label" in info.value.reason


def test_read_split_lets_warnings_pass_and_refuses_duplicates(tmp_path):
    write_split(tmp_path, "train.jsonl", [row(1, text="  ", extra="x"), row(2), row(1)])
    with pytest.raises(AnnotationError, match=r":3: duplicate id '1' \(first seen on line 1\)"):
        read_split(tmp_path, "train")
    write_split(tmp_path, "train.jsonl", [row(1, text="  ", extra="x"), row(2)])
    assert [r.text for r in read_split(tmp_path, "train")] == ["  ", "hello"]


def test_parse_line_blank_and_string_input():
    assert parse_line(b"  \r\n", "f.jsonl", 5, True) is None
    record = parse_line('\ufeff{"id": "7", "img": "img/7.png", "text": "t"}', "f.jsonl", 1, False)
    assert record == Record("7", "img/7.png", "t", None, "f.jsonl", 1)
    assert parse_line('{"id": 7, "img": "a.png", "text": "t", "label": null}', "f", 2, False).label is None


def test_annotation_error_format_and_pickle():
    error = AnnotationError("a/train.jsonl", 12, "missing key(s): img")
    assert str(error) == "a/train.jsonl:12: missing key(s): img" and isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.reason) == (error.path, error.line, error.reason)


# ---------------------------------------------------------------- validate


def test_validate_clean_folder(tmp_path):
    write_split(tmp_path, "train.jsonl", [row(1), row(2, label=1)])
    write_split(tmp_path, "dev_seen.jsonl", [row(3), row(4, label=1)])
    write_split(tmp_path, "test_seen.jsonl", [row(5, label=None)])
    report = validate(tmp_path)
    assert report.ok and report.problems == []
    assert (report.rows_read, report.rows_usable, len(report.files)) == (5, 5, 3)
    assert "5 rows read, 5 usable" in report.format()


def test_validate_collects_every_problem(tmp_path):
    (tmp_path / "img").mkdir()
    write_split(tmp_path, "train.jsonl", [
        row(1),                           # 1 fine
        row(2, text=""),                  # 2 empty text: warning
        row(3, gold_pc=["race"]),         # 3 a key of its own: kept, not a problem
        row(1, img="img/9.png"),          # 4 duplicate id
        row(5, img="img/1.png", label=1), # 5 same image as line 1, other label: warning
        row(6, img="img/missing.png"),    # 6 missing image
        row(7, img="../outside.png"),     # 7 unsafe path
        "{oops",                          # 8 invalid JSON
        "",                               # blank, not a row
        row(10, label=3),                 # 10 bad label
        row(11, img="img/bad.png"),       # 11 not an image
    ])
    (tmp_path / "img" / "missing.png").unlink()
    (tmp_path / "img" / "bad.png").write_text("not a picture")
    report = validate(tmp_path, ["train"])
    assert report.rows_read == 10
    assert report.rows_usable == 4  # lines 1, 2, 3 and 5
    assert not report.ok
    assert [(p.line, p.code, p.fatal) for p in report.problems] == [
        (2, "empty_text", False),
        (4, "duplicate_id", True),
        (5, "conflicting_labels", False),
        (6, "missing_image", True),
        (7, "unsafe_path", True),
        (8, "invalid_json", True),
        (10, "bad_label", True),
        (11, "bad_image", True),
    ]
    assert report.by_code()["missing_image"] == 1
    assert "not an image" in report.problems[-1].reason
    text = report.format()
    for problem in report.problems:
        assert str(problem) in text
    assert "10 rows read, 4 usable" in text and "NOT OK" in text


def test_validate_without_image_checks_still_finds_missing_files(tmp_path):
    write_split(tmp_path, "train.jsonl", [row(1), row(2)])
    (tmp_path / "img" / "1.png").write_text("garbage")
    (tmp_path / "img" / "2.png").unlink()
    report = validate(tmp_path, check_images=False)
    assert [p.code for p in report.problems] == ["missing_image"]
    assert [p.code for p in validate(tmp_path).problems] == ["bad_image", "missing_image"]


def test_validate_requires_labels_except_on_test_files(tmp_path):
    write_split(tmp_path, "dev.jsonl", [row(1, label=None)])
    write_split(tmp_path, "test.jsonl", [row(2, label=None)])
    report = validate(tmp_path)
    assert [(Path(p.path).name, p.code) for p in report.problems] == [("dev.jsonl", "missing_key")]
    assert report.rows_usable == 1


def test_duplicates_are_per_file_and_aliases_are_read_once(tmp_path):
    write_split(tmp_path, "dev_seen.jsonl", [row(1)])
    write_split(tmp_path, "dev_unseen.jsonl", [row(1)])
    report = validate(tmp_path, ["dev", "dev_seen", "dev_unseen"])
    assert report.ok and report.rows_read == 2 and len(report.files) == 2


def test_unsafe_paths_are_never_opened(tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(validation, "open_image", lambda path, *a, **k: opened.append(path))
    secret = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(secret)
    data = tmp_path / "data"
    data.mkdir()
    write_split(data, "train.jsonl", [row(1, img="../secret.png"), row(2, img=str(secret)), row(3)])
    report = validate(data)
    assert [p.code for p in report.problems] == ["unsafe_path", "unsafe_path"]
    assert opened == [data / "img" / "3.png"]


def test_validate_with_no_split_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no split files"):
        validate(tmp_path)


def test_problem_and_report_basics():
    problem = Problem("f.jsonl", 3, "text is empty", "empty_text", fatal=False)
    assert str(problem) == "f.jsonl:3: text is empty"
    report = ValidationReport(problems=[problem], rows_read=1, rows_usable=1, files=["f.jsonl"])
    assert report.ok and report.by_code() == {"empty_text": 1}
    assert "warning" in report.format()


# ---------------------------------------------------------------- property test

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_valid_rows = st.fixed_dictionaries(
    {"id": st.integers() | st.text(max_size=8), "img": st.text(max_size=12), "text": st.text(max_size=20)},
    optional={"label": _json_values | st.sampled_from([0, 1]), "extra": _json_values},
)


@st.composite
def mutated_lines(draw) -> bytes:
    """A valid-looking JSON line with a few bytes replaced, inserted or cut off."""
    data = bytearray(json.dumps(draw(_valid_rows), ensure_ascii=draw(st.booleans())).encode())
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "truncate"]))
        byte = draw(st.integers(0, 255))
        if action == "replace" and where < len(data):
            data[where] = byte
        elif action == "insert":
            data.insert(where, byte)
        else:
            del data[where:]
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(
    raw=mutated_lines() | st.binary(max_size=60) | st.text(max_size=60) | _valid_rows.map(json.dumps),
    line=st.integers(1, 10_000),
    require_label=st.booleans(),
)
def test_parse_line_returns_a_record_or_raises_annotation_error(raw, line, require_label):
    try:
        result = parse_line(raw, "fuzz.jsonl", line, require_label)
    except AnnotationError as error:
        assert str(error).startswith(f"fuzz.jsonl:{line}: ") and error.reason
    else:
        assert result is None or isinstance(result, Record)
        if result is not None:
            assert isinstance(result.id, str) and result.label in (0, 1, None)
            assert result.label is not None or not require_label


def test_byte_identical_images_with_conflicting_labels_are_reported(tmp_path):
    write_split(tmp_path, "train.jsonl", [row(1), row(2, label=1)])
    (tmp_path / "img" / "2.png").write_bytes((tmp_path / "img" / "1.png").read_bytes())
    report = validate(tmp_path)
    [problem] = report.problems
    assert problem.code == "conflicting_labels" and not problem.fatal and problem.line == 2
    assert "byte-identical to 'img/1.png' (line 1)" in problem.reason
    assert report.ok and report.rows_usable == 2


# ---------------------------------------------------------------- extra fields and group values


FINE_GRAINED = [  # lines as in the fine-grained release: list-valued gold_pc / gold_attack, extra keys of any kind
    row(1, gold_pc=["race"], gold_attack=["dehumanizing"]),
    row(2, label=1, gold_pc=["religion", "race"], note={"by": "annotator 3"}),
    row(3, gold_pc=[]),
    row(4, label=1),
]


def test_both_readers_keep_extra_fields_without_a_warning(tmp_path):
    write_split(tmp_path, "dev_seen.jsonl", FINE_GRAINED)
    logged: list[str] = []
    fast = read_split(tmp_path, "dev_seen")
    thorough = validation.load_split(tmp_path, "dev_seen", log=logged.append)
    expected = [
        {"gold_pc": ["race"], "gold_attack": ["dehumanizing"]},
        {"gold_pc": ["religion", "race"], "note": {"by": "annotator 3"}},
        {"gold_pc": []},
        {},
    ]
    assert [dict(r.extra) for r in fast] == expected
    assert fast == thorough and [r.extra for r in thorough] == expected
    assert logged == [] and validate(tmp_path).problems == []
    assert "label" not in fast[0].extra and "id" not in fast[0].extra


def test_records_with_list_valued_extras_hash_pickle_and_compare(tmp_path):
    write_split(tmp_path, "train.jsonl", FINE_GRAINED)
    records = read_split(tmp_path, "train")
    assert len(set(records)) == 4  # a dict field is left out of the hash, so records stay hashable
    assert pickle.loads(pickle.dumps(records)) == records  # DataLoader workers receive records pickled
    plain = Record("1", "img/1.png", "hello", 0, str(tmp_path / "train.jsonl"), 1)
    assert plain.extra == {} and plain != records[0]  # the extra fields count in ==
    assert parse_line(json.dumps(row(4, label=1)), str(tmp_path / "train.jsonl"), 4, True) == records[3]


def test_a_misspelt_required_key_is_named(tmp_path):
    write_split(tmp_path, "train.jsonl", [row(1), '{"id": 2, "img": "img/2.png", "txt": "typo", "label": 0}'])
    with pytest.raises(AnnotationError, match=r":2: missing key\(s\): text \(found 'txt'\)$"):
        read_split(tmp_path, "train")
    write_split(tmp_path, "train.jsonl", ['{"id": 2, "img": "img/2.png", "gold_pc": [], "label": 0}'])
    with pytest.raises(AnnotationError, match=r":1: missing key\(s\): text$"):  # nothing like it: no hint
        read_split(tmp_path, "train")


def test_group_values_from_the_lines(tmp_path):
    write_split(tmp_path, "train.jsonl", FINE_GRAINED)
    records = read_split(tmp_path, "train")
    assert group_values(records, "gold_pc", tmp_path) == [["race"], ["religion", "race"], [], None]
    assert group_values(records, "note") == [None, {"by": "annotator 3"}, None, None]
    with pytest.raises(ValueError) as info:
        group_values(records, "gold_attak", tmp_path)
    message = str(info.value)
    for part in ("'gold_attak'", str(tmp_path / "train.jsonl"), str(tmp_path / "meta.jsonl"), "gold_attack, gold_pc, note"):
        assert part in message


def test_group_values_from_synthmemes_meta_and_the_line_wins(synth_dir, tmp_path):
    from memelib.synthetic import load_meta

    records = read_split(synth_dir, "dev")
    meta = load_meta(synth_dir)
    groups = group_values(records, "group", synth_dir)
    assert groups == [meta[r.id]["group"] for r in records]
    assert None in groups and len(set(groups) - {None}) > 1  # plain captions have no group
    first = records[0]
    own = Record(first.id, first.img, first.text, first.label, first.path, first.line, {"group": "from the line"})
    assert group_values([own, *records[1:]], "group", synth_dir)[:2] == ["from the line", groups[1]]
    with pytest.raises(ValueError, match=r"'groop'.*dev\.jsonl.*meta\.jsonl does not have it.*group, kind"):
        group_values(records, "groop", synth_dir)
