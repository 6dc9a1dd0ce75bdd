"""spec/semantics.md S7.1: the checks' own predicates, seen to answer "broken".

The machines check every state with ``model.invariants.violated`` (S7) and
``model.wal.valid`` (the contracts' predicate), and every scan with the
recovery rules' predicates (spec/faults.md R2, R3, R7: ``continues_log`` and
the R7 proof, in the model and in the reference). On the states a FIXED run
reaches, those predicates only ever answer "fine", so a predicate that could
never answer anything else would pass unnoticed. Here each is asked about the
machine's current state broken in one named way, and must name exactly what
that way breaks.

The expected answers are S7's table and faults.md's rules, written out here
(the entries encoded from F2.1 with blake3 directly), not computed by the
predicates under test.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import blake3

import model as m
from model import placement
from model.format import decode_entry, decode_entry_header
from model.invariants import violated
from model.region import Foreign, Region
from model.wal import Volatile, WalError, entry_at, scan, valid
from reference import Design as RefDesign
from reference import WalCorruption
from reference.wal import scan_region

# F2.1 and S0, written here rather than imported, so that a wrong constant is
# caught rather than shared by the check.
_HEADER = 48
_SEQUENCE_MAX = 2**64 - 1
_U64_MAX = 2**64 - 1
_MARK = b"SYNC"
_SENTINEL = bytes(_HEADER)
# F3.4's reasons, as memvid words them (spelled out here, not taken from the model).
_LENGTH = "wal record length invalid"
_CHECKSUM = "wal record checksum mismatch"


class PredicateBlind(AssertionError):
    """A predicate of the checks did not answer "broken" where S7.1 says it must."""


@dataclass(frozen=True, slots=True)
class Broken:
    """One way to break a state: what ``violated`` must name, what ``valid`` must say."""

    how: str
    state: m.State
    invariants: tuple[str, ...]
    valid: bool


def _entry(sequence: int, payload: bytes, *, marked: bool = False, damaged: bool = False) -> bytes:
    """F2.1: one entry; ``damaged`` flips a payload bit after the digest is taken."""
    digest = blake3.blake3(payload).digest()
    body = bytes([payload[0] ^ 1]) + payload[1:] if damaged else payload
    return struct.pack("<QI", sequence, len(payload)) + (_MARK if marked else bytes(4)) + digest + body


def _with_region(state: m.State, prefix: bytes) -> m.State:
    """``state`` with a region of its size holding ``prefix``, then zeros."""
    size = state.disk.header.wal_size
    region = Region.zeroed(size).write(0, Foreign(prefix), 0, len(prefix)) if prefix else Region.zeroed(size)
    return replace(state, disk=replace(state.disk, region=region, durable_region=region, unsynced=()))


def _with_wal(state: m.State, wal: Volatile, **fields: int) -> m.State:
    # Every field set here is an int of Volatile's; mypy cannot tell which.
    changed: dict[str, Any] = fields
    return replace(state, wal=replace(wal, **changed))


def broken_states(state: m.State) -> Iterator[Broken]:
    """S7.1: ``state`` (FIXED, open, keeping S7) broken in each named way."""
    wal = state.wal
    assert wal is not None
    size, head, pending = wal.region_size, wal.write_head, wal.pending_bytes
    header, disk = state.disk.header, state.disk
    writable = () if wal.read_only else ("I6",)
    yield Broken(
        "header.wal_size one more than the region",
        replace(state, disk=replace(disk, header=replace(header, wal_size=size + 1))),
        ("I1",),
        False,
    )
    yield Broken(
        "header.wal_size one less than the region",
        replace(state, disk=replace(disk, header=replace(header, wal_size=size - 1))),
        ("I1",),
        False,
    )
    yield Broken(
        "a byte written outside the region",
        replace(state, disk=replace(disk, bytes_written_outside_region=1)),
        ("I2",),
        True,
    )
    yield Broken(
        "write_head past the region", _with_wal(state, wal, write_head=size + 1), ("I5", *writable), False
    )
    yield Broken("write_head negative", _with_wal(state, wal, write_head=-1), ("I5", *writable), False)
    if not wal.read_only:
        moved = head + 1 if head + 1 <= size else head - 1
        if pending <= moved <= size:
            yield Broken(
                "write_head off the scan's end", _with_wal(state, wal, write_head=moved), ("I6",), True
            )
    yield Broken(
        "pending_bytes past the region", _with_wal(state, wal, pending_bytes=size + 1), ("I7", "I8"), False
    )
    yield Broken("pending_bytes negative", _with_wal(state, wal, pending_bytes=-1), ("I7", "I8"), False)
    wrong = pending + 1 if pending + 1 <= head else pending - 1
    if wrong >= 0:
        yield Broken("pending_bytes off by one", _with_wal(state, wal, pending_bytes=wrong), ("I8",), True)
    yield Broken(
        "sequence above SEQUENCE_MAX", _with_wal(state, wal, sequence=_SEQUENCE_MAX + 1), ("I9",), False
    )
    if wal.sequence < _SEQUENCE_MAX:
        yield Broken("sequence one ahead", _with_wal(state, wal, sequence=wal.sequence + 1), ("I9",), True)
    yield Broken(
        "checkpoint_head at the region's end", _with_wal(state, wal, checkpoint_head=size), ("I12",), False
    )
    yield Broken("checkpoint_head negative", _with_wal(state, wal, checkpoint_head=-1), ("I12",), False)
    yield Broken(
        "appends_since_checkpoint above u64 (S1.2; no S7 line)",
        _with_wal(state, wal, appends_since_checkpoint=_U64_MAX + 1),
        (),
        False,
    )
    yield Broken(
        "appends_since_checkpoint negative (S1.2; no S7 line)",
        _with_wal(state, wal, appends_since_checkpoint=-1),
        (),
        False,
    )
    # Not broken: the same numbers as new objects (as a state rebuilt from a
    # trace has them). S7 compares values; a test of identity would pass only
    # where CPython shares an int, its small ones or the very object copied.
    yield Broken(
        "every number of the WAL equal but a new object", _with_wal(state, wal, **_new_ints(wal)), (), True
    )
    yield from _broken_contents(state, wal)


def _new_ints(wal: Volatile) -> dict[str, int]:
    # int(str(n)) == n, and past the small ints CPython caches it is another object.
    return {
        field.name: int(str(value))
        for field in dataclasses.fields(wal)
        if type(value := getattr(wal, field.name)) is int
    }


def _broken_contents(state: m.State, wal: Volatile) -> Iterator[Broken]:
    """The invariants a region's contents break (I3, I4, I10, I11), on the
    machine's region size and checkpoint."""
    size, cp = wal.region_size, wal.checkpoint_sequence
    empty = _with_region(state, b"")
    if cp >= 1:
        # An empty log whose checkpoint is ahead of its sequence.
        yield Broken(
            "checkpoint_sequence above sequence",
            _with_wal(empty, wal, write_head=0, pending_bytes=0, checkpoint_head=0, sequence=cp - 1),
            ("I9", "I10"),
            False,
        )
    # Sizes are compared by value: an empty log whose header, region and
    # volatile state each hold 1024 as a separate int object (above CPython's
    # small-int cache, so an identity test would tell them apart) breaks nothing.
    header_size, region_size, volatile_size = int("1024"), int("1024"), int("1024")
    apart = replace(
        state,
        disk=replace(
            state.disk,
            header=replace(state.disk.header, wal_size=header_size),
            region=Region.zeroed(region_size),
            durable_region=Region.zeroed(region_size),
            unsynced=(),
        ),
    )
    yield Broken(
        "an empty log of 1024 bytes whose three sizes are equal ints, not one object",
        _with_wal(
            apart,
            wal,
            region_size=volatile_size,
            write_head=0,
            pending_bytes=0,
            checkpoint_head=0,
            sequence=cp,
            appends_since_checkpoint=0,
        ),
        (),
        True,
    )
    if size >= 2 * 49 and cp + 2 <= _SEQUENCE_MAX:
        # R7: a damaged first entry that a later marked pending record proves durable.
        data = _entry(cp + 1, b"d", damaged=True) + _entry(cp + 2, b"p", marked=True)
        proven = _with_region(state, data)
        yield Broken("a damaged entry proven durable (R7)", proven, ("I3",), True)
    if size > 2 * 49:
        # ORIGINAL does not end its log at a gap (D2), so a gap reaches I4, I11.
        data = _entry(5, b"a") + _entry(3, b"b")
        gap = replace(_with_region(state, data), design=m.Design.ORIGINAL)
        fields = {"write_head": 98, "checkpoint_head": 0, "appends_since_checkpoint": 0}
        yield Broken(
            "sequences 5, 3 (ORIGINAL)",
            _with_wal(gap, wal, **fields, pending_bytes=98, sequence=3, checkpoint_sequence=0),
            ("I4",),
            True,
        )
        yield Broken(
            "sequences 5, 3 with the checkpoint at 4 (ORIGINAL)",
            _with_wal(gap, wal, **fields, pending_bytes=49, sequence=4, checkpoint_sequence=4),
            ("I4", "I11"),
            True,
        )


@dataclass(frozen=True, slots=True)
class Scan:
    """What a FIXED tolerant scan of a region must answer (faults.md)."""

    how: str
    data: bytes
    sequences: tuple[int, ...]
    end: int
    corruption_at: int | None = None


def broken_scans(region: bytes, cp: int) -> Iterator[Scan]:
    """S7.1: region prefixes each rule's predicate must reject (R2, R3, R7),
    and their accepted neighbours, over the machine's own region bytes and
    checkpoint sequence. Each prefix ends with a sentinel when one fits, so
    the answer does not depend on what follows."""
    size = len(region)

    def image(*entries: bytes) -> bytes | None:
        data = b"".join(entries)
        if len(data) > size:
            return None
        if len(data) + _HEADER <= size:
            data += _SENTINEL
        return data + region[len(data) :]

    cases: list[tuple[str, tuple[bytes, ...], tuple[int, ...], int, int | None]] = [
        ("a first record of sequence 0 (R2)", (_entry(0, b"z"),), (), 0, None),
    ]
    if cp + 4 <= _SEQUENCE_MAX:
        cases += [
            ("a first record at checkpoint + 2 (R3)", (_entry(cp + 2, b"f"),), (), 0, None),
            ("a first record at checkpoint + 1 (R3)", (_entry(cp + 1, b"f"),), (cp + 1,), 49, None),
            (
                "a damaged first entry, then sequence 1 marked: no R7 proof",
                (_entry(cp + 1, b"d", damaged=True), _entry(1, b"p", marked=True)),
                (),
                0,
                None,
            ),
            (
                "a damaged first entry, then checkpoint + 3 marked: no R7 proof",
                (_entry(cp + 1, b"d", damaged=True), _entry(cp + 3, b"p", marked=True)),
                (),
                0,
                None,
            ),
            (
                "a damaged first entry, then checkpoint + 2 marked: R7 proof",
                (_entry(cp + 1, b"d", damaged=True), _entry(cp + 2, b"p", marked=True)),
                (),
                0,
                0,
            ),
            (
                "a damaged first entry, then checkpoint + 2 unmarked and + 3 marked: R7 proof",
                (
                    _entry(cp + 1, b"d", damaged=True),
                    _entry(cp + 2, b"q"),
                    _entry(cp + 3, b"p", marked=True),
                ),
                (),
                0,
                0,
            ),
            (
                "a damaged first entry, then checkpoint + 2 unmarked and + 2 again marked: no R7 proof",
                (
                    _entry(cp + 1, b"d", damaged=True),
                    _entry(cp + 2, b"q"),
                    _entry(cp + 2, b"p", marked=True),
                ),
                (),
                0,
                None,
            ),
            (
                "a damaged second entry, then a gap, marked: no R7 proof",
                (_entry(cp + 1, b"a"), _entry(cp + 2, b"d", damaged=True), _entry(cp + 4, b"p", marked=True)),
                (cp + 1,),
                49,
                None,
            ),
            (
                "a damaged second entry, then its successor, marked: R7 proof",
                (_entry(cp + 1, b"a"), _entry(cp + 2, b"d", damaged=True), _entry(cp + 3, b"p", marked=True)),
                (cp + 1,),
                49,
                49,
            ),
        ]
    fill = size - 2 * 49 + 1  # a payload that ends the second entry at the region's end
    if fill >= 1 and cp + 2 <= _SEQUENCE_MAX:
        cases.append(
            (
                "a damaged first entry, then checkpoint + 2 unmarked to the region's end: no R7 proof",
                (_entry(cp + 1, b"d", damaged=True), _entry(cp + 2, b"e" * fill)),
                (),
                0,
                None,
            )
        )
    for how, entries, sequences, end, corruption_at in cases:
        data = image(*entries)
        if data is not None:
            yield Scan(how, data, sequences, end, corruption_at)


def _model_scan(data: bytes, cp: int) -> tuple[tuple[int, ...], int, int | None]:
    scanned = scan(Region.from_bytes(data), m.Design.FIXED, cp)
    if isinstance(scanned, WalError):
        return (), 0, scanned.offset
    found, end = scanned
    mutable = first_mutable(found)
    if mutable is not None:
        raise PredicateBlind(f"S2.1: model.wal.scan's records are not frozen values: {mutable}")
    return tuple(s.record.sequence for s in found), end, None


def _reference_scan(data: bytes, cp: int) -> tuple[tuple[int, ...], int, int | None]:
    try:
        found, end = scan_region(data, RefDesign.FIXED, cp)
    except WalCorruption as error:
        return (), 0, error.offset
    return tuple(s.sequence for s in found), end, None


def original_scan_answers() -> Iterator[tuple[str, object, object, object]]:
    """F3.4 on ORIGINAL, which tolerates nothing: an entry header memvid
    refuses where a sentinel would end the log, and the sentinel itself, in
    a region of 256 bytes: (what, the model's scan, the reference's, what
    F3.4 says), each scan as (sequences, end) or ("corruption", offset,
    reason). No machine writes these headers; a media fault could. Last,
    scan_region called with its defaults (S2.1: ORIGINAL, checkpoint 0), and
    FIXED with its checkpoint left to the default."""
    cases = (
        ("a sentinel (sequence 0, length 0)", _SENTINEL, ((), 0)),
        (
            "a zero-length entry with a sequence",
            struct.pack("<QI", 1, 0) + bytes(36),
            ("corruption", 0, _LENGTH),
        ),
        ("sequence 0 with a length", struct.pack("<QI", 0, 1) + bytes(36), ("corruption", 0, _CHECKSUM)),
    )
    for how, prefix, says in cases:
        data = prefix + bytes(256 - len(prefix))
        yield how, _model_scan_answer(data), _reference_scan_answer(data, RefDesign.ORIGINAL, 0), says
    # scan_region's defaults are memvid's scan of a fresh file (ORIGINAL,
    # checkpoint 0), as the tests and porters who call it bare rely on.
    record = _entry(1, b"x")
    data = record + bytes(256 - len(record))
    yield (
        "one record of sequence 1, scan_region's defaults",
        _model_scan_answer(data),
        _reference_scan_answer(data),
        ((1,), len(record)),
    )
    # FIXED with the checkpoint left to its default (0): a damaged first entry,
    # then sequence 3 marked, which no R7 proof reaches from checkpoint 0 (it
    # would from 1): a torn tail, the log empty.
    torn = _entry(1, b"x", damaged=True) + _entry(3, b"y", marked=True)
    data = torn + bytes(256 - len(torn))
    yield (
        "a damaged entry then sequence 3 marked, FIXED, scan_region's default checkpoint",
        _model_scan_answer(data, m.Design.FIXED),
        _reference_scan_answer(data, RefDesign.FIXED),
        ((), 0),
    )


def _model_scan_answer(data: bytes, design: m.Design = m.Design.ORIGINAL) -> object:
    scanned = scan(Region.from_bytes(data), design, 0)
    if isinstance(scanned, WalError):
        return ("corruption", scanned.offset, scanned.reason)
    return (tuple(s.record.sequence for s in scanned[0]), scanned[1])


def _reference_scan_answer(data: bytes, *design_and_checkpoint: Any) -> object:
    # The arguments passed on as given, so that a call without them takes
    # scan_region's own defaults (what the last cases of original_scan_answers ask).
    try:
        found, end = scan_region(data, *design_and_checkpoint)
    except WalCorruption as error:
        return ("corruption", error.offset, error.reason)
    return (tuple(s.sequence for s in found), end)


def placement_answers(size: int) -> Iterator[tuple[str, bool, bool]]:
    """The contracts' placement predicates (model/placement.py: G6, G1, D1 and
    the heads' shape as the contracts state them) asked at a region of
    ``size`` bytes' edges: (the question, the answer, what S7.1 says). The
    machines evaluate them only on writes and heads a FIXED run makes, where
    they answer "fine"."""
    s = size
    inside = placement.writes_inside
    yield "every byte of the region written", inside(((0, s),), s), True
    yield "no write", inside((), s), True
    yield "the last byte written", inside(((s - 1, 1),), s), True
    yield "a write one byte past the end", inside(((s - 1, 2),), s), False
    yield "a write at the end", inside(((s, 1),), s), False
    yield "a write before the start", inside(((-1, 1),), s), False
    yield "one of two writes past the end", inside(((0, 1), (s, 1)), s), False
    spare = placement.writes_spare_pending
    yield "nothing pending, everything written", spare(((0, s),), s, 0), True
    yield "everything pending, a byte written", spare(((0, 1),), s, s), False
    yield "everything pending, nothing written", spare((), s, s), True
    if s >= 2:
        yield "a write ending where the pending entry starts", spare(((s - 2, 1),), s, 1), True
        yield "a write into the pending entry", spare(((s - 2, 2),), s, 1), False
        yield "a write at the write head", spare(((s, 48),), s, 1), True
        yield "nothing pending, a write across the write head", spare(((0, s),), s // 2, 0), True
    heads = placement.valid_heads
    yield "a full region pending", heads(s, s, s), True
    yield "nothing pending at the end", heads(s, 0, s), True
    yield "the write head past the region", heads(s + 1, 0, s), False
    yield "more pending than written", heads(0, 1, s), False
    yield "negative pending", heads(0, -1, s), False
    yield "an empty region", heads(0, 0, 0), False
    unsafe = placement.leaves_unsafe_tail
    safe = placement.safe_end
    yield "an end at the region's end, all pending: unsafe tail", unsafe(s, s, s), False
    yield "an end at the region's end, not all pending: unsafe tail", unsafe(s, 0, s), True
    yield "an end past the region: safe", safe(s + 1, 0, s), False
    yield "an end before the region: safe", safe(-1, 0, s), False
    yield "an end at the region's end, all pending: safe", safe(s, s, s), True
    if s >= _HEADER:
        yield "48 bytes left: unsafe tail", unsafe(s - _HEADER, 0, s), False
        yield "47 bytes left: unsafe tail", unsafe(s - _HEADER + 1, 0, s), True
        yield "48 bytes left: safe", safe(s - _HEADER, 0, s), True


def decoding_answers(sequence: int) -> Iterator[tuple[str, bytes, tuple[int, bytes] | None]]:
    """F2, F3.4: the bytes of one entry and what ``decode_entry`` must make
    of them. Its callers hand it only entries whose length they have checked,
    so its own refusals of a zero length and of a wrong size are asked here."""
    payload = bytes([sequence & 0xFF]) + b"ab"
    whole = _entry(sequence, payload)
    yield "a record", whole, (sequence, payload)
    marked = _entry(sequence, payload, marked=True)
    yield "a marked record (the mark is not decoded)", marked, (sequence, payload)
    yield "a zero length", struct.pack("<QI", sequence, 0) + bytes(4) + blake3.blake3(b"").digest(), None
    # The digest is of the bytes there, so only the size can refuse them.
    tail = bytes(4) + blake3.blake3(payload).digest() + payload
    yield "a payload one byte short", struct.pack("<QI", sequence, len(payload) + 1) + tail, None
    yield "a payload one byte long", struct.pack("<QI", sequence, len(payload) - 1) + tail, None
    yield "a damaged payload", _entry(sequence, payload, damaged=True), None


def first_mutable(value: object, *, seen: set[int] | None = None) -> str | None:
    """R0's companion (S7): the model's values are frozen. Every dataclass
    instance in ``value`` (followed through fields, tuples and lists; of a
    tuple or list, its first three items, which are of one kind in the
    model) must refuse an assignment to its first field, as a frozen
    dataclass does. Returns the path to the first that accepts one, or None.
    States share their parts (a region's extents, a record's bytes) and
    ``walcheck explore`` keeps them in sets: a value that could change
    under them would change every state that holds it."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return None
    seen.add(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        if fields:
            name = fields[0].name
            try:
                setattr(value, name, getattr(value, name))
            except dataclasses.FrozenInstanceError:
                pass
            else:
                return f"{type(value).__name__} (its {name} could be assigned)"
        for field in fields:
            found = first_mutable(getattr(value, field.name), seen=seen)
            if found is not None:
                return f"{type(value).__name__}.{field.name}: {found}"
    elif isinstance(value, tuple | list):
        for item in value[:3]:
            found = first_mutable(item, seen=seen)
            if found is not None:
                return found
    return None


def region_answers(region: Region) -> Iterator[tuple[str, Region, bool]]:
    """R0 (S7): the region's map as it is, which tiles ``[0, size)``, and
    broken in each way ``well_formed`` must refuse: what is asked, the map,
    whether it is well formed."""
    yield "the region's map", region, True
    # No WAL has an empty region (S3.2), but Region's constructors must still
    # make one R0 allows: no extents at all, not one extent of nothing.
    yield "an empty region, zeroed", Region.zeroed(0), True
    yield "an empty region, from no bytes", Region.from_bytes(b""), True
    extents = region.extents
    if not extents:
        return
    first, last = extents[0], extents[-1]
    yield "the map one byte short of the region", replace(region, size=region.size + 1), False
    yield "the map one byte past the region", replace(region, size=region.size - 1), False
    yield (
        "an empty extent at the map's end",
        replace(region, extents=(*extents, replace(last, start=last.end))),
        False,
    )
    overshoot = replace(last, end=last.end + 1)
    back = replace(last, start=last.end + 1, end=last.end)
    yield (
        "the last extent a byte too long, then one ending a byte before it starts",
        replace(region, extents=(*extents[:-1], overshoot, back)),
        False,
    )
    yield (
        "a last byte mapped twice: an extent starting inside the one before it",
        replace(region, extents=(*extents, replace(last, start=last.end - 1))),
        False,
    )
    yield (
        "the first extent starting at 1",
        replace(region, extents=(replace(first, start=1), *extents[1:])),
        False,
    )
    if len(extents) > 1:
        yield "the first extent left out", replace(region, extents=extents[1:]), False


def _patterned(size: int) -> bytes:
    return bytes((3 + 7 * index) & 0xFF for index in range(size))


def region_operation_answers(region: Region) -> Iterator[tuple[str, bytes, bytes]]:
    """R0 (S7): the region map's operations commute with its bytes. Copies
    of sector-sized windows from a later version of the region whose extents
    start inside their sources (a write at 3 splits a whole-region extent, so
    the part after it starts at its source's offset 6), as model/crash.py
    takes a sector from a later version: what is asked, the map's answer,
    the answer on bytes."""
    size = region.size
    if size < 8:
        return
    mine = region.to_bytes()
    later = Region.from_bytes(_patterned(size)).write(3, Foreign(b"\x01\x02\x03"), 0, 3)
    later_bytes = later.to_bytes()
    yield "a later version's bytes", later_bytes, _patterned(3) + b"\x01\x02\x03" + _patterned(size)[6:]
    windows = {(0, size), (1, size - 1), (size // 2, size), (0, min(size, 512))}
    windows |= {(start, min(size, start + 512)) for start in range(512, size, 512)}
    for start, end in sorted(windows):
        copied = region.copy_from(later, start, end).to_bytes()
        yield (
            f"[{start}, {end}) copied from a later version",
            copied,
            mine[:start] + later_bytes[start:end] + mine[end:],
        )
        yield f"[{start}, {end}) read", region.read(start, end - start), mine[start:end]


def header_field_answers() -> Iterator[tuple[str, object, object]]:
    """F2.1, read side: each field of an entry header taken from its own bytes
    (sequence 0..8, length 8..12, reserved 12..16, digest 16..48, little-endian),
    on a header whose every byte differs, so that a field read one byte off
    shows; the fields spelled out here from F2.1. What is asked, the model's
    answer, what F2.1 says."""
    decoded = decode_entry_header(bytes(range(1, _HEADER + 1)))
    yield "the sequence of bytes 1..8", decoded.sequence, 0x0807060504030201
    yield "the length of bytes 9..12", decoded.length, 0x0C0B0A09
    yield "the reserved bytes 13..16", decoded.reserved, b"\x0d\x0e\x0f\x10"
    yield "the digest of bytes 17..48", decoded.digest, bytes(range(17, _HEADER + 1))


def original_head_answers(state: m.State) -> Iterator[tuple[str, bool, bool]]:
    """S7 (I5, ORIGINAL's shape): ``state`` as an ORIGINAL WAL, its head moved:
    ORIGINAL reduces its write head modulo the region, so a head at the
    region's end is not one of its states (nor one below 0), the last byte's
    is. What is asked, valid()'s answer, what S7 says."""
    wal = state.wal
    assert wal is not None
    size = wal.region_size
    original = replace(state, design=m.Design.ORIGINAL)
    for head, holds in ((size - 1, True), (size, False), (0, True), (-1, False)):
        yield (
            f"ORIGINAL's write head at {head} of {size}",
            valid(_with_wal(original, wal, write_head=head)),
            holds,
        )


def region_size_answers(state: m.State) -> Iterator[tuple[str, bool, bool]]:
    """S7 (I1, as valid() holds it of an open WAL): the WAL's own region size is
    the header's ``wal_size``. ``state`` with only the WAL's size moved by one
    either way, the disk left as it is: what is asked, valid()'s answer, what
    S7 says."""
    wal = state.wal
    assert wal is not None
    for size in (wal.region_size - 1, wal.region_size + 1):
        yield (
            f"the WAL's region_size {size}, the header's {wal.region_size}",
            valid(_with_wal(state, wal, region_size=size)),
            False,
        )


def provenance_answers(region: Region) -> Iterator[tuple[str, object, object]]:
    """R0 (S7) and S1.5: a record written whole over the region's map is read
    back by ``entry_at`` as itself, its ``append_index`` kept (the bytes alone
    would give -1, as for foreign bytes); and where the map's search for an
    extent picks the wrong one, that is what changes. What is asked, the
    model's answer, what R0 says."""
    record = m.Record(sequence=7, payload=b"abc", append_index=5)
    last = region.size - record.size
    for at in sorted({0, 1, last // 2, last} if last >= 1 else ()):
        written = region.write(at, record, 0, record.size)
        yield f"a record written whole at {at}, read back", entry_at(written, at), record


def check_the_checkers(state: m.State) -> int:
    """S7.1 on a FIXED state that keeps S7: every broken state is named
    exactly, every broken scan rejected by both sides alike. Returns how many
    answers were checked."""
    wal = state.wal
    if wal is None:
        return 0
    checked = 0
    for question, answer, says in placement_answers(wal.region_size):
        if answer is not says:
            raise PredicateBlind(f"{question}: model.placement answers {answer}, S7.1 says {says}")
        checked += 1
    for how, raw, record in decoding_answers(wal.sequence):
        mutable = first_mutable(decode_entry_header(raw[:_HEADER]))
        if mutable is not None:
            raise PredicateBlind(f"{how}: model.format.decode_entry_header's answer is not frozen: {mutable}")
        decoded = decode_entry(raw)
        if decoded != record:
            raise PredicateBlind(f"{how}: model.format.decode_entry answers {decoded}, F3.4 says {record}")
        checked += 1
    for how, field, f2_1_says in header_field_answers():
        if field != f2_1_says:
            raise PredicateBlind(
                f"{how}: model.format.decode_entry_header answers {field!r}, F2.1 says {f2_1_says!r}"
            )
        checked += 1
    for how, holds, s7_says in (*original_head_answers(state), *region_size_answers(state)):
        if holds is not s7_says:
            raise PredicateBlind(f"{how}: model.wal.valid is {holds}, S7 says {s7_says}")
        checked += 1
    closed = violated(replace(state, wal=None))
    if closed:
        raise PredicateBlind(f"the state closed: violated() names {tuple(closed)}, S7 names nothing")
    checked += 1
    for how, region_map, holds in region_answers(state.disk.region):
        if region_map.well_formed() is not holds:
            raise PredicateBlind(f"{how}: Region.well_formed is {not holds}, R0 says {holds}")
        checked += 1
    for how, model_scan, reference_scan, f3_4_says in original_scan_answers():
        if model_scan != f3_4_says or reference_scan != f3_4_says:
            raise PredicateBlind(
                f"{how}: the scan answers {model_scan} (model), {reference_scan} (reference);"
                f" F3.4 says {f3_4_says}"
            )
        checked += 1
    for how, from_map, from_bytes in region_operation_answers(state.disk.region):
        if from_map != from_bytes:
            raise PredicateBlind(
                f"{how}: the region map answers {from_map[:64]!r}..., its bytes say {from_bytes[:64]!r}..."
            )
        checked += 1
    for how, read_back, written in provenance_answers(state.disk.region):
        if read_back != written:
            raise PredicateBlind(f"{how}: model.wal.entry_at answers {read_back}, R0 says {written}")
        checked += 1
    for broken in broken_states(state):
        named = tuple(violated(broken.state))
        if named != broken.invariants:
            raise PredicateBlind(f"{broken.how}: violated() names {named}, S7 says {broken.invariants}")
        if valid(broken.state) is not broken.valid:
            raise PredicateBlind(
                f"{broken.how}: model.wal.valid is {not broken.valid}, S7.1 says {broken.valid}"
            )
        checked += 1
    # The cases' prefixes and sentinels take at most 195 bytes: past them the
    # region's bytes cannot change an answer, so a large region is not copied whole.
    region = state.disk.region.read(0, min(wal.region_size, 256))
    for case in broken_scans(region, wal.checkpoint_sequence):
        # A corruption is the scan's whole answer: no records, no end.
        expected = (
            (case.sequences, case.end, None) if case.corruption_at is None else ((), 0, case.corruption_at)
        )
        model_answer = _model_scan(case.data, wal.checkpoint_sequence)
        reference_answer = _reference_scan(case.data, wal.checkpoint_sequence)
        if model_answer != expected or reference_answer != expected:
            raise PredicateBlind(
                f"{case.how}: (sequences, end, corruption offset) model {model_answer},"
                f" reference {reference_answer}, faults.md says {expected}"
            )
        checked += 1
    return checked
