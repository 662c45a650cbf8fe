"""Student copies of the notebooks: worked answers replaced by `...`, outputs cleared.

    python -m memelib.exercises NOTEBOOKS_DIR OUT_DIR     (or: make student)
"""

from __future__ import annotations

import re
from pathlib import Path

from .verdict import PLACEHOLDER

__all__ = ["strip_solutions", "make_student_notebooks"]

_BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION[^\n]*\n.*?^[ \t]*# END SOLUTION[^\n]*(\n|$)", re.MULTILINE | re.DOTALL)


def strip_solutions(source: str) -> str:
    """Replace every `# BEGIN SOLUTION ... # END SOLUTION` block by an indented `...` placeholder."""
    return _BLOCK.sub(lambda m: f"{m.group(1)}{PLACEHOLDER}{m.group(2)}", source)


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
        nbformat.write(nb, out / path.name)
        written.append(out / path.name)
    return written
