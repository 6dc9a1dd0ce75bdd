"""``python -m walcheck.real.syscalls -- CMD ARGS...``: ``walcheck crashes`` before the command
is registered in walcheck/cli.py."""

import sys

from walcheck.real.syscalls.command import main

sys.exit(main())
