"""Speed and memory of memelib on this machine, every figure measured in one run (make bench).

    python benchmarks/speed.py --out artifacts/bench.json [--quick] [--only explain,predict]

Prints a table and writes one JSON object. Shared machines are noisy: compare the ratios in one run
(extraction vs the machine's matmul rate, loading vs extraction, cached vs end-to-end) rather than
absolute numbers across runs. Encoders whose real weights need a download (DistilBERT, ResNet50 with
ImageNet weights) run with random weights here: speed does not depend on the values of the weights.
One explanation (memelib.explain: words, heat map, shares) of one meme with make demo's run: explain_p50_ms.
Memory: the peak of each of make demo's commands in its own process, and each course notebook's
kernel peak run in order from an empty feature cache (benchmarks/notebook_times.py; a few minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import DistilBertConfig, get_linear_schedule_with_warmup

from clip_speed import clip_figures  # benchmarks/, next to this file
from demo_vs import run_demo
from notebook_times import notebook_memory
from memelib.annotations import read_split
from memelib.checkpoint import save_run
from memelib.config import preset
from memelib.data import make_loader
from memelib.encoders import load_tokenizer
from memelib.inference import Predictor
from memelib.model import build_model
from memelib.synthetic import SynthConfig, generate
from memelib.features import feature_batches
from memelib.runtime import autocast, bf16_supported, frozen_bf16_weights
from memelib.fusion import build_fusion
from memelib.train import make_optimizer, train_one_epoch

CPU = torch.device("cpu")


def timed(fn: Callable[[], Any], repeat: int = 3, min_seconds: float = 1.0) -> float:
    """Median seconds per call over `repeat` timings, each averaging calls for at least `min_seconds`."""
    fn()  # warm-up: allocations, one-time kernels
    times = []
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                break
        times.append(elapsed / n)
    return statistics.median(times)


def matmul_gflops(dtype: torch.dtype, sizes: tuple[int, ...] = (2048, 4096)) -> float:
    """The machine's practical arithmetic limit: the best rate of large square matrix products."""
    rates = []
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        rates.append(2 * n**3 / timed(lambda: a @ b) / 1e9)
    return max(rates)


def flops(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def extraction_rows(data: Path, limits: dict[str, float | None], precisions: list[str], quick: bool) -> list[dict]:
    """Items/s and achieved GFLOP/s of each encoder of the offline and full presets: text at the preset's
    sequence length (padded to max_length) and, as memelib runs it, padded to the longest caption of a
    batch; images at the preset's resolution."""
    records = read_split(data, "dev")[: 32 if quick else 64]
    texts = [r.text for r in records]
    rows = []
    for preset_name in ("offline", "full"):
        cfg = preset(preset_name).model
        backbone = DistilBertConfig().to_dict() if preset_name == "full" else None  # random DistilBERT-base
        model = build_model(cfg, text_backbone_config=backbone).eval()
        tok = load_tokenizer(preset("offline").model.text)  # DistilBERT-uncased's vocabulary, offline
        loader = make_loader(records, data, tok, cfg.image.image_size, cfg.text.max_length, batch_size=len(records),
                             preprocess=cfg.image.preprocess)
        pixels = next(iter(loader))["pixel_values"]
        text_name = cfg.text.name if preset_name == "offline" else "distilbert-base (random)"
        cases = []
        for padding in ("max_length", "longest"):
            t = tok(texts, padding=padding, truncation=True, max_length=cfg.text.max_length, return_tensors="pt")
            cases.append((f"{text_name}, L={t['input_ids'].shape[1]} ({padding})", "text",
                          lambda t=t: model.encode_text(t["input_ids"], t["attention_mask"])))
        cases.append((f"{cfg.image.name} @ {cfg.image.image_size}px", "image", lambda: model.encode_image(pixels)))
        for name, kind, run in cases:
            with torch.inference_mode():
                n_flops = flops(run)
                for precision in precisions:
                    with autocast(CPU, precision), frozen_bf16_weights(model, CPU, precision):  # as extraction runs
                        seconds = timed(run, repeat=2 if quick else 3, min_seconds=0.5 if quick else 2.0)
                    gflops = n_flops / seconds / 1e9
                    limit = limits[precision]
                    rows.append({"encoder": name, "kind": kind, "preset": preset_name, "dtype": precision,
                                 "batch": len(records), "items_per_s": round(len(records) / seconds, 1),
                                 "gflops": round(gflops, 1), "fraction_of_limit": round(gflops / limit, 3) if limit else None})
                    print(f"  {name:42s} {precision:5s} {rows[-1]['items_per_s']:8.1f} items/s  {gflops:7.1f} GFLOP/s"
                          f"  {rows[-1]['fraction_of_limit']} of the {precision} matmul rate", flush=True)
    return rows


def loader_rate(data: Path, quick: bool, num_workers: int) -> float:
    """Decode + transform + tokenize + collate, offline preset, without any model."""
    cfg = preset("offline").model
    records = read_split(data, "train")[: 256 if quick else 1024]
    tok = load_tokenizer(cfg.text)
    loader = make_loader(records, data, tok, cfg.image.image_size, cfg.text.max_length, batch_size=64, num_workers=num_workers)
    t0 = time.perf_counter()
    n = sum(b["labels"].numel() for b in loader)
    return n / (time.perf_counter() - t0)


def head_epoch_seconds(threads: int = 1, n: int = 8500, text_dim: int = 768, image_dim: int = 2048) -> float:
    """One epoch of the full preset's concat head (2816 -> 512 -> 2) over n cached memes, with memelib's own
    training step, on `threads` CPU threads (memelib.fit uses one: memelib.runtime.head_threads)."""
    torch.manual_seed(0)
    cfg = preset("full")
    # the head alone: its forward(text_features, image_features) is what model(**batch) calls on cached features
    head = build_fusion(cfg.model.fusion, text_dim, image_dim)
    feats = {"text_features": torch.randn(n, text_dim), "image_features": torch.randn(n, image_dim)}
    labels = torch.randint(0, 2, (n,))
    optimizer = make_optimizer(head, cfg.train)  # fused AdamW, as fit uses
    steps = -(-n // cfg.train.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, steps // 10, steps * 3)
    g = torch.Generator().manual_seed(0)
    loss_fn = torch.nn.CrossEntropyLoss()
    most = torch.get_num_threads()

    def epoch() -> float:
        torch.set_num_threads(threads)
        batches = feature_batches(feats, labels, cfg.train.batch_size, g)
        return train_one_epoch(head, batches, optimizer, scheduler, loss_fn, 1.0, CPU, "fp32")

    try:
        return timed(epoch, repeat=3, min_seconds=0.1)
    finally:
        torch.set_num_threads(most)


@contextlib.contextmanager
def one_core_busy() -> Iterator[subprocess.Popen]:
    """Another program keeps one core busy (a second notebook, a browser tab): a process spinning."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield spinner
    finally:
        spinner.kill()
        spinner.wait()


def finetune_samples_per_s(data: Path, quick: bool) -> float:
    """Full fine-tuning of DistilBERT-base + ResNet50 at 224 px (random weights), batch 8."""
    cfg = preset("full")
    model = build_model(cfg.model, text_backbone_config=DistilBertConfig().to_dict())
    tok = load_tokenizer(preset("offline").model.text)
    batch = next(iter(make_loader(read_split(data, "train")[:8], data, tok, 224, 64, batch_size=8)))
    optimizer = make_optimizer(model, cfg.train)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, 100)
    step = lambda: train_one_epoch(model, [dict(batch)], optimizer, scheduler, torch.nn.CrossEntropyLoss(),  # noqa: E731
                                   1.0, CPU, "auto")
    return 8 / timed(step, repeat=1 if quick else 2, min_seconds=1.0)


def predict_latency_ms(data: Path, work: Path) -> tuple[float, float]:
    """Warm single-meme prediction with the full architecture, through Predictor (image file + caption)."""
    cfg = preset("full")
    model = build_model(cfg.model, text_backbone_config=DistilBertConfig().to_dict())
    save_run(work / "full-random", model, cfg, load_tokenizer(preset("offline").model.text))
    predictor = Predictor(work / "full-random", device="cpu")
    rec = read_split(data, "dev")[0]
    predictor.predict(data / rec.img, rec.text)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        predictor.predict(data / rec.img, rec.text)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def training_figures(data: Path, quick: bool) -> dict[str, Any]:
    """The head's epoch on cached features (idle machine and one core busy) against end-to-end fine-tuning."""
    most = torch.get_num_threads()
    result: dict[str, Any] = {"head_epoch_s_by_threads": {}}
    for load in ("idle", "one core busy"):
        with one_core_busy() if load != "idle" else contextlib.nullcontext():
            row = {str(k): round(head_epoch_seconds(k), 3) for k in dict.fromkeys([1, most])}
        result["head_epoch_s_by_threads"][load.replace(" ", "_")] = row
        print(f"  head epoch, 8,500 cached memes, machine {load}: " + ", ".join(
            f"{k} thread{'s' * (k != '1')} {v:.3f} s" for k, v in row.items()) + " (memelib uses 1)", flush=True)
    epoch_s = result["head_epoch_s_by_threads"]["idle"]["1"]  # what memelib.fit does: one thread
    result["head_epoch_s_8500"] = epoch_s
    result["head_samples_per_s"] = round(8500 / epoch_s, 1)
    result["e2e_finetune_samples_per_s"] = round(finetune_samples_per_s(data, quick), 3)
    result["cached_vs_e2e_ratio"] = round(result["head_samples_per_s"] / result["e2e_finetune_samples_per_s"], 1)
    print(f"  head on cached features: {epoch_s:.3f} s per 8,500-meme epoch ({result['head_samples_per_s']} memes/s); "
          f"end-to-end fine-tuning {result['e2e_finetune_samples_per_s']} memes/s; ratio {result['cached_vs_e2e_ratio']}x",
          flush=True)
    return result


def demo_figures(root: Path, work: Path) -> dict[str, Any]:
    """make demo's time, dev AUROC and memory, cold, at fp32 then at the default precision (auto)."""
    before = run_demo(root, work / "demo-fp32", ["--precision", "fp32"])
    after = run_demo(root, work / "demo-auto", ["--precision", "auto"])
    print(f"  fp32: {before}\n  auto: {after}", flush=True)
    # make demo runs the default precision: the largest of its commands' own peaks, each measured in its process
    peaks = after["peak_rss_mb_by_command"]
    return {"demo_fp32": before, "demo_auto": after, "demo_peak_rss_mb_by_command": peaks,
            "demo_peak_rss_mb": max((mb for mb in peaks.values() if mb is not None), default=None)}


def notebook_figures(root: Path) -> dict[str, Any]:
    """Each course notebook's kernel peak memory, run in order from one empty feature cache (notebook_times),
    with torch as installed, then as on the CPU-only build laptops install (Triton absent): keys `..._cpu_build`."""
    figures = notebook_memory(root / "notebooks")
    cpu_build = notebook_memory(root / "notebooks", without_triton=True)
    for label, figs in (("as installed", figures), ("Triton absent, as the CPU-only build", cpu_build)):
        print(f"  {label}: a kernel that only imported torch peaks at {figs['bare_torch_kernel_peak_mb']} MB", flush=True)
        for name, mb in figs["notebook_kernel_peak_mb"].items():
            print(f"    {name:32s} {mb} MB, {figs['notebook_kernel_peak_over_bare_mb'][name]} MB over it", flush=True)
    return {**figures, **{f"{key}_cpu_build": value for key, value in cpu_build.items()}}


def explain_figures(root: Path, work: Path, n: int = 20) -> dict[str, Any]:
    """One explanation (words by integrated gradients + Grad-CAM heat map + modality shares) of one meme,
    warm, with the offline preset: make demo's run (trained by the demo section; trained here when missing)
    on the first `n` + 1 dev memes of its data, the first call (cold: Captum's import) left out."""
    from memelib.explain import explain

    scratch = work / "demo-auto"
    if not (scratch / "run" / "config.json").exists():
        run_demo(root, scratch, ["--precision", "auto"])
    predictor = Predictor(scratch / "run", device="cpu")
    records = read_split(scratch / "data", "dev")[: n + 1]
    times, steps = [], []
    for i, r in enumerate(records):
        t0 = time.perf_counter()
        e = explain(predictor, scratch / "data" / r.img, r.text)
        if i:  # the first is the cold one
            times.append((time.perf_counter() - t0) * 1000)
            steps.append(e.steps)
    result = {"explain_p50_ms": round(float(np.percentile(times, 50)), 1),
              "explain_p95_ms": round(float(np.percentile(times, 95)), 1), "explain_memes": len(times),
              "explain_steps_used": {str(k): steps.count(k) for k in sorted(set(steps))}}
    print(f"  p50 {result['explain_p50_ms']} ms, p95 {result['explain_p95_ms']} ms over {len(times)} dev memes "
          f"(integration steps used: {result['explain_steps_used']})", flush=True)
    return result


SECTIONS = ("matmul", "extraction", "clip", "training", "predict", "demo", "explain", "notebooks")


def data_at_scale(work: Path) -> Path:
    """SynthMemes at the real dataset's scale (8,500 train memes), generated once in `work`."""
    data = work / "synth8500"
    if not (data / "train.jsonl").exists() or sum(1 for _ in open(data / "train.jsonl")) != 8500:
        generate(data, SynthConfig(n_train=8500, n_dev=500, n_test=1))
    return data


def extraction_figures(result: dict[str, Any], data: Path, quick: bool) -> dict[str, Any]:
    """Feature extraction against the matmul rate (`result` holds it), and data loading against extraction."""
    bf16 = result["matmul_gflops_bf16"] is not None
    limits = {"fp32": result["matmul_gflops_fp32"], "bf16": result["matmul_gflops_bf16"]}
    out: dict[str, Any] = {"extraction": extraction_rows(data, limits, ["fp32", "bf16"] if bf16 else ["fp32"], quick)}
    print("data loading (decode + transform + tokenize + collate)", flush=True)
    out["loader_items_per_s"] = round(loader_rate(data, quick, 0), 1)
    out["loader_items_per_s_2_workers"] = round(loader_rate(data, quick, 2), 1)
    best = "bf16" if bf16 else "fp32"
    ext = {r["kind"]: r["items_per_s"] for r in out["extraction"]  # as memelib runs: dynamic padding
           if r["preset"] == "offline" and r["dtype"] == best and "(max_length)" not in r["encoder"]}
    offline_rate = 1 / (1 / ext["text"] + 1 / ext["image"])  # both encoders run on every meme
    out["offline_extraction_items_per_s"] = round(offline_rate, 1)
    out["loader_vs_extraction"] = round(out["loader_items_per_s"] / offline_rate, 2)
    print(f"  {out['loader_items_per_s']} items/s (2 workers: {out['loader_items_per_s_2_workers']}); "
          f"extraction {offline_rate:.1f} items/s; ratio {out['loader_vs_extraction']}", flush=True)
    return out


def matmul_figures() -> dict[str, Any]:
    """The machine's matmul rate, the limit extraction is compared with (bf16 where the CPU has it)."""
    bf16 = bf16_supported(CPU)
    out = {"matmul_gflops_fp32": round(matmul_gflops(torch.float32), 1),
           "matmul_gflops_bf16": round(matmul_gflops(torch.bfloat16), 1) if bf16 else None}
    print(f"  fp32 {out['matmul_gflops_fp32']} GFLOP/s, bf16 {out['matmul_gflops_bf16']} GFLOP/s", flush=True)
    return out


def predict_figures(data: Path, work: Path) -> dict[str, Any]:
    p50, p95 = predict_latency_ms(data, work)
    print(f"  p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
    return {"predict_p50_ms": round(p50, 1), "predict_p95_ms": round(p95, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="artifacts/bench.json")
    ap.add_argument("--work", default="artifacts/bench-speed")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test, not for quoting)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections to run (default all): {', '.join(SECTIONS)}; extraction needs matmul")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if only - set(SECTIONS) or ("extraction" in only and "matmul" not in only):
        ap.error(f"--only takes sections among {', '.join(SECTIONS)} (extraction with matmul), not {args.only!r}")
    work, root = Path(args.work), Path(__file__).resolve().parents[1]
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                              "torch": torch.__version__, "quick": args.quick, "sections": [s for s in SECTIONS if s in only]}
    steps: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
        ("matmul", "matmul rate (best of 2048 and 4096 square products)", matmul_figures),
        ("extraction", "feature extraction (inference mode, channels-last images)",
         lambda: extraction_figures(result, data_at_scale(work), args.quick)),
        ("clip", "the clip preset's towers (CLIP ViT-L/14 from its dimensions, random weights), fp32 and bf16 "
                 "against the matmul rate of each", lambda: clip_figures(data_at_scale(work), args.quick)),
        ("training", "training", lambda: training_figures(data_at_scale(work), args.quick)),
        ("predict", "single-meme prediction, full architecture", lambda: predict_figures(data_at_scale(work), work)),
        ("demo", "make demo (synth, validate, train offline concat, evaluate), cold, fp32 then the default precision",
         lambda: demo_figures(root, work)),
        ("explain", "one explanation (words + Grad-CAM + shares), offline preset, make demo's run", lambda: explain_figures(root, work)),
        ("notebooks", "course notebooks' kernels: peak resident memory, run in order from an empty feature cache",
         lambda: notebook_figures(root)),
    ]
    for name, title, figures in steps:
        if name in only:
            print(title, flush=True)
            result.update(figures())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
