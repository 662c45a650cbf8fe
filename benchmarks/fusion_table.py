"""Dev AUROC of every fusion head on SynthMemes (default settings), offline preset, frozen features; and the
concat head's fairness per group, before and after up-weighting the bias group's benign training memes.

    python benchmarks/fusion_table.py --out artifacts/fusion_bench.json     (or: make bench-fusion)

What it shows: text alone and image alone cannot solve SynthMemes (benign confounders), late fusion
(a sum of per-modality scores) cannot learn the XOR rule, concat and cross fusion can. Besides the
overall AUROC it reports, for each kind of benign meme, the AUROC of hateful memes against that kind
only ("text swap": same picture, other caption; "image swap": same caption, other picture).
Encoder features are extracted once and cached, so every head trains on identical inputs.

Fairness: false positive rate (FPR) of the bias group's benign memes against all other memes, on dev and
test_seen pooled, at each run's tuned threshold, as notebook 07 measures it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from memelib.annotations import group_values, read_split
from memelib.config import preset
from memelib.course import meme_kinds
from memelib.data import cell_weights
from memelib.inference import Predictor
from memelib.metrics import auroc_by_kind, group_report
from memelib.synthetic import SynthConfig, generate
from memelib.train import fit

FUSIONS = ["text", "image", "late", "concat", "cross"]
BENIGN_KINDS = ["benign_text_swap", "benign_image_swap", "benign_mention"]  # columns of the table


def bias_benign_weights(data: Path, factor: float = 3.0) -> dict[str, float]:
    """Notebook 07's mitigation: the bias group's benign training memes weigh `factor`, every other meme 1."""
    train = read_split(data, "train")
    return cell_weights(train, group_values(train, "group", data), {(SynthConfig().bias_group, 0): factor})


def fairness(data: Path, work: Path, weights: dict[str, float] | None) -> dict[str, float]:
    """Train concat (with `weights`, if any) and measure the bias group's FPR gap on dev + test_seen."""
    cfg = preset("offline", fusion__name="concat", cache_dir=str(work / "cache"), precision="fp32")
    run = work / ("run-concat-reweighted" if weights else "run-concat")
    result = fit(cfg, data, run, progress=False, log=lambda s: None, example_weights=weights)
    predictor = Predictor(run, precision=cfg.train.precision)
    dev, test_seen = read_split(data, "dev"), read_split(data, "test_seen")
    probs = np.concatenate([result["dev_probs"], predictor.predict_records(test_seen, data, progress=False,
                                                                           cache_dir=cfg.train.cache_dir)])
    labels = np.array([r.label for r in dev + test_seen])
    report = group_report(labels, probs, group_values(dev + test_seen, "group", data), predictor.threshold)
    row = {r.group: r for r in report.rows}[SynthConfig().bias_group]
    return {"dev_auroc": result["report"]["at_tuned"]["auroc"], "bias_group_fpr": row.fpr,
            "others_fpr": row.fpr_others, "fpr_gap": row.fpr_gap}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="artifacts/bench/synthmemes")
    ap.add_argument("--work", default="artifacts/bench")
    ap.add_argument("--seed", type=int, default=0, help="data seed (training seed follows the preset)")
    ap.add_argument("--out", default="artifacts/fusion_bench.json")
    args = ap.parse_args()

    data, work = Path(args.data), Path(args.work)
    t0 = time.perf_counter()
    counts = generate(data, SynthConfig(seed=args.seed))
    synth_rate = sum(counts.values()) / (time.perf_counter() - t0)  # PIL drawing runs on one core
    print(f"SynthMemes: {sum(counts.values())} memes generated at {synth_rate:.0f} memes/s", flush=True)
    dev = read_split(data, "dev")
    kinds = meme_kinds(data, [r.id for r in dev])
    labels = np.array([r.label for r in dev])
    rows = []
    for name in FUSIONS:
        cfg = preset("offline", fusion__name=name, cache_dir=str(work / "cache"), precision="fp32")  # as the course
        t0 = time.perf_counter()
        result = fit(cfg, data, work / f"run-{name}", progress=False, log=lambda s: None)
        seconds = time.perf_counter() - t0
        probs = np.asarray(result["dev_probs"])
        tuned = result["report"]["at_tuned"]
        rows.append({"fusion": name, "dev_auroc": tuned["auroc"], "dev_accuracy_tuned": tuned["accuracy"],
                     "dev_macro_f1_tuned": tuned["macro_f1"], "best_epoch": result["best_epoch"],
                     "auroc_by_benign_kind": {k: auroc_by_kind(labels, probs, kinds).get(k, float("nan")) for k in BENIGN_KINDS}, "seconds": round(seconds, 1)})
        print(f"{name:7s} done in {seconds:5.1f} s", flush=True)

    print(f"\nSynthMemes dev ({len(dev)} memes, data seed {args.seed}), offline preset, frozen features")
    print(f"{'fusion':8s}{'AUROC':>8s}{'acc':>8s}{'F1':>8s}   AUROC hateful vs: {'text swap':>10s}{'image swap':>11s}{'mention':>8s}")
    for r in rows:
        k = {kind: "-" if np.isnan(v) else f"{v:.3f}" for kind, v in r["auroc_by_benign_kind"].items()}
        print(f"{r['fusion']:8s}{r['dev_auroc']:8.3f}{r['dev_accuracy_tuned']:8.3f}{r['dev_macro_f1_tuned']:8.3f}"
              f"   {'':18s}{k['benign_text_swap']:>10s}{k['benign_image_swap']:>11s}{k['benign_mention']:>8s}")
    bias = SynthConfig().bias_group
    fair = {"before": fairness(data, work, None), "reweighted": fairness(data, work, bias_benign_weights(data))}
    print(f"\nconcat, dev + test_seen at the tuned threshold: FPR of {bias}'s benign memes vs all other memes")
    for name, f in fair.items():
        print(f"{name:11s} FPR {f['bias_group_fpr']:.3f} vs {f['others_fpr']:.3f}, gap {f['fpr_gap']:+.3f}; "
              f"dev AUROC {f['dev_auroc']:.3f}")
    result = {"dataset": {"name": "SynthMemes", "seed": args.seed, "dev": len(dev)}, "preset": "offline",
              "synth_memes_per_s": round(synth_rate, 1), "fairness_concat": {"bias_group": bias, **fair},
              "torch": torch.__version__, "machine": platform.processor() or platform.machine(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
