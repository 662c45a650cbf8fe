"""Validation of a whole data folder: every problem of every line and image, reported, never lost.

:func:`validate` reads every line of every split, checks the images, and returns a
:class:`ValidationReport` (``file:line: reason`` for each problem, then a summary). :func:`load_split`
is what training, evaluation and submission use (the thorough way to read a split; notebooks use the
fast :func:`memelib.annotations.read_split`): the records of one split after validation; rows
that cannot be used either stop the command with the report (the default) or, with
``skip_invalid=True``, are dropped and counted by reason.
Notebook 00 (looking at the data) walks through it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .annotations import SPLIT_FILES, Problem, Record, available_splits, read_rows, split_path
from .errors import DataError, ImageError
from .images import open_image

__all__ = ["ValidationReport", "validate", "load_split"]


@dataclass
class ValidationReport:
    """Everything :func:`validate` found in a data folder."""

    problems: list[Problem] = field(default_factory=list)  # every problem, file by file, line by line
    rows_read: int = 0  # non-blank lines read, usable or not
    rows_usable: int = 0  # rows with no fatal problem
    files: list[str] = field(default_factory=list)  # the .jsonl files that were checked

    @property
    def ok(self) -> bool:
        """True when no problem is fatal (warnings are allowed)."""
        return not any(problem.fatal for problem in self.problems)

    def by_code(self) -> Counter:
        """How many problems of each code, e.g. ``Counter({"missing_image": 3})``."""
        return Counter(problem.code for problem in self.problems)

    def format(self) -> str:
        """Every problem on its own line, then a short summary."""
        lines = [f"{p} [{p.code}{'' if p.fatal else ', warning'}]" for p in self.problems]
        lines.append(
            f"{len(self.files)} file(s), {self.rows_read} rows read, {self.rows_usable} usable"
        )
        counts = ", ".join(f"{code}: {n}" for code, n in sorted(self.by_code().items()))
        lines.append(f"problems: {counts or 'none'}")
        lines.append("OK" if self.ok else "NOT OK: some rows cannot be used")
        return "\n".join(lines)


def validate(
    data_dir: str | os.PathLike,
    splits: list[str] | None = None,
    check_images: bool = True,
) -> ValidationReport:
    """Check splits of a data folder and report every problem rather than stopping at the first.

    ``splits`` defaults to every split file present. Labels are required except in test files.
    Besides the per-line checks of :func:`parse_line` this finds repeated ids in a file, one
    image given two labels, missing image files and, with ``check_images``, images that
    :func:`memelib.images.open_image` refuses. Unsafe image paths are never opened.
    """
    if splits is None:
        splits = available_splits(data_dir)
        if not splits:
            looked_for = ", ".join(SPLIT_FILES)
            raise FileNotFoundError(f"no split files in {data_dir}; looked for {looked_for}")
    # "dev" and "dev_seen" may name the same file: check it once
    paths = list(dict.fromkeys(split_path(data_dir, split) for split in splits))
    report = ValidationReport(files=[str(p) for p in paths])
    image_problems: dict[Path, tuple[str, str] | None] = {}  # each image is opened once
    for path in paths:
        _validate_file(path, report, check_images, image_problems)
    return report


def _validate_file(
    path: Path,
    report: ValidationReport,
    check_images: bool,
    image_problems: dict[Path, tuple[str, str] | None],
    require_label: bool | None = None,
    usable: list[Record] | None = None,
) -> None:
    """Add the problems of one ``.jsonl`` file to ``report``, and its usable records to `usable`."""
    if require_label is None:
        require_label = not path.stem.startswith("test")  # test files may omit labels
    label_of_image: dict[str, tuple[int, int, str]] = {}  # normalised img or content hash -> (label, line, img)
    for _, record, problems in read_rows(path, require_label):
        report.rows_read += 1
        if record is not None:
            problems += _record_problems(record, path, label_of_image, check_images, image_problems)
        report.problems += problems
        if not any(problem.fatal for problem in problems):
            report.rows_usable += 1
            if usable is not None:
                usable.append(record)


def _record_problems(
    record: Record,
    path: Path,
    label_of_image: dict[str, tuple[int, int, str]],
    check_images: bool,
    image_problems: dict[Path, tuple[str, str] | None],
) -> list[Problem]:
    """Problems that need more than the line itself: conflicting labels and the image file."""
    where = (str(path), record.line)
    problems = []
    key = posixpath.normpath(record.img.replace("\\", "/"))
    if record.label is not None:
        earlier = label_of_image.setdefault(key, (record.label, record.line, record.img))
        if earlier[0] != record.label:
            reason = (
                f"image {record.img!r} has label {record.label} here "
                f"but {earlier[0]} on line {earlier[1]}"
            )
            problems.append(Problem(*where, reason, "conflicting_labels", fatal=False))
    image = path.parent / key
    if image not in image_problems:
        image_problems[image] = _image_problem(image, check_images)
    if image_problems[image] is not None:
        code, reason = image_problems[image]
        problems.append(Problem(*where, reason, code))
    elif check_images and record.label is not None:  # the same picture under another file name
        with open(image, "rb") as f:
            digest = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
        earlier = label_of_image.setdefault(digest, (record.label, record.line, record.img))
        if earlier[0] != record.label and earlier[2] != record.img:
            reason = (f"image {record.img!r} is byte-identical to {earlier[2]!r} (line {earlier[1]}) "
                      f"but has label {record.label} here and {earlier[0]} there")
            problems.append(Problem(*where, reason, "conflicting_labels", fatal=False))
    return problems


def _image_problem(image: Path, check_images: bool) -> tuple[str, str] | None:
    """(code, reason) when an image file is missing or cannot be opened, else None."""
    if not image.is_file():
        return "missing_image", f"image file not found: {image}"
    if check_images:
        try:
            open_image(image)
        except ImageError as error:
            return "bad_image", f"cannot use image {image}: {error.reason}"
    return None


def load_split(
    data_dir: str | os.PathLike,
    split: str,
    require_labels: bool = True,
    skip_invalid: bool = False,
    check_images: bool = True,
    log: Callable[[str], None] = print,
) -> list[Record]:
    """The usable records of one split, in file order, after a full validation.

    Rows with a fatal problem raise :class:`DataError` with the whole report, unless
    ``skip_invalid``: then they are dropped and `log` says how many, by reason. Warnings (an empty
    caption, one image with two labels) never stop anything; they are logged once as a count. Keys
    other than id/img/text/label are kept in each record's ``extra``, as
    :func:`memelib.annotations.read_split` keeps them.
    """
    path = split_path(data_dir, split)
    report = ValidationReport(files=[str(path)])
    usable: list[Record] = []
    _validate_file(path, report, check_images, {}, require_labels, usable)
    warnings = Counter(p.code for p in report.problems if not p.fatal)
    if warnings:
        log(f"{path.name}: warnings (rows still used): " + ", ".join(f"{c} {n}" for c, n in sorted(warnings.items())))
    if report.ok:
        return usable
    fatal = Counter(p.code for p in report.problems if p.fatal)
    dropped = report.rows_read - report.rows_usable
    if not skip_invalid:
        raise DataError(
            f"{path}: {dropped} of {report.rows_read} rows cannot be used\n{report.format()}\n"
            "Fix these rows, or pass --skip-invalid (skip_invalid=True) to leave them out."
        )
    log(f"{path.name}: skipped {dropped} unusable rows of {report.rows_read} ("
        + ", ".join(f"{c} {n}" for c, n in sorted(fatal.items())) + ")")
    for p in report.problems:
        if p.fatal:
            log(f"  skipped {p}")
    return usable
