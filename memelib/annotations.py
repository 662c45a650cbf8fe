"""Read and check the JSON-lines annotation files of a Hateful-Memes style data folder.

A data folder holds ``img/`` and one ``.jsonl`` file per split, one meme per line::

    {"id": 42953, "img": "img/42953.png", "text": "its their character not ...", "label": 0}

Any other key on a line (the fine-grained release's ``gold_pc`` and ``gold_attack``, say) is kept, as
it is, in the record's ``extra``; :func:`group_values` reads one such field for a fairness report.

:func:`read_rows` is the one parser of these files. Two ways to read a split are built on it:
- :func:`read_split`, fast, for notebooks: the records, stopping at the first unusable line with
  ``file:line: reason``; images are not opened;
- :func:`memelib.validation.load_split`, thorough, for training, evaluation and submission: every line
  and every image checked, all problems reported (or the unusable rows skipped and counted).
Notebook 00 (looking at the data) walks through both.
"""

from __future__ import annotations

import difflib
import json
import os
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any

from .errors import AnnotationError

__all__ = [
    "SPLIT_ALIASES", "Record", "Problem",
    "SPLIT_FILES", "split_path", "available_splits", "parse_line", "read_rows", "read_split",
    "group_values",
]

_DEV_FILES = ("dev.jsonl", "val.jsonl", "dev_seen.jsonl", "dev_unseen.jsonl")
_TEST_FILES = ("test.jsonl", "test_seen.jsonl", "test_unseen.jsonl")

# Split name -> the files that may hold it, in order of preference; the first that exists wins.
# The official release names its splits dev_seen / dev_unseen / test_seen / test_unseen; those
# exact names only ever mean their own file.
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train.jsonl",),
    "dev": _DEV_FILES,
    "val": _DEV_FILES,
    "test": _TEST_FILES,
    "dev_seen": ("dev_seen.jsonl",),
    "dev_unseen": ("dev_unseen.jsonl",),
    "test_seen": ("test_seen.jsonl",),
    "test_unseen": ("test_unseen.jsonl",),
}

# Every split file name above, once each, in the order above.
SPLIT_FILES = tuple(dict.fromkeys(name for names in SPLIT_ALIASES.values() for name in names))
_REQUIRED_KEYS = ("id", "img", "text")
_KNOWN_KEYS = frozenset(_REQUIRED_KEYS + ("label",))


@dataclass(frozen=True)
class Record:
    """One meme: its caption, its image and (except on test files) its label."""

    id: str  # the meme's id, always a string (the files mix 42953 and "42953")
    img: str  # image path relative to the data folder, as written in the file
    text: str  # the caption printed on the meme; may be empty
    label: int | None  # 1 hateful, 0 not hateful, None when the file has no label
    path: str  # the .jsonl file this record came from
    line: int  # its line number in that file, counting from 1
    # every other key of the line, value as parsed (e.g. {"gold_pc": ["race"]}); read it, do not change it.
    # A plain dict so records still pickle (DataLoader workers); left out of the hash, which a dict has none of.
    extra: Mapping[str, Any] = dataclass_field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one line of an annotation file."""

    path: str  # the .jsonl file
    line: int  # the line number, counting from 1
    reason: str  # what is wrong, in plain words
    code: str  # a short key to count problems by, e.g. "missing_key" or "duplicate_id"
    fatal: bool = True  # True when the row cannot be used; False for a warning

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def split_path(data_dir: str | os.PathLike, split: str) -> Path:
    """The file that holds ``split`` in ``data_dir``.

    ``split`` is a name from :data:`SPLIT_ALIASES` ("train", "dev", "val", "test", "dev_seen",
    ...), whose first existing file wins, or an exact file name such as ``"dev_seen.jsonl"``.
    Raises FileNotFoundError naming the folder, the files looked for and the ``.jsonl`` files
    that do exist.
    """
    folder = Path(data_dir)
    if "/" in split or "\\" in split:
        raise ValueError(f"split must be a name like 'train' or 'dev_seen.jsonl', not a path: {split!r}")
    if split in SPLIT_ALIASES:
        candidates = SPLIT_ALIASES[split]
    elif split.endswith(".jsonl"):
        candidates = (split,)
    else:
        candidates = (f"{split}.jsonl",)
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {folder} does not exist (looking for split {split!r})")
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    present = ", ".join(sorted(p.name for p in folder.glob("*.jsonl") if p.is_file())) or "none"
    raise FileNotFoundError(
        f"no {split!r} split in {folder}: looked for {', '.join(candidates)}; "
        f".jsonl files present: {present}"
    )


def available_splits(data_dir: str | os.PathLike) -> list[str]:
    """Names (file stems) of the split files present in ``data_dir``, e.g. ``["train", "dev_seen"]``.

    Only the file names known to :data:`SPLIT_ALIASES` count, so other ``.jsonl`` files (saved
    predictions, say) are left alone.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {folder} does not exist")
    return [name[: -len(".jsonl")] for name in SPLIT_FILES if (folder / name).is_file()]


def parse_line(raw: bytes | str, path: str, line: int, require_label: bool) -> Record | None:
    """Parse one line of a ``.jsonl`` file into a :class:`Record`.

    Returns None for a blank line. Raises :class:`AnnotationError` for a line that cannot be
    used (bad UTF-8 or JSON, a missing key, a wrong type, a label other than 0/1, an image path
    outside the folder). Warnings that leave the row usable (an empty caption) do not raise;
    :func:`memelib.validation.validate` reports them. Keys other than id/img/text/label go to ``extra``.
    """
    record, problems = _check_line(raw, str(path), line, require_label)
    for problem in problems:
        if problem.fatal:
            raise AnnotationError(problem.path, problem.line, problem.reason)
    return record


def read_rows(path: str | os.PathLike, require_labels: bool) -> Iterator[tuple[int, Record | None, list[Problem]]]:
    """The one parser of annotation files: ``(line number, record, problems)`` for every non-blank line.

    ``record`` is None when the line cannot be used (a fatal problem among ``problems``), including an
    id already seen on an earlier line. Warnings (an empty caption) come with a record.
    :func:`read_split` and :func:`memelib.validation.validate` both read files through it.
    """
    path = Path(path)
    first_line: dict[str, int] = {}  # id -> the line it first appeared on
    for number, raw in _raw_lines(path):
        record, problems = _check_line(raw, str(path), number, require_labels)
        if record is None and not problems:
            continue  # a blank line
        if record is not None and record.id in first_line:
            reason = f"duplicate id {record.id!r} (first seen on line {first_line[record.id]})"
            record, problems = None, problems + [Problem(str(path), number, reason, "duplicate_id")]
        elif record is not None:
            first_line[record.id] = number
        yield number, record, problems


def read_split(data_dir: str | os.PathLike, split: str, require_labels: bool = False) -> list[Record]:
    """Read every record of a split, in file order: the fast way, for notebooks and quick looks.

    Raises :class:`AnnotationError` (``file:line: reason``) at the first line that cannot be used,
    including a repeated id. Images are not opened. Training, evaluation and submission use the
    thorough :func:`memelib.validation.load_split`, which checks every line and image and reports all.
    """
    records: list[Record] = []
    for _, record, problems in read_rows(split_path(data_dir, split), require_labels):
        for problem in problems:
            if problem.fatal:
                raise AnnotationError(problem.path, problem.line, problem.reason)
        records.append(record)
    return records


def group_values(
    records: Sequence[Record], field: str, data_dir: str | os.PathLike | None = None
) -> list[Any]:
    """The value of ``field`` for each record, in order: what :func:`memelib.metrics.group_report` groups by.

    A record's own line wins (``record.extra[field]``); otherwise, in a SynthMemes folder, the
    meme's row of ``data_dir/meta.jsonl`` (read by :func:`memelib.synthetic.load_meta`), e.g. its
    ``"group"``. A record that has the field in neither gets None (no group). Values come as
    written: a string, a number, None or a list (a meme in several groups). Raises ValueError,
    naming the field and the files looked in, when not one record has the field anywhere.
    """
    meta_path = Path(data_dir) / "meta.jsonl" if data_dir is not None else None
    meta: dict[str, dict] = {}
    if meta_path is not None and meta_path.is_file():
        from .synthetic import load_meta  # imported here: only SynthMemes folders need it

        meta = load_meta(data_dir)
    rows = [meta.get(record.id, {}) for record in records]  # each meme's meta.jsonl row, {} when none
    if not any(field in record.extra or field in row for record, row in zip(records, rows)):
        raise _no_field_error(records, field, meta_path, rows)
    return [record.extra[field] if field in record.extra else row.get(field) for record, row in zip(records, rows)]


def _no_field_error(records: Sequence[Record], field: str, meta_path: Path | None, rows: list[dict]) -> ValueError:
    """The error of :func:`group_values` when no record has ``field``: the files looked in, the fields there are."""
    files = ", ".join(dict.fromkeys(r.path for r in records)) or "the split (it has no memes)"
    if meta_path is None:
        meta_note = "no data folder was given to look for a meta.jsonl"
    elif not meta_path.is_file():
        meta_note = f"there is no {meta_path} to look in"
    else:
        meta_note = f"{meta_path} does not have it for these memes either"
    fields = sorted(({k for r in records for k in r.extra} | {k for row in rows for k in row}) - _KNOWN_KEYS)
    return ValueError(
        f"no meme has the field {field!r}: not one line of {files} has it, and {meta_note}; "
        f"fields these memes do have: {', '.join(fields) or 'none besides id, img, text, label'}"
    )


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) for every line of a file, split on "\\n" only.

    Splitting the bytes (not decoded text) keeps line numbers right even when one line is not
    valid UTF-8; a "\\r" left by CRLF line ends is removed by :func:`_check_line`.
    """
    return enumerate(path.read_bytes().split(b"\n"), start=1)


def _check_line(
    raw: bytes | str, path: str, line: int, require_label: bool
) -> tuple[Record | None, list[Problem]]:
    """Parse one line; return the record (None if blank or unusable) and every problem found."""
    def problem(reason: str, code: str, fatal: bool = True) -> Problem:
        return Problem(path, line, reason, code, fatal)

    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            reason = f"not valid UTF-8 ({error.reason} at byte {error.start + 1})"
            return None, [problem(reason, "bad_encoding")]
    if line == 1 and raw.startswith("\ufeff"):
        raw = raw[1:]  # a UTF-8 byte-order mark, as some editors on Windows write
    raw = raw.rstrip("\r\n")
    if not raw.strip():
        return None, []
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as error:
        return None, [problem(f"invalid JSON: {error.msg} (column {error.colno})", "invalid_json")]
    except (ValueError, RecursionError) as error:  # a 5,000-digit number, "[[[[..." nested too deep
        return None, [problem(f"invalid JSON: {error}", "invalid_json")]
    if not isinstance(row, dict):
        return None, [problem(f"expected a JSON object, got {_json_type(row)}", "invalid_json")]

    problems = []
    if row.get("label") is None:
        row.pop("label", None)  # "label": null means no label, as on test files
    required = _REQUIRED_KEYS + (("label",) if require_label else ())
    missing = [key for key in required if key not in row]
    extra = {key: value for key, value in row.items() if key not in _KNOWN_KEYS}
    if missing:
        problems.append(problem(f"missing key(s): {', '.join(missing)}{_misspelt(missing, extra)}", "missing_key"))
    problems += _field_problems(row, problem)
    if any(p.fatal for p in problems):
        return None, problems
    label = row.get("label")
    return Record(str(row["id"]), row["img"], row["text"], label, path, line, extra), problems


def _misspelt(missing: list[str], extra: Mapping[str, Any]) -> str:
    """A hint such as " (found 'txt')" when a key of the line looks like a misspelling of a missing one."""
    found = [close[0] for key in missing if (close := difflib.get_close_matches(key, list(extra), n=1))]
    return f" (found {', '.join(map(repr, found))})" if found else ""


def _field_problems(row: dict, problem) -> list[Problem]:
    """Type and value checks for the fields present in one row."""
    problems = []
    if "id" in row:
        value = row["id"]
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            reason = f"id must be an integer or a string, not {_json_type(value)}"
            problems.append(problem(reason, "wrong_type"))
        elif isinstance(value, str) and not value.strip():
            problems.append(problem("id is empty", "wrong_type"))
    if "img" in row:
        value = row["img"]
        if not isinstance(value, str):
            problems.append(problem(f"img must be a string, not {_json_type(value)}", "wrong_type"))
        elif not _is_safe_relative(value):
            reason = f"img must be a relative path inside the data folder, got {reprlib.repr(value)}"
            problems.append(problem(reason, "unsafe_path"))
    if "text" in row:
        value = row["text"]
        if not isinstance(value, str):
            problems.append(problem(f"text must be a string, not {_json_type(value)}", "wrong_type"))
        elif not value.strip():
            problems.append(problem("text is empty (the meme has no caption)", "empty_text", fatal=False))
    if "label" in row:
        value = row["label"]
        if isinstance(value, bool) or not isinstance(value, int):
            reason = f"label must be the integer 0 or 1, not {_json_type(value)} {reprlib.repr(value)}"
            problems.append(problem(reason, "wrong_type"))
        elif value not in (0, 1):
            problems.append(problem(f"label must be 0 or 1, got {value}", "bad_label"))
    return problems


def _is_safe_relative(img: str) -> bool:
    """True for a non-empty relative path that stays inside the folder (``..`` may not climb out)."""
    if not img or "\x00" in img:
        return False
    img = img.replace("\\", "/")  # treat Windows separators as separators, so "..\\x" is caught
    if img.startswith("/") or (img[:1].isalpha() and img[1:2] == ":"):  # "/etc/x", "C:/x", "C:x"
        return False
    depth = 0
    for part in img.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return depth > 0  # "." or "img/.." name the folder itself, not a file in it


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
