"""`python -m bench [--quick] [--only SECTIONS]`: see bench/run.py."""

import sys

from .run import main

sys.exit(main())
