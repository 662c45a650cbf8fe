"""Every notebook under strict nbval on several CPUs' arithmetic, each from an empty feature cache.

    python tests/arithmetic.py                      # every variant this CPU can run (what `make test` runs)
    python tests/arithmetic.py --variants avx2      # one variant (`make test-laptop`)
    python tests/arithmetic.py --list               # the variants, and which this CPU can run

A model trained on another CPU comes out slightly different: training amplifies the last digits in which two
CPUs' arithmetic differs. The saved outputs must hold on the machines learners have, so the notebooks run here
as each of them computes:

- native: this CPU's own kernels, torch's own thread count;
- avx2: torch, oneDNN and MKL limited to AVX2 kernels (most x86 laptops), 4 torch threads;
- avx512: AVX-512 without bf16, VNNI or AMX kernels in oneDNN (AMD EPYC, older Xeons).

A variant this CPU cannot run (an AVX2 laptop has no AVX-512 kernels; Apple Silicon has neither) is skipped
with a printed line. Cached features would hide the difference, so each variant starts from an empty cache of
its own (removed afterwards). MEMELIB_STRICT=1: a claim of the text that fails raises (memelib.course.expect).
Exits non-zero when any variant fails; prints each variant's seconds.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", "notebooks/sanitize.cfg"]


@dataclass(frozen=True)
class Variant:
    name: str
    flags: tuple[str, ...]  # the CPU flags (/proc/cpuinfo) its kernels need
    env: dict[str, str] = field(default_factory=dict)  # what limits torch, oneDNN and MKL to them
    about: str = ""


VARIANTS = (
    Variant("native", (), {}, "this CPU's own kernels"),
    Variant("avx2", ("avx2", "fma"), {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                      "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OMP_NUM_THREADS": "4"},
            "AVX2 kernels only, 4 threads: most x86 laptops"),
    Variant("avx512", ("avx512f", "avx512bw", "avx512vl", "avx512dq"),
            {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
            "AVX-512 without bf16, VNNI or AMX kernels: AMD EPYC, older Xeons"),
)


def cpu_flags() -> set[str]:
    """The CPU's feature flags on Linux x86 (empty elsewhere: macOS, ARM)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def missing(variant: Variant, flags: set[str]) -> list[str]:
    """The flags `variant` needs that this CPU lacks (every flag on a CPU that is not x86)."""
    if variant.flags and platform.machine().lower() not in ("x86_64", "amd64"):
        return [f"an x86 CPU (this is {platform.machine()})"]
    return [f for f in variant.flags if f not in flags]


def run(variant: Variant, threads: str | None, extra: list[str]) -> int:
    cache = ROOT / "artifacts" / f".cache-{variant.name}"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, **variant.env, "MEMELIB_CACHE_DIR": str(cache), "MEMELIB_STRICT": "1"}
    if threads:
        env["OMP_NUM_THREADS"] = threads
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "notebooks", *NBVAL, *extra]
    try:
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default=",".join(v.name for v in VARIANTS), help="comma-separated names")
    ap.add_argument("--threads", help="torch threads for every variant (default: each variant's own)")
    ap.add_argument("--list", action="store_true", help="list the variants and which this CPU can run")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest after --, e.g. -- -k 08")
    a = ap.parse_args(argv)
    known = {v.name: v for v in VARIANTS}
    unknown = [n for n in a.variants.split(",") if n not in known]
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {list(known)}")
    flags = cpu_flags()
    results = []
    for variant in (known[n] for n in a.variants.split(",")):
        lacking = missing(variant, flags)
        if a.list or lacking:
            state = f"skipped: this CPU lacks {', '.join(lacking)}" if lacking else "runs here"
            print(f"[arithmetic] {variant.name} ({variant.about}): {state}", flush=True)
            results.append((variant.name, "skipped", 0.0))
            continue
        print(f"[arithmetic] {variant.name}: {variant.about}; {variant.env or 'no limits'}", flush=True)
        t0 = time.perf_counter()
        code = run(variant, a.threads, a.pytest_args)
        results.append((variant.name, "passed" if code == 0 else f"FAILED (exit {code})", time.perf_counter() - t0))
    if a.list:
        return 0
    for name, state, seconds in results:
        print(f"[arithmetic] {name:7s} {state:20s} {seconds:7.0f} s")
    return 1 if any(state.startswith("FAILED") for _, state, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
