"""A memvid-sdk process driven over stdin, one command a line, one JSON answer a
line (tests/test_two_writers.py runs two of these on one file).

Commands: ``create PATH``, ``open PATH``, ``put TEXT``, ``commit``, ``close``,
``texts PATH`` (a read-only open: every frame's text), ``inode PATH``, ``quit``.
An answer is ``{"ok": VALUE}`` or ``{"error": "Type: message", "seconds": S}``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any

PUT_OPTIONS = {"auto_tag": False, "extract_dates": False}


def _texts(sdk: Any, path: str) -> list[str]:
    memory = sdk.use("basic", path, enable_lex=False, read_only=True)
    try:
        return [str(entry.get("preview", "")).split("\n")[0] for entry in memory.timeline()]
    finally:
        memory.close()


def main() -> int:
    os.environ["MEMVID_TELEMETRY"] = "0"  # before the import
    sdk: Any = importlib.import_module("memvid_sdk")
    memory: Any = None
    sys.stdout.write(json.dumps({"ok": "ready"}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        command, _, argument = line.rstrip("\n").partition(" ")
        started = time.monotonic()
        try:
            value: Any = None
            if command == "create":
                memory = sdk.create(argument, enable_lex=False)
            elif command == "open":
                memory = sdk.use("basic", argument, enable_lex=False)
            elif command == "put":
                memory.put(title=argument, label="x", text=argument, **PUT_OPTIONS)
            elif command == "commit":
                memory.commit()
            elif command == "close":
                memory.close()
                memory = None
            elif command == "texts":
                value = _texts(sdk, argument)
            elif command == "inode":
                value = os.stat(argument).st_ino
            elif command == "quit":
                return 0
            else:
                raise ValueError(f"unknown command {command!r}")
            answer: dict[str, Any] = {"ok": value}
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}", "seconds": time.monotonic() - started}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
