//! The variants of memvid's `MemvidError` that its wal.rs produces, with
//! memvid's Display texts (spec/semantics.md S4), and `crate::error::Result`.

use std::fmt;

#[derive(Debug)]
pub enum MemvidError {
    InvalidHeader { reason: String },
    Lock(String),
    CheckpointFailed { reason: String },
    WalCorruption { offset: u64, reason: String },
    Io(std::io::Error),
}

pub type Result<T> = std::result::Result<T, MemvidError>;

impl fmt::Display for MemvidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidHeader { reason } => write!(f, "Header validation failed: {reason}"),
            Self::Lock(reason) => write!(f, "Lock acquisition failed: {reason}"),
            Self::CheckpointFailed { reason } => write!(f, "Unable to checkpoint embedded WAL: {reason}"),
            Self::WalCorruption { offset, reason } => {
                write!(f, "Embedded WAL is corrupted at offset {offset}: {reason}")
            }
            Self::Io(error) => write!(f, "I/O error: {error}"),
        }
    }
}

impl std::error::Error for MemvidError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<std::io::Error> for MemvidError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}
