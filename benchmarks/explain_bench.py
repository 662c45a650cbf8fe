"""How good and how fast are memelib.explain's explanations, on SynthMemes where the true causes are known.

    python benchmarks/explain_bench.py --run RUN [RUN ...] --data data/synthmemes [--split dev] [--out explain.json]

Each RUN is a run folder trained on DATA, e.g. `memelib train --data data/synthmemes --out RUN --preset offline
--fusion concat --seed S`; give several, trained with other seeds only (at least 3), for claims about a method
rather than one model. For every run, over the split's hateful memes (the same memes for every run), the tests
against SynthMemes' known causes (memelib.faithfulness.truth_row): the word test on all of them, Grad-CAM and
occlusion's picture test on those whose label needs the picture, each beside its chance rate, then the mean and
spread over the runs ("truth"). Over the first run's correctly classified hateful memes, it also measures:

- words: the share whose top-scored word is the caption's group word or one of its template's frame words
  (memelib.captions.cause_words);
- picture: the share whose heat map is hotter, on average per pixel, on the scene than on the caption's
  letters (the letters' pixels: where the meme differs from the same meme drawn without its caption);
- completeness: |delta| <= 5% of |gap| (at the default integration steps, or after explain doubled them),
  and how many steps the first `--sweep` memes of the split (any kind) need, which is how DEFAULT_STEPS and
  MAX_STEPS were chosen;
- the sanity check of Adebayo et al. (2018): with the head re-randomised the word scores must change;
- speed: the median (p50) seconds of one explanation (words + Grad-CAM heat map + shares), warm.

Prints a summary and writes it as JSON. Not a unit test: the numbers depend on the run and the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memelib.annotations import Record, read_split
from memelib.explain import DEFAULT_STEPS, MAX_STEPS, TOLERANCE, explain, word_attributions
from memelib.faithfulness import (PICTURE_KINDS, heat_contrast, letters_mask, randomised_head, top_word_kind, truth_row,
                                  truth_summary)
from memelib.images import open_image
from memelib.inference import Predictor
from memelib.scenes import render_meme
from memelib.synthetic import load_meta


def hateful_correct(predictor: Predictor, records: list[Record], root: Path, meta: dict) -> list[Record]:
    """The split's truly hateful memes that the run labels hateful at its tuned threshold."""
    probs = predictor.predict_records(records, root, progress=False)
    return [r for r, p in zip(records, probs) if meta[r.id]["true_label"] == 1 and p >= predictor.threshold]


def measure_memes(predictor: Predictor, memes: list[Record], root: Path, meta: dict, methods: list[str]) -> list[dict]:
    """One row per meme: top word kind, completeness, heat on scene vs letters per method, seconds."""
    rows = []
    for r in memes:
        image = open_image(root / r.img)
        t0, c0 = time.perf_counter(), time.process_time()
        e = explain(predictor, image, r.text)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        mask = letters_mask(meta[r.id], r.text, image.size[0])
        assert np.array_equal(np.asarray(render_meme(meta[r.id]["scene"], meta[r.id]["scene_seed"], r.text, image.size[0])),
                              np.asarray(image)), f"{r.img}: not drawn as render_meme draws it"
        row = {"id": r.id, "text": r.text, "kind": meta[r.id]["kind"], "seconds": seconds,
               "cpu_seconds": cpu_seconds, "words": e.words, "word_scores": e.word_scores,
               "top_word": e.words[int(np.argmax(e.word_scores))], "top_kind": top_word_kind(e.words, e.word_scores, r.text),
               "delta": e.delta, "gap": e.gap, "steps": e.steps, "complete": abs(e.delta) <= TOLERANCE * abs(e.gap),
               "notes": e.notes}
        for method in methods:
            heat = e.heatmap if method == "gradcam" else explain(predictor, image, r.text, method=method).heatmap
            row[f"{method}_scene"], row[f"{method}_letters"] = heat_contrast(heat, mask)
        rows.append(row)
    return rows


def steps_needed(predictor: Predictor, records: list[Record], root: Path, first: int = 16) -> dict[str, Any]:
    """How many integration steps each meme needs for |delta| <= TOLERANCE |gap|, doubling from `first` up
    to MAX_STEPS: {steps: memes} (and "not reached"), and the share reached by each step count."""
    counts: dict[str, int] = {}
    predictor.model.eval()
    with torch.enable_grad():
        for r in records:
            w = word_attributions(predictor, r.text, predictor.transform(open_image(root / r.img)).unsqueeze(0), first)
            key = str(w.steps) if abs(w.delta) <= TOLERANCE * abs(w.gap) else "not reached"
            counts[key] = counts.get(key, 0) + 1
    steps = sorted(int(k) for k in counts if k != "not reached")
    reached = {str(n): sum(counts[str(m)] for m in steps if m <= n) / len(records) for n in steps}
    return {"memes": len(records), "first": first, "needed": counts, "share_reached_by": reached}


def randomised_head_check(predictor: Predictor, rows: list[dict], root: Path, records: dict[str, Record]) -> dict:
    """Adebayo et al. (2018): re-randomise the head (of a copy) and score the same memes' words again; the
    mean Spearman rank correlation with the trained model's scores should be far below 1."""
    from scipy.stats import spearmanr

    randomised = randomised_head(predictor, seed=0)
    rhos = []
    for row in rows:
        if len(row["words"]) >= 3:
            e = explain(randomised, open_image(root / records[row["id"]].img), row["text"])
            rhos.append(float(spearmanr(row["word_scores"], e.word_scores).statistic))
    return {"memes": len(rhos), "mean_spearman": float(np.mean(rhos)), "median_spearman": float(np.median(rhos))}


def summarise(rows: list[dict], methods: list[str]) -> dict[str, Any]:
    n = len(rows)
    times = [r["seconds"] for r in rows[1:]]  # the first call is the cold one
    cpu = [r["cpu_seconds"] for r in rows[1:]]
    summary = {
        "memes": n,
        "top_word_is_group_or_frame": sum(r["top_kind"] != "other" for r in rows) / n,
        "top_word_kinds": {k: sum(r["top_kind"] == k for r in rows) for k in ("group", "frame", "other")},
        "complete": sum(r["complete"] for r in rows) / n,  # |delta| <= 5% |gap| after any doubling of the steps
        "complete_at_default_steps": sum(r["complete"] and r["steps"] == DEFAULT_STEPS for r in rows) / n,
        "max_delta_over_gap": max(abs(r["delta"]) / max(abs(r["gap"]), 1e-12) for r in rows),
        "steps_used": {str(k): sum(r["steps"] == k for r in rows) for k in sorted({r["steps"] for r in rows})},
        "explain_seconds_p50": statistics.median(times), "explain_seconds_p90": float(np.percentile(times, 90)),
        "explain_cpu_seconds_p50": statistics.median(cpu),  # both threads' CPU time: the wall time on an idle machine
        # lies between this divided by the threads and this
    }
    for m in methods:
        summary[f"{m}_scene_hotter_share"] = sum(r[f"{m}_scene"] > r[f"{m}_letters"] for r in rows) / n
        lit = [r for r in rows if r[f"{m}_scene"] + r[f"{m}_letters"] > 0]  # an all-zero map favours nothing
        summary[f"{m}_all_zero_maps"] = n - len(lit)
        summary[f"{m}_scene_hotter_share_of_nonzero_maps"] = sum(r[f"{m}_scene"] > r[f"{m}_letters"] for r in lit) / max(len(lit), 1)
        summary[f"{m}_mean_scene_heat"] = float(np.mean([r[f"{m}_scene"] for r in rows]))
        summary[f"{m}_mean_letters_heat"] = float(np.mean([r[f"{m}_letters"] for r in rows]))
    return summary


def truth_over_runs(runs: list[str], records: list[Record], root: Path, meta: dict, sample: int | None) -> dict:
    """Every run's truth_summary on the split's first `sample` hateful memes (all: None), occlusion on each,
    and the mean and standard deviation over the runs."""
    memes = [r for r in records if meta[r.id]["true_label"] == 1][:sample]
    per_run = {}
    for run in runs:
        predictor = Predictor(run, device="cpu", precision="fp32")
        per_run[run] = truth_summary([truth_row(predictor, r, root, meta, occlusion=True) for r in memes])
        del predictor  # one model in memory at a time
    keys = list(next(iter(per_run.values())))
    values = {k: [s[k] for s in per_run.values()] for k in keys}
    return {"memes": len(memes), "picture_memes": sum(meta[r.id]["kind"] in PICTURE_KINDS for r in memes),
            "per_run": per_run, "mean": {k: float(np.mean(v)) for k, v in values.items()},
            "sd": {k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, nargs="+", help="run folders trained on --data (several seeds)")
    p.add_argument("--data", default="data/synthmemes", help="a SynthMemes folder (it has meta.jsonl)")
    p.add_argument("--split", default="dev")
    p.add_argument("--out", default="explain_bench.json", help="where the JSON summary goes")
    p.add_argument("--methods", default="gradcam,occlusion", help="heat map methods to compare on scene vs letters")
    p.add_argument("--sweep", type=int, default=120, help="memes of the split (any kind) whose needed integration "
                                                         "steps are counted, from 16 doubling (0: none)")
    p.add_argument("--sample", type=int, help="the truth tests on the split's first N hateful memes (default: all)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core); on a busy shared "
                                               "machine 1 avoids threads waiting on each other")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    root, methods = Path(a.data), a.methods.split(",")
    records, meta = read_split(root, a.split), load_meta(root)
    result = {"runs": a.run, "data": str(root), "split": a.split, "default_steps": DEFAULT_STEPS, "max_steps": MAX_STEPS,
              "threads": torch.get_num_threads(), "truth": truth_over_runs(a.run, records, root, meta, a.sample)}
    predictor = Predictor(a.run[0], device="cpu")
    memes = hateful_correct(predictor, records, root, meta)
    rows = measure_memes(predictor, memes, root, meta, methods)
    result.update(summarise(rows, methods))
    result["randomised_head"] = randomised_head_check(predictor, rows, root, {r.id: r for r in records})
    if a.sweep:
        result["steps_needed"] = steps_needed(predictor, records[:a.sweep], root)
    result["rows"] = rows
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
