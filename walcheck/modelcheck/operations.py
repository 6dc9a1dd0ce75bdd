"""The operations of ``walcheck explore`` on a model state and a copy of the
oracle: each runs one of memvid's calls (or composite actions, model/caller.py)
on the model, feeds the oracle what the caller was told, and fills in the step
taken (its result, and the evidence of catalogued mechanisms it shows); a
broken guarantee raises ``Broken``. Also the crash images a state allows,
described, and memvid's restart on one (``recover``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import model as m
from model import caller
from model.crash import SECTOR_SIZE, power_loss_regions
from model.format import WAL_OFFSET
from walcheck.modelcheck.checks import (
    Broken,
    append_evidence,
    image_evidence,
    located,
    oracle_check,
    pairs,
    pending_on_open,
)
from walcheck.modelcheck.report import StepBuilder
from walcheck.oracle import Oracle
from walcheck.trace import payload_for


def wal_of(state: m.State) -> m.Volatile:
    assert state.wal is not None
    return state.wal


def _shown(records: Sequence[tuple[int, bytes]]) -> str:
    return "[" + ", ".join(f"{s}:{len(p)}B" for s, p in records) + "]"


def append(state: m.State, oracle: Oracle, payload: bytes, step: StepBuilder) -> m.State:
    before = wal_of(state)
    after, outcome = m.append_entry(state, payload)
    if isinstance(outcome, m.WalError):
        step.result = f"refused: {outcome.reason}"
        return after
    append_evidence(before, payload, outcome, step)
    synced = not before.skip_sync
    step.result = f"sequence {outcome}" + ("" if synced else ", not synced")
    oracle_check(lambda: oracle.on_append(outcome, payload, synced=synced))
    return after


def commit_stages(state: m.State) -> caller.Commit:
    """memvid's commit (model/caller.py); a commit that cannot read the WAL is G5."""
    done = caller.commit(state)
    if isinstance(done.pending, m.WalError):
        pending = done.pending
        raise Broken("G5", f"commit cannot read the WAL: {pending.reason} at offset {pending.offset}")
    # Only a read-only WAL refuses record_checkpoint, and explore opens for writing.
    assert done.committed is not None, done.checkpoint_error
    return done


def commit(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    done = commit_stages(state)
    assert done.committed is not None and done.applied is not None
    state, records = done.committed, pairs(done.applied)
    oracle_check(lambda: oracle.on_commit(records))
    step.result = f"applied {_shown(records)}, checkpoint {state.disk.header.wal_sequence}"
    return state


def reopen(state: m.State, step: StepBuilder) -> m.State:
    opened, error = m.open_wal(m.close_wal(state))
    if error is not None:
        raise Broken("G5", f"reopen failed: {error.reason} at offset {error.offset}")
    step.result = f"sequence {wal_of(opened).sequence}, {wal_of(opened).pending_bytes} bytes pending"
    return opened


def pending(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    state, pending = m.pending_records(state)
    if isinstance(pending, m.WalError):
        raise Broken("G5", f"pending_records failed: {pending.reason} at offset {pending.offset}")
    records = pairs(pending)
    step.result = _shown(records)
    oracle_check(lambda: oracle.check_pending(records, "pending_records"))
    return state


def records_after(state: m.State, oracle: Oracle, after: int, step: StepBuilder) -> m.State:
    state, found = m.records_after(state, after)
    if isinstance(found, m.WalError):
        raise Broken("G5", f"records_after({after}) failed: {found.reason} at offset {found.offset}")
    records = pairs(found)
    step.result = _shown(records)
    oracle_check(lambda: oracle.check_records_after(after, records))
    return state


def grow(state: m.State, new_size: int, step: StepBuilder) -> m.State:
    grown, error = m.grow_region(state, new_size)
    if error is not None:
        raise Broken("G5", f"the reopen after growth failed: {error.reason} at offset {error.offset}")
    step.result = f"region {new_size} bytes"
    return grown


def staged_commit(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    """memvid's commit() (S9.1): the copy, committed, renamed over the file."""
    done = caller.staged_commit(state)
    if done.error is not None:
        raise Broken("G5", f"commit cannot read the WAL: {done.error.reason} at offset {done.error.offset}")
    assert done.applied is not None
    records = pairs(done.applied)
    oracle_check(lambda: oracle.on_commit(records))
    step.result = (
        f"applied {_shown(records)} on a copy, renamed over; checkpoint {done.state.disk.header.wal_sequence}"
    )
    return done.state


def open_with_recovery(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    """memvid's writable open (S9.2): close, open, apply what is pending."""
    recovery = caller.recover_at_open(m.close_wal(state))
    if recovery.error is not None:
        raise Broken(
            "G5", f"the open cannot recover: {recovery.error.reason} at offset {recovery.error.offset}"
        )
    records = pairs(recovery.records or [])
    if records:
        oracle_check(lambda: oracle.on_commit(records))
    step.result = f"applied {_shown(records)}" + (" in place" if recovery.in_place is not None else "")
    return recovery.state


def grow_caller(state: m.State, new_size: int, step: StepBuilder) -> m.State:
    grown = caller.grow(state, new_size).state
    step.result = f"region {new_size} bytes" + (
        ", built beside and renamed over" if state.design is m.Design.FIXED else ", in place"
    )
    return grown


def doctor(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    """memvid's doctor on the file as it is (S9.9), then the memory opened again."""
    before = state.disk.header.wal_sequence
    done = caller.doctor(m.close_wal(state))
    opened, error = m.open_wal(done.state)
    if error is not None:
        raise Broken("G5", f"the file does not open after the doctor: {error.reason}")
    records = pairs(done.applied)
    if records:
        oracle_check(lambda: oracle.on_commit(records))
    after = done.state.disk.header.wal_sequence
    if after < max(before, oracle.last_sequence):
        step.seen(
            "M3", f"the doctor wrote wal_sequence {after}; sequences up to {oracle.last_sequence} were issued"
        )
    step.result = f"applied {_shown(records)}, wal_sequence {after}"
    return opened


def end_batch(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    oracle.on_flush()
    step.result = "flushed; appends sync again"
    return caller.end_batch(state)


def growth_loses_zeros(image: m.Disk, before: m.State) -> str:
    """M4's evidence: a crash image of an in-place growth with the new size and
    what lay after the region still in the new part."""
    old_size, new_size = before.disk.header.wal_size, image.header.wal_size
    if new_size == old_size or image.region.read(old_size, new_size - old_size) == bytes(new_size - old_size):
        return ""
    scanned = m.scan(image.region, before.design, image.header.wal_sequence)
    if not isinstance(scanned, m.WalError) and scanned[1] <= old_size:
        return ""  # a sentinel ends the log before the new part: nothing reads the data there
    return (
        f"the header names a {image.header.wal_size}-byte region; "
        "its new part still holds the data that lay after the old one"
    )


def describe_image(image: bytes, durable: bytes, current: bytes) -> str:
    """Which version of each 512-byte sector (model/crash.py) the image holds,
    for the sectors the unsynced writes changed."""
    if image == current:
        return "every write kept"
    if image == durable:
        return "every unsynced write lost"
    parts: list[str] = []
    first = WAL_OFFSET // SECTOR_SIZE
    last = (WAL_OFFSET + len(current) - 1) // SECTOR_SIZE
    for sector in range(first, last + 1):
        start = max(0, sector * SECTOR_SIZE - WAL_OFFSET)
        end = min(len(current), start + SECTOR_SIZE)
        if current[start:end] == durable[start:end]:
            continue
        if image[start:end] == current[start:end]:
            version = "as written"
        elif image[start:end] == durable[start:end]:
            version = "as last synced"
        else:
            version = "an earlier unsynced version"
        parts.append(f"region [{start},{end}) {version}")
    return "; ".join(parts)


def recover(
    before: m.State,
    oracle: Oracle,
    header: m.HeaderFields,
    image: m.Region,
    written: m.Region,
    step: StepBuilder,
    probe_size: int,
    conditions: Counter[str],
) -> m.State:
    """memvid restarting on a crash image: recovery must open it (G5) and
    return every acknowledged unapplied record and nothing else (G1, G2:
    ``Oracle.check_after_crash``); the first append after it must take the
    next sequence (G3, G4: ``check_next_sequence``, probed on a copy). The
    explored successor is the image opened for writing, the oracle restarted
    on what it recovered (``restart_after_crash``)."""
    design = before.design
    for condition in image_evidence(image, written, header, step):
        conditions[condition] += 1
    closed = caller.restart(design, caller.crash_image(header, image))
    where = "recovery after the crash"
    records = pending_on_open(closed, where)
    checkpoint = header.wal_sequence
    oracle_check(lambda: oracle.check_after_crash(records, checkpoint, where))
    opened, error = m.open_wal(closed)
    if error is not None:
        raise Broken("G5", f"after the crash the WAL cannot be opened for writing: {error.reason}")
    step.result = f"recovered {_shown(records)}"
    if probe_size > 0:
        _, sequence = m.append_entry(opened, payload_for(oracle.last_sequence + 1, probe_size))
        if not isinstance(sequence, m.WalError):
            append_evidence(wal_of(opened), b"probe", sequence, step)
            step.result += f", next append gets {sequence}"
            oracle_check(lambda: oracle.check_next_sequence(sequence, records, checkpoint, "after the crash"))
    oracle.restart_after_crash(records, checkpoint)
    return replace(opened, appends_total=before.appends_total)


def distinct_images(disk: m.Disk) -> list[tuple[bytes, m.Region]]:
    """Every region a power loss can leave (model/crash.py), once per distinct bytes."""
    images: dict[bytes, m.Region] = {}
    for region in power_loss_regions(disk):
        images.setdefault(region.to_bytes(), region)
    return list(images.items())


def erased_by_checkpoint(before: m.State, inside: m.State) -> str:
    """Evidence of a mechanism spec/defects.md does not catalogue: the writes
    of memvid's commit before its header write (pending_records' and
    record_checkpoint's sentinels) took pending records out of the log while
    the header on disk does not cover them yet."""
    checkpoint = wal_of(before).checkpoint_sequence
    was = m.scan(before.disk.region, before.design, checkpoint)
    now = m.scan(inside.disk.region, before.design, checkpoint)
    if isinstance(was, m.WalError) or isinstance(now, m.WalError):
        return ""
    kept = {located(s) for s in now[0]}
    gone = [s.record.sequence for s in was[0] if s.record.sequence > checkpoint and located(s) not in kept]
    if not gone:
        return ""
    return (
        f"the commit's sentinel took pending records {gone} out of the log before the header that "
        f"covers them was written (write head {wal_of(inside).checkpoint_head})"
    )


def power_loss_images(disk: m.Disk, *, keep_current: bool) -> list[tuple[str, m.Region]]:
    """The distinct regions a power loss can leave, described; the current view
    (what a process kill keeps) only if ``keep_current``."""
    current = disk.region.to_bytes()
    durable = disk.durable_region.to_bytes()
    images = [(data, region) for data, region in distinct_images(disk) if data != current]
    if keep_current:
        images.insert(0, (current, disk.region))
    return [
        (f"image {number} of {len(images)}: {describe_image(data, durable, current)}", region)
        for number, (data, region) in enumerate(images, start=1)
    ]


def flush(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    oracle.on_flush()
    step.result = "everything synced"
    return m.flush(state)
