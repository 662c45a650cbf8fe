"""The benchmarks import memelib's real functions; these checks keep them runnable as memelib changes."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    if str(BENCH) not in sys.path:  # as when run as a script: the benchmarks import each other
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["speed", "fusion_table", "notebook_times", "demo_vs"])
def test_benchmark_scripts_import_and_show_help(name):
    out = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout


@pytest.mark.parametrize("threads", [1, "auto"])
def test_head_epoch_timing_runs_memelibs_training_step(threads):
    speed = _load("speed")
    before = torch.get_num_threads()
    seconds = speed.head_epoch_seconds(threads, n=320, text_dim=16, image_dim=24)
    assert 0 < seconds < 60
    assert torch.get_num_threads() == before  # the benchmark leaves the thread count as it found it


def test_one_core_busy_starts_and_stops_a_spinning_process():
    import resource

    def children_cpu_s() -> float:  # CPU time of child processes that have ended
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    speed = _load("speed")
    before = children_cpu_s()
    with speed.one_core_busy() as spinner:
        assert spinner.poll() is None  # running
        time.sleep(0.5)
    assert spinner.poll() is not None  # stopped and reaped
    assert children_cpu_s() - before > 0.5  # it spun for most of its second of life
