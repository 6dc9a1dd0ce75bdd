import sys

from walcheck.real.inspect.command import main

sys.exit(main())
