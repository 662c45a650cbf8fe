"""The course: set-up helper, notebook structure, student copies."""

import re
from pathlib import Path

import nbformat
import pytest

from memelib.course import content_note, ensure_synthmemes, environment_report, meme_kinds, project_root, setup

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["00_start_here", "01_tokens_and_masks", "02_tensors_and_shapes", "03_encoders", "04_fusion",
            "05_training", "06_error_analysis", "07_fairness_and_test", "08_explaining_predictions"]


def test_project_root_found_from_notebooks_folder():
    assert project_root(ROOT / "notebooks") == ROOT


def test_ensure_synthmemes_generates_once(tmp_path):
    args = dict(n_train=12, n_dev=6, n_test=3, image_size=32)
    assert ensure_synthmemes(tmp_path / "s", **args) is True
    assert ensure_synthmemes(tmp_path / "s", **args) is False
    assert ensure_synthmemes(tmp_path / "s", **{**args, "n_dev": 9}) is True  # another size: regenerated
    ids = [l.split(",")[0].split(":")[1].strip() for l in (tmp_path / "s" / "dev.jsonl").read_text().splitlines()]
    assert len(meme_kinds(tmp_path / "s", ids)) == 9 and meme_kinds(tmp_path, ids) is None


def test_setup_with_a_real_data_folder(tmp_path, monkeypatch):
    """The course's feature cache is artifacts/cache, or $MEMELIB_CACHE_DIR when set (the tests set it)."""
    monkeypatch.chdir(ROOT / "notebooks")
    monkeypatch.delenv("MEMELIB_CACHE_DIR")
    course = setup("tiny", data_dir=tmp_path, device="cpu")
    assert course.data_dir == tmp_path.resolve() and not course.synthetic
    assert course.cfg.train.device == "cpu" and course.cache_dir == ROOT / "artifacts" / "cache"
    monkeypatch.setenv("MEMELIB_CACHE_DIR", str(tmp_path / "cache"))
    assert setup("tiny", data_dir=tmp_path).cache_dir == tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="no such data folder"):
        setup("tiny", data_dir=tmp_path / "missing")


def test_content_note_says_what_real_memes_hold_and_that_they_stay_hidden():
    real, synthetic = content_note(False), content_note(True)
    for words in ("real groups", "slurs", "blur", "caption", "Reveal", "skip"):
        assert words in real, words
    assert "invented" in synthetic and "real groups" not in synthetic and "Reveal" not in synthetic
    assert len(synthetic) < 250 < len(real) < 700  # one line for SynthMemes, a short paragraph otherwise
    assert "\n" not in real + synthetic  # one Markdown paragraph each


def test_environment_report_finds_the_offline_model():
    report = environment_report()
    assert Path(report["offline text model"]).is_dir() and report["torch"]


def test_all_nine_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    nb = nbformat.read(path, as_version=4)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and re.search(r"learn", nb.cells[0].source, re.I), "opens with learning goals"
    assert re.search(r"summary", md[-1], re.I) or re.search(r"summary", md[-2], re.I), "closes with a summary"
    assert any("Your turn" in m for m in md), "has an exercise"
    assert any("### BEGIN SOLUTION" in c for c in code) and any("check_" in c for c in code)
    assert sum("# ▶ SWITCH" in c for c in code) == 1, "one clearly marked switch cell"
    assert any(re.search(r"^\s*(from|import) memelib", c, re.M) for c in code)
    for c in code:  # the notebook imports memelib's model, data and loop, never redefines them
        assert not re.search(r"^\s*class \w+\((nn\.Module|torch\.nn\.Module|Dataset)\)", c, re.M), c[:80]
        assert not re.search(r"^\s*def (fit|train|collate\w*|forward)\b", c, re.M), c[:80]
    assert all(c.outputs is not None for c in nb.cells if c.cell_type == "code")
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "committed executed"
