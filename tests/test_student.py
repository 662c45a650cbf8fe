"""Exercises in nbgrader's conventions, and the student copies `make student` writes from them."""

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest

from memelib.exercises import PLACEHOLDER, make_student_notebooks
from memelib.exercises.student import mark_solution_cells, strip_prose, strip_solutions, unmarked_cells

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"^\s*if check_\w+\(", re.M)  # every exercise cell calls its check this way


def test_strip_solutions_keeps_the_indentation_and_what_follows():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\n\nif check(f):\n    print(1)"
    assert strip_solutions(src) == f"def f(x):\n    {PLACEHOLDER}\n\n\nif check(f):\n    print(1)"
    prose = "Try it.\n<!-- BEGIN SOLUTION -->\nThe answer is 42.\n<!-- END SOLUTION -->\nThen go on."
    assert strip_prose(prose) == "Try it.\nThen go on."


def test_mark_solution_cells_sets_and_clears_nbgrader_metadata():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        nbformat.v4.new_markdown_cell("<!-- BEGIN SOLUTION -->\nit is 1\n<!-- END SOLUTION -->"),
        nbformat.v4.new_code_cell("print(1)", metadata={"nbgrader": {"solution": True}}),
    ])
    assert unmarked_cells(nb) == [0, 1, 2]
    assert mark_solution_cells(nb, "05") == 2 and unmarked_cells(nb) == []
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells] == ["05-answer-1", "05-answer-2", None]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_is_marked_for_nbgrader(path):
    """At least two checked exercises, each answer in a cell nbgrader knows as an answer cell (grade_ids unique)."""
    nb = nbformat.read(path, as_version=4)
    assert unmarked_cells(nb) == [], "run: python -m memelib.exercises mark notebooks"
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))
    exercises = [c for c in nb.cells if c.cell_type == "code" and CHECK_CALL.search(c.source)]
    assert len(exercises) >= 2 and all("### BEGIN SOLUTION" in c.source for c in exercises)


def test_student_copies_hold_no_worked_answer(tmp_path):
    written = make_student_notebooks(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS] and written
    for path in written:
        nb = nbformat.read(path, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert not any("SOLUTION" in c.source for c in nb.cells), path.name
        assert sum(PLACEHOLDER in s for s in code) >= 2, path.name
        for s in code:  # still valid Python (IPython magics aside)
            ast.parse("\n".join(line for line in s.splitlines() if not line.lstrip().startswith(("%", "!"))))
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert "widgets" not in nb.metadata


def test_student_copies_run_top_to_bottom(tmp_path):
    """Every student copy runs in a real kernel without an error, and each exercise's check says "Not yet"."""
    from nbclient import NotebookClient

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MEMELIB_CACHE_DIR": str(ROOT / "artifacts" / "cache")}
    for path in make_student_notebooks(ROOT / "notebooks", tmp_path):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT / "notebooks")}})
        client.execute(env=env)  # raises CellExecutionError, naming the cell, on any error
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        exercises = sum(bool(CHECK_CALL.search(c.source)) for c in nb.cells if c.cell_type == "code")
        assert text.count("Not yet") >= exercises >= 2 and "Correct!" not in text, path.name
