"""python -m memelib.exercises NOTEBOOKS_DIR OUT_DIR: student copies of the notebooks (make student)."""

import json
import sys

from .student import make_student_notebooks

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m memelib.exercises NOTEBOOKS_DIR OUT_DIR")
    files = make_student_notebooks(sys.argv[1], sys.argv[2])
    print(json.dumps({"written": [str(f) for f in files]}, indent=1))
