"""Seconds each course notebook takes, executed top to bottom in a fresh kernel, as nbval runs them.

    python benchmarks/notebook_times.py --out artifacts/notebook_times.json     (or: make notebook-times)

Notebooks run one after another in file order, sharing the feature cache as they do in `make test`;
pass --cold to empty artifacts/cache first and measure the worst case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", default="notebooks")
    ap.add_argument("--out", default="artifacts/notebook_times.json")
    ap.add_argument("--cold", action="store_true", help="remove artifacts/cache first")
    ap.add_argument("--write", action="store_true", help="save the executed notebooks in place (as make notebooks)")
    args = ap.parse_args()
    if args.cold:
        shutil.rmtree("artifacts/cache", ignore_errors=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = []
    for path in sorted(Path(args.notebooks).glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - t0
        if args.write:
            nbformat.write(nb, path)
        rows.append({"notebook": path.name, "seconds": round(seconds, 1)})
        print(f"{path.name:32s}{seconds:8.1f} s", flush=True)
    total = sum(r["seconds"] for r in rows)
    print(f"{'total':32s}{total:8.1f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cold_cache": args.cold, "notebooks": rows, "total_s": round(total, 1)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
