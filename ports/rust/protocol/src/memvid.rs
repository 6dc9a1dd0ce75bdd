//! One [`Port`](crate::Port) for any module with memvid's `EmbeddedWal` API:
//! memvid's original wal.rs and the FIXED port share the API, the header
//! type and the error type, so their drivers differ only in their name and in
//! how they read the volatile fields.

pub use memvid_wal::{Header, MemvidError};

use crate::{Failure, OpenRequest};

/// P1.2, P3: a `MemvidError` as the protocol's error answer.
#[must_use]
pub fn failure(error: MemvidError) -> Failure {
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

/// The header memvid would hand `EmbeddedWal::open`: the request's WAL fields (P1.4).
#[must_use]
pub fn header(request: &OpenRequest) -> Header {
    Header {
        magic: *b"MV2\0",
        version: 0x0201,
        footer_offset: 0,
        wal_offset: request.region_offset,
        wal_size: request.region_size,
        wal_checkpoint_pos: request.checkpoint_pos,
        wal_sequence: request.checkpoint_sequence,
        toc_checksum: [0; 32],
    }
}

/// Opens the request's file as the request says: read-write, or read-only.
pub fn open_file(request: &OpenRequest) -> Result<std::fs::File, Failure> {
    std::fs::File::options()
        .read(true)
        .write(!request.read_only)
        .open(&request.path)
        .map_err(|error| Failure::io(&error))
}

/// `embedded_wal_port!(Name, path::to::EmbeddedWal, "name", |wal| state)`
/// defines `Name`, a protocol port over that `EmbeddedWal`, whose `state`
/// answer is the closure's `Option<State>`.
#[macro_export]
macro_rules! embedded_wal_port {
    ($port:ident, $wal:ty, $name:expr, |$this:ident| $state:expr) => {
        #[derive(Default)]
        pub struct $port {
            open: Option<($wal, $crate::memvid::Header)>,
        }

        impl $port {
            fn wal(&mut self) -> &mut $wal {
                &mut self.open.as_mut().expect("the protocol loop checks that a WAL is open").0
            }

            fn wal_ref(&self) -> &$wal {
                &self.open.as_ref().expect("the protocol loop checks that a WAL is open").0
            }
        }

        impl $crate::Port for $port {
            fn name(&self) -> String {
                $name
            }

            fn is_open(&self) -> bool {
                self.open.is_some()
            }

            fn open(&mut self, request: &$crate::OpenRequest) -> Result<(), $crate::Failure> {
                let file = $crate::memvid::open_file(request)?;
                let header = $crate::memvid::header(request);
                let opened = if request.read_only {
                    <$wal>::open_read_only(&file, &header)
                } else {
                    <$wal>::open(&file, &header)
                };
                // The WAL keeps its own clone of the descriptor; ours closes here.
                self.open = Some((opened.map_err($crate::memvid::failure)?, header));
                Ok(())
            }

            fn append(&mut self, payload: &[u8]) -> Result<u64, $crate::Failure> {
                self.wal().append_entry(payload).map_err($crate::memvid::failure)
            }

            fn checkpoint(&mut self) -> Result<(u64, u64), $crate::Failure> {
                let (wal, header) = self.open.as_mut().expect("open");
                wal.record_checkpoint(header).map_err($crate::memvid::failure)?;
                Ok((header.wal_checkpoint_pos, header.wal_sequence))
            }

            fn records_after(&mut self, sequence: u64) -> Result<$crate::Records, $crate::Failure> {
                let found = self.wal().records_after(sequence).map_err($crate::memvid::failure)?;
                Ok(found.into_iter().map(|r| (r.sequence, r.payload)).collect())
            }

            fn pending(&mut self) -> Result<$crate::Records, $crate::Failure> {
                let found = self.wal().pending_records().map_err($crate::memvid::failure)?;
                Ok(found.into_iter().map(|r| (r.sequence, r.payload)).collect())
            }

            fn stats(&self) -> $crate::Stats {
                let stats = self.wal_ref().stats();
                $crate::Stats {
                    region_size: stats.region_size,
                    pending_bytes: stats.pending_bytes,
                    appends_since_checkpoint: stats.appends_since_checkpoint,
                    sequence: stats.sequence,
                }
            }

            fn should_checkpoint(&self) -> bool {
                self.wal_ref().should_checkpoint()
            }

            fn set_skip_sync(&mut self, skip: bool) {
                self.wal().set_skip_sync(skip);
            }

            fn flush(&mut self) -> Result<(), $crate::Failure> {
                self.wal().flush().map_err($crate::memvid::failure)
            }

            fn close(&mut self) {
                self.open = None;
            }

            fn state(&self) -> Option<$crate::State> {
                let $this = &self.open.as_ref()?.0;
                $state
            }
        }
    };
}
