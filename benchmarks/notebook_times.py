"""Seconds and peak memory of each course notebook, executed top to bottom in a fresh kernel, as nbval runs them.

    python benchmarks/notebook_times.py --out artifacts/notebook_times.json     (or: make notebook-times)

Notebooks run one after another in file order from one empty feature cache (a temporary
MEMELIB_CACHE_DIR), as on a learner's first pass: each reuses the features the earlier ones extracted.
--warm uses the cache make test leaves (artifacts/cache) instead. Memory is each kernel's peak resident
memory (VmHWM in /proc/<pid>/status, read before the kernel shuts down; Linux only), in MB, also as the
excess over a kernel that only ran `import torch`. A notebook's child processes are not counted.

--without-triton measures as on PyTorch's CPU-only build, which laptops install: that build does not ship
Triton, the GPU compiler the CUDA build depends on, which `import torchvision` loads (through torch._dynamo,
about 100 MB resident). The kernels then find a `triton` that fails to import, as torch expects when it is
absent; nothing else changes.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
HAS_PROC = Path("/proc/self/status").exists()  # Linux; macOS has no /proc
NO_PROC = "kernel peak memory not measured: /proc is absent on this system (macOS?); it reads /proc/<pid>/status"


def kernel_pid(km: Any) -> int:
    """The kernel's process id: jupyter_client 7 and later keep the process in the provisioner, 6 in km.kernel."""
    provisioner = getattr(km, "provisioner", None)
    return provisioner.process.pid if provisioner is not None else km.kernel.pid


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory so far of the live process `pid` in MB (VmHWM), None where /proc is absent."""
    if not HAS_PROC:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # "VmHWM:   123456 kB"
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


def kernel_env(cache_dir: Path | None, hide: Path | None = None) -> dict[str, str]:
    """This environment for a kernel, offline, with `cache_dir` as memelib's feature cache when given and the
    packages in folder `hide` (see hide_triton) ahead of the installed ones."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if cache_dir is not None:
        env["MEMELIB_CACHE_DIR"] = str(cache_dir)  # memelib.course.setup and memelib.features read it
    if hide is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hide), env.get("PYTHONPATH")]))
    return env


def hide_triton(folder: Path) -> Path:
    """Writes into `folder` a `triton` package whose import fails, as on a torch build that ships none."""
    (folder / "triton").mkdir(parents=True, exist_ok=True)
    (folder / "triton" / "__init__.py").write_text(
        'raise ImportError("Triton hidden: measuring as on the CPU-only torch build, which does not ship it")\n')
    return folder


def execute(nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str], timeout: int = 600) -> tuple[float, float | None]:
    """Runs `nb` top to bottom in a fresh python3 kernel started in `cwd` with environment `env`, in place.
    Returns the seconds (kernel start included) and the kernel's peak resident memory in MB."""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    t0 = time.perf_counter()
    with client.setup_kernel(env=env):  # shuts the kernel down on leaving
        # cleanup_kc=False: the kernel outlives execute() so that its peak can still be read
        client.execute(cleanup_kc=False)
        seconds = time.perf_counter() - t0
        peak = peak_rss_mb(kernel_pid(client.km))
    return seconds, peak


def bare_kernel_peak_mb(cwd: Path, env: dict[str, str], source: str = "import torch") -> float | None:
    """Peak memory of a kernel that ran only `source`: what every notebook's kernel holds before its lesson."""
    return execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), cwd, env)[1]


def measure(notebooks: Path, cache_dir: Path | None, write: bool = False,
            hide: Path | None = None) -> tuple[list[dict[str, Any]], float | None]:
    """Every notebooks/[0-9]*.ipynb in file order, each in a fresh kernel started in its folder, all sharing
    `cache_dir` (None: the cache the environment names, artifacts/cache by default). Returns one row per
    notebook (seconds, kernel peak MB) and the bare torch kernel's peak MB. `write` saves the outputs;
    `hide`: a folder of packages that shadow installed ones (hide_triton)."""
    env = kernel_env(cache_dir, hide)
    bare = bare_kernel_peak_mb(notebooks, env)
    rows = []
    for path in sorted(notebooks.glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        seconds, peak = execute(nb, path.parent, env)
        if write:
            nbformat.write(nb, path)
        rows.append({"notebook": path.name, "seconds": round(seconds, 1), "kernel_peak_mb": peak})
        print(f"{path.name:32s}{seconds:8.1f} s" + (f"{peak:10.1f} MB" if peak is not None else ""), flush=True)
    return rows, bare


def memory_figures(rows: list[dict[str, Any]], bare: float | None) -> dict[str, Any]:
    """The kernel peaks by notebook, the bare torch kernel's, and each notebook's excess over it (MB)."""
    peaks = {r["notebook"]: r["kernel_peak_mb"] for r in rows}
    over = {name: round(mb - bare, 1) if mb is not None and bare is not None else None for name, mb in peaks.items()}
    return {"notebook_kernel_peak_mb": peaks, "bare_torch_kernel_peak_mb": bare, "notebook_kernel_peak_over_bare_mb": over}


def notebook_memory(notebooks: Path = ROOT / "notebooks", without_triton: bool = False) -> dict[str, Any]:
    """memory_figures of every notebook run in file order from one empty temporary feature cache, as a learner
    runs them the first time; None figures (and a message) where /proc is absent, without running them.
    `without_triton`: as on the CPU-only torch build (hide_triton)."""
    if not HAS_PROC:
        print(NO_PROC, flush=True)
        names = [p.name for p in sorted(notebooks.glob("[0-9]*.ipynb"))]
        return memory_figures([{"notebook": n, "kernel_peak_mb": None} for n in names], None)
    with tempfile.TemporaryDirectory(prefix="memelib-notebook-cache-") as cache:
        hide = hide_triton(Path(cache) / "hidden") if without_triton else None
        rows, bare = measure(notebooks, Path(cache) / "features", hide=hide)
    return memory_figures(rows, bare)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", default="notebooks")
    ap.add_argument("--out", default="artifacts/notebook_times.json")
    ap.add_argument("--warm", action="store_true", help="use the feature cache make test uses, not an empty one")
    ap.add_argument("--write", action="store_true", help="save the executed notebooks in place (as make notebooks)")
    ap.add_argument("--without-triton", action="store_true", help="as on the CPU-only torch build (see above)")
    args = ap.parse_args()
    if not HAS_PROC:
        print(NO_PROC, flush=True)
    with tempfile.TemporaryDirectory(prefix="memelib-notebook-cache-") as cache:
        hide = hide_triton(Path(cache) / "hidden") if args.without_triton else None
        features = None if args.warm else Path(cache) / "features"
        rows, bare = measure(Path(args.notebooks), features, args.write, hide)
    total = sum(r["seconds"] for r in rows)
    print(f"{'total':32s}{total:8.1f} s")
    if bare is not None:
        print(f"{'bare kernel (import torch)':32s}{'':10s}{bare:10.1f} MB")
    result = {"cache": "artifacts/cache (warm)" if args.warm else "empty at the start", "cold_cache": not args.warm,
              "triton": "hidden (as the CPU-only build)" if args.without_triton else "as installed",
              "notebooks": rows, "total_s": round(total, 1), **memory_figures(rows, bare)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
