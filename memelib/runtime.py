"""Where and how the arithmetic runs: the device, the precision, the number of CPU threads.

Neither a model nor a cache, these choices belong to whoever runs one: training, feature extraction,
prediction and the benchmarks all ask here.

    device = resolve_device("auto")              # CUDA when a GPU is present, else the CPU
    with autocast(device, "auto"):               # bf16 where the hardware has bf16 units
        logits = model(**batch)
    for batch in fastest_threads(batches, most=torch.get_num_threads()): ...

Explained in notebook 05 and in the README ("Speed, GPUs and several GPUs").
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import time
from typing import Iterable, Iterator, TypeVar

import torch

from .config import PRECISIONS

__all__ = ["resolve_device", "bf16_supported", "resolve_precision", "autocast", "fastest_threads"]

def resolve_device(name: str = "auto") -> torch.device:
    """"auto" picks CUDA when a GPU is present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    """True where bfloat16 matrix units exist: a recent GPU, or a CPU with AVX-512 BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """"bf16" or "fp32": what `precision` means on `device` ("auto" is bf16 where `bf16_supported`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """Mixed precision for a forward pass: "bf16" computes matmuls and convolutions in bfloat16
    (about 2x faster where the hardware has bf16 units; results change in the 3rd decimal), "fp32"
    keeps float32, "auto" picks bf16 where `bf16_supported`. Weights and outputs stay float32."""
    if resolve_precision(device, precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


T = TypeVar("T")


def fastest_threads(batches: Iterable[T], most: int, probe: int = 6) -> Iterator[T]:
    """Yield `batches` unchanged while choosing how many CPU threads the training steps use.

    A head on cached features does small matrix products. On an idle 2-core CPU two threads are
    about 1.5x faster than one; when another program keeps one core busy, two threads are three
    times *slower* or worse, each step waiting for the descheduled thread (`make bench` measures both). So the first
    `probe` steps run on `most` threads and the next `probe` on one, each step timed by the consumer's
    work between two yields; the rest of the pass runs on the one with the smaller median step time
    (a median, because the first step after a switch pays for it). Call it once per epoch: the load
    changes. On the CPUs we measured, one thread and two give bit-identical training (a test checks
    it), so the choice changes the speed, not the result."""
    candidates = [most, 1] if most > 1 else []
    it = iter(batches)
    step_s: dict[int, list[float]] = {}
    for n in candidates:
        torch.set_num_threads(n)
        step_s[n] = []
        for batch in itertools.islice(it, probe):
            t0 = time.perf_counter()
            yield batch
            step_s[n].append(time.perf_counter() - t0)
    if step_s and all(step_s.values()):  # both probed in full; a shorter pass keeps the last setting
        torch.set_num_threads(min(step_s, key=lambda n: statistics.median(step_s[n])))
    yield from it
