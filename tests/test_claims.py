"""No check of a measurement breaks a learner's notebook: the notebooks check what their text claims about trained,
timed or sampled results with memelib.course.expect (a note for a learner, an error under the project's tests),
and keep plain `assert` for exact facts (shapes, token ids, counts no arithmetic moves)."""

import ast
from pathlib import Path

import nbformat
import pytest

from memelib.course import STRICT_VARIABLE, expect

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def bare_measurement_checks(source: str) -> list[str]:
    """The checks in a code cell that compare with a float (an `assert` holding a float literal), any `raise`, and
    any `np.testing` call: each should be an `expect`. IPython magics (%, !) are left out before parsing."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    found = []
    for node in ast.walk(ast.parse(code)):
        floats = isinstance(node, ast.Assert) and any(
            isinstance(n, ast.Constant) and isinstance(n.value, float) for n in ast.walk(node.test))
        testing = isinstance(node, ast.Attribute) and node.attr == "testing"
        if floats or testing or isinstance(node, ast.Raise):
            found.append(ast.get_source_segment(code, node).splitlines()[0][:100])
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_bare_assert_checks_a_measurement(path):
    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i}: {line}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
             for line in bare_measurement_checks(c.source)]
    assert not found, "use memelib.course.expect for a measured value:\n" + "\n".join(found)


def test_the_rule_finds_what_it_should():
    assert bare_measurement_checks("assert auroc > 0.82, auroc") == ["assert auroc > 0.82, auroc"]
    assert bare_measurement_checks("if ok:\n    np.testing.assert_allclose(a, b)") == ["np.testing"]
    assert bare_measurement_checks("raise ValueError('x')") == ["raise ValueError('x')"]
    assert bare_measurement_checks("assert x.shape == (2, 3)\n%time f()\nexpect(a > 0.5, 'a is large', a=a)") == []


def test_expect_raises_under_the_tests_and_prints_a_note_for_a_learner(monkeypatch, capsys):
    monkeypatch.setenv(STRICT_VARIABLE, "1")
    assert expect(0.9 > 0.82, "the AUROC is above 0.82", auroc=0.9) is None
    with pytest.raises(AssertionError, match=r"the AUROC is above 0\.82; measured: auroc = 0\.810"):
        expect(0.81 > 0.82, "the AUROC is above 0.82", auroc=0.81)
    assert capsys.readouterr().out == ""
    monkeypatch.delenv(STRICT_VARIABLE)
    expect(False, "the AUROC is above 0.82", auroc=0.81, table={"late": 0.70123})  # no error: the lesson goes on
    note = capsys.readouterr().out
    assert note.startswith("NOTE: the text above says that the AUROC is above 0.82; this computer measured "
                           "auroc = 0.810, table = {late: 0.701}.")
    assert "Which CPUs" in note and "go on" in note
