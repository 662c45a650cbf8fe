"""`make demo` now against an earlier commit: time and dev AUROC, cold, measured in one run.

    python benchmarks/demo_vs.py REV [--rounds 2] [--out artifacts/demo_vs.json]

Checks out REV into a temporary git worktree and runs the demo's four commands (synth, validate,
train offline concat, evaluate) from scratch in both trees, in artifacts/demo-vs/ of each, alternating REV and the working tree
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
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = Path("artifacts/demo-vs")  # in each tree; never the user's data/ folder


# Runs the command in its arguments as its child, writes that child's peak resident memory (ru_maxrss, which
# counts the largest process among the child and the descendants it waited for) to the file named first,
# and exits with the child's status: the command's own peak, not that of every process the caller ran.
PEAK_WRAPPER = """import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_measured(cmd: Sequence[str], **kwargs: Any) -> tuple[subprocess.CompletedProcess, float | None]:
    """subprocess.run(cmd, **kwargs) with `cmd` in a process of its own (under PEAK_WRAPPER): the completed
    process and `cmd`'s peak resident memory in MB (None when the command could not start)."""
    with tempfile.TemporaryDirectory(prefix="memelib-peak-") as tmp:
        report = Path(tmp) / "maxrss"
        done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, str(report), *cmd], **kwargs)
        if not report.exists():
            return done, None
        # Linux counts ru_maxrss in kilobytes, macOS in bytes
        return done, round(int(report.read_text()) / (2**20 if sys.platform == "darwin" else 2**10), 1)


def run_demo(tree: Path, scratch: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    """`make demo`'s four commands (synth, validate, train offline concat, evaluate), run cold with the
    memelib in `tree`: data, run and feature cache go to `scratch`, emptied first. `extra` options go to
    train and evaluate (e.g. ["--precision", "fp32"]). Returns the seconds, the dev AUROC printed and
    each command's peak resident memory in MB (peak_rss_mb_by_command), each measured in its own process."""
    shutil.rmtree(scratch, ignore_errors=True)
    data, run, cache = scratch / "data", scratch / "run", scratch / "cache"
    py = [sys.executable, "-m", "memelib"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree)}  # this tree's memelib, nobody else's
    commands = {"synth": py + ["synth", str(data)], "validate": py + ["validate", str(data)],
                "train": py + ["train", "--data", str(data), "--out", str(run), "--preset", "offline",
                               "--fusion", "concat", "--cache-dir", str(cache), *extra],
                "evaluate": py + ["evaluate", str(run), "--data", str(data), "--split", "dev",
                                  "--report-dir", str(scratch / "report"), *extra]}
    peaks: dict[str, float | None] = {}
    t0 = time.perf_counter()
    for name, cmd in commands.items():
        done, peaks[name] = run_measured(cmd, cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: {' '.join(cmd[2:4])} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    seconds = time.perf_counter() - t0
    auroc = re.search(r"^AUROC\s+([0-9.]+)", done.stdout, re.MULTILINE)
    if auroc is None:
        raise SystemExit(f"{tree}: evaluate printed no AUROC line:\n{done.stdout[-2000:]}")
    return {"seconds": round(seconds, 1), "dev_auroc": float(auroc.group(1)), "peak_rss_mb_by_command": peaks}


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
            runs: dict[str, list[dict[str, Any]]] = {rev: [], "now": []}
            for round_ in range(1, args.rounds + 1):
                for name, tree in ((rev, old), ("now", ROOT)):
                    runs[name].append(run_demo(tree, tree / SCRATCH))
                    print(f"round {round_}  {name:8s} {runs[name][-1]['seconds']:6.1f} s  "
                          f"dev AUROC {runs[name][-1]['dev_auroc']:.4f}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    median = {name: round(statistics.median(r["seconds"] for r in rs), 1) for name, rs in runs.items()}
    result = {"rev": rev, "runs": runs, "median_seconds": median, "speedup": round(median[rev] / median["now"], 2),
              "dev_auroc_change": round(runs["now"][0]["dev_auroc"] - runs[rev][0]["dev_auroc"], 4)}
    print(f"median {median[rev]:.1f} s at {rev}, {median['now']:.1f} s now: {result['speedup']}x faster; "
          f"dev AUROC change {result['dev_auroc_change']:+.4f}")
    shutil.rmtree(ROOT / SCRATCH, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
