"""``python -m walcheck.fuzz [options]``: ``walcheck fuzz``."""

import sys

from walcheck.cli import main

sys.exit(main(["fuzz", *sys.argv[1:]]))
