//! `EmbeddedWal`, FIXED (spec/semantics.md S3, spec/faults.md R1-R8).

use std::fs::File;
use std::io;

use crate::constants::{WAL_CHECKPOINT_PERIOD, WAL_CHECKPOINT_THRESHOLD};
use crate::error::{MemvidError, Result};
use crate::types::Header;

/// F2.1: sequence u64, length u32, 4 reserved bytes, blake3-256 of the payload.
pub const ENTRY_HEADER_SIZE: u64 = 8 + 4 + 4 + 32;
const HEADER_LEN: usize = 48;
/// How much of the region a read at open asks for at a time (the streaming
/// scan, R8's look for bytes after the log).
const READ_CHUNK: usize = 1 << 20;
/// F2.1, D6: the reserved bytes of a record written while every byte of the
/// region before it was durable (R7). Anything else makes no claim.
pub const SYNCED_BEFORE_MARK: [u8; 4] = *b"SYNC";

const REASON_WAL_SIZE_ZERO: &str = "wal_size must be non-zero";
const REASON_READ_ONLY: &str = "wal is read-only; reopen memory with write access";
const REASON_PAYLOAD_TOO_LARGE: &str = "WAL payload too large";
const REASON_PAYLOAD_EMPTY: &str = "WAL payload empty"; // D4
const REASON_SEQUENCE_EXHAUSTED: &str = "WAL sequence exhausted"; // D2
const REASON_TOO_SMALL: &str = "embedded WAL region too small for entry";
const REASON_FULL: &str = "embedded WAL region full";
const REASON_LENGTH_INVALID: &str = "wal record length invalid";
const REASON_CHECKSUM: &str = "wal record checksum mismatch";
const REASON_SEQUENCE_BREAK: &str = "wal record sequence out of order"; // R5, R7
const REASON_SHORT_READ: &str = "failed to fill whole buffer";
const REASON_STORAGE_FAILED: &str =
    "an earlier write or sync of the WAL failed; reopen the WAL before writing again"; // R6

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalStats {
    pub region_size: u64,
    pub pending_bytes: u64,
    pub appends_since_checkpoint: u64,
    pub sequence: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    pub sequence: u64,
    pub payload: Vec<u8>,
}

/// What a scan does with an entry that breaks the log (R5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// R1, R2: a torn tail or a leftover of an earlier pass ends the log,
    /// unless a later marked record proves the break is damage (R7).
    #[default]
    TolerateTornTail,
    /// `WalCorruption` at the first invalid entry or sequence break: for
    /// checking a file that was closed cleanly.
    Strict,
}

/// The volatile fields of S1.2, for tests and conformance drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolatileState {
    pub write_head: u64,
    pub checkpoint_head: u64,
    pub pending_bytes: u64,
    pub sequence: u64,
    pub checkpoint_sequence: u64,
    pub appends_since_checkpoint: u64,
}

#[derive(Debug)]
pub struct EmbeddedWal {
    file: File,
    region_offset: u64,
    region_size: u64,
    /// In `[0, region_size]`: `region_size` means "used up to the end; the next
    /// append wraps" (D1), never reduced modulo the size.
    write_head: u64,
    checkpoint_head: u64,
    pending_bytes: u64,
    sequence: u64,
    checkpoint_sequence: u64,
    appends_since_checkpoint: u64,
    read_only: bool,
    skip_sync: bool,
    recovery: Recovery,
    /// R6: a write or sync failed; nothing more is acknowledged until a reopen.
    storage_failed: bool,
    /// R7: nothing was written below the write head since the last sync, so
    /// every byte before the next record is durable; the next record says so.
    synced_below_head: bool,
}

/// A record the scan accepted, by where it lies in the region buffer.
#[derive(Debug, Clone, Copy)]
struct Found {
    position: usize,
    sequence: u64,
    length: usize,
    marked: bool,
}

impl Found {
    fn size(&self) -> u64 {
        ENTRY_HEADER_SIZE + self.length as u64
    }

    fn end(&self) -> usize {
        self.position + HEADER_LEN + self.length
    }
}

/// F3.4: what lies at a cursor.
enum Entry {
    Sentinel,
    /// Rows C1 (no end: the length is out of bounds) and C2.
    Invalid {
        reason: &'static str,
        end: Option<usize>,
    },
    Record(Found),
}

fn entry_at(region: &[u8], cursor: usize) -> Entry {
    let header = &region[cursor..cursor + HEADER_LEN];
    let sequence = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
    let length = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
    if sequence == 0 && length == 0 {
        return Entry::Sentinel;
    }
    let start = cursor + HEADER_LEN;
    if length == 0 || length > region.len() - start {
        return Entry::Invalid { reason: REASON_LENGTH_INVALID, end: None };
    }
    let end = start + length;
    if blake3::hash(&region[start..end]).as_bytes() != &header[16..48] {
        return Entry::Invalid { reason: REASON_CHECKSUM, end: Some(end) };
    }
    Entry::Record(Found { position: cursor, sequence, length, marked: header[12..16] == SYNCED_BEFORE_MARK })
}

/// R2, R3: may a record with `sequence` follow `previous` (None: it is the
/// region's first record)? Otherwise it is a leftover of an earlier pass.
fn continues_log(previous: Option<u64>, sequence: u64, checkpoint_sequence: u64) -> bool {
    match previous {
        _ if sequence == 0 => false,
        None => u128::from(sequence) <= u128::from(checkpoint_sequence) + 1,
        Some(previous) => u128::from(sequence) == u128::from(previous) + 1,
    }
}

/// R7: the broken entry that ends at `position` takes the sequence after
/// `previous` (as the first entry, at most `checkpoint_sequence + 1`). It was
/// durable, not torn, when the intact records after it continue that
/// sequence up to a pending one that carries the mark.
fn proven_durable(
    region: &[u8],
    mut position: usize,
    previous: Option<u64>,
    checkpoint_sequence: u64,
) -> bool {
    let mut expected: Option<u128> = previous.map(|p| u128::from(p) + 2);
    while position + HEADER_LEN <= region.len() {
        let Entry::Record(found) = entry_at(region, position) else {
            return false;
        };
        let sequence = u128::from(found.sequence);
        let continues = match expected {
            None => (2..=u128::from(checkpoint_sequence) + 2).contains(&sequence),
            Some(expected) => sequence == expected,
        };
        if !continues {
            return false;
        }
        if found.marked && found.sequence > checkpoint_sequence {
            return true;
        }
        expected = Some(sequence + 1);
        position = found.end();
    }
    false
}

fn corruption(offset: usize, reason: &str) -> MemvidError {
    MemvidError::WalCorruption { offset: offset as u64, reason: reason.into() }
}

/// S2.1 with R1-R5, R7: the records from position 0 and where the log ends.
fn scan(region: &[u8], checkpoint_sequence: u64, recovery: Recovery) -> Result<(Vec<Found>, usize)> {
    let strict = recovery == Recovery::Strict;
    let mut found: Vec<Found> = Vec::new();
    let mut cursor = 0usize;
    while cursor + HEADER_LEN <= region.len() {
        let previous = found.last().map(|f| f.sequence);
        match entry_at(region, cursor) {
            Entry::Sentinel => break,
            Entry::Invalid { reason, end } => {
                let proven =
                    end.is_some_and(|end| proven_durable(region, end, previous, checkpoint_sequence));
                if strict || proven {
                    return Err(corruption(cursor, reason));
                }
                break; // R1: a torn tail ends the log
            }
            Entry::Record(record) => {
                if !continues_log(previous, record.sequence, checkpoint_sequence) {
                    if strict || proven_durable(region, record.end(), previous, checkpoint_sequence) {
                        return Err(corruption(cursor, REASON_SEQUENCE_BREAK));
                    }
                    break; // R2, R3: a leftover of an earlier pass
                }
                cursor = record.end();
                found.push(record);
            }
        }
    }
    Ok((found, cursor))
}

/// S3.4 steps 5-7 (F4), FIXED: where an entry of `entry_size` bytes goes, or
/// why it cannot. u128 so that no header's sizes overflow.
fn place_entry(write_head: u64, pending_bytes: u64, region_size: u64, entry_size: u64) -> Result<u64> {
    let (head, pending, size, entry) =
        (u128::from(write_head), u128::from(pending_bytes), u128::from(region_size), u128::from(entry_size));
    let header = u128::from(ENTRY_HEADER_SIZE);
    let refuse = |reason: &str| Err(MemvidError::CheckpointFailed { reason: reason.into() });
    // D1: alone in the region the entry would leave 1..47 bytes.
    if entry > size || (entry + header > size && entry < size) {
        return refuse(REASON_TOO_SMALL);
    }
    if pending + entry > size {
        return refuse(REASON_FULL);
    }
    let end = head + entry;
    // D1: an entry fits where a sentinel fits after it, or where it ends at
    // the region's end with every byte of the region pending.
    let fits = end + header <= size || (end == size && pending + entry == size);
    if fits {
        Ok(write_head)
    } else if pending > 0 {
        refuse(REASON_FULL)
    } else {
        Ok(0)
    }
}

/// S3.14, FIXED: the zero bytes that end the log after `write_head`: a
/// sentinel, the tail when fewer than 48 bytes remain (never a sentinel at
/// position 0, D1, D3), or nothing when the region is all pending.
fn sentinel_length(write_head: u64, pending_bytes: u64, region_size: u64) -> u64 {
    if pending_bytes >= region_size {
        return 0;
    }
    (region_size - write_head).min(ENTRY_HEADER_SIZE)
}

/// F2: the 48-byte header and the payload, with D6's mark or zeros.
fn encode_entry(sequence: u64, payload: &[u8], marked: bool, trailing_zeros: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len() + trailing_zeros);
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(if marked { &SYNCED_BEFORE_MARK } else { &[0; 4] });
    bytes.extend_from_slice(blake3::hash(payload).as_bytes());
    bytes.extend_from_slice(payload);
    bytes.resize(bytes.len() + trailing_zeros, 0);
    bytes
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
}

#[cfg(not(unix))]
fn write_all_at(mut file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn read_exact_at(mut file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buffer)
}

fn short_read() -> MemvidError {
    MemvidError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, REASON_SHORT_READ))
}

/// A read of the region that came up short is the short-read error.
fn read_error(error: io::Error) -> MemvidError {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        short_read()
    } else {
        MemvidError::Io(error)
    }
}

impl EmbeddedWal {
    /// S3.2: open the region the header names, for writing. Before it
    /// returns, R8 (spec/faults.md) erases, durably, whatever lies after the
    /// recovered log (see `erase_after_log`).
    pub fn open(file: &File, header: &Header) -> Result<Self> {
        Self::open_with_recovery(file, header, false, Recovery::default())
    }

    /// S3.3: open for reading; writes nothing, ever.
    pub fn open_read_only(file: &File, header: &Header) -> Result<Self> {
        Self::open_with_recovery(file, header, true, Recovery::default())
    }

    /// S3.2, S3.3 with a recovery mode (R5). A writable open ends with R8
    /// (spec/faults.md): the bytes after the write head are zeroed and, when
    /// any of them was not zero already, synced before the first append. A
    /// read-only open writes nothing.
    pub fn open_with_recovery(
        file: &File,
        header: &Header,
        read_only: bool,
        recovery: Recovery,
    ) -> Result<Self> {
        if header.wal_size == 0 {
            return Err(MemvidError::InvalidHeader { reason: REASON_WAL_SIZE_ZERO.into() });
        }
        let mut wal = Self {
            file: file.try_clone()?,
            region_offset: header.wal_offset,
            region_size: header.wal_size,
            write_head: 0,
            checkpoint_head: header.wal_checkpoint_pos % header.wal_size,
            pending_bytes: 0,
            sequence: header.wal_sequence,
            checkpoint_sequence: header.wal_sequence,
            appends_since_checkpoint: 0,
            read_only,
            skip_sync: false,
            recovery,
            storage_failed: false,
            // R7: unknown at open (a killed writer may have left unsynced
            // writes anywhere), so no claim.
            synced_below_head: false,
        };
        let (found, scan_end) = match wal.scan_streaming()? {
            Some(scanned) => scanned,
            None => scan(&wal.read_region()?, wal.checkpoint_sequence, recovery)?,
        };
        wal.pending_bytes = wal.pending_of(&found);
        let last = found.last().map_or(header.wal_sequence, |f| f.sequence);
        let mut head = scan_end as u64;
        wal.sequence = last;
        if last < header.wal_sequence {
            // R4: the header outlived records it covers; what is left is
            // checkpointed, so the log restarts at position 0.
            wal.sequence = header.wal_sequence;
            head = 0;
        }
        wal.write_head = head; // D1: not reduced modulo the size
        wal.erase_after_log()?; // R8, or just S3.14's sentinel
        Ok(wal)
    }

    /// S3.4: append one record; returns its sequence.
    pub fn append_entry(&mut self, payload: &[u8]) -> Result<u64> {
        self.assert_writable()?;
        self.assert_storage_healthy()?;
        let refuse = |reason: &str| Err(MemvidError::CheckpointFailed { reason: reason.into() });
        if u32::try_from(payload.len()).is_err() {
            return refuse(REASON_PAYLOAD_TOO_LARGE);
        }
        if payload.is_empty() {
            return refuse(REASON_PAYLOAD_EMPTY); // D4
        }
        if self.sequence == u64::MAX {
            return refuse(REASON_SEQUENCE_EXHAUSTED); // D2
        }
        let entry_size = ENTRY_HEADER_SIZE + payload.len() as u64;
        let position = place_entry(self.write_head, self.pending_bytes, self.region_size, entry_size)?;
        self.write_head = position;
        let end = position + entry_size;
        let pending = self.pending_bytes + entry_size;
        // D5: the entry and the zeros after it in one write, then one sync, so
        // the sentinel is durable when the append returns.
        let zeros = sentinel_length(end, pending, self.region_size);
        // D6: the record carries the flag as it is before this write.
        let bytes = encode_entry(self.sequence + 1, payload, self.synced_below_head, zeros as usize);
        self.synced_below_head = false;
        self.write(position, &bytes)?;
        if !self.skip_sync {
            self.sync()?;
        }
        self.write_head = end; // D1: may rest at the region's end
        self.pending_bytes = pending;
        self.sequence += 1;
        self.appends_since_checkpoint = self.appends_since_checkpoint.saturating_add(1);
        Ok(self.sequence)
    }

    /// S3.7.
    #[must_use]
    pub fn should_checkpoint(&self) -> bool {
        if self.read_only {
            return false;
        }
        let occupancy = self.pending_bytes as f64 / self.region_size as f64;
        occupancy >= WAL_CHECKPOINT_THRESHOLD || self.appends_since_checkpoint >= WAL_CHECKPOINT_PERIOD
    }

    /// S3.5: everything appended is applied; the checkpoint goes into
    /// `header`, which the caller writes to the file and syncs (S3.6).
    pub fn record_checkpoint(&mut self, header: &mut Header) -> Result<()> {
        self.assert_writable()?;
        self.assert_storage_healthy()?;
        self.checkpoint_head = self.write_head % self.region_size;
        self.pending_bytes = 0;
        self.appends_since_checkpoint = 0;
        self.checkpoint_sequence = self.sequence;
        header.wal_checkpoint_pos = self.checkpoint_head;
        header.wal_sequence = self.checkpoint_sequence;
        self.maybe_write_sentinel()
    }

    /// S3.9.
    pub fn pending_records(&mut self) -> Result<Vec<WalRecord>> {
        self.records_after(self.checkpoint_sequence)
    }

    /// S3.8: rescan; the records above `sequence`, in region order.
    pub fn records_after(&mut self, sequence: u64) -> Result<Vec<WalRecord>> {
        let region = self.read_region()?;
        let (found, scan_end) = scan(&region, self.checkpoint_sequence, self.recovery)?;
        let mut head = scan_end as u64;
        if let Some(last) = found.last() {
            self.sequence = last.sequence;
            if self.sequence < self.checkpoint_sequence {
                (self.sequence, head) = (self.checkpoint_sequence, 0); // R4, as at open
            }
        }
        self.pending_bytes = self.pending_of(&found);
        if head != self.write_head {
            // R7: the head moved, so another writer wrote below it (forward past its
            // appends, or back to the end of its wrap); one WAL alone keeps it (I6).
            self.synced_below_head = false;
        }
        self.write_head = head;
        self.maybe_write_sentinel()?;
        Ok(found
            .iter()
            .filter(|f| f.sequence > sequence)
            .map(|f| WalRecord {
                sequence: f.sequence,
                payload: region[f.position + HEADER_LEN..f.end()].to_vec(),
            })
            .collect())
    }

    /// S3.10.
    #[must_use]
    pub fn stats(&self) -> WalStats {
        WalStats {
            region_size: self.region_size,
            pending_bytes: self.pending_bytes,
            appends_since_checkpoint: self.appends_since_checkpoint,
            sequence: self.sequence,
        }
    }

    #[must_use]
    pub fn region_offset(&self) -> u64 {
        self.region_offset
    }

    #[must_use]
    pub fn file(&self) -> &File {
        &self.file
    }

    /// S3.13.
    pub fn set_skip_sync(&mut self, skip: bool) {
        self.skip_sync = skip;
    }

    /// S3.13: make every append so far durable.
    pub fn flush(&mut self) -> Result<()> {
        self.assert_storage_healthy()?;
        self.sync()
    }

    /// The volatile fields (S1.2), for tests and conformance drivers.
    #[must_use]
    pub fn volatile_state(&self) -> VolatileState {
        VolatileState {
            write_head: self.write_head,
            checkpoint_head: self.checkpoint_head,
            pending_bytes: self.pending_bytes,
            sequence: self.sequence,
            checkpoint_sequence: self.checkpoint_sequence,
            appends_since_checkpoint: self.appends_since_checkpoint,
        }
    }

    fn assert_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(MemvidError::Lock(REASON_READ_ONLY.into()));
        }
        Ok(())
    }

    /// R6: after a failed write or sync the kernel may have dropped the
    /// dirty pages, so a later sync that succeeds proves nothing about them.
    fn assert_storage_healthy(&self) -> Result<()> {
        if self.storage_failed {
            return Err(MemvidError::Io(io::Error::other(REASON_STORAGE_FAILED)));
        }
        Ok(())
    }

    fn storage_error(&mut self, error: io::Error) -> MemvidError {
        self.storage_failed = true; // R6
        self.synced_below_head = false; // R7: what reached the media is unknown
        MemvidError::Io(error)
    }

    fn pending_of(&self, found: &[Found]) -> u64 {
        found.iter().filter(|f| f.sequence > self.checkpoint_sequence).map(Found::size).sum()
    }

    /// The whole region in one read (S1.4): a scan walks it in memory rather
    /// than making system calls per record. A file shorter than the region
    /// fails before anything is allocated for what it does not hold.
    fn read_region(&self) -> Result<Vec<u8>> {
        self.read_region_length()?;
        let size = usize::try_from(self.region_size).map_err(|_| short_read())?;
        let mut region = vec![0u8; size];
        read_exact_at(&self.file, &mut region, self.region_offset).map_err(read_error)?;
        Ok(region)
    }

    /// R8: one past the last non-zero byte of the region in `[from, size)`,
    /// or `from` when every byte there is zero. Read a chunk at a time, never
    /// the whole region at once.
    fn end_of_nonzero(&self, from: u64) -> Result<u64> {
        let mut end = from;
        let mut position = from;
        let mut buffer = vec![0u8; self.region_size.saturating_sub(from).min(READ_CHUNK as u64) as usize];
        while position < self.region_size {
            let length = (self.region_size - position).min(READ_CHUNK as u64) as usize;
            let chunk = &mut buffer[..length];
            read_exact_at(&self.file, chunk, self.region_offset + position).map_err(read_error)?;
            if let Some(last) = chunk.iter().rposition(|&byte| byte != 0) {
                end = position + last as u64 + 1;
            }
            position += length as u64;
        }
        Ok(end)
    }

    /// The scan of an intact log without holding the region (open needs no
    /// payloads): the region is read a chunk at a time into one buffer that
    /// stays in the cache, and each record is checked as it completes. Only
    /// a log that ends at a sentinel or at the region's end with every record
    /// intact and in sequence is decided here, where every rule of `scan`
    /// agrees; at anything else (an invalid entry, a sequence break: R1-R7)
    /// it answers None and the caller scans the whole region with `scan`.
    fn scan_streaming(&self) -> Result<Option<(Vec<Found>, usize)>> {
        self.read_region_length()?;
        let size = usize::try_from(self.region_size).map_err(|_| short_read())?;
        let mut buffer: Vec<u8> = Vec::with_capacity(2 * READ_CHUNK);
        let mut base = 0usize; // the region position of buffer[0]
        let mut found: Vec<Found> = Vec::new();
        let mut cursor = 0usize;
        while cursor + HEADER_LEN <= size {
            // Make the buffer cover [cursor, end): keep from the cursor on, read on.
            let cover = |end: usize, buffer: &mut Vec<u8>, base: &mut usize| -> Result<()> {
                if end <= *base + buffer.len() {
                    return Ok(());
                }
                buffer.drain(..cursor - *base);
                *base = cursor;
                let from = buffer.len();
                let wanted = (end - *base - from).max(READ_CHUNK).min(size - *base - from);
                buffer.resize(from + wanted, 0);
                let at = self.region_offset + (*base + from) as u64;
                read_exact_at(&self.file, &mut buffer[from..], at).map_err(MemvidError::Io)
            };
            cover(cursor + HEADER_LEN, &mut buffer, &mut base)?;
            let header = &buffer[cursor - base..cursor - base + HEADER_LEN];
            let sequence = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
            let length = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
            if sequence == 0 && length == 0 {
                break;
            }
            let previous = found.last().map(|f| f.sequence);
            if length == 0
                || length > size - cursor - HEADER_LEN
                || !continues_log(previous, sequence, self.checkpoint_sequence)
            {
                return Ok(None);
            }
            let end = cursor + HEADER_LEN + length;
            cover(end, &mut buffer, &mut base)?;
            let entry = &buffer[cursor - base..end - base];
            if blake3::hash(&entry[HEADER_LEN..]).as_bytes() != &entry[16..48] {
                return Ok(None);
            }
            let marked = entry[12..16] == SYNCED_BEFORE_MARK;
            found.push(Found { position: cursor, sequence, length, marked });
            cursor = end;
        }
        Ok(Some((found, cursor)))
    }

    /// S3.2 (FIXED): a file shorter than its region is refused before anything is read.
    fn read_region_length(&self) -> Result<()> {
        let end = self.region_offset.checked_add(self.region_size).ok_or_else(short_read)?;
        if self.file.metadata()?.len() < end {
            return Err(short_read());
        }
        Ok(())
    }

    fn write(&mut self, position: u64, bytes: &[u8]) -> Result<()> {
        self.assert_writable()?;
        let result = write_all_at(&self.file, bytes, self.region_offset + position);
        result.map_err(|error| self.storage_error(error))
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_all().map_err(|error| self.storage_error(error))?;
        self.synced_below_head = true; // R7: every byte written so far is durable
        Ok(())
    }

    /// S3.14: the zeros that end the log at the write head. They lie at or
    /// after it, so they leave R7's flag as it is. Not synced: the next
    /// append's sync (D5) or the caller's makes them durable. At a writable
    /// open R8 may write more (`erase_after_log`).
    fn maybe_write_sentinel(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let length = sentinel_length(self.write_head, self.pending_bytes, self.region_size);
        if length > 0 {
            self.write(self.write_head, &vec![0u8; length as usize])?;
        }
        Ok(())
    }

    /// R8 (spec/faults.md): a writable open erases what lies after the log.
    /// After a crash the region may hold, after the recovered log's end,
    /// bytes an earlier life of the writer wrote there: records recovery did
    /// not return (past a torn entry or a zeroed gap), whose sequences the
    /// next appends issue again. Left in place, a later append that closes
    /// the gap before them would let them come back as a continuation of the
    /// new log. So when any byte in `[head, size)` is not zero, one write of
    /// zeros covers `[head, max(last non-zero + 1, head + sentinel))` and one
    /// sync makes it durable before the first append (the sync also sets
    /// R7's flag: every byte below the head is durable then). When every byte
    /// there is zero, this is S3.14's sentinel alone, unsynced, as before. A
    /// read-only open writes nothing.
    fn erase_after_log(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let head = self.write_head;
        let end = self.end_of_nonzero(head)?;
        if end == head {
            return self.maybe_write_sentinel();
        }
        let sentinel = sentinel_length(head, self.pending_bytes, self.region_size);
        let end = end.max(head + sentinel);
        // One buffer, one write: a region fits in memory (`read_region` holds it whole).
        self.write(head, &vec![0u8; (end - head) as usize])?;
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A file as memvid's create leaves it: a header's worth of bytes, then
    /// the zeroed region.
    fn prepared(size: u64) -> (File, Header) {
        let file = tempfile_in_target();
        file.set_len(4096 + size).expect("set_len");
        let header = Header {
            magic: *b"MV2\0",
            version: 0x0201,
            footer_offset: 0,
            wal_offset: 4096,
            wal_size: size,
            wal_checkpoint_pos: 0,
            wal_sequence: 0,
            toc_checksum: [0; 32],
        };
        (file, header)
    }

    fn tempfile_in_target() -> File {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir();
        let path =
            dir.join(format!("memvid-wal-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst)));
        let file =
            File::options().read(true).write(true).create(true).truncate(true).open(&path).expect("create");
        std::fs::remove_file(&path).expect("unlink");
        file
    }

    fn region(file: &File, size: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; size as usize];
        read_exact_at(file, &mut bytes, 4096).expect("read");
        bytes
    }

    fn commit(wal: &mut EmbeddedWal, header: &mut Header) {
        wal.pending_records().expect("pending");
        wal.record_checkpoint(header).expect("checkpoint");
    }

    /// spec/format.md F5: record 1's header, and the FIXED region after steps 8 and 9.
    #[test]
    fn the_worked_example_byte_for_byte() {
        let (file, mut header) = prepared(256);
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        assert_eq!(wal.append_entry(&[b'A'; 100]).unwrap(), 1);
        assert_eq!(
            hex(&region(&file, 256)[..48]),
            "0100000000000000640000000000000034\
95f7ff20bb0cfc080d3658207ad92c3b76e962ab0b80dc0aab35d3fa1552dc"
        );
        commit(&mut wal, &mut header);
        assert_eq!(wal.append_entry(&[b'B'; 12]).unwrap(), 2);
        let full = wal.append_entry(&[b'C'; 40]).unwrap_err();
        assert_eq!(full.to_string(), "Unable to checkpoint embedded WAL: embedded WAL region full");
        commit(&mut wal, &mut header);
        assert_eq!(wal.append_entry(&[b'C'; 40]).unwrap(), 3); // wraps
        commit(&mut wal, &mut header);
        assert_eq!((header.wal_checkpoint_pos, header.wal_sequence), (88, 3));
        let after_8 = region(&file, 256);
        assert_eq!(&after_8[12..16], b"SYNC");
        assert_eq!(&after_8[160..164], b"SYNC");
        assert_eq!(&after_8[88..136], &[0; 48]);
        // Step 9: FIXED wraps where the original would leave 20 bytes (F3.2, D1).
        assert_eq!(wal.append_entry(&[b'D'; 100]).unwrap(), 4);
        let after_9 = region(&file, 256);
        assert_eq!(hex(&after_9[..16]), "04000000000000006400000053594e43");
        assert_eq!(&after_9[148..196], &[0; 48]);
        assert_eq!(wal.volatile_state().write_head, 148);
        let pending = wal.pending_records().unwrap();
        assert_eq!(pending, vec![WalRecord { sequence: 4, payload: vec![b'D'; 100] }]);
    }

    #[test]
    fn the_refusals_of_s3_4_in_order() {
        let (file, header) = prepared(100);
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        let reason = |error: MemvidError| error.to_string();
        assert!(reason(wal.append_entry(b"").unwrap_err()).ends_with("WAL payload empty"));
        // 48 + 5 = 53 > 100 - 48: alone it would leave 47 bytes (D1).
        assert!(reason(wal.append_entry(&[1; 5]).unwrap_err()).ends_with("too small for entry"));
        assert_eq!(wal.append_entry(&[1; 4]).unwrap(), 1);
        assert!(reason(wal.append_entry(&[1; 4]).unwrap_err()).ends_with("region full"));
        let mut read_only = EmbeddedWal::open_read_only(&file, &header).unwrap();
        assert!(matches!(read_only.append_entry(b"x"), Err(MemvidError::Lock(_))));
        let zero = Header { wal_size: 0, ..header.clone() };
        assert!(matches!(EmbeddedWal::open(&file, &zero), Err(MemvidError::InvalidHeader { .. })));
    }

    /// F2.2: the length field is u32. A payload of 2^32 bytes is refused before
    /// anything is hashed or written (the zeroed buffer is never touched).
    #[test]
    fn a_payload_past_the_length_field_is_too_large() {
        let (file, header) = prepared(100);
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        let huge = vec![0u8; 1 << 32];
        let error = wal.append_entry(&huge).unwrap_err();
        assert_eq!(error.to_string(), "Unable to checkpoint embedded WAL: WAL payload too large");
        assert_eq!(wal.stats().sequence, 0);
    }

    #[test]
    fn the_sequence_is_exhausted_not_wrapped() {
        let (file, mut header) = prepared(400);
        header.wal_sequence = u64::MAX - 1;
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        assert_eq!(wal.append_entry(b"last").unwrap(), u64::MAX);
        let error = wal.append_entry(b"one more").unwrap_err();
        assert!(error.to_string().ends_with("WAL sequence exhausted"), "{error}");
    }

    #[test]
    fn a_short_file_is_an_io_error() {
        let (file, header) = prepared(400);
        file.set_len(4096 + 200).unwrap();
        let error = EmbeddedWal::open(&file, &header).unwrap_err();
        assert_eq!(error.to_string(), "I/O error: failed to fill whole buffer");
    }

    /// R1 and R7: a torn tail ends the log; the same damage under a later
    /// marked, pending record is reported (strict mode reports both).
    #[test]
    fn damage_a_marked_record_proves_is_reported() {
        let (file, header) = prepared(400);
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        wal.append_entry(b"first").unwrap(); // unmarked: the first append after open
        wal.append_entry(b"second").unwrap(); // marked: the first was synced
        drop(wal);
        assert_eq!(&region(&file, 400)[53 + 12..53 + 16], b"SYNC");
        // Flip a payload byte of record 1.
        let mut writer = file.try_clone().unwrap();
        std::io::Seek::seek(&mut writer, std::io::SeekFrom::Start(4096 + 48)).unwrap();
        writer.write_all(b"F").unwrap();
        let error = EmbeddedWal::open_read_only(&file, &header).unwrap_err();
        assert_eq!(error.to_string(), "Embedded WAL is corrupted at offset 0: wal record checksum mismatch");
        // Without the mark the same bytes are a torn tail: the log ends at 0.
        let mut unmarked = region(&file, 400);
        unmarked[53 + 12..53 + 16].copy_from_slice(&[0; 4]);
        let (found, end) = scan(&unmarked, 0, Recovery::TolerateTornTail).unwrap();
        assert!(found.is_empty() && end == 0);
        assert!(scan(&unmarked, 0, Recovery::Strict).is_err());
    }

    /// R2, R3, R4 on hand-made regions.
    #[test]
    fn leftovers_and_a_header_that_outlived_its_records() {
        let mut bytes = encode_entry(5, b"five", false, 0);
        bytes.extend(encode_entry(3, b"stale", false, 0));
        bytes.resize(200, 0);
        // The first record may be at most checkpoint + 1 (R3), and each next one more (R2).
        let (found, end) = scan(&bytes, 4, Recovery::TolerateTornTail).unwrap();
        assert_eq!((found.len(), end), (1, 52));
        assert!(scan(&bytes, 3, Recovery::TolerateTornTail).unwrap().0.is_empty());
        let error = scan(&bytes, 4, Recovery::Strict).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Embedded WAL is corrupted at offset 52: wal record sequence out of order"
        );
        // R4: the header says 9; the region ends after record 5: restart at 0.
        let (file, mut header) = prepared(200);
        write_all_at(&file, &bytes, 4096).unwrap();
        header.wal_sequence = 9;
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        assert_eq!(wal.volatile_state().write_head, 0);
        assert_eq!(wal.append_entry(b"ten").unwrap(), 10);
    }

    /// The streaming scan decides only where `scan` agrees: on an intact log,
    /// and on every one-byte change of it (each byte of a 300-byte region set
    /// to three values), it answers `scan`'s result or leaves it to `scan`.
    #[test]
    fn the_streaming_scan_agrees_with_the_scan() {
        let (file, mut header) = prepared(500);
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        for (i, size) in [5usize, 40, 1, 60, 17].iter().enumerate() {
            wal.append_entry(&vec![i as u8 + 1; *size]).unwrap();
        }
        commit(&mut wal, &mut header);
        wal.append_entry(b"after").unwrap();
        drop(wal);
        let intact = region(&file, 500);
        let reader = EmbeddedWal::open_read_only(&file, &header).unwrap();
        let (mut decided, mut left) = (0, 0);
        for position in 0..500 {
            for value in [0u8, 1, 0xff] {
                let mut changed = intact.clone();
                changed[position] = value;
                write_all_at(&file, &changed, 4096).unwrap();
                write_all_at(&file, &changed, 4096).unwrap();
                let streamed = reader.scan_streaming().unwrap();
                let whole = scan(&changed, header.wal_sequence, Recovery::TolerateTornTail);
                match streamed {
                    Some((found, end)) => {
                        let (expected, expected_end) = whole.expect("scan agrees that the log is intact");
                        let sequences = |f: &[Found]| {
                            f.iter().map(|r| (r.position, r.sequence, r.length, r.marked)).collect::<Vec<_>>()
                        };
                        assert_eq!(
                            (sequences(&found), end),
                            (sequences(&expected), expected_end),
                            "{position} {value}"
                        );
                        decided += 1;
                    }
                    None => left += 1,
                }
            }
        }
        assert!(decided > 100 && left > 100, "{decided} decided, {left} left to scan");
    }

    /// R8: record 1 at 0, then `after` at `at` (region-relative).
    fn one_record_then(size: u64, at: usize, after: &[u8]) -> (File, Header, Vec<u8>) {
        let (file, header) = prepared(size);
        let mut bytes = encode_entry(1, b"first", false, 0);
        bytes.resize(size as usize, 0);
        bytes[at..at + after.len()].copy_from_slice(after);
        write_all_at(&file, &bytes, 4096).unwrap();
        (file, header, bytes)
    }

    /// R8, z == h: only the sentinel, which was zero already, and no sync.
    #[test]
    fn a_writable_open_over_zeros_writes_only_the_sentinel() {
        let (file, header, before) = one_record_then(300, 53, &[]);
        let wal = EmbeddedWal::open(&file, &header).unwrap();
        assert_eq!(wal.volatile_state().write_head, 53);
        assert!(!wal.synced_below_head, "no sync when nothing after the head was non-zero");
        assert_eq!(region(&file, 300), before);
    }

    /// R8: a stale record 2 after a zeroed gap (the scan ends at the gap),
    /// and garbage after it, are erased to the region's end and synced; a
    /// read-only open leaves them.
    #[test]
    fn a_writable_open_erases_what_lies_after_the_log() {
        let mut after = encode_entry(2, b"stale", false, 0);
        after.extend_from_slice(&[0xEE; 30]);
        let (file, header, before) = one_record_then(400, 53 + 48 + 7, &after);
        let reader = EmbeddedWal::open_read_only(&file, &header).unwrap();
        assert_eq!(reader.volatile_state().write_head, 53);
        assert_eq!(region(&file, 400), before);
        let mut wal = EmbeddedWal::open(&file, &header).unwrap();
        assert!(wal.synced_below_head, "the erase is synced (R7's flag set)");
        let erased = region(&file, 400);
        assert_eq!(&erased[..53], &before[..53]);
        assert!(erased[53..].iter().all(|&b| b == 0));
        // The next append reissues sequence 2, marked: every byte below it is durable.
        assert_eq!(wal.append_entry(b"new").unwrap(), 2);
        assert_eq!(&region(&file, 400)[53 + 12..53 + 16], b"SYNC");
        let mut again = EmbeddedWal::open_read_only(&file, &header).unwrap();
        let sequences: Vec<u64> = again.pending_records().unwrap().iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, vec![1, 2]);
    }

    /// R8: a torn entry right at the head; the erase covers at least the sentinel.
    #[test]
    fn a_writable_open_erases_a_torn_tail_and_the_sentinel_after_it() {
        // A non-zero reserved byte only: the scan reads a sentinel, z = h + 14 < h + 48.
        let (file, header, before) = one_record_then(300, 53 + 13, &[0x01]);
        let wal = EmbeddedWal::open(&file, &header).unwrap();
        assert_eq!(wal.volatile_state().write_head, 53);
        assert!(wal.synced_below_head);
        let erased = region(&file, 300);
        assert_eq!(&erased[..53], &before[..53]);
        assert!(erased[53..].iter().all(|&b| b == 0));
        // Garbage straight after record 1 (a torn record 2).
        let (file, header, _) = one_record_then(300, 53, &[0x02; 70]);
        let wal = EmbeddedWal::open(&file, &header).unwrap();
        assert_eq!(wal.volatile_state().write_head, 53);
        assert!(region(&file, 300)[53..].iter().all(|&b| b == 0));
    }

    /// R8: z == size, the region's last byte.
    #[test]
    fn a_writable_open_erases_up_to_the_regions_last_byte() {
        let (file, header, before) = one_record_then(300, 299, &[0xAB]);
        let wal = EmbeddedWal::open(&file, &header).unwrap();
        assert!(wal.synced_below_head);
        let erased = region(&file, 300);
        assert_eq!(&erased[..53], &before[..53]);
        assert!(erased[53..].iter().all(|&b| b == 0));
    }

    /// R8: pending bytes fill the region (head == size): nothing after the
    /// head, so nothing is written and nothing synced.
    #[test]
    fn a_full_region_gets_nothing_written() {
        let (file, header) = prepared(100);
        let bytes = encode_entry(1, &[7; 52], false, 0);
        write_all_at(&file, &bytes, 4096).unwrap();
        let wal = EmbeddedWal::open(&file, &header).unwrap();
        let state = wal.volatile_state();
        assert_eq!((state.write_head, state.pending_bytes), (100, 100));
        assert!(!wal.synced_below_head);
        assert_eq!(region(&file, 100), bytes);
    }

    /// R8's read goes a chunk at a time and finds the last non-zero byte
    /// across chunk boundaries; an empty region with a stray byte is erased.
    #[test]
    fn the_last_non_zero_byte_is_found_across_chunks() {
        let size = 2 * READ_CHUNK as u64 + 100;
        let (file, header) = prepared(size);
        let reader = EmbeddedWal::open_read_only(&file, &header).unwrap();
        assert_eq!(reader.end_of_nonzero(0).unwrap(), 0);
        assert_eq!(reader.end_of_nonzero(size).unwrap(), size);
        write_all_at(&file, &[9], 4096 + READ_CHUNK as u64 - 1).unwrap();
        assert_eq!(reader.end_of_nonzero(0).unwrap(), READ_CHUNK as u64);
        assert_eq!(reader.end_of_nonzero(10).unwrap(), READ_CHUNK as u64);
        assert_eq!(reader.end_of_nonzero(READ_CHUNK as u64).unwrap(), READ_CHUNK as u64);
        write_all_at(&file, &[9], 4096 + 2 * READ_CHUNK as u64).unwrap();
        assert_eq!(reader.end_of_nonzero(5).unwrap(), 2 * READ_CHUNK as u64 + 1);
        let wal = EmbeddedWal::open(&file, &header).unwrap();
        assert_eq!(wal.volatile_state().write_head, 0);
        assert!(wal.synced_below_head);
        assert!(region(&file, size).iter().all(|&b| b == 0));
        // A file cut short after the scan: the read is the short-read error.
        file.set_len(4096 + size - 1).unwrap();
        let error = reader.end_of_nonzero(0).unwrap_err();
        assert_eq!(error.to_string(), "I/O error: failed to fill whole buffer");
    }

    #[test]
    fn placement_never_ends_in_the_last_47_bytes() {
        for size in [40u64, 47, 48, 49, 96, 97, 100, 160, 256] {
            for pending in 0..=size {
                for head in pending..=size {
                    for entry in 48..=size + 1 {
                        if let Ok(at) = place_entry(head, pending, size, entry) {
                            let end = at + entry;
                            assert!(end + 48 <= size || (end == size && pending + entry == size));
                            assert!(at == head || pending == 0);
                        }
                    }
                }
            }
        }
    }
}
