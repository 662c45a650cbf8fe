"""The command line end to end, as a user runs it: synth, validate, train, evaluate, predict, submit."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def memelib(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "memelib", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"memelib {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_end_to_end(workdir):
    data, run = workdir / "memes", workdir / "run"
    out = memelib("synth", str(data), "--n-train", "36", "--n-dev", "18", "--n-test", "9", "--n-test-seen", "6",
                  "--image-size", "48", "--label-noise", "0.25", "--bias-group", "none", cwd=workdir)
    assert "train 36" in out.stdout and "test_seen 6" in out.stdout and (data / "img").is_dir()
    meta = [json.loads(line) for line in (data / "meta.jsonl").read_text().splitlines()]
    assert sum(m["label"] != m["true_label"] for m in meta) == 9  # a quarter of the 36 training labels flipped

    out = memelib("validate", str(data), cwd=workdir)
    assert "69" in out.stdout  # rows read

    out = memelib("train", "--data", str(data), "--out", str(run), "--preset", "tiny", "--fusion", "late",
                  "--epochs", "2", "--seed", "3", "--precision", "fp32", "--cache-dir", str(workdir / "cache"), "--quiet", cwd=workdir)
    assert "training late fusion" in out.stdout and "dev AUROC" in out.stdout
    assert json.loads((run / "config.json").read_text())["config"]["model"]["fusion"]["name"] == "late"
    assert json.loads((run / "config.json").read_text())["config"]["train"]["seed"] == 3

    out = memelib("evaluate", str(run), "--data", str(data), "--split", "dev", "--device", "cpu", "--precision", "fp32",
                  cwd=workdir)
    assert "AUROC" in out.stdout and "recall hateful" in out.stdout
    report = json.loads((run / "eval-dev" / "metrics.json").read_text())
    assert report["at_0.5"]["n"] == 18 and (run / "eval-dev" / "confusion_matrix.png").stat().st_size > 1000
    _evaluate_scores_the_trained_run(report, run, data)

    first = json.loads((data / "dev.jsonl").read_text().splitlines()[0])
    out = memelib("predict", str(run), "--image", str(data / first["img"]), "--text", first["text"], cwd=workdir)
    pred = json.loads(out.stdout)
    assert set(pred) == {"prob", "label"} and 0 <= pred["prob"] <= 1 and pred["label"] in (0, 1)

    csv_path = workdir / "preds.csv"
    memelib("submit", str(run), "--data", str(data), "--split", "test", "--out", str(csv_path), cwd=workdir)
    rows = list(csv.DictReader(csv_path.open()))
    test_ids = [str(json.loads(line)["id"]) for line in (data / "test.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == test_ids
    assert all(0 <= float(r["proba"]) <= 1 and r["label"] in ("0", "1") for r in rows)


def _evaluate_scores_the_trained_run(report: dict, run: Path, data: Path) -> None:
    """`evaluate`'s report is the run's model scored on dev at the run's tuned threshold, and agrees with
    the dev AUROC that training wrote."""
    import numpy as np

    from memelib.annotations import read_split
    from memelib.inference import Predictor
    from memelib.metrics import evaluation_report

    train_metrics = json.loads((run / "metrics.json").read_text())
    assert report["at_tuned"]["threshold"] == train_metrics["at_tuned"]["threshold"]
    records = read_split(data, "dev")
    labels = np.array([r.label for r in records])
    probs = Predictor(run, device="cpu", precision="fp32").predict_records(records, data, progress=False)
    assert report == {"split": "dev", "data": str(data), **evaluation_report(labels, probs, report["at_tuned"]["threshold"])}
    # Training scored dev from its float16 feature cache, evaluate from the images in float32: each
    # probability moves by up to 1e-4 (3e-5 measured, on AVX-512, AVX2 and scalar kernels alike), and this
    # barely trained model's probabilities lie within 0.004 of each other. So a hateful/benign pair closer
    # than 2e-4 may rank the other way in training, each such pair moving the AUROC by 1 / (pairs).
    pos, neg = probs[labels == 1], probs[labels == 0]
    near = int((np.abs(pos[:, None] - neg[None, :]) <= 2e-4).sum())
    assert abs(report["at_tuned"]["auroc"] - train_metrics["at_tuned"]["auroc"]) <= (near + 1e-9) / (len(pos) * len(neg))


def test_errors_are_clear_and_exit_nonzero(workdir):
    bad = workdir / "bad"
    (bad / "img").mkdir(parents=True)
    (bad / "train.jsonl").write_text('{"id": 1, "img": "img/1.png", "text": "hi", "label": 0}\n{"id": 2, "img": \n')
    out = memelib("validate", str(bad), cwd=workdir, check=False)
    assert out.returncode == 1 and "train.jsonl:2" in out.stdout
    out = memelib("train", "--data", str(bad), "--out", str(workdir / "r"), "--preset", "tiny", cwd=workdir, check=False)
    assert out.returncode == 2 and "train.jsonl:2" in out.stderr
    out = memelib("evaluate", str(workdir / "no-run"), "--data", str(bad), "--split", "train", cwd=workdir, check=False)
    assert out.returncode == 2 and "error:" in out.stderr


def _expected_by_group(run: Path, data: Path, split: str, field: str) -> tuple[str, list]:
    """What `evaluate --by field` must write: group_report of the run's own probabilities at its tuned
    threshold, as JSON text (NaN included); and the labels, to count by hand."""
    import numpy as np

    from memelib.annotations import group_values, read_split
    from memelib.inference import Predictor
    from memelib.metrics import group_report

    records = read_split(data, split)
    labels = np.array([r.label for r in records])
    predictor = Predictor(run, device="cpu", precision="fp32")
    assert predictor.threshold == json.loads((run / "metrics.json").read_text())["at_tuned"]["threshold"]
    probs = predictor.predict_records(records, data, progress=False)
    report = group_report(labels, probs, group_values(records, field, data), predictor.threshold)
    return json.dumps({"field": field, **report.to_dict()}, sort_keys=True), labels.tolist()


def test_evaluate_by_group_on_synthmemes(tiny_run, synth_dir, tmp_path):
    from memelib.synthetic import GROUPS, load_meta

    out = memelib("evaluate", str(tiny_run), "--data", str(synth_dir), "--split", "dev", "--by", "group",
                  "--device", "cpu", "--precision", "fp32", "--report-dir", str(tmp_path), cwd=tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    expected, labels = _expected_by_group(tiny_run, synth_dir, "dev", "group")
    assert json.dumps(written["by_group"], sort_keys=True) == expected
    meta = load_meta(synth_dir)
    dev_groups = [meta[str(json.loads(line)["id"])]["group"] for line in (synth_dir / "dev.jsonl").read_text().splitlines()]
    counts = {row["group"]: (row["n"], row["n_hateful"]) for row in written["by_group"]["rows"]}
    for name in set(dev_groups):
        in_group = [label for label, g in zip(labels, dev_groups) if g == name]
        assert counts["(none)" if name is None else name] == (len(in_group), sum(in_group))
    assert set(counts) <= set(GROUPS) | {"(none)"}
    text = out.stdout
    assert text.index("recall hateful") < text.index("by group") < text.index("largest FPR gap: ")
    table = text[text.index("by group"):].splitlines()
    assert table[1].split()[:3] == ["group", "memes", "hateful"]
    assert {line.split()[0] for line in table[2:2 + len(counts)]} == set(counts)
    gap_group = written["by_group"]["largest_gap_group"]
    assert f"largest FPR gap: {gap_group}, {written['by_group']['largest_gap']:+.4f}" in text


def test_evaluate_test_seen_by_a_list_field_of_the_lines(tiny_run, synth_dir, tmp_path):
    """A labelled test_seen.jsonl whose lines carry the fine-grained release's list-valued gold_pc."""
    data = tmp_path / "fine"
    (data / "img").mkdir(parents=True)
    pcs = [["race"], ["religion", "race"], [], ["pc_empty"], None]  # None: the line has no gold_pc
    rows = [json.loads(line) for line in (synth_dir / "dev.jsonl").read_text().splitlines()]
    lines = []
    for i, row in enumerate(rows):
        (data / row["img"]).write_bytes((synth_dir / row["img"]).read_bytes())
        lines.append(json.dumps(row if pcs[i % 5] is None else {**row, "gold_pc": pcs[i % 5]}))
    (data / "test_seen.jsonl").write_text("\n".join(lines) + "\n")

    out = memelib("evaluate", str(tiny_run), "--data", str(data), "--split", "test_seen", "--by", "gold_pc",
                  "--device", "cpu", "--precision", "fp32", "--report-dir", str(tmp_path / "report"), cwd=tmp_path)
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert written["split"] == "test_seen" and written["at_0.5"]["n"] == len(rows)
    expected, labels = _expected_by_group(tiny_run, data, "test_seen", "gold_pc")
    assert json.dumps(written["by_group"], sort_keys=True) == expected
    counts = {row["group"]: (row["n"], row["n_hateful"]) for row in written["by_group"]["rows"]}
    race = [label for i, label in enumerate(labels) if i % 5 in (0, 1)]  # a meme counts in each of its groups
    none = [label for i, label in enumerate(labels) if i % 5 in (2, 4)]  # [] and no key at all
    assert counts["race"] == (len(race), sum(race)) and counts["(none)"] == (len(none), sum(none))
    assert list(counts) == ["pc_empty", "race", "religion", "(none)"]
    assert "by gold_pc" in out.stdout and "(none)" in out.stdout

    missing = memelib("evaluate", str(tiny_run), "--data", str(data), "--split", "test_seen", "--by", "gold_attack",
                      cwd=tmp_path, check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "'gold_attack'" in missing.stderr and "test_seen.jsonl" in missing.stderr and "gold_pc" in missing.stderr
