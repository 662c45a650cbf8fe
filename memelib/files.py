"""Atomic file writes: every file memelib writes appears whole or not at all.

Each writer puts the content in a temporary file in the destination's folder, flushes it to disk, then
renames it over the destination in one step (`os.replace`). A crash, a kill or a full disk at any moment
leaves the previous file intact, never half a file. Run folders, the feature cache, SynthMemes, the
course's markers and CSV predictions are all written here. This module imports no torch.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "write_jsonl",
    "atomic_save_safetensors",
    "atomic_replace_dir",
]


def _rename_into_place(tmp: str | Path, path: Path) -> None:
    """os.replace(tmp, path), first giving `tmp` the permissions a plain open() or mkdir() would have:
    tempfile makes files owner-only (0600, folders 0700), which a run on a shared disk must not be."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (0o777 if Path(tmp).is_dir() else 0o666) & ~umask)
    os.replace(tmp, path)


def _temporary_path(path: Path) -> str:
    """A new, empty temporary file next to `path` (same folder, so the final rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return tmp


def _write_then_rename(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(temporary path)`, then rename the result onto `path`; on any failure remove it."""
    path = Path(path)
    tmp = _temporary_path(path)
    try:
        write(tmp)
        _rename_into_place(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` atomically; `fsync` also waits until the bytes are on the disk."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())

    _write_then_rename(path, write)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """`obj` as indented JSON, written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """One JSON object per line (the annotation files' format), written atomically."""
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def atomic_save_safetensors(path: str | Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """A safetensors file of CPU copies of `tensors`, written under a temporary name, then renamed."""
    from safetensors.torch import save_file  # imported here: this module stays free of torch

    def write(tmp: str) -> None:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)

    _write_then_rename(path, write)


def atomic_replace_dir(folder: str | Path, fill: Callable[[Path], None]) -> None:
    """Replace `folder` by a new one that `fill(temporary folder)` writes: never a half-written folder.

    The old folder is moved aside, the new one renamed into place, then the old one removed; after a
    crash between the two renames, the old one survives under `.NAME.old`."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        fill(tmp)
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        _rename_into_place(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
