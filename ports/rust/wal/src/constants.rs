//! The constants of spec/semantics.md S0, with memvid's names (src/constants.rs).

pub const WAL_OFFSET: u64 = 4096;
pub const WAL_CHECKPOINT_THRESHOLD: f64 = 0.75;
pub const WAL_CHECKPOINT_PERIOD: u64 = 1000;
