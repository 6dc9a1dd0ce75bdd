"""``python -m walcheck.mutation [options]``: ``walcheck mutate`` before the CLI lists it."""

import sys

from walcheck.cli import main

sys.exit(main(["mutate", *sys.argv[1:]]))
