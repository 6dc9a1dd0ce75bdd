//! memvid's original embedded WAL behind the driver protocol (spec/porting.md).
//!
//! The `wal` module is memvid's `src/io/wal.rs`, compiled unmodified (build.rs
//! copies it in). This crate supplies what that file takes from the rest of
//! memvid: `crate::constants`, `crate::error` and `crate::types::Header`, with
//! memvid's names, values and Display texts (spec/semantics.md S0, S4).

pub mod constants;
pub mod error;
pub mod types;

include!(concat!(env!("OUT_DIR"), "/wal_module.rs"));

use std::fs::File;

use walproto::{Failure, OpenRequest, Port, Records, State, Stats};

use crate::error::MemvidError;
use crate::types::Header;
use crate::wal::EmbeddedWal;

/// The path of the wal.rs this driver was built from.
pub const SOURCE: &str = env!("MEMVID_WAL_SOURCE");

fn failure(error: MemvidError) -> Failure {
    match error {
        MemvidError::InvalidHeader { reason } => Failure::new("InvalidHeader", reason),
        MemvidError::Lock(reason) => Failure::new("Lock", reason),
        MemvidError::CheckpointFailed { reason } => Failure::new("CheckpointFailed", reason),
        MemvidError::WalCorruption { offset, reason } => {
            Failure { offset: Some(offset), ..Failure::new("WalCorruption", reason) }
        }
        MemvidError::Io(error) => Failure::io(&error),
    }
}

/// The original module as a protocol port.
#[derive(Default)]
pub struct OriginalPort {
    open: Option<(EmbeddedWal, Header)>,
}

impl OriginalPort {
    fn wal(&mut self) -> &mut EmbeddedWal {
        &mut self.open.as_mut().expect("the protocol loop checks that a WAL is open").0
    }
}

/// The value of `name` in the Debug text of the WAL (`name: 123`). The file's
/// path comes first in that text, so the last match is the field.
fn debug_field(text: &str, name: &str) -> Option<u64> {
    let key = format!(", {name}: ");
    let start = text.rfind(&key)? + key.len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Port for OriginalPort {
    fn name(&self) -> String {
        format!("memvid original wal.rs, unmodified (Rust; {SOURCE})")
    }

    fn is_open(&self) -> bool {
        self.open.is_some()
    }

    fn open(&mut self, request: &OpenRequest) -> Result<(), Failure> {
        let file = File::options()
            .read(true)
            .write(!request.read_only)
            .open(&request.path)
            .map_err(|error| Failure::io(&error))?;
        let header = Header {
            magic: *b"MV2\0",
            version: 0x0201,
            footer_offset: 0,
            wal_offset: request.region_offset,
            wal_size: request.region_size,
            wal_checkpoint_pos: request.checkpoint_pos,
            wal_sequence: request.checkpoint_sequence,
            toc_checksum: [0; 32],
        };
        let wal = if request.read_only {
            EmbeddedWal::open_read_only(&file, &header)
        } else {
            EmbeddedWal::open(&file, &header)
        }
        .map_err(failure)?;
        // The WAL keeps its own clone of the descriptor; ours closes here.
        self.open = Some((wal, header));
        Ok(())
    }

    fn append(&mut self, payload: &[u8]) -> Result<u64, Failure> {
        self.wal().append_entry(payload).map_err(failure)
    }

    fn checkpoint(&mut self) -> Result<(u64, u64), Failure> {
        let (wal, header) = self.open.as_mut().expect("open");
        wal.record_checkpoint(header).map_err(failure)?;
        Ok((header.wal_checkpoint_pos, header.wal_sequence))
    }

    fn records_after(&mut self, sequence: u64) -> Result<Records, Failure> {
        let records = self.wal().records_after(sequence).map_err(failure)?;
        Ok(records.into_iter().map(|r| (r.sequence, r.payload)).collect())
    }

    fn pending(&mut self) -> Result<Records, Failure> {
        let records = self.wal().pending_records().map_err(failure)?;
        Ok(records.into_iter().map(|r| (r.sequence, r.payload)).collect())
    }

    fn stats(&self) -> Stats {
        let stats = self.open.as_ref().expect("open").0.stats();
        Stats {
            region_size: stats.region_size,
            pending_bytes: stats.pending_bytes,
            appends_since_checkpoint: stats.appends_since_checkpoint,
            sequence: stats.sequence,
        }
    }

    fn should_checkpoint(&self) -> bool {
        self.open.as_ref().expect("open").0.should_checkpoint()
    }

    fn set_skip_sync(&mut self, skip: bool) {
        self.wal().set_skip_sync(skip);
    }

    fn flush(&mut self) -> Result<(), Failure> {
        self.wal().flush().map_err(failure)
    }

    fn close(&mut self) {
        self.open = None;
    }

    /// spec/porting.md P6.3: memvid's fields are private and the module is
    /// not to be changed, but `EmbeddedWal` derives `Debug`, whose text names
    /// every field: the state is read from it.
    fn state(&self) -> Option<State> {
        let text = format!("{:?}", self.open.as_ref()?.0);
        Some(State {
            write_head: debug_field(&text, "write_head")?,
            checkpoint_head: debug_field(&text, "checkpoint_head")?,
            pending_bytes: debug_field(&text, "pending_bytes")?,
            sequence: debug_field(&text, "sequence")?,
            checkpoint_sequence: debug_field(&text, "checkpoint_sequence")?,
            appends_since_checkpoint: debug_field(&text, "appends_since_checkpoint")?,
        })
    }
}
