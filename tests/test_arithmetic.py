"""tests/arithmetic.py: which arithmetic variants a CPU can run, and a skipped variant never fails the run."""

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parent / "arithmetic.py"


@pytest.fixture(scope="module")
def arithmetic():
    spec = importlib.util.spec_from_file_location("arithmetic", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)  # defines the variants; runs nothing
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_a_variant_needs_its_cpu_flags(arithmetic, monkeypatch):
    monkeypatch.setattr(arithmetic.platform, "machine", lambda: "x86_64")
    avx2, avx512 = (next(v for v in arithmetic.VARIANTS if v.name == n) for n in ("avx2", "avx512"))
    laptop = {"sse4_2", "avx", "avx2", "fma"}
    assert arithmetic.missing(avx2, laptop) == []
    assert arithmetic.missing(avx512, laptop) == ["avx512f", "avx512bw", "avx512vl", "avx512dq"]
    assert arithmetic.missing(avx512, laptop | {"avx512f", "avx512bw", "avx512vl", "avx512dq"}) == []
    monkeypatch.setattr(arithmetic.platform, "machine", lambda: "arm64")  # Apple Silicon: native only
    assert arithmetic.missing(avx2, laptop) == ["an x86 CPU (this is arm64)"]
    assert arithmetic.missing(arithmetic.VARIANTS[0], set()) == []


def test_a_variant_the_cpu_lacks_is_skipped_with_a_line(arithmetic, monkeypatch, capsys):
    monkeypatch.setattr(arithmetic, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setattr(arithmetic.platform, "machine", lambda: "x86_64")
    ran = []
    monkeypatch.setattr(arithmetic, "run", lambda variant, threads, extra: ran.append(variant.name) or 0)
    assert arithmetic.main(["--variants", "avx512,avx2"]) == 0
    out = capsys.readouterr().out
    assert ran == ["avx2"] and "avx512 (AVX-512" in out and "skipped: this CPU lacks avx512f" in out
    monkeypatch.setattr(arithmetic, "run", lambda variant, threads, extra: 1)  # a failing variant fails the run
    assert arithmetic.main(["--variants", "avx2"]) == 1
    with pytest.raises(SystemExit):
        arithmetic.main(["--variants", "sse"])
