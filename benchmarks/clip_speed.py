"""How fast the clip preset's towers extract features, as a share of the machine's matmul limit.

The default checkpoint, CLIP ViT-L/14, is built from its published dimensions (memelib.clip.clip_config) with
random weights: the arithmetic is the trained model's, and nothing is downloaded. Images are SynthMemes memes
through CLIP's own preprocessing (224 px), captions through a CLIP tokenizer (the tiny one's byte-level BPE:
more tokens per caption than CLIP's 49,408-word vocabulary gives, so the text rate is a lower bound).

    python benchmarks/clip_speed.py [--device cuda] [--model openai/clip-vit-base-patch32] [--out FILE]

`make bench` runs it as its "clip" section (CPU). The figure it reports: images/s and text/s in fp32 and in bf16
autocast (the weights held in bf16, as memelib.features extracts), the achieved GFLOP/s (FlopCounterMode) over the matmul rate of the same precision on the same device,
and the time the two towers imply for the 8,500 memes of Hateful Memes' train + dev.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from memelib.annotations import read_split
from memelib.clip import clip_config, tiny_clip_tokenizer
from memelib.data import make_loader
from memelib.runtime import autocast, bf16_supported, frozen_bf16_weights

ROOT = Path(__file__).resolve().parents[1]

HATEFUL_MEMES = 8500  # train (8,500) is what a practitioner extracts first; dev and test add ~1,500


def _timed(fn: Callable[[], Any], device: torch.device, repeat: int) -> float:
    """Median seconds of `fn` over `repeat` runs after one warm-up (synchronised on a GPU)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def matmul_rate(dtype: torch.dtype, device: torch.device, sizes: tuple[int, ...]) -> float:
    """GFLOP/s of the fastest of n x n x n matrix products (median of 5 timings each): the practical limit of
    the device in that precision. On a shared CPU with bf16 units this rate moves 2x from one minute to the
    next, so `clip_rows` measures it before and after the towers and keeps the higher (the stricter limit)."""
    rates = []
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
        rates.append(2 * n**3 / _timed(lambda: a @ b, device, 5) / 1e9)
    return max(rates)


def _towers(name: str, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module]:
    from transformers import CLIPTextModelWithProjection, CLIPVisionModelWithProjection

    config = clip_config(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vision = CLIPVisionModelWithProjection(config.vision_config).eval().to(device)
        text = CLIPTextModelWithProjection(config.text_config).eval().to(device)
    return vision, text


def _inputs(data: Path, n: int, image_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    records = (read_split(data, "dev") * (1 + n // 50))[:n]
    loader = make_loader(records, data, tiny_clip_tokenizer(), image_size, 77, batch_size=n, preprocess="clip")
    batch = next(iter(loader))
    return {k: batch[k].to(device) for k in ("input_ids", "attention_mask", "pixel_values")}


def clip_rows(data: Path, name: str, device: torch.device, batch: int, repeat: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Rows {tower, dtype, items_per_s, gflops, fraction_of_limit} for both towers in fp32 and (where supported) bf16."""
    vision, text = _towers(name, device)
    x = _inputs(data, batch, clip_config(name).vision_config.image_size, device)
    cases = {"image": lambda: vision(pixel_values=x["pixel_values"]).image_embeds,
             "text": lambda: text(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).text_embeds}
    precisions = ["fp32", "bf16"] if bf16_supported(device) else ["fp32"]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    before = {p: matmul_rate(dtypes[p], device, sizes) for p in precisions}
    rows = []
    with torch.inference_mode():
        for tower, run in cases.items():
            with FlopCounterMode(display=False) as counter:
                run()
            for precision in precisions:
                model = vision if tower == "image" else text
                with autocast(device, precision), frozen_bf16_weights(model, device, precision):  # as extraction runs
                    seconds = _timed(run, device, repeat)
                rows.append({"tower": tower, "dtype": precision, "batch": batch, "items_per_s": round(batch / seconds, 2),
                             "gflops": round(counter.get_total_flops() / seconds / 1e9, 1)})
                print(f"  {name} {tower:5s} {precision:4s} {rows[-1]['items_per_s']:9.2f} items/s "
                      f"{rows[-1]['gflops']:9.1f} GFLOP/s", flush=True)
    after = {p: matmul_rate(dtypes[p], device, sizes) for p in precisions}
    for row in rows:
        limit = max(before[row["dtype"]], after[row["dtype"]])
        row.update(matmul_gflops=round(limit, 1), fraction_of_limit=round(row["gflops"] / limit, 3))
        print(f"  {row['tower']:5s} {row['dtype']:4s} {row['fraction_of_limit']:.3f} of the {row['dtype']} matmul rate "
              f"({limit:.1f} GFLOP/s; {before[row['dtype']]:.1f} before the towers, {after[row['dtype']]:.1f} after)")
    return {"model": name, "device": str(device), "tokens_per_caption": int(x["input_ids"].shape[1]), "rows": rows,
            "matmul_gflops_before": {p: round(v, 1) for p, v in before.items()},
            "matmul_gflops_after": {p: round(v, 1) for p, v in after.items()}, **_implied(rows, precisions[-1])}


def _implied(rows: list[dict], precision: str) -> dict[str, Any]:
    """The extraction time of 8,500 memes (both towers, one pass each) at the faster precision."""
    rate = {r["tower"]: r["items_per_s"] for r in rows if r["dtype"] == precision}
    seconds = HATEFUL_MEMES * (1 / rate["image"] + 1 / rate["text"])
    image = next(r for r in rows if r["tower"] == "image" and r["dtype"] == precision)
    print(f"  {HATEFUL_MEMES} memes in {precision}: {seconds / 60:.1f} min; images at {image['fraction_of_limit']:.3f} "
          "of the matmul rate", flush=True)
    return {"implied_precision": precision, "implied_minutes_8500": round(seconds / 60, 1),
            "image_fraction_of_limit": image["fraction_of_limit"]}


def clip_figures(data: Path, quick: bool, device: str = "cpu", name: str = "openai/clip-vit-large-patch14") -> dict[str, Any]:
    """What `make bench` records under "clip": a few batches on this CPU (or `device`)."""
    dev = torch.device(device)
    gpu = dev.type == "cuda"
    batch = (256 if gpu else 8) if quick else (512 if gpu else 16)
    sizes = (4096, 8192) if gpu else (2048, 4096)  # as make bench's matmul section on a CPU
    return {"clip_extraction": clip_rows(data, name, dev, batch, repeat=2 if quick else 3, sizes=sizes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "synthmemes"), help="a SynthMemes folder (make demo writes one)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="openai/clip-vit-large-patch14")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "bench-clip.json"))
    args = ap.parse_args()
    result = clip_figures(Path(args.data), args.quick, args.device, args.model)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
