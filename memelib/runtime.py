"""Where and how the arithmetic runs: the device, the precision, the number of CPU threads.

Neither a model nor a cache, these choices belong to whoever runs one: training, feature extraction,
prediction and the benchmarks all ask here.

    device = resolve_device("auto")              # CUDA when a GPU is present, else the CPU
    with autocast(device, "auto"):               # bf16 where the hardware has bf16 units
        logits = model(**batch)
    with head_threads(device):                   # a head on cached features: one CPU thread
        train_one_epoch(head, batches, ...)

After a job that built and dropped big tensors (a model, a feature extraction), `release_memory()`
hands the freed memory back to the operating system.

Explained in notebook 05 and in the README ("Speed, GPUs and several GPUs").
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from typing import Any, Callable, Iterator

import torch

from .config import PRECISIONS

__all__ = ["resolve_device", "bf16_supported", "resolve_precision", "autocast", "frozen_bf16_weights", "head_threads",
           "release_memory"]

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


@contextlib.contextmanager
def frozen_bf16_weights(model: torch.nn.Module, device: torch.device, precision: str = "auto") -> Iterator[None]:
    """Inside `autocast(device, precision)` with bf16, where no gradients flow (feature extraction): the weights
    and biases of every Linear and Conv2d layer held in bfloat16 for the block, then restored exactly.

    Why: autocast computes these layers in bf16 anyway, but without gradients it converts their float32
    weights again on every call, so a frozen tower spends part of each forward pass copying weights: about a
    tenth of CLIP ViT-L/14's time on a CPU (torch.profiler). The products are the same, bit for bit: converting
    a bf16 weight to bf16 changes nothing (tests/test_clip.py). The price is a bf16 copy of those weights (half
    their size) beside the float32 ones, during the block."""
    if resolve_precision(device, precision) == "fp32":
        yield
        return
    saved = []
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                for p in (layer.weight, layer.bias):
                    if p is not None and p.dtype == torch.float32:
                        saved.append((p, p.data))
                        p.data = p.data.to(torch.bfloat16)
    try:
        yield
    finally:
        for p, data in saved:
            p.data = data


@contextlib.contextmanager
def head_threads(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Run a fusion head's work on cached features (training or scoring it) on one CPU thread, then
    restore the thread count. Nothing changes on a GPU, or when `enabled` is False.

    Why one thread: the math libraries split a matrix product's sums differently on 1, 2 or 8 threads,
    so the last bits of every training step differ and add up over the epochs (measured here: one epoch
    on 1 and on 2 threads gives different weights). On one thread a run gives the same numbers whatever
    the machine's core count and whatever else it is doing: the same seed, the same run. The price is
    small because a head's products are small (`make bench`: one epoch over 8,500 cached memes on 1 and
    on all threads, with the machine idle and with one core busy)."""
    if device.type != "cpu" or not enabled:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def release_memory() -> None:
    """Hand the memory freed so far back to the operating system (glibc's malloc_trim; milliseconds).

    Why: glibc's malloc keeps freed blocks smaller than 32 MB (most weights and activations) for later
    use instead of returning them, and blocks freed by one thread serve only that thread's arena. So
    a process that built a model and dropped it, or ran an encoder over a dataset, stays as large as
    it was at its peak, and the next job's peak adds to what the last one left. Nothing computed
    changes. Where the C library is not glibc (macOS, musl) this does nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # 0: keep no padding at the top of the heap


@functools.cache
def _malloc_trim() -> Callable[[int], Any] | None:
    """glibc's malloc_trim, None where the process's C library has none."""
    try:
        return ctypes.CDLL(None).malloc_trim  # the symbols already loaded in this process
    except (OSError, AttributeError):
        return None
