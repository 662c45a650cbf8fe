"""`make check` (memelib.preflight): a full run on the course passes; each kind of failure names its fix."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memelib import preflight
from memelib.course import ensure_synthmemes
from memelib.preflight import (check_data, check_disk, check_features, check_jupyterlab, check_python, check_ram,
                               check_requirement, main, setup_cells)

ROOT = Path(__file__).resolve().parents[1]
FIX_DATA = "run `make check`"


def verdict_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("PASS  ", "FAIL  "))]


def test_a_full_run_on_the_course_passes_and_a_second_run_only_checks(monkeypatch, capsys):
    """On the real repository, with the feature cache the notebooks use (artifacts/cache): the first run prepares
    what is missing (in CI: generates SynthMemes and extracts the features, minutes), then a run that only checks
    passes too, so the preparation made exactly what the checks look for."""
    monkeypatch.delenv("MEMELIB_CACHE_DIR", raising=False)  # conftest points it at a temporary folder
    assert main(["--root", str(ROOT)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    t0 = time.perf_counter()
    code = main(["--root", str(ROOT), "--no-prepare"])
    seconds, out = time.perf_counter() - t0, capsys.readouterr().out
    lines = verdict_lines(out)
    assert code == 0 and lines and all(line.startswith("PASS") for line in lines), out
    for item in ("python", "packages", "free RAM", "free disk", "SynthMemes", "JupyterLab", "feature cache", "notebooks"):
        assert any(item in line for line in lines), (item, out)
    assert re.search(r"all \d+ checks passed \(\d+\.\d s\)", out)
    print(f"second run: {seconds:.1f} s")  # <= 15 s on a quiet laptop; more on a busy shared machine


def test_without_the_data_it_fails_naming_the_fix(tmp_path, capsys):
    """A course folder whose data/synthmemes is missing, checked only: FAIL lines that say to run `make check`,
    nothing generated, exit status 1."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    assert main(["--root", str(tmp_path), "--no-prepare"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  SynthMemes missing in data/synthmemes: {FIX_DATA}" in out
    assert "FAIL  feature cache not checked: it needs SynthMemes: fix the SynthMemes line first" in out
    assert "FAIL  notebooks' set-up cells not run" in out
    assert not (tmp_path / "data").exists()
    assert re.search(r"\d+ of \d+ checks failed: fix the FAIL lines", out)


def test_other_synthmemes_than_the_notebooks_use_fail(tmp_path):
    """A SynthMemes of other sizes is not the set setup() uses (the notebooks would generate theirs): checked only,
    it fails, naming the fix."""
    ensure_synthmemes(tmp_path / "data" / "synthmemes", n_train=8, n_dev=4, n_test=2, n_test_seen=2, image_size=32)
    verdict = check_data(tmp_path, prepare=False)
    assert not verdict.ok and "not the set the notebooks expect" in verdict.line() and FIX_DATA in verdict.line()


def test_a_requirement_that_is_not_met_fails_with_the_fix():
    ok = check_requirement("torch>=2.2")
    assert ok.ok and ok.line().startswith("PASS  torch ")
    too_old = check_requirement("torch>=99")
    assert not too_old.ok and "does not meet torch>=99" in too_old.line()
    assert 'pip install -e ".[dev]"' in too_old.line()
    missing = check_requirement("no-such-package-for-memelib>=1.0")
    assert not missing.ok and "is not installed" in missing.line() and 'pip install -e ".[dev]"' in missing.line()
    assert check_python(">=3.10", "3.11.9").ok
    old_python = check_python(">=3.10", "3.9.18")
    assert not old_python.ok and "make venv PYTHON=python3.11" in old_python.line()


def test_too_little_memory_or_disk_fails_with_the_fix(tmp_path):
    disk = check_disk(tmp_path, needed_gb=1e6)
    assert not disk.ok and "< 1000000.0 GB needed" in disk.line() and f"free space on the disk of {tmp_path}" in disk.line()
    assert check_disk(tmp_path / "not" / "made" / "yet", needed_gb=0.0).ok  # measured on the nearest folder there is
    ram = check_ram(needed_gb=1e6)
    assert not ram.ok and "close other programs" in ram.line()
    assert check_ram(needed_gb=0.0).ok


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="reads Linux's /proc/meminfo")
def test_free_memory_without_psutil_comes_from_proc_meminfo(monkeypatch):
    import psutil

    expected = psutil.virtual_memory().available / 1024**3
    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` now raises ImportError
    verdict = check_ram(needed_gb=0.0)
    have = float(re.search(r"free RAM ([0-9.]+) GB \(available\)", verdict.line()).group(1))
    assert verdict.ok and abs(have - expected) < 1.0  # the two read the same number a moment apart


def test_a_cold_feature_cache_fails_with_the_fix(tmp_path, monkeypatch):
    """The notebooks' SynthMemes against an empty cache, checked only: FAIL naming the splits and the fix, and
    nothing extracted."""
    ensure_synthmemes(ROOT / "data" / "synthmemes")  # as every notebook's setup() does (seconds when missing)
    monkeypatch.setenv("MEMELIB_CACHE_DIR", str(tmp_path))
    verdict = check_features(ROOT, prepare=False)
    assert not verdict.ok and f"no features of train, dev, test_seen in {tmp_path}" in verdict.line()
    assert "run `make check`" in verdict.line() and not any(tmp_path.iterdir())


def test_the_cache_file_it_looks_for_is_the_one_cached_features_writes(synth_dir, tmp_path):
    """The preflight asks features.cache_path for the cache file (to check without extracting); it must be the file
    memelib.features writes, or a prepared cache would look cold."""
    from memelib.annotations import read_split
    from memelib.config import preset
    from memelib.encoders import load_tokenizer
    from memelib.features import cache_path, cached_features, encoder_fingerprint
    from memelib.model import build_model

    cfg = preset("tiny")
    model, records = build_model(cfg.model).eval(), read_split(synth_dir, "dev", require_labels=True)
    cached_features(model, records, synth_dir, load_tokenizer(cfg.model.text), tmp_path, log=lambda s: None,
                    progress=False, precision="fp32")
    expected = cache_path(encoder_fingerprint(model), records, synth_dir, tmp_path, "fp32")
    assert [p.name for p in tmp_path.iterdir()] == [expected.name]


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_every_notebooks_set_up_ends_with_its_switch_cell(notebook):
    cells = setup_cells(notebook)
    assert cells and preflight.SWITCH in cells[-1] and "setup(" in cells[-1]


def test_the_widget_check_agrees_with_jupyter_labextension_list(tmp_path, monkeypatch):
    """Enabled in the project's settings, and disabled by a page_config.json in $JUPYTER_CONFIG_DIR: the preflight
    says what `jupyter labextension list` says, and names the file to edit."""
    jupyter = Path(sys.executable).parent / "jupyter"
    for disabled in (False, True):
        config = tmp_path / f"config-{disabled}"
        (config / "labconfig").mkdir(parents=True)
        if disabled:
            (config / "labconfig" / "page_config.json").write_text(f'{{"disabledExtensions": {{"{preflight.WIDGETS}": true}}}}')
        monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
        listed = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, check=True)
        line = next(s for s in re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr).splitlines()
                    if preflight.WIDGETS in s and " v" in s)
        verdict = check_jupyterlab()
        assert ("disabled" in line) == disabled == (not verdict.ok), (line, verdict)
        assert not disabled or str(config / "labconfig" / "page_config.json") in verdict.line()


def write_notebook(path: Path, cells: list[str]) -> None:
    code = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": c} for c in cells]
    path.write_text(json.dumps({"cells": code, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_a_failing_or_dying_notebook_is_named_and_the_next_ones_still_run(tmp_path, monkeypatch):
    """In a real kernel: a set-up cell that raises, one that kills the kernel (a fresh one is started), a notebook
    without a switch cell: one FAIL line each, and the notebook after them still runs."""
    notebooks, switch = tmp_path / "notebooks", f"{preflight.SWITCH}\ncourse = 1"
    notebooks.mkdir()
    write_notebook(notebooks / "00_missing_module.ipynb", ["import no_such_module_for_memelib", switch])
    write_notebook(notebooks / "01_dies.ipynb", ["import os\nos._exit(1)", switch])
    write_notebook(notebooks / "02_fine.ipynb", ["from pathlib import Path", f"{switch}\nPath('ran.txt').write_text('yes')"])
    write_notebook(notebooks / "03_no_switch.ipynb", ["x = 1"])
    kernel = preflight.start_kernel(tmp_path)
    assert not isinstance(kernel, str), kernel
    try:
        preflight.run_code(kernel, "pass", timeout=300)  # the kernel's warm-up imports are done
        monkeypatch.setattr(preflight.kernel, "SETUP_TIMEOUT", 10)  # a dead kernel is noticed after 10 s, not 120
        lines = [v.line() for v in preflight.check_notebooks(kernel, tmp_path)]
    finally:
        kernel[1].stop_channels()
        kernel[0].shutdown_kernel(now=True)
    assert len(lines) == 3 and all(line.startswith("FAIL") for line in lines), lines
    assert "00_missing_module.ipynb's set-up cells fail: ModuleNotFoundError" in lines[0] and "make lab" in lines[0]
    assert "01_dies.ipynb's set-up cells fail: TimeoutError" in lines[1]
    assert "03_no_switch.ipynb has no `# ▶ SWITCH` cell" in lines[2]
    assert (notebooks / "ran.txt").read_text() == "yes"


def test_importing_it_does_nothing_and_leaves_torch_to_the_kernel():
    """Nothing happens on import, and the checking process never imports torch: the kernel does, once, for both the
    feature cache and the notebooks (half of a second run's time)."""
    code = ("import sys\nfrom memelib import preflight\nfrom pathlib import Path\n"
            "preflight.check_packages(Path('.')); preflight.check_data(Path('.'), prepare=False)\n"
            "preflight.check_jupyterlab()\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
