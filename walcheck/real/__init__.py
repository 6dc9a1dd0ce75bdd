"""Real files and real processes: the SIGKILL campaign (``killtest``), and
(issues 11, 14) the system-call recorder and ``inspect``."""
