"""Damaged files, model and reference side by side: the refusals of the open.

A copy of the machine's file is damaged as spec/format.md and
spec/semantics.md S3.2 say a file can be, and opened as memvid opens it (the
header read, then ``EmbeddedWal.open``); the refusal, kind and reason, must be
the spec's and the model's. The machine's own file is not touched, so nothing
needs restoring and the rules cost one open of a copy each:

- ``open_damaged_header``: header fields of F1.1 made bad, one or several
  (F1.3: the first failing check in its order decides), or the file cut
  inside its header (F1.3: the header's read fails first); and S3.2's own
  check of ``wal_size``, on a caller's header that says 0;
- ``open_short_file``: the file cut inside its region, or its header's
  ``wal_size`` past the file's end (S3.2): FIXED refuses at once, ORIGINAL
  reads entry by entry and fails at the first read past the end, or opens
  and lengthens the file; the model (``file_end``) must do the same.

F1.3's offsets, values and reasons are spelled out here rather than imported
from reference/header.py, so that a wrong constant there is caught rather than
shared by the check.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

import model as m
from reference import Design as RefDesign
from reference import (
    EmbeddedWal,
    FileStorage,
    Header,
    MemoryStorage,
    decode_header,
    encode_header,
    read_header,
)
from walcheck import figures
from walcheck.sidebyside.machines import (
    CANARY,
    Divergence,
    Result,
    WalMachineBase,
    _agree,
    _model_result,
    _records,
    _reference_result,
)

# F1.1 and F1.3, from the spec: each checked field's bytes, and the reason of
# the check that refuses it, in F1.3's order.
_HEADER_SIZE = 4096
_REGION_OFFSET = 4096
_ENTRY_HEADER_SIZE = 48  # F2.1
_LEGACY_LOCK_START, _LEGACY_LOCK_END = 80, 140  # F1.2
_SHORT_READ = ("Io", "failed to fill whole buffer")  # F1.3: the header's read, S3.2
_TRUNCATED = ("InvalidHeader", "header truncated")  # F1.3: memvid's decoder on fewer bytes
_WAL_SIZE_ZERO = ("InvalidHeader", "wal_size must be non-zero")  # F1.3 check 5, S3.2
_CHECKS: tuple[tuple[str, int, int, str], ...] = (
    # field, offset, size, reason
    ("magic", 0, 4, "magic mismatch"),
    ("version", 4, 2, "unsupported version"),
    ("spec_major", 6, 1, "spec byte mismatch"),
    ("spec_minor", 7, 1, "spec byte mismatch"),
    ("wal_offset", 16, 8, "wal_offset precedes data region"),
    ("wal_size", 24, 8, "wal_size must be non-zero"),
)
_GOOD = {"magic": b"MV2\x00", "version": bytes((0x01, 0x02)), "spec_major": b"\x02", "spec_minor": b"\x01"}


def _bad_value(field: str, size: int) -> st.SearchStrategy[bytes]:
    """Bytes that fail ``field``'s check of F1.3."""
    if field == "wal_offset":
        return st.one_of(st.just(_REGION_OFFSET - 1), st.integers(0, _REGION_OFFSET - 1)).map(
            lambda offset: offset.to_bytes(8, "little")
        )
    if field == "wal_size":
        return st.just(bytes(8))
    good = _GOOD[field]
    return st.binary(min_size=size, max_size=size).filter(lambda value: value != good)


@dataclass(frozen=True)
class HeaderDamage:
    """Bad values for some of F1.3's fields, or the file cut at ``cut`` (< 4096)."""

    fields: tuple[tuple[str, bytes], ...]
    cut: int | None

    def expected(self) -> tuple[str, str]:
        if self.cut is not None:
            return _SHORT_READ
        damaged = {field for field, _ in self.fields}
        return next(("InvalidHeader", reason) for field, _, _, reason in _CHECKS if field in damaged)


@st.composite
def header_damages(draw: st.DrawFn) -> list[HeaderDamage]:
    """Every check of F1.3 at once: each field made bad alone, one pair (the
    earlier check decides), and the file cut inside its header."""
    bad = {field: draw(_bad_value(field, size)) for field, _, size, _ in _CHECKS}
    first, second = sorted(
        draw(st.lists(st.sampled_from(range(len(_CHECKS))), min_size=2, max_size=2, unique=True))
    )
    cut = draw(st.one_of(st.just(_HEADER_SIZE - 1), st.integers(0, _HEADER_SIZE - 1)))
    return [
        *(HeaderDamage(((field, value),), None) for field, value in bad.items()),
        HeaderDamage(tuple((_CHECKS[i][0], bad[_CHECKS[i][0]]) for i in (first, second)), None),
        HeaderDamage((), cut),
    ]


def _memvid_open(storage: MemoryStorage, design: RefDesign) -> EmbeddedWal:
    """memvid's open: the header read (F1.2, F1.3), then the WAL's (S3.2)."""
    return EmbeddedWal.open(storage, read_header(storage), design=design)


def _error(result: Result) -> tuple[str, str] | None:
    return None if result.error is None else (result.error[0], result.error[1])


class DamagedFileRules(WalMachineBase):
    """The two rules, for a machine built by ``build_machine``."""

    def _closed_state(self) -> m.State:
        assert self.state is not None
        return m.close_wal(self.state) if self.state.wal is not None else self.state

    @precondition(lambda self: self.state is not None)
    @rule(damages=header_damages())
    def open_damaged_header(self, damages: list[HeaderDamage]) -> None:
        """F1.3 and S3.2's refusals, each on a copy of the file with one of ``damages``."""
        snapshot = self._snapshot()
        for damage in damages:
            self._open_with(damage, bytearray(snapshot))
        self._read_only_file_keeps_its_lock_bytes(snapshot)

    def _read_only_file_keeps_its_lock_bytes(self, snapshot: bytes) -> None:
        """F1.2: legacy lock bytes in a file opened read-only: the header's
        read must write to clear them and cannot (EBADF), so it fails with an
        I/O error and the file keeps its bytes."""
        older = bytearray(snapshot)
        older[_LEGACY_LOCK_START:_LEGACY_LOCK_END] = bytes([0x5A]) * (_LEGACY_LOCK_END - _LEGACY_LOCK_START)
        path = os.path.join(self.directory, "older.mv2")
        with open(path, "wb") as file:
            file.write(older)
        with FileStorage(path, read_only=True) as storage:
            refused = _reference_result(lambda: read_header(storage))
        _agree("F1.2: the header read of a read-only file with lock bytes", (refused.error or ("",))[0], "Io")
        with open(path, "rb") as file:
            _agree("F1.2: a refused read leaves the file as it was", file.read() == older, True)

    def _open_with(self, damage: HeaderDamage, image: bytearray) -> None:
        if damage.cut is not None:
            del image[damage.cut :]
            # The reference's decoder on its own, given what the cut file holds.
            decoded = _reference_result(lambda: decode_header(bytes(image)))
            _agree("F1.3: decoding a cut header", _error(decoded), _TRUNCATED)
        for field, value in damage.fields:
            offset = next(start for name, start, _, _ in _CHECKS if name == field)
            image[offset : offset + len(value)] = value
        ref = _reference_result(lambda: _memvid_open(MemoryStorage(bytes(image)), self.ref_design))
        _agree(f"F1.3: the open of a file with {damage}", _error(ref), damage.expected())
        if damage.expected() == _WAL_SIZE_ZERO:
            self._wal_size_zero_refused_by_the_model()
        if damage.fields:
            self._encode_refuses(damage)
        self.counters[figures.DAMAGED_HEADERS_REFUSED] += 1

    @staticmethod
    def _encode_refuses(damage: HeaderDamage) -> None:
        """F1.4: the encoder checks magic, version, wal_offset, wal_size in that
        order, with F1.3's reasons, and not the spec bytes (it writes its own)."""
        values = {field: value for field, value in damage.fields}
        header = Header(
            wal_size=int.from_bytes(values.get("wal_size", (1).to_bytes(8, "little")), "little"),
            wal_offset=int.from_bytes(
                values.get("wal_offset", _REGION_OFFSET.to_bytes(8, "little")), "little"
            ),
            magic=values.get("magic", _GOOD["magic"]),
            version=int.from_bytes(values.get("version", _GOOD["version"]), "little"),
        )
        refused = next(
            (
                ("InvalidHeader", reason)
                for field, _, _, reason in _CHECKS
                if field in values and "spec" not in field
            ),
            None,
        )
        _agree(
            f"F1.4: encoding a header with {damage}",
            _error(_reference_result(lambda: encode_header(header))),
            refused,
        )

    def _wal_size_zero_refused_by_the_model(self) -> None:
        """S3.2: the model's open of a header saying 0, and the reference's WAL
        given a caller's header that says 0 (its own check, past F1.3's)."""
        closed = self._closed_state()
        zero = dataclasses.replace(closed.disk.header, wal_size=0)
        _, refused = m.open_wal(
            dataclasses.replace(closed, disk=dataclasses.replace(closed.disk, header=zero))
        )
        _agree("S3.2: the model's open of wal_size 0", _error(_model_result(refused)), _WAL_SIZE_ZERO)
        storage = MemoryStorage(self._snapshot())
        header = dataclasses.replace(read_header(storage), wal_size=0)
        ref = _reference_result(lambda: EmbeddedWal.open(storage, header, design=self.ref_design))
        _agree("S3.2: the WAL's open of a caller's header with wal_size 0", _error(ref), _WAL_SIZE_ZERO)

    @precondition(lambda self: self._writable())
    @rule(zeros=st.integers(1, 8))
    def append_ending_in_zeros(self, zeros: int) -> None:
        """A record whose payload ends in ``zeros`` zero bytes, for
        ``open_short_file`` to cut inside them: the bytes a short file lacks
        read as zeros in the model (S3.2), so such a cut leaves the record's
        checksum intact there, and only the rule that the payload's read
        passes the file's end makes ORIGINAL refuse it as memvid does."""
        self._append_both(b"z" + bytes(zeros))

    @precondition(lambda self: self.state is not None)
    @rule(cut=st.integers(0, 511))
    def open_short_file(self, cut: int) -> None:
        """S3.2 on copies of the file: cut at each edge the scan's reads part
        at (``_edges``) and at ``cut`` inside the log and its sentinel; the same
        cuts with the header's ``wal_size`` 1 to 47 bytes past the cut (a region
        end a 48-byte read cannot reach); and ``wal_size`` ``cut`` + 1 bytes past
        the file's end. Both sides open each writable: the same refusal, or the
        same records and, after one more append, the same bytes and length."""
        closed = self._closed_state()
        size = closed.disk.header.wal_size
        image = self._snapshot()
        edges = self._edges(closed)
        cuts = sorted({*edges, cut % min(size, max(edges) + 1)})
        for keep in cuts:
            self._open_short(m.truncate_file(closed, keep), image[: _REGION_OFFSET + keep], cut)
            region = m.Region.from_bytes(closed.disk.region.to_bytes()[:keep])
            self._open_past(closed, image, region, keep, keep + 1 + cut % (_ENTRY_HEADER_SIZE - 1), cut)
        # The file holds the region, then S9.12's bytes after it, then ends.
        file_end = size + len(CANARY)
        new_size = file_end + 1 + cut
        region = closed.disk.region.grown(new_size).write(size, m.Foreign(CANARY), 0, len(CANARY))
        self._open_past(closed, image, region, file_end, new_size, cut)

    def _open_past(
        self, closed: m.State, image: bytes, held: m.Region, file_end: int, new_size: int, cut: int
    ) -> None:
        """The file ending at region position ``file_end`` (holding ``held``),
        its header's ``wal_size`` ``new_size``."""
        header = dataclasses.replace(closed.disk.header, wal_size=new_size)
        region = held.grown(new_size)
        disk = dataclasses.replace(
            closed.disk, header=header, region=region, durable_region=region, unsynced=(), file_end=file_end
        )
        copy = bytearray(image[: _REGION_OFFSET + file_end])
        copy[24:32] = new_size.to_bytes(8, "little")  # F1.1: wal_size
        self._open_short(dataclasses.replace(closed, disk=disk, caller_header=header), bytes(copy), cut)

    def _open_short(self, state: m.State, image: bytes, cut: int) -> None:
        storage = MemoryStorage(image)
        ref = _reference_result(lambda: _memvid_open(storage, self.ref_design))
        state, refused = m.open_wal(state)
        _agree("S3.2: the open of a short file", ref.error, _model_result(refused).error)
        self.counters[figures.SHORT_FILES_OPENED if ref.error is None else figures.SHORT_FILES_REFUSED] += 1
        if ref.error is not None:
            return
        wal = ref.value
        assert isinstance(wal, EmbeddedWal)
        state, records = m.pending_records(state)
        _agree(
            "S3.2: a short file's pending records",
            _reference_result(lambda: _records(wal.pending_records())),
            _model_result(records if isinstance(records, m.WalError) else _records(records)),
        )
        payload = b"short" * (1 + cut % 7)
        appended = _reference_result(lambda: wal.append_entry(payload))
        state, sequence = m.append_entry(state, payload)
        _agree("S3.2: an append to a short file", appended, _model_result(sequence))
        self._short_file_bytes_agree(storage, state)

    @staticmethod
    def _edges(closed: m.State) -> list[int]:
        """The region positions the scan's reads part at, below the region's
        size: each record's start, its entry header's last byte, its payload's
        first and last byte; the sentinel's start, last byte and end (just
        position 0 when the model's scan refuses the region)."""
        size = closed.disk.header.wal_size
        scanned = m.scan(closed.disk.region, closed.design, closed.disk.header.wal_sequence)
        if isinstance(scanned, m.WalError):
            return [0]
        found, end = scanned
        edges = [end, end + _ENTRY_HEADER_SIZE - 1, end + _ENTRY_HEADER_SIZE]
        for entry in found:
            start, payload = entry.position, entry.position + _ENTRY_HEADER_SIZE
            edges += [start, payload - 1, payload, start + entry.total_size - 1]
        return [edge for edge in edges if edge < size]

    @staticmethod
    def _short_file_bytes_agree(storage: MemoryStorage, state: m.State) -> None:
        """S3.2: the file's length (the model's ``file_end``) and its region bytes."""
        file_end = state.disk.file_end
        region_bytes = state.disk.region.to_bytes()
        length = len(storage.data) - _REGION_OFFSET
        expected = len(region_bytes) if file_end is None else file_end
        if state.disk.bytes_written_outside_region:
            # D3: ORIGINAL's sentinel ran past the region; the model counts those
            # bytes (G6) but keeps no file past the region's end.
            length, expected = min(length, len(region_bytes)), min(expected, len(region_bytes))
        _agree("S3.2: a short file's length after the open and an append", length, expected)
        held = min(length, len(region_bytes))
        if bytes(storage.data[_REGION_OFFSET : _REGION_OFFSET + held]) != region_bytes[:held]:
            raise Divergence("S3.2: a short file's region bytes differ after the open and an append")
