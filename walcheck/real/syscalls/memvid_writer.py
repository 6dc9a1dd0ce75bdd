"""memvid-sdk 2.0.160 doing puts, ``put_many``, commits and growth, for the recorder.

    python -m walcheck.real.syscalls.memvid_writer PATH SCENARIO

Scenarios (``SCENARIOS``): ``puts`` (create, three puts, close), ``put_many``
(create, a put, a put_many of three, commit, close), ``growth`` (a put, then
a put_many of 48 documents of 1,600 characters, which outgrow the 64 KiB region). Each document is
``d<n> <token>`` (its text, whole, in the timeline's preview) with title
``t<n>``. The writer reports on ``WALCHECK_ACK_FD`` (stdout without it):

    created          memvid_sdk.create returned
    begin <hex>      a put of this text is about to start
    append <n> synced   the put returned: memvid commits by itself, so the document is
                     promised from here on (sequence n = frame id + 1)
    append <n> unsynced  before a put_many: its documents, announced, not yet promised
    flush            the put_many returned: its documents are promised
    note <text>      informational (commit, close)

MEMVID_TELEMETRY=0 is set before the SDK is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from walcheck.real.syscalls.recorder import Reporter

PUT_OPTIONS = {"auto_tag": False, "extract_dates": False}
# Enough documents in one put_many for their WAL records to outgrow 64 KiB.
GROWTH_DOCUMENTS = 48
GROWTH_LENGTH = 1600


def text_of(n: int, length: int = 0) -> str:
    """Document n's text: short, or padded to ``length`` characters with words
    that do not compress to nothing."""
    text = f"d{n} alpha{n * 7919 % 1000}"
    words: list[str] = []
    while length and len(text) + sum(len(w) + 1 for w in words) < length:
        words.append(f"w{(n * 31 + len(words) * 17) % 99991}")
    return " ".join([text, *words])[: length or None]


def _sdk() -> Any:
    os.environ["MEMVID_TELEMETRY"] = "0"
    import importlib

    return importlib.import_module("memvid_sdk")


def _put(memory: Any, report: Reporter, n: int, length: int = 0) -> None:
    text = text_of(n, length)
    report(f"begin {text.encode().hex()}")
    memory.put(title=f"t{n}", label="x", text=text, **PUT_OPTIONS)
    report(f"append {n + 1} synced")


def puts(memory: Any, report: Reporter) -> None:
    for n in range(3):
        _put(memory, report, n)


def put_many(memory: Any, report: Reporter) -> None:
    _put(memory, report, 0)
    texts = [text_of(n) for n in range(1, 4)]
    # Announced before the call as appended and not acknowledged (the oracle lets
    # each be there or not, in order); acknowledged together when put_many returns.
    for n, text in enumerate(texts, start=1):
        report(f"begin {text.encode().hex()}")
        report(f"append {n + 1} unsynced")
    memory.put_many([{"title": f"t{n}", "label": "x", "text": t} for n, t in enumerate(texts, start=1)])
    report("flush")
    memory.commit()
    report("note commit returned")


def growth(memory: Any, report: Reporter) -> None:
    """A put, then one put_many of GROWTH_DOCUMENTS documents of about 1,600
    characters: their frames outgrow the 64 KiB region, which memvid grows in
    place inside the call (M4). Each document's first line is its name; the
    rest fills it (the timeline's preview shows the first line whole)."""
    _put(memory, report, 0)
    names = [text_of(n) for n in range(1, GROWTH_DOCUMENTS + 1)]
    for n, name in enumerate(names, start=1):
        report(f"begin {name.encode().hex()}")
        report(f"append {n + 1} unsynced")
    documents = [name + "\n" + text_of(n, GROWTH_LENGTH) for n, name in enumerate(names, start=1)]
    memory.put_many([{"title": f"t{n}", "label": "x", "text": t} for n, t in enumerate(documents, start=1)])
    report("flush")


SCENARIOS: dict[str, Callable[[Any, Reporter], None]] = {"puts": puts, "put_many": put_many, "growth": growth}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[1] not in SCENARIOS:
        print(
            f"usage: python -m walcheck.real.syscalls.memvid_writer PATH {{{','.join(SCENARIOS)}}}",
            file=sys.stderr,
        )
        return 2
    sdk = _sdk()
    report = Reporter()
    memory = sdk.create(args[0], enable_lex=False)
    report("created")
    SCENARIOS[args[1]](memory, report)
    memory.close()
    report("note closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
