"""Is this machine ready for the course? One verdict line per check, and how to fix each failure (`make check`).

    python -m memelib.preflight [--root DIR] [--no-prepare]

Checks Python and the packages pyproject.toml asks for; free memory and disk against what the course was
measured to need; SynthMemes in data/synthmemes; JupyterLab and its widget extension; the offline preset's
features in the cache the notebooks read; every notebook's set-up cells (imports and `course = setup(...)`),
run in a real Jupyter kernel. It first prepares what is missing (generates SynthMemes, extracts the features:
a few minutes, once), so a second run only checks; `--no-prepare` only checks. Exit status 0 when all pass.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

from .checks import (DATA, WIDGETS, Verdict, check_data, check_disk, check_features, check_jupyterlab,
                     check_packages, check_python, check_ram, check_requirement, check_space, synthmemes_ready)
from .kernel import SWITCH, check_notebooks, kernel_checks, run_code, setup_cells, start_kernel

__all__ = ["Verdict", "main", "check_python", "check_requirement", "check_packages", "check_ram", "check_disk",
           "check_data", "check_jupyterlab", "check_features", "setup_cells", "start_kernel", "run_code",
           "check_notebooks", "SWITCH", "WIDGETS"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run every check, print one line each (and how to fix each failure); 0 when all pass, else 1."""
    parser = argparse.ArgumentParser(prog="python -m memelib.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the course's folder (default: the current folder)")
    parser.add_argument("--prepare", action=argparse.BooleanOptionalAction, default=True,
                        help="generate SynthMemes and extract the features when missing (the default)")
    args = parser.parse_args(argv)
    root, t0, verdicts = Path(args.root).resolve(), time.perf_counter(), []
    space = check_space(root)  # memory measured before the kernel takes some
    ready = args.prepare or synthmemes_ready(root / DATA)  # else the kernel has nothing to run
    kernel = start_kernel(root) if ready else "not started"

    def report(found: list[Verdict]) -> None:
        for verdict in found:
            print(verdict.line(), flush=True)
        verdicts.extend(found)

    try:
        report(check_packages(root))
        report(space)
        report([data := check_data(root, args.prepare)])
        report([check_jupyterlab()])
        report(kernel_checks(kernel, root, args.prepare, data.ok))
    finally:
        if not isinstance(kernel, str):
            kernel[1].stop_channels()
            kernel[0].shutdown_kernel(now=True)
    failed, seconds = sum(not v.ok for v in verdicts), time.perf_counter() - t0
    print(f"{failed} of {len(verdicts)} checks failed: fix the FAIL lines ({seconds:.1f} s)" if failed
          else f"all {len(verdicts)} checks passed ({seconds:.1f} s)")
    return 1 if failed else 0

