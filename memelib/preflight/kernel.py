"""The checks of `make check` that run in one real Jupyter kernel: the feature cache seen from a notebook's
kernel, and every notebook's set-up cells."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from .checks import FIX_VENV, Verdict, check_features

__all__ = ["setup_cells", "start_kernel", "run_code", "features_in_kernel", "check_notebooks", "kernel_checks", "SWITCH"]

SWITCH = "# ▶ SWITCH"  # the cell that ends every notebook's set-up
KERNEL_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # the notebooks run offline, as make does
WARM_UP = "import memelib.course, memelib.features, memelib.model"  # torch, torchvision, transformers: the slow part
SETUP_TIMEOUT = 120  # seconds a set-up cell may take (they take 0-5 s): a kernel that died is noticed after it
PREPARE_TIMEOUT = 3600  # seconds for extracting the features (3 min measured on a busy 2-core machine)
RESULT = "@preflight "  # starts the kernel's line that carries a Verdict as JSON


# -- The notebooks' set-up cells, in one real Jupyter kernel ------------------------------------------------------
def setup_cells(notebook: Path) -> list[str]:
    """A notebook's code cells up to and including its `# ▶ SWITCH` cell (imports, `course = setup(...)`), or []."""
    cells = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            cells.append(cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"]))
            if SWITCH in cells[-1]:
                return cells
    return []


def start_kernel(root: Path) -> tuple[Any, Any] | str:
    """A Python kernel as JupyterLab starts one (ipykernel, this environment's Python) in notebooks/, offline, set
    to import torch and memelib while this process checks the rest; or why none started. jupyter_client directly:
    nbclient would import nbformat, whose jsonschema takes 1-3 s to import."""
    if not (root / "notebooks").is_dir():
        return f"no notebooks folder in {root}"
    try:
        from jupyter_client.manager import start_new_kernel

        km, kc = start_new_kernel(kernel_name="python3", cwd=str(root / "notebooks"), env={**os.environ, **KERNEL_ENV},
                                  stderr=subprocess.DEVNULL, startup_timeout=120)  # stderr: ipykernel's TCP warning
    except Exception as e:  # no jupyter_client or ipykernel, or the kernel died at start
        return f"no Jupyter kernel starts ({type(e).__name__}: {e})"
    kc.execute(WARM_UP, silent=True, store_history=False)  # its reply is skipped by the next cell's wait
    return km, kc


def run_code(kernel: tuple[Any, Any], code: str, timeout: float, echo: bool = False) -> tuple[str | None, str]:
    """Run `code` in the kernel: (None, its printed output), or ("Error: message", output) when it raised or gave
    no answer in `timeout` s (then the kernel is interrupted, or started afresh if it died). `echo` prints the
    output as it comes (the feature extraction's progress)."""
    km, kc = kernel
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
            if echo:
                lines = msg["content"]["text"].splitlines(keepends=True)
                print("".join(line for line in lines if not line.startswith(RESULT)), end="", flush=True)

    try:
        reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook, store_history=False, allow_stdin=False)
    except TimeoutError:  # still busy, or dead (a dead kernel never answers)
        if km.is_alive():
            km.interrupt_kernel()
        else:
            km.restart_kernel(now=True)
            kc.wait_for_ready(timeout=120)
        return f"TimeoutError: no answer in {timeout:.0f} s", "".join(out)
    content = reply["content"]
    return (f"{content['ename']}: {content['evalue']}" if content["status"] == "error" else None), "".join(out)


def features_in_kernel(kernel: tuple[Any, Any], root: Path, prepare: bool) -> Verdict:
    """`check_features` run in the kernel, where the notebooks' imports are done once for both, read back."""
    code = ("import dataclasses, json\nfrom memelib.preflight import check_features\n"
            f"print({RESULT!r} + json.dumps(dataclasses.asdict(check_features({str(root)!r}, {prepare!r}))))")
    error, out = run_code(kernel, code, timeout=PREPARE_TIMEOUT if prepare else SETUP_TIMEOUT, echo=True)
    result = next((line[len(RESULT):] for line in out.splitlines() if line.startswith(RESULT)), None)
    if error or result is None:
        return Verdict(False, f"feature cache: the check failed ({error or 'no result'})", FIX_VENV)
    return Verdict(**json.loads(result))


def check_notebooks(kernel: tuple[Any, Any], root: Path) -> list[Verdict]:
    """Every notebook's set-up cells, one notebook after another in the same kernel (each imports again and calls
    setup() again, so none leans on another): one PASS line, or a FAIL line per failing notebook."""
    notebooks, failed, t0 = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")), [], time.perf_counter()
    for notebook in notebooks:
        cells = setup_cells(notebook)
        if not cells:
            failed.append(Verdict(False, f"{notebook.name} has no `{SWITCH}` cell", "start it as notebook 00 starts"))
        for code in cells:
            error, _ = run_code(kernel, code, timeout=SETUP_TIMEOUT)
            if error:
                fix = f"run them in JupyterLab (`make lab`) to see where; a missing module: {FIX_VENV}"
                failed.append(Verdict(False, f"{notebook.name}'s set-up cells fail: {error[:200]}", fix))
                break
    if failed or not notebooks:
        return failed or [Verdict(False, f"no notebooks in {root / 'notebooks'}", "run it in the course's folder")]
    first, last = notebooks[0].name[:2], notebooks[-1].name[:2]
    return [Verdict(True, f"set-up cells of {len(notebooks)} notebooks ({first}-{last}) run in a Jupyter kernel "
                          f"in {time.perf_counter() - t0:.1f} s")]


def kernel_checks(kernel: tuple[Any, Any] | str, root: Path, prepare: bool, data_ok: bool) -> list[Verdict]:
    """The feature cache, then the notebooks' set-up cells, in one kernel (torch is imported once for both)."""
    if not data_ok:  # both need SynthMemes, and setup() would generate them: not under --no-prepare
        first = "fix the SynthMemes line first"
        return [Verdict(False, "feature cache not checked: it needs SynthMemes", first),
                Verdict(False, "notebooks' set-up cells not run: they need SynthMemes", first)]
    if isinstance(kernel, str):
        return [check_features(root, prepare), Verdict(False, kernel, FIX_VENV)]
    return [features_in_kernel(kernel, root, prepare), *check_notebooks(kernel, root)]


