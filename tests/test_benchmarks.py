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


@pytest.mark.parametrize("threads", [1, 2])
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
        time.sleep(1.0)
    assert spinner.poll() is not None  # stopped and reaped
    # it spun: an idle child uses a few hundredths of a second; a busy machine may give the spinner less
    # than its full second, so the bound is loose
    assert children_cpu_s() - before > 0.3


def _notebook(source: str):
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="kernel peaks are read from /proc (Linux)")
def test_kernel_peak_counts_what_a_notebook_allocates(tmp_path):
    notebook_times = _load("notebook_times")
    env = notebook_times.kernel_env(tmp_path / "cache")
    bare = notebook_times.bare_kernel_peak_mb(tmp_path, env, source="pass")  # no torch: a fast kernel
    nb = _notebook("blob = bytearray(b'x') * (50 * 2**20)  # 50 MB, every page written")
    seconds, peak = notebook_times.execute(nb, tmp_path, env)
    assert nb.cells[0].outputs == []  # ran without an error
    assert seconds > 0
    assert peak >= bare
    assert 40 < peak - bare < 80  # the 50 MB, give or take the kernel's own noise


def test_memory_figures_subtract_the_bare_kernel():
    notebook_times = _load("notebook_times")
    rows = [{"notebook": "00.ipynb", "kernel_peak_mb": 900.0}, {"notebook": "01.ipynb", "kernel_peak_mb": None}]
    figures = notebook_times.memory_figures(rows, 400.0)
    assert figures == {"notebook_kernel_peak_mb": {"00.ipynb": 900.0, "01.ipynb": None}, "bare_torch_kernel_peak_mb": 400.0,
                       "notebook_kernel_peak_over_bare_mb": {"00.ipynb": 500.0, "01.ipynb": None}}


def test_demo_commands_peak_is_their_own_process():
    demo_vs = _load("demo_vs")
    done, small = demo_vs.run_measured([sys.executable, "-c", "pass"], capture_output=True, text=True)
    assert done.returncode == 0 and isinstance(small, float) and small > 0
    alloc = "import sys; blob = bytearray(b'x') * (100 * 2**20); print('ok'); sys.exit(3)"
    done, big = demo_vs.run_measured([sys.executable, "-c", alloc], capture_output=True, text=True)
    assert done.returncode == 3 and done.stdout == "ok\n"  # the command's status and output come through
    assert big - small > 90  # its 100 MB, not the wrapper's few


def test_speed_refuses_an_unknown_section(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH / "speed.py"), "--only", "explain,warp", "--work",
                           str(tmp_path)], capture_output=True, text=True, cwd=BENCH.parent, timeout=300)
    assert done.returncode == 2 and "--only takes sections among" in done.stderr and "explain" in done.stderr
