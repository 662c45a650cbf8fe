"""python -m memelib.preflight: see memelib.preflight."""

import sys

from . import main

sys.exit(main())
