"""Student copies of the notebooks, and the nbgrader marks on their exercise cells.

    python -m memelib.exercises student NOTEBOOKS_DIR OUT_DIR    (or: make student)
    python -m memelib.exercises mark NOTEBOOKS_DIR                (after adding an exercise)

The notebooks follow nbgrader's conventions, so a teacher who grades with nbgrader can take them as they are:
- a worked answer in a code cell sits between `### BEGIN SOLUTION` and `### END SOLUTION` lines;
- prose that gives an answer away sits between `<!-- BEGIN SOLUTION -->` and `<!-- END SOLUTION -->` lines in a
  markdown cell (HTML comments: the teacher's notebook reads normally);
- every cell holding either carries nbgrader's metadata for an answer cell (`solution: true`, a `grade_id`).
`make student` reads the same markers: code answers become `...  # your code here` (the exercise's check then
says "Not yet"), marked prose is dropped, outputs and saved widget state are cleared.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .verdict import PLACEHOLDER

__all__ = ["strip_solutions", "strip_prose", "mark_solution_cells", "make_student_notebooks", "unmarked_cells"]

_BLOCK = re.compile(r"^([ \t]*)#+ BEGIN SOLUTION[^\n]*\n.*?^[ \t]*#+ END SOLUTION[^\n]*(\n|$)", re.MULTILINE | re.DOTALL)
_PROSE = re.compile(r"^[ \t]*<!-- BEGIN SOLUTION -->[^\n]*\n.*?^[ \t]*<!-- END SOLUTION -->[^\n]*(\n|$)",
                    re.MULTILINE | re.DOTALL)
NBGRADER_SCHEMA = 3  # the cell-metadata schema of nbgrader 0.6 to 0.9


def strip_solutions(source: str) -> str:
    """Replace every `### BEGIN SOLUTION ... ### END SOLUTION` block by an indented `...` placeholder."""
    return _BLOCK.sub(lambda m: f"{m.group(1)}{PLACEHOLDER}{m.group(2)}", source)


def strip_prose(source: str) -> str:
    """Drop every `<!-- BEGIN SOLUTION --> ... <!-- END SOLUTION -->` block of a markdown cell."""
    return _PROSE.sub("", source)


def _has_solution(cell: Any) -> bool:
    pattern = _BLOCK if cell.cell_type == "code" else _PROSE
    return bool(pattern.search(cell.source))


def mark_solution_cells(nb: Any, prefix: str) -> int:
    """Give every cell with a solution block nbgrader's answer-cell metadata (grade_id `prefix`-N, N counting
    them in order); other cells lose theirs. Returns how many cells are marked."""
    n = 0
    for cell in nb.cells:
        if _has_solution(cell):
            n += 1
            cell.metadata["nbgrader"] = {"grade": False, "grade_id": f"{prefix}-answer-{n}", "locked": False,
                                         "schema_version": NBGRADER_SCHEMA, "solution": True, "task": False}
        else:
            cell.metadata.pop("nbgrader", None)
    return n


def unmarked_cells(nb: Any) -> list[int]:
    """Indices of cells whose solution blocks and nbgrader metadata disagree (empty when all is consistent)."""
    return [i for i, c in enumerate(nb.cells)
            if _has_solution(c) != bool(c.metadata.get("nbgrader", {}).get("solution"))]


def make_student_notebooks(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Copy every notebook of `src_dir` to `out_dir` with solutions stripped and outputs cleared."""
    import nbformat

    written = []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(src_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = strip_solutions(cell.source)
                cell.outputs, cell.execution_count = [], None
            elif cell.cell_type == "markdown":
                cell.source = strip_prose(cell.source)
        nb.metadata.pop("widgets", None)  # saved widget state: the teacher's run, not the learner's
        nbformat.write(nb, out / path.name)
        written.append(out / path.name)
    return written


def mark_notebooks(src_dir: str | Path) -> dict[str, int]:
    """mark_solution_cells on every notebook of `src_dir`, in place; {notebook name: answer cells}."""
    import nbformat

    marked = {}
    for path in sorted(Path(src_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        marked[path.name] = mark_solution_cells(nb, path.stem.split("_")[0])
        nbformat.write(nb, path)
    return marked
