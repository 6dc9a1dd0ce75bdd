//! memvid's embedded write-ahead log, FIXED design, in Rust.
//!
//! Written from this repository's spec/ (format.md F, semantics.md S,
//! faults.md R, defects.md D), not from memvid's code: the same on-disk format
//! byte for byte, and memvid's public API of `EmbeddedWal` (`open`,
//! `open_read_only`, `append_entry`, `record_checkpoint`, `pending_records`,
//! `records_after`, `should_checkpoint`, `stats`, `set_skip_sync`, `flush`),
//! so that memvid can put this crate's `wal` module in place of its
//! `src/io/wal.rs`. Where FIXED departs from memvid the code says which
//! defect (Dn) or recovery rule (Rn) it follows.

pub mod constants;
pub mod error;
pub mod types;
pub mod wal;

pub use error::{MemvidError, Result};
pub use types::Header;
pub use wal::{EmbeddedWal, Recovery, VolatileState, WalRecord, WalStats};
