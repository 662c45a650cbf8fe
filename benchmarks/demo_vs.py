"""`make demo` now against an earlier commit: time and dev AUROC, cold, measured in one run.

    python benchmarks/demo_vs.py REV [--rounds 2] [--out artifacts/demo_vs.json]

Checks out REV into a temporary git worktree and runs the demo's four commands (synth, validate,
train offline concat, evaluate) from scratch in both trees, in scratch folders under artifacts/, alternating REV and the working tree
`--rounds` times, each with no data and no feature cache. Both run on this environment's packages,
so the difference is the code's. Shared machines are noisy: alternating rounds and quoting the
ratio measured in one run is fairer than comparing times taken at different moments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA, RUN = "artifacts/demo-vs-data", "artifacts/demo-vs-run"  # never the user's data/ folder
SCRATCH = (DATA, RUN, "artifacts/demo-vs-cache", "artifacts/demo-vs-report")


def demo(tree: Path) -> dict[str, float]:
    """The demo's four commands in `tree`, cold; seconds and the dev AUROC that `evaluate` prints."""
    for path in SCRATCH:
        shutil.rmtree(tree / path, ignore_errors=True)
    py = [sys.executable, "-m", "memelib"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree)}  # this tree's memelib, nobody else's
    commands = [py + ["synth", DATA], py + ["validate", DATA],
                py + ["train", "--data", DATA, "--out", RUN, "--preset", "offline", "--fusion", "concat",
                      "--cache-dir", "artifacts/demo-vs-cache"],
                py + ["evaluate", RUN, "--data", DATA, "--split", "dev", "--report-dir", "artifacts/demo-vs-report"]]
    t0 = time.perf_counter()
    for cmd in commands:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: {' '.join(cmd[2:4])} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    seconds = time.perf_counter() - t0
    auroc = re.search(r"^AUROC\s+([0-9.]+)", done.stdout, re.MULTILINE)
    if auroc is None:
        raise SystemExit(f"{tree}: evaluate printed no AUROC line:\n{done.stdout[-2000:]}")
    return {"seconds": round(seconds, 1), "dev_auroc": float(auroc.group(1))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="the earlier commit, e.g. a tag or a hash")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="artifacts/demo_vs.json")
    args = ap.parse_args()
    sha = subprocess.run(["git", "rev-parse", "--short", args.rev], cwd=ROOT, capture_output=True, text=True)
    if sha.returncode != 0:
        raise SystemExit(f"git rev-parse {args.rev}: {sha.stderr.strip()}")
    rev = sha.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="memelib-demo-vs-") as tmp:
        old = Path(tmp) / rev
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(old), rev], cwd=ROOT, check=True)
        try:
            runs: dict[str, list[dict[str, float]]] = {rev: [], "now": []}
            for round_ in range(1, args.rounds + 1):
                for name, tree in ((rev, old), ("now", ROOT)):
                    runs[name].append(demo(tree))
                    print(f"round {round_}  {name:8s} {runs[name][-1]['seconds']:6.1f} s  "
                          f"dev AUROC {runs[name][-1]['dev_auroc']:.4f}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    median = {name: round(statistics.median(r["seconds"] for r in rs), 1) for name, rs in runs.items()}
    result = {"rev": rev, "runs": runs, "median_seconds": median, "speedup": round(median[rev] / median["now"], 2),
              "dev_auroc_change": round(runs["now"][0]["dev_auroc"] - runs[rev][0]["dev_auroc"], 4)}
    print(f"median {median[rev]:.1f} s at {rev}, {median['now']:.1f} s now: {result['speedup']}x faster; "
          f"dev AUROC change {result['dev_auroc_change']:+.4f}")
    for path in SCRATCH:
        shutil.rmtree(ROOT / path, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
