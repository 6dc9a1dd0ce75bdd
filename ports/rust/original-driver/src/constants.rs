//! The constants memvid's wal.rs takes from `crate::constants` (memvid's
//! src/constants.rs; spec/semantics.md S0).

pub const WAL_OFFSET: u64 = 4096;
pub const WAL_CHECKPOINT_THRESHOLD: f64 = 0.75;
pub const WAL_CHECKPOINT_PERIOD: u64 = 1000;
