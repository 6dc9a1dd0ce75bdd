#!/usr/bin/env python3
"""Make .mv2 files with memvid's released SDK (memvid-sdk, the Rust core inside).

    .venv/bin/python tools/make_memvid_files.py OUTDIR [NAME ...]

writes OUTDIR/NAME.mv2 and OUTDIR/NAME.json (what the SDK was asked to do and
what it answered) for each recipe NAME (default: all; --list names them).
tests/test_memvid_sdk.py runs it; tests/data/README.md says which recipes made
the stored files. Each recipe runs in a process of its own, because some end
without closing the memory (os._exit) or under a file size limit.

Telemetry is off: MEMVID_TELEMETRY=0 is set before memvid_sdk is imported.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Every put leaves the optional extractors off, so a put's WAL records depend on
# its text alone.
PUT_OPTIONS = {"auto_tag": False, "extract_dates": False}

Did = dict[str, Any]


def _sdk() -> Any:
    os.environ["MEMVID_TELEMETRY"] = "0"  # before the import: the SDK reads it on every call
    return importlib.import_module("memvid_sdk")


def _create(sdk: Any, path: Path) -> Any:
    return sdk.create(str(path), enable_lex=False)


def _put(memory: Any, index: int, text: str) -> None:
    memory.put(title=f"t{index}", label="x", text=text, **PUT_OPTIONS)


def _small_text(index: int) -> str:
    return f"doc{index} " * 5


def _puts(count: int, *, commit_every: int = 0) -> Callable[[Any, Path], Did]:
    def recipe(sdk: Any, path: Path) -> Did:
        memory = _create(sdk, path)
        commits = 0
        for index in range(count):
            _put(memory, index, _small_text(index))
            if commit_every and index % commit_every == commit_every - 1:
                memory.commit()
                commits += 1
        memory.close()
        return {"puts": count, "commits": commits, "closed": True}

    recipe.__doc__ = f"{count} puts of short texts" + (
        f", commit() after every {commit_every}" if commit_every else ""
    )
    return recipe


def a_one_put(sdk: Any, path: Path) -> Did:
    """One put of "hello": the WAL of tests/data/a_one_put.mv2."""
    memory = _create(sdk, path)
    _put(memory, 0, "hello")
    memory.close()
    return {"puts": 1, "closed": True}


def d_small_puts(sdk: Any, path: Path) -> Did:
    """80 puts of 5 characters ("doc0 ", ..., "doc10", ...); the region grows to 256 KiB.

    The WAL of tests/data/d_small_puts.mv2: its records have the same lengths."""
    memory = _create(sdk, path)
    for index in range(80):
        _put(memory, index, (f"doc{index} " * 5)[:5])
    memory.close()
    return {"puts": 80, "closed": True}


def empty(sdk: Any, path: Path) -> Did:
    """create, then close."""
    _create(sdk, path).close()
    return {"puts": 0, "closed": True}


def empty_unclosed(sdk: Any, path: Path) -> Did:
    """create, then the process ends without close()."""
    _create(sdk, path)
    _exit_now({"puts": 0, "closed": False})
    raise AssertionError("unreachable")


def unclosed(sdk: Any, path: Path) -> Did:
    """Three puts, then the process ends without close()."""
    memory = _create(sdk, path)
    for index in range(3):
        _put(memory, index, _small_text(index))
    _exit_now({"puts": 3, "closed": False})
    raise AssertionError("unreachable")


def put_many(sdk: Any, path: Path) -> Did:
    """One put_many of 5 short documents."""
    memory = _create(sdk, path)
    memory.put_many([{"title": f"t{i}", "label": "x", "text": _small_text(i)} for i in range(5)])
    memory.close()
    return {"puts": 0, "batch": 5, "closed": True}


def big_put(sdk: Any, path: Path) -> Did:
    """One put of 120,000 characters: split into many records, and the region grows."""
    rng = random.Random(7)
    text = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz\n") for _ in range(120_000))
    memory = _create(sdk, path)
    _put(memory, 0, text)
    memory.close()
    return {"puts": 1, "characters": len(text), "closed": True}


def pending(sdk: Any, path: Path) -> Did:
    """Two puts, then three whose commit fails: their records stay pending.

    A file size limit lets each put's WAL append (inside the region) through and
    refuses the data written past the end of the file, so the commit never
    happens. The process then ends without close()."""
    memory = _create(sdk, path)
    for index in range(2):
        _put(memory, index, _small_text(index))
    calls = [lambda index=index: _put(memory, index, _small_text(index)) for index in range(2, 5)]
    outcomes = _under_size_limit(path, calls)
    _exit_now({"puts": 2, "puts_under_limit": 3, "outcomes": outcomes, "closed": False})
    raise AssertionError("unreachable")


def pending_batch(sdk: Any, path: Path) -> Did:
    """One put, then a put_many of four whose commit fails as in ``pending``."""
    memory = _create(sdk, path)
    _put(memory, 0, _small_text(0))
    docs = [{"title": f"t{i}", "label": "x", "text": _small_text(i)} for i in range(1, 5)]
    outcomes = _under_size_limit(path, [lambda: memory.put_many(docs)])
    _exit_now({"puts": 1, "batch_under_limit": 4, "outcomes": outcomes, "closed": False})
    raise AssertionError("unreachable")


ENTRY_HEADER = 48  # spec/format.md F2.1


def _log_end(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(wal_size, the log's end, [(sequence, position, length)]) as memvid's scan reads it."""
    from reference import decode_header, scan_region

    raw = path.read_bytes()
    header = decode_header(raw[:4096])
    found, end = scan_region(raw[header.wal_offset : header.wal_offset + header.wal_size])
    return header.wal_size, end, [(r.sequence, r.position, len(r.payload)) for r in found]


def _put_and_close(sdk: Any, path: Path, index: int, text: str) -> None:
    memory = sdk.use("basic", str(path), enable_lex=False)
    _put(memory, index, text)
    memory.close()


def _frame_count(sdk: Any, path: Path) -> int:
    memory = sdk.use("basic", str(path), read_only=True, enable_lex=False)
    try:
        count: int = memory.stats()["frame_count"]
    finally:
        memory.close()
    return count


def d1_lost_put(sdk: Any, path: Path) -> Did:
    """A put memvid acknowledges and loses (spec/defects.md D1): three puts of 5,000
    characters, puts of 2,000 until the 64 KiB region is nearly full, then one sized
    so that its frame record ends about 20 bytes before the region's end (a frame
    is its text and about 170 bytes); memvid writes its sentinel at position 0."""
    memory = _create(sdk, path)
    for index in range(3):
        _put(memory, index, "a" * 5000)
    memory.close()
    index = 3
    size, end, _ = _log_end(path)
    while end + 2 * (2000 + 218 + 804) < size:
        _put_and_close(sdk, path, index, "c" * 2000)
        index += 1
        size, end, _ = _log_end(path)
    length = size - 20 - end - ENTRY_HEADER - 170
    before = _frame_count(sdk, path)
    _put_and_close(sdk, path, index, "d" * length)
    return {
        "puts": index + 1,
        "last_put_length": length,
        "lost_frame_position": end,
        "frames_before_last_put": before,
        "frames_after_last_put": _frame_count(sdk, path),
        "closed": True,
    }


def _under_size_limit(path: Path, calls: Sequence[Callable[[], object]]) -> list[str]:
    """Make each call with the file size capped at its current size (the process
    never lifts the cap); for each, "ok" or the error it raised."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, resource.RLIM_INFINITY))
    outcomes: list[str] = []
    for call in calls:
        try:
            call()
        except Exception as error:
            outcomes.append(f"{type(error).__name__}: {error}")
        else:
            outcomes.append("ok")
    return outcomes


def _exit_now(did: Did) -> None:
    """End the process as a crash would: no close(), no destructors."""
    sys.stdout.write(json.dumps(did) + "\n")
    sys.stdout.flush()
    os._exit(0)


RECIPES: dict[str, Callable[[Any, Path], Did]] = {
    "a_one_put": a_one_put,
    "d_small_puts": d_small_puts,
    "empty": empty,
    "empty_unclosed": empty_unclosed,
    "small_puts": _puts(30),
    "commits_between": _puts(6, commit_every=2),
    "put_many": put_many,
    "big_put": big_put,
    "unclosed": unclosed,
    "pending": pending,
    "pending_batch": pending_batch,
    "d1_lost_put": d1_lost_put,
}


def _run_one(name: str, path: Path) -> None:
    """In the child: make one file and print what was done as JSON."""
    sdk = _sdk()
    if path.exists():
        path.unlink()
    did = RECIPES[name](sdk, path)
    sys.stdout.write(json.dumps(did) + "\n")


def make(out_dir: Path, names: list[str]) -> dict[str, Did]:
    """Make each recipe's file in ``out_dir``, each in a process of its own."""
    from importlib.metadata import version

    out_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, Did] = {}
    for name in names:
        path = out_dir / f"{name}.mv2"
        child = subprocess.run(
            [sys.executable, __file__, "--one", name, str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "MEMVID_TELEMETRY": "0"},
            check=False,
        )
        if child.returncode != 0 or not child.stdout.strip():
            raise RuntimeError(f"recipe {name} failed ({child.returncode}): {child.stderr[-2000:]}")
        did = json.loads(child.stdout.strip().splitlines()[-1])
        did = {"recipe": name, "memvid_sdk": version("memvid-sdk"), **did}
        (out_dir / f"{name}.json").write_text(json.dumps(did, indent=2) + "\n")
        # The SDK leaves a 12-byte side file when a memory is not closed; not part of the .mv2.
        (out_dir / f"{name}.manifest.wal").unlink(missing_ok=True)
        made[name] = did
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", nargs="?", type=Path, help="where to write NAME.mv2 and NAME.json")
    parser.add_argument("names", nargs="*", help=f"recipes (default: all of {', '.join(RECIPES)})")
    parser.add_argument("--list", action="store_true", help="name the recipes and exit")
    parser.add_argument("--one", nargs=2, metavar=("NAME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _run_one(args.one[0], Path(args.one[1]))
        return 0
    if args.list:
        for name, recipe in RECIPES.items():
            print(f"{name}: {(recipe.__doc__ or '').strip().splitlines()[0] if recipe.__doc__ else ''}")
        return 0
    if args.out_dir is None:
        parser.error("OUTDIR is required")
    unknown = [name for name in args.names if name not in RECIPES]
    if unknown:
        parser.error(f"no such recipe: {', '.join(unknown)}")
    for name, did in make(args.out_dir, args.names or list(RECIPES)).items():
        print(f"{args.out_dir / name}.mv2: {json.dumps(did)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
