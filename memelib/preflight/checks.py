"""The checks of `make check` that need no Jupyter kernel: Python and packages, memory and disk, SynthMemes,
JupyterLab and its widget extension, the feature cache. Each returns a `Verdict`."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["Verdict", "check_python", "check_requirement", "check_packages", "check_ram", "check_disk", "check_space",
           "check_data", "check_jupyterlab", "check_features", "synthmemes_ready"]

GB = 1024**3
DATA = Path("data") / "synthmemes"  # the folder setup() gives the notebooks (memelib.course)
# Memory: a kernel that only imported torch peaks at 0.53 GB, and notebook 05, the hungriest, 1.7 GB above it
# (README, `make notebook-times`): 2.2 GB; JupyterLab's server and the browser's tab need some too.
RAM_NEEDED_GB = 3.0
# Disk, measured with `du` after every notebook ran: their run folders in artifacts/runs 2.7 GB (05: 1.35 GB, its
# fine-tuned run's optimiser state alone 0.52 GB; every other run ~0.14 GB, mostly the encoders' weights),
# data/synthmemes 14 MB, the feature cache 3 MB; and 0.5 GB for a run's largest file, written beside the old
# one before it replaces it. Run folders already there are rewritten in place: they count as space the course has.
RUNS_GB, DISK_NEEDED_GB = 2.7, 3.3
NOTEBOOK_SPLITS = ("train", "dev", "test_seen")  # fit's two (notebooks 04-08); test_seen, scored from the cache (07)
WIDGETS = "@jupyter-widgets/jupyterlab-manager"  # the lab extension ipywidgets' widgets need
FIX_VENV = 'reinstall the environment: .venv/bin/python -m pip install -e ".[dev]" (`make venv` makes a missing one)'
FIX_DATA = "run `make check` (without --no-prepare it generates them, in seconds)"


@dataclass
class Verdict:
    ok: bool  # PASS or FAIL
    what: str  # what was found, e.g. "python 3.11.9"
    fix: str = ""  # how to fix a failure

    def line(self) -> str:
        """`PASS  what` or `FAIL  what: fix`."""
        return f"PASS  {self.what}" if self.ok else f"FAIL  {self.what}" + (f": {self.fix}" if self.fix else "")


# -- Python and packages ------------------------------------------------------------------------------------------
def check_python(requires: str, version: str | None = None) -> Verdict:
    """This Python (or `version`) against pyproject's `requires-python`, e.g. ">=3.10"."""
    from packaging.specifiers import SpecifierSet

    version = version or platform.python_version()
    if SpecifierSet(requires).contains(version, prereleases=True):
        return Verdict(True, f"python {version} ({requires})")
    return Verdict(False, f"python {version} does not meet requires-python {requires}",
                   "install Python 3.11 and make the environment again: rm -rf .venv && make venv PYTHON=python3.11")


def check_requirement(text: str) -> Verdict:
    """One requirement, e.g. "torch>=2.2": installed at a version it accepts?"""
    from packaging.requirements import Requirement

    req = Requirement(text)
    try:
        version = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return Verdict(False, f"{req.name} is not installed ({text} needed)", FIX_VENV)
    if req.specifier.contains(version, prereleases=True):
        return Verdict(True, f"{req.name} {version}")
    return Verdict(False, f"{req.name} {version} does not meet {text}", FIX_VENV)


def project_requirements(root: Path) -> tuple[str, list[str]]:
    """pyproject.toml's requires-python, and its dependencies with the dev extra's (pytest, nbval...)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed metadata, as pip last read pyproject.toml
        meta = importlib.metadata.metadata("memelib")
        requirements = meta.get_all("Requires-Dist") or []
        return meta["Requires-Python"], [r for r in requirements if "extra" not in r or '"dev"' in r]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["requires-python"], project["dependencies"] + project["optional-dependencies"]["dev"]


def check_packages(root: Path) -> list[Verdict]:
    """The Python line, then one line for all packages when they pass, else one line per failing package."""
    if not (root / "pyproject.toml").is_file():
        return [Verdict(False, f"no pyproject.toml in {root}", "run it in the course's folder, or pass --root")]
    try:
        requires, requirements = project_requirements(root)
        verdicts = [check_requirement(r.split(";")[0]) for r in requirements]
    except ImportError as e:  # no `packaging`: the environment is incomplete
        return [Verdict(False, f"cannot check versions ({e})", FIX_VENV)]
    found = dict(v.what.split()[:2] for v in verdicts if v.ok)
    named = ", ".join(f"{name} {found[name]}" for name in ("torch", "transformers", "jupyterlab") if name in found)
    failed = [v for v in verdicts if not v.ok]
    passed = Verdict(True, f"{len(verdicts)} packages as pyproject.toml asks ({named}, ...)")
    return [check_python(requires), *(failed or [passed])]


# -- Memory and disk ----------------------------------------------------------------------------------------------
def check_ram(needed_gb: float = RAM_NEEDED_GB) -> Verdict:
    """Memory free for new programs against what the hungriest notebook's kernel was measured to need."""
    try:
        import psutil  # installed with ipykernel; Linux, macOS and Windows

        have, how = psutil.virtual_memory().available / GB, "available"
    except ImportError:
        meminfo = Path("/proc/meminfo")  # Linux
        lines = [line.split() for line in meminfo.read_text().splitlines()] if meminfo.exists() else []
        have = next((int(kb) * 1024 / GB for name, kb, *_ in lines if name == "MemAvailable:"), None)
        how = "available"
        if have is None:  # macOS without psutil: the memory installed
            have, how = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / GB, "installed"
    what = f"free RAM {have:.1f} GB ({how})"
    if have >= needed_gb:
        return Verdict(True, f"{what} >= {needed_gb:.1f} GB needed")
    return Verdict(False, f"{what} < {needed_gb:.1f} GB needed (notebook 05's kernel peaks at 2.2 GB)",
                   "close other programs (browser tabs, other notebooks' kernels) or use a machine with more memory")


def check_disk(path: Path, needed_gb: float = DISK_NEEDED_GB, note: str = "") -> Verdict:
    """Free disk where `path` lies (or would lie) against `needed_gb`."""
    while not path.exists():  # artifacts/ may not exist yet: its parent's disk
        path = path.parent
    free = shutil.disk_usage(path).free / GB
    if free >= needed_gb:
        return Verdict(True, f"free disk {free:.1f} GB >= {needed_gb:.1f} GB needed{note}")
    return Verdict(False, f"free disk {free:.1f} GB < {needed_gb:.1f} GB needed{note}",
                   f"free space on the disk of {path} (the notebooks' runs and the feature cache are written there)")


def check_space(root: Path) -> list[Verdict]:
    """Memory, then disk: the run folders the notebooks already wrote count as space they have."""
    runs = root / "artifacts" / "runs"
    have = min(sum(f.stat().st_size for f in runs.rglob("*") if f.is_file()) / GB, RUNS_GB) if runs.is_dir() else 0.0
    note = f" ({DISK_NEEDED_GB:.1f} GB less {have:.1f} GB of runs already in artifacts/runs)" if have >= 0.05 else ""
    return [check_ram(), check_disk(root / "artifacts", DISK_NEEDED_GB - have, note)]


# -- SynthMemes ---------------------------------------------------------------------------------------------------
def synthmemes_ready(folder: Path) -> bool:
    """The set the notebooks use, tested as `ensure_synthmemes` tests it (`synthetic.is_generated`: the stamp of
    today's rules and default sizes, every split complete), else the notebooks would generate it again."""
    from ..synthetic import is_generated

    return is_generated(folder)


def check_data(root: Path, prepare: bool) -> Verdict:
    """SynthMemes in data/synthmemes, complete and valid; generated first when missing and `prepare`."""
    from ..course import ensure_synthmemes
    from ..validation import validate

    folder, made = root / DATA, ""
    if prepare and not synthmemes_ready(folder):
        print(f"      generating SynthMemes in {DATA} (seconds, once)", flush=True)
        t0 = time.perf_counter()
        ensure_synthmemes(folder)
        made = f", generated now in {time.perf_counter() - t0:.0f} s"
    if not synthmemes_ready(folder):
        state = "missing" if not (folder / "train.jsonl").exists() else "not the set the notebooks expect"
        return Verdict(False, f"SynthMemes {state} in {DATA}", FIX_DATA)
    report = validate(folder, check_images=False)  # every row, and that its image exists (decoding them: 1 s more)
    if not report.ok:
        first = next(p for p in report.problems if p.fatal)
        return Verdict(False, f"SynthMemes in {DATA} have problems ({first})", f"delete {DATA} and {FIX_DATA}")
    return Verdict(True, f"SynthMemes in {DATA}: {report.rows_usable} memes{made}")


# -- JupyterLab and the widget extension --------------------------------------------------------------------------
def disabled_lab_extensions() -> dict[str, Path]:
    """What JupyterLab's page config disables, and the file that says so, read as JupyterLab reads it: its settings
    folder, then labconfig/ in every Jupyter config folder, the first ($JUPYTER_CONFIG_DIR) winning."""
    from jupyter_core.paths import jupyter_config_path

    files = [Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "page_config.json"]
    for folder in reversed(jupyter_config_path()):
        labconfig = Path(folder) / "labconfig"
        files += [labconfig / "page_config.json", *sorted(labconfig.glob("page_config.d/*.json"))]
    disabled: dict[str, tuple[bool, Path]] = {}
    for file in files:
        if file.is_file() and file.stat().st_size:
            value = json.loads(file.read_text(encoding="utf-8")).get("disabledExtensions", {})
            value = dict.fromkeys(value, True) if isinstance(value, list) else value  # a list in older versions
            disabled.update({name: (off, file) for name, off in value.items()})
    return {name: file for name, (off, file) in disabled.items() if off}


def check_jupyterlab() -> Verdict:
    """JupyterLab 4 or later, and ipywidgets' lab extension, enabled, where JupyterLab looks for extensions."""
    try:
        from jupyter_core.paths import jupyter_path
        from packaging.version import Version

        lab = importlib.metadata.version("jupyterlab")
    except (ImportError, importlib.metadata.PackageNotFoundError):
        return Verdict(False, "JupyterLab is not installed", FIX_VENV)
    if Version(lab).major < 4:
        return Verdict(False, f"JupyterLab {lab} (4 or later needed)", FIX_VENV)
    found = [p for p in (Path(d) / WIDGETS / "package.json" for d in jupyter_path("labextensions")) if p.is_file()]
    if not found:
        return Verdict(False, f"JupyterLab {lab}, but not the widget extension {WIDGETS}",
                       ".venv/bin/python -m pip install --force-reinstall jupyterlab_widgets")
    off = {n: f for n, f in disabled_lab_extensions().items() if n == WIDGETS or n.startswith(WIDGETS + ":")}
    if off:
        name, file = next(iter(off.items()))
        return Verdict(False, f"JupyterLab {lab}: the widget extension is disabled ({name})",
                       f'delete "{name}" from "disabledExtensions" in {file}')
    version = json.loads(found[0].read_text(encoding="utf-8"))["version"]
    return Verdict(True, f"JupyterLab {lab}, widget extension {WIDGETS} {version} enabled")


# -- The feature cache --------------------------------------------------------------------------------------------
def check_features(root: str | Path, prepare: bool, log: Callable[[str], None] = print) -> Verdict:
    """The offline preset's float32 features of the splits the notebooks train and score on, in the cache they read
    (artifacts/cache, or $MEMELIB_CACHE_DIR, as `course.setup` chooses); extracted first when `prepare`."""
    from ..annotations import read_split
    from ..config import preset
    from ..encoders import load_tokenizer
    from ..features import cache_path, cached_features, encoder_fingerprint
    from ..model import build_model
    from ..runtime import resolve_device, resolve_precision

    data, cache = Path(root) / DATA, Path(os.environ.get("MEMELIB_CACHE_DIR") or Path(root) / "artifacts" / "cache")
    cfg = preset("offline", precision="fp32")  # as setup() makes it for the notebooks: float32 everywhere
    model, device = build_model(cfg.model).eval(), resolve_device("auto")
    encoders, precision = encoder_fingerprint(model), resolve_precision(device, "fp32")
    missing, t0 = [], time.perf_counter()
    for split in NOTEBOOK_SPLITS:
        records = read_split(data, split, require_labels=True)
        path = cache_path(encoders, records, data, cache, precision)
        if not path.exists() and prepare:
            log(f"      extracting the {split} features ({len(records)} memes) into {cache}: a minute or two, once")
            cached_features(model, records, data, load_tokenizer(cfg.model), cache, log=lambda s: None,
                            device=device, progress=False, precision=precision)  # as fit and Predictor call it
        if not path.exists():
            missing.append(split)
    if missing:
        return Verdict(False, f"feature cache: no features of {', '.join(missing)} in {cache}",
                       "run `make check` (without --no-prepare it extracts them: a few minutes, once)")
    took = f" (prepared in {time.perf_counter() - t0:.0f} s)" if time.perf_counter() - t0 > 10 else ""
    splits = ", ".join(NOTEBOOK_SPLITS)
    return Verdict(True, f"feature cache: the offline preset's features of {splits} in {cache}{took}")


