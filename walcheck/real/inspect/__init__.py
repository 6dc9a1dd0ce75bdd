"""``walcheck inspect``: what is in a ``.mv2`` file's WAL, and what memvid and the
reference would each make of it (spec/inspect.md). Read-only: the file is opened
for reading, without a lock, and never written; only its header and its WAL
region are read; every "what would happen" is worked out on a copy of the region
in memory.

Modules: ``scan`` (one bounded pass: the log, then the intact entries past its
end), ``evidence`` (lost records and the defect that explains them, space,
memvid's doctor), ``verdicts`` (each reader's open), ``report`` (reading the
file), ``render`` (text, JSON, hex dumps), ``command`` (the command line).
"""

from walcheck.real.inspect.command import add_parser, run, u64_argument
from walcheck.real.inspect.render import Selection, as_json, render
from walcheck.real.inspect.report import SCHEMA_VERSION, InspectError, RegionParameters, Report, inspect_file

__all__ = [
    "SCHEMA_VERSION",
    "InspectError",
    "RegionParameters",
    "Report",
    "Selection",
    "add_parser",
    "as_json",
    "inspect_file",
    "render",
    "run",
    "u64_argument",
]
