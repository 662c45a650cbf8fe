"""python -m memelib.exercises student NOTEBOOKS_DIR OUT_DIR: student copies of the notebooks (make student);
python -m memelib.exercises mark NOTEBOOKS_DIR: nbgrader's answer-cell metadata on every solution cell."""

import json
import sys

from .student import make_student_notebooks, mark_notebooks

USAGE = "usage: python -m memelib.exercises student NOTEBOOKS_DIR OUT_DIR | mark NOTEBOOKS_DIR"

if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "student":
        print(json.dumps({"written": [str(f) for f in make_student_notebooks(args[1], args[2])]}, indent=1))
    elif len(args) == 2 and args[0] == "mark":
        print(json.dumps({"answer cells": mark_notebooks(args[1])}, indent=1))
    else:
        sys.exit(USAGE)
