"""strace's output, parsed (spec/persistence.md PM1): each line's process,
call, arguments and result, ``<unfinished ...>`` and ``<... resumed>`` halves
joined (walcheck/real/syscalls/recorder.py runs strace; replay.py turns the
calls into what they did to the files)."""

from __future__ import annotations

import re
from dataclasses import dataclass


class RecordingError(RuntimeError):
    """The trace cannot be turned into calls faithfully (a truncated string, a
    call the recorder does not understand on a file under the root, a replay
    that does not match the files the program left)."""


# -- Parsing strace's output ------------------------------------------------------------------

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r"^([a-z0-9_]+)\((.*)$", re.S)
_RESUMED = re.compile(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)$", re.S)
_RESULT = re.compile(r" = (-?\d+|0x[0-9a-f]+|\?)(?:<([^>]*)>)?(.*)$", re.S)
_FD_PATH = re.compile(r"^(0x[0-9a-f]+|-?\d+|AT_FDCWD)(?:<([^>]*)>)?(?:\(deleted\))?$")


def decode_hex_string(text: str) -> bytes:
    r"""A ``-xx`` string without its quotes: ``\x41\x42`` -> b"AB"."""
    try:
        decoded = bytes.fromhex(text.replace("\\x", ""))
    except ValueError:
        decoded = b""
    # Every byte is four characters, each "\\x" introducing one: nothing else slipped through.
    if len(text) != 4 * len(decoded) or text.count("\\x") != len(decoded):
        raise RecordingError(f"not a -xx string: {text[:80]!r}")
    return decoded


_TOKEN = re.compile(r'"[^"]*"(?:\.\.\.)?|[^",(){}<>\[\]]+|.', re.S)


def split_arguments(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call (strings hold no commas
    or quotes under ``-xx``; brackets, braces and ``<path>`` decorations nest).
    A string is one token, so a 16 MiB write costs one regex step, not 64 M."""
    parts: list[str] = []
    depth = 0
    start = 0
    for token in _TOKEN.finditer(text):
        char = token.group(0)
        if len(char) != 1:
            continue
        if char in "([{<":
            depth += 1
        elif char in ")]}>":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start : token.start()].strip())
            start = token.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


@dataclass(frozen=True, slots=True)
class Syscall:
    pid: int
    name: str
    arguments: list[str]
    result: int | None
    result_path: str | None
    line: int


def parse_trace(text: str) -> list[Syscall]:
    """strace ``-f -qq -y -xx`` output -> completed calls, in completion order,
    each call's ``<unfinished ...>`` half joined to its ``<... resumed>`` half."""
    unfinished: dict[int, tuple[str, int]] = {}
    calls: list[Syscall] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        matched = _LINE.match(raw)
        if matched is None:
            continue
        pid, body = int(matched.group(1)), matched.group(2)
        if body.startswith(("---", "+++")):
            continue
        resumed = _RESUMED.match(body)
        if resumed is not None:
            start = unfinished.pop(pid, None)
            if start is None:
                continue  # its start was before tracing began
            body, line = start[0] + resumed.group(2), start[1]
        else:
            line = number
        if body.endswith(" <unfinished ...>"):
            unfinished[pid] = (body[: -len(" <unfinished ...>")], line)
            continue
        call = _CALL.match(body)
        if call is None:
            continue
        name, rest = call.group(1), call.group(2)
        # The result follows the last " = " (strings never hold one under -xx), after the
        # closing parenthesis and, on a resumed line, strace's padding.
        equals = rest.rfind(" = ")
        close = len(rest[:equals].rstrip()) - 1 if equals > 0 else -1
        result = _RESULT.match(rest, equals) if close >= 0 and rest[close] == ")" else None
        if result is None:
            continue  # a call that never returned (the process exited inside it)
        value = result.group(1)
        returned: int | None = None if value == "?" else int(value, 0)
        path = (
            decode_hex_string(result.group(2)).decode("utf-8", "surrogateescape") if result.group(2) else None
        )
        calls.append(Syscall(pid, name, split_arguments(rest[:close]), returned, path, line))
    return calls


def string_argument(argument: str) -> bytes:
    if argument.endswith("..."):
        raise RecordingError(f"strace shortened a string ({len(argument)} characters): raise -s")
    if not (argument.startswith('"') and argument.endswith('"')):
        raise RecordingError(f"expected a string, got {argument[:80]!r}")
    return decode_hex_string(argument[1:-1])


def fd_and_path(argument: str) -> tuple[int | None, str | None]:
    matched = _FD_PATH.match(argument.strip())
    if matched is None:
        raise RecordingError(f"expected a descriptor, got {argument[:80]!r}")
    fd = None if matched.group(1) == "AT_FDCWD" else int(matched.group(1), 0)
    path = (
        decode_hex_string(matched.group(2)).decode("utf-8", "surrogateescape") if matched.group(2) else None
    )
    return fd, path


def first_number(argument: str) -> int | None:
    """``NULL`` -> None; ``[4096]`` or ``[4096 => 8192]`` -> 4096."""
    if argument == "NULL":
        return None
    matched = re.search(r"-?\d+", argument)
    if matched is None:
        raise RecordingError(f"expected a number, got {argument[:80]!r}")
    return int(matched.group(0))
