//! memvid's original embedded WAL behind the driver protocol (spec/porting.md).
//!
//! The `wal` module is memvid's `src/io/wal.rs`, compiled unmodified (build.rs
//! copies it in). What that file takes from the rest of memvid,
//! `crate::constants`, `crate::error` and `crate::types::Header`, with
//! memvid's names, values and Display texts (spec/semantics.md S0, S4), are
//! the FIXED port's own (`memvid-wal`): the port keeps memvid's API, so the
//! same items serve both.

pub use memvid_wal::{constants, error, types};

include!(concat!(env!("OUT_DIR"), "/wal_module.rs"));

use walproto::State;

/// The path of the wal.rs this driver was built from.
pub const SOURCE: &str = env!("MEMVID_WAL_SOURCE");

/// The value of `name` in the Debug text of the WAL (`name: 123`). The file's
/// path comes first in that text, so the last match is the field.
fn debug_field(text: &str, name: &str) -> Option<u64> {
    let key = format!(", {name}: ");
    let start = text.rfind(&key)? + key.len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// spec/porting.md P6.3: memvid's fields are private and the module is not
/// to be changed, but `EmbeddedWal` derives `Debug`, whose text names every
/// field: the state is read from it.
fn state_from_debug(wal: &wal::EmbeddedWal) -> Option<State> {
    let text = format!("{wal:?}");
    Some(State {
        write_head: debug_field(&text, "write_head")?,
        checkpoint_head: debug_field(&text, "checkpoint_head")?,
        pending_bytes: debug_field(&text, "pending_bytes")?,
        sequence: debug_field(&text, "sequence")?,
        checkpoint_sequence: debug_field(&text, "checkpoint_sequence")?,
        appends_since_checkpoint: debug_field(&text, "appends_since_checkpoint")?,
    })
}

walproto::embedded_wal_port!(
    OriginalPort,
    crate::wal::EmbeddedWal,
    format!("memvid original wal.rs, unmodified (Rust; {SOURCE})"),
    |wal| state_from_debug(wal)
);
