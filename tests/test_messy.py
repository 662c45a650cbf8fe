"""`memelib validate` + `train --skip-invalid` + `evaluate` through a messy folder: only unusable rows are
lost, and each is named."""

import json
import os
import subprocess
import sys

import pytest

from memelib.images import open_image

from messy_data import ODD_IMAGES, make_messy_folder


def _memelib(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "memelib", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def messy(synth_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("messy")
    rows = {s: [json.loads(line) for line in (synth_dir / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "dev")}
    counts = make_messy_folder(root, rows["train"], rows["dev"], synth_dir)
    return root, counts


@pytest.mark.parametrize("name, what, usable", ODD_IMAGES, ids=[i[0] for i in ODD_IMAGES])
def test_every_odd_image_opens_as_rgb_or_is_refused(messy, name, what, usable):
    root, _ = messy
    if usable:
        image = open_image(root / "img" / name)
        assert image.mode == "RGB" and min(image.size) >= 88, what
    else:
        with pytest.raises(ValueError, match=name):
            open_image(root / "img" / name)


def test_validate_train_skip_invalid_evaluate(messy, tmp_path):
    root, counts = messy
    v = _memelib("validate", str(root), cwd=tmp_path)
    assert v.returncode == 1
    lines = v.stdout.splitlines()
    for code in ("invalid_json", "missing_key", "missing_image", "unsafe_path", "bad_label",
                 "duplicate_id", "bad_encoding", "bad_image", "empty_text"):
        assert any(code in line and "train.jsonl:" in line for line in lines), code
    assert any("missing key(s): text (found 'txt')" in line for line in lines)  # a typo in a key is named
    total = counts["usable"] + counts["unusable"]
    assert f"2 file(s), {total + 24} rows read, {counts['usable'] + 24} usable" in v.stdout  # + 24 clean dev rows

    refused = _memelib("train", "--data", str(root), "--out", str(tmp_path / "r0"), "--preset", "tiny", cwd=tmp_path)
    assert refused.returncode == 2 and "--skip-invalid" in refused.stderr

    run = tmp_path / "run"
    t = _memelib("train", "--data", str(root), "--out", str(run), "--preset", "tiny", "--epochs", "1",
                 "--skip-invalid", "--quiet", "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path)
    assert t.returncode == 0, t.stderr
    assert f"skipped {counts['unusable']} unusable rows of {counts['usable'] + counts['unusable']}" in t.stdout
    assert f"training concat fusion, frozen encoders (cached features): {counts['usable']} train" in t.stdout
    skipped = [line for line in t.stdout.splitlines() if line.startswith("  skipped ")]
    assert len(skipped) == counts["unusable"] and all("train.jsonl:" in line for line in skipped)

    e = _memelib("evaluate", str(run), "--data", str(root), "--split", "dev", "--device", "cpu", cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    assert json.loads((run / "eval-dev" / "metrics.json").read_text())["at_0.5"]["n"] == 24
