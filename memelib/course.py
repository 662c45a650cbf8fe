"""What every course notebook does first: find the project, the data, the device; check the set-up.

    course = setup(preset="offline", data_dir=None, device="auto")
    course.cfg          # the preset's Config, device filled in
    course.data_dir     # SynthMemes in data/synthmemes (made if missing), or your Hateful Memes folder
    course.cache_dir    # artifacts/cache ($MEMELIB_CACHE_DIR when set): features one notebook extracts, the next reuses
    course.config(fusion__name="late")   # a variant of course.cfg: same device, precision and cache

Switching a notebook to the real data and a GPU is one line: `setup("full", "../data/hateful_memes")`.
Explained in notebook 00.

On a workshop server (hub/, README "Running a workshop") several learners share one copy of the data and of
the features, and each writes only in their own folder. The hub sets, for each learner:
    MEMELIB_DATA_DIR           SynthMemes, shared and read-only: used as it is, never generated into
    MEMELIB_SHARED_CACHE_DIR   a warm feature cache, shared and read-only: read first (memelib.features)
    MEMELIB_ARTIFACTS_DIR      the learner's own artifacts folder: runs, small data sets
    MEMELIB_CACHE_DIR          the learner's own feature cache: any feature the shared one lacks goes there
    MEMELIB_STUDENT_DIR        the student notebooks `fresh_copy` copies from
Unset, the course behaves as on one laptop: everything under the project's data/ and artifacts/.
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, override, preset
from .synthetic import SynthConfig, generate, is_generated, is_synthmemes, load_meta

__all__ = ["Course", "setup", "measured", "expect", "STRICT_VARIABLE", "project_root", "ensure_synthmemes",
           "synthmemes_dir", "fresh_copy",
           "environment_report", "meme_kinds", "content_note"]


@dataclass
class Course:
    cfg: Config  # the preset, with the device and the cache folder filled in
    data_dir: Path  # folder with img/ and the .jsonl files
    artifacts: Path  # where runs and caches go
    synthetic: bool  # True for SynthMemes (its meta.jsonl tells how each meme was made)

    @property
    def cache_dir(self) -> Path:
        return Path(self.cfg.train.cache_dir)

    def config(self, **overrides: Any) -> Config:
        """The course's configuration with some fields changed, as in `preset` (e.g. `fusion__name="late"`,
        `epochs=2`): the same device, precision and cache folder, so every notebook computes alike."""
        return override(self.cfg, **overrides)

    def run_dir(self, name: str) -> Path:
        """A run folder under artifacts/runs/, named after the notebook's experiment."""
        return self.artifacts / "runs" / name


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding memelib's pyproject.toml, searched upwards from `start` (default: the
    current folder, which is notebooks/ in JupyterLab); the current folder when there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "memelib").is_dir():
            return folder
    return here


def ensure_synthmemes(data_dir: str | Path, **synth_args: Any) -> bool:
    """Generate SynthMemes in `data_dir` unless it already holds exactly that set (its stamp, every split
    complete: `synthetic.is_generated`). True when it generated."""
    cfg = SynthConfig(**synth_args)
    if is_generated(data_dir, cfg):
        return False
    generate(data_dir, cfg)  # writes the stamp last
    return True


def synthmemes_dir(root: str | Path) -> Path:
    """SynthMemes' folder: the shared, read-only $MEMELIB_DATA_DIR when a workshop hub sets it (used as it is:
    never generated into, so an incomplete one is an error that says so), else `root`/data/synthmemes,
    generated there when missing."""
    shared = os.environ.get("MEMELIB_DATA_DIR")
    if not shared:
        data_dir = Path(root) / "data" / "synthmemes"
        ensure_synthmemes(data_dir)
        return data_dir
    if not is_generated(shared):
        raise FileNotFoundError(
            f"{shared} (set by MEMELIB_DATA_DIR) holds no complete SynthMemes, and a learner never writes into that "
            f"shared folder. The teacher prepares it: `make hub` does, or `python -m memelib synth {shared}`; "
            "or unset MEMELIB_DATA_DIR to use data/synthmemes in the project.")
    return Path(shared)


def fresh_copy(notebook: str, folder: str | Path | None = None) -> Path:
    """A fresh student copy of `notebook` ("04", or its file name "04_fusion.ipynb") in `folder` (default: the
    current folder), for a learner whose copy is broken; theirs is kept beside it as NAME-broken-N.ipynb.
    The copies come from $MEMELIB_STUDENT_DIR (a workshop hub's shared set), else the project's student/
    (`make student`). Returns the fresh notebook's path."""
    source = Path(os.environ.get("MEMELIB_STUDENT_DIR") or project_root() / "student")
    name = notebook if notebook.endswith(".ipynb") else None
    found = [source / name] if name else sorted(source.glob(f"{notebook}*.ipynb"))
    found = [p for p in found if p.is_file()]
    if len(found) != 1:
        some = ", ".join(p.name for p in sorted(source.glob("*.ipynb"))) or "none"
        raise FileNotFoundError(f"{source}: {len(found)} student notebooks match {notebook!r} (there: {some}). "
                                "Give one notebook's number or file name; on one laptop, `make student` writes them.")
    target = Path(folder or Path.cwd()) / found[0].name
    if target.exists():
        n = 1
        while (kept := target.with_name(f"{target.stem}-broken-{n}.ipynb")).exists():
            n += 1
        target.rename(kept)
    shutil.copyfile(found[0], target)  # the content only: the shared copy's read-only mode is not copied
    return target


def setup(
    preset_name: str = "offline", data_dir: str | Path | None = None, device: str = "auto", precision: str = "fp32",
    **overrides: Any,
) -> Course:
    """The course's starting point: a preset, a data folder (SynthMemes when None) and a device.

    The notebooks compute in float32 (`precision="fp32"`) so that every learner's numbers match the
    printed ones whatever the CPU; the command line uses bf16 where the hardware supports it."""
    root = project_root()
    artifacts = Path(os.environ.get("MEMELIB_ARTIFACTS_DIR") or root / "artifacts")  # a hub: the learner's own
    synthetic = data_dir is None
    if synthetic:
        data_dir = synthmemes_dir(root)
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such data folder. Put the Hateful Memes files there (img/ and *.jsonl) or use data_dir=None for SynthMemes.")
    cache = os.environ.get("MEMELIB_CACHE_DIR") or artifacts / "cache"  # the variable memelib.features reads too
    cfg = preset(preset_name, device=device, precision=precision, cache_dir=str(cache), **overrides)
    return Course(cfg=cfg, data_dir=data_dir, artifacts=artifacts, synthetic=synthetic and is_synthmemes(data_dir))


def environment_report() -> dict[str, str]:
    """Versions, device and model availability: what notebook 00 checks before the course starts."""
    import torch
    import transformers

    from .encoders import offline_text_model_dir
    from .errors import ModelUnavailableError

    try:
        offline = str(offline_text_model_dir())
    except ModelUnavailableError as e:
        offline = f"MISSING: {e}"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (the CPU is used)"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu threads": str(torch.get_num_threads()),
        "gpu": gpu,
        "offline text model": offline,
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "unset"),
    }


def meme_kinds(data_dir: str | Path, ids: list[str]) -> list[str] | None:
    """SynthMemes' kind of each meme ("hateful", "benign_text_swap", ...), or None for other data."""
    if not is_synthmemes(data_dir):
        return None
    meta = load_meta(data_dir)
    return [meta[str(i)]["kind"] for i in ids]


def measured(x: float | int, digits: int = 3) -> str:
    """A trained result, formatted for printing as a measurement: `measured(0.99667)` -> "~0.997".

    Trained on another CPU (AVX2 instead of AVX-512, Apple Silicon), a model comes out slightly different:
    training amplifies last-digit differences of the arithmetic. The "~" tells the reader so; the course's
    notebook tests leave such numbers out of the comparison (notebooks/sanitize.cfg), and the cell that
    prints them asserts what the lesson needs within a stated tolerance."""
    return f"~{x}" if isinstance(x, (int, np.integer)) else f"~{x:.{digits}f}"


STRICT_VARIABLE = "MEMELIB_STRICT"  # set to 1 by the project's tests: a claim that fails raises


def _shown(value: Any) -> str:
    """A measured value as a learner reads it: floats to 3 decimals, long containers cut short."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3f}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in list(value.items())[:12]) + "}"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def expect(ok: Any, claim: str, **measured_values: Any) -> None:
    """Check a claim the lesson's text makes about a measured result (trained, timed or sampled).

        expect(auroc["late"] < auroc["concat"] - 0.08, "late fusion scores at least 0.08 below concat", auroc=auroc)

    A model trained on another CPU comes out slightly different (see `measured`), so such a claim can fail on a
    learner's machine while the lesson still holds. In a learner's kernel a failed claim prints a plain note (what
    the text expected, what this machine measured, why) and the notebook goes on. Under the project's tests
    ($MEMELIB_STRICT=1: make test, nbval, the browser and hub tests) it raises AssertionError, as `assert` would,
    so a change that breaks a lesson still fails. Exact facts (shapes, token ids, counts no arithmetic moves) are
    checked with a plain `assert`. Returns None, so that a cell ending with it displays nothing."""
    if bool(ok):
        return
    seen = ", ".join(f"{name} = {_shown(value)}" for name, value in measured_values.items()) or "otherwise"
    if os.environ.get(STRICT_VARIABLE) == "1":
        raise AssertionError(f"the text says: {claim}; measured: {seen}")
    print(f"NOTE: the text above says that {claim}; this computer measured {seen}.\n"
          "Trained and sampled results move a little from one CPU to another (a laptop's AVX2, a server's AVX-512, "
          "Apple Silicon): training amplifies the last-digit differences of their arithmetic. Nothing is broken; "
          "read the text with this machine's numbers, and go on. The README's \"Which CPUs\" says more.")


def content_note(synthetic: bool) -> str:
    """The note (Markdown) a notebook shows before its first meme: `display(Markdown(content_note(course.synthetic)))`.

    On SynthMemes, one line on why its groups are invented; on real data, what may appear, what stays
    hidden until the learner chooses to look (see memelib.widgets and memelib.plots.meme_gallery), and
    that any of it may be skipped."""
    if synthetic:
        return ("**About the memes.** These are SynthMemes: the groups (zorblats, quibbits, ...) and their symbols are "
                "invented, so you can learn how hateful memes are detected without reading hate aimed at real people.")
    return ("**Content note.** This notebook runs on real memes. Some are hateful: they attack real groups of people "
            "(for their religion, ethnicity, nationality, gender, sexuality or disability), and some use slurs. "
            "Galleries and widgets blur each picture and hide its caption until you click **Reveal** on that meme; "
            "some cells print captions as text. You can skip any meme, gallery or printed example: the lesson is in "
            "the code and the numbers. Take a break whenever you need one.")
