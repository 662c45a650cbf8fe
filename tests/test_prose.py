"""The notebooks' prose agrees with what runs under it: every number a markdown cell states is found in the
notebook's code (an assertion, a parameter) or in its saved outputs, in memelib's source (a constant), or on a
line that cites where it comes from (a paper, a measurement on real memes). So a result quoted in prose ("about
one in seven labels is flipped (15%)", "scores 0.68 on dev") drifts only as far as the outputs: re-executed
with other numbers, the notebook fails here until its prose is corrected.

Checked: decimals (0.68), percentages (15%), ratios (2x, 3 times) and counts "N of M". Plain integers are
names of sizes (768, 2048) and steps; the words that compare ("higher", "nearly all") are each backed by an
assertion in the cell that prints the numbers (see the notebooks' `# checked:` comments)."""

import re
from functools import lru_cache
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w])")
QUANTITY = re.compile(r"(?<![\w.\-/])(?P<num>\d+(?:\.\d+)?)(?:\s?(?P<unit>%|x\b|×|times\b))|"
                      r"(?<![\w.\-/])(?P<dec>\d*\.\d+)(?![\w.])|"
                      r"\b(?P<part>\d+) (?:of|in|out of) (?P<whole>\d+)\b")
# a line that says where its number comes from: a paper (author, year), or a measurement on real memes
CITED = re.compile(r"et al\.|\b(?:19|20)\d\d\b|measured with memelib|Hateful Memes \(", re.I)


def _numbers(text: str) -> set[float]:
    return {float(n.replace(",", "")) for n in NUMBER.findall(text)}


@lru_cache(maxsize=None)
def _library_constants() -> frozenset[float]:
    """memelib's non-integer constants (0.15, 0.1, ...): integers there are too common to ground anything."""
    return frozenset(n for p in (ROOT / "memelib").rglob("*.py") if p.name != "quiz_bank.py"  # quiz text vouches for nothing
                     for n in _numbers(p.read_text()) if n != int(n))


def _grounded(value: float, decimals: int, known: set[float], percent: bool) -> bool:
    candidates = [value / 100, value] if percent else [value]
    for v in candidates:
        d = decimals + 2 if percent and v != value else decimals
        if any(abs(round(k, d) - v) < 10 ** -(d + 3) for k in known):
            return True
    return False


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts += [data.get("text/plain", ""), data.get("text/markdown", ""), data.get("text/html", "")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def ungrounded(path: Path) -> list[str]:
    """The quantities of `path`'s markdown found nowhere they could come from, as 'cell N: "..." in: line'."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    in_notebook = _numbers("\n".join(c.source + "\n" + _outputs_text(c) for c in code))
    known = in_notebook | _library_constants()
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"\(https?://[^)]*\)|https?://\S+|<!--.*?-->", "", cell.source, flags=re.S)
        for line in text.splitlines():
            if CITED.search(line):
                continue
            for m in QUANTITY.finditer(line):
                if m["part"]:  # "8 of 8": both counts come from this notebook
                    ok = all(_grounded(float(m[k]), 0, in_notebook, False) for k in ("part", "whole"))
                elif m["unit"] and m["unit"] != "%":  # "2x", "3 times": a ratio this notebook computes
                    ok = _grounded(float(m["num"]), len((m["num"] + ".").split(".")[1]), in_notebook, False)
                else:
                    raw = m["num"] or m["dec"]
                    decimals = len(raw.split(".")[1]) if "." in raw else 0
                    ok = _grounded(float(raw), decimals, known, percent=m["unit"] == "%")
                if not ok:
                    problems.append(f"cell {i}: {m[0]!r} in: {line.strip()[:140]}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_comes_from_the_code_or_its_outputs(path):
    problems = ungrounded(path)
    assert not problems, ("numbers in the prose that neither the code nor its outputs nor memelib give (print "
                          "them from a variable, assert them, or cite their source):\n" + "\n".join(problems))


def test_a_drifted_number_is_caught(tmp_path):
    """The check can fail: a notebook whose prose quotes 0.68 above an output that says 0.66."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(f'accuracy {acc:.2f}')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="accuracy 0.66\n")]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("Always saying no scores 0.68 here, and weighs 3x more.")]
    nbformat.write(nb, tmp_path / "drift.ipynb")
    assert [p.split(":")[1].strip() for p in ungrounded(tmp_path / "drift.ipynb")] == ["'0.68' in", "'3x' in"]
    cell.outputs[0]["text"] = "accuracy 0.68, weights 3.0\n"
    nbformat.write(nb, tmp_path / "drift.ipynb")
    assert ungrounded(tmp_path / "drift.ipynb") == []
