"""``python -m walcheck.real.syscalls [OPTIONS] -- CMD ARGS...``: ``walcheck crashes``."""

import sys

from walcheck.real.syscalls.command import main

sys.exit(main())
