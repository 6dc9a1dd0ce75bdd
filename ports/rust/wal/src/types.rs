//! memvid's MV2 header as `crate::types::Header` (spec/format.md F1.1).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub magic: [u8; 4],
    pub version: u16,
    pub footer_offset: u64,
    pub wal_offset: u64,
    pub wal_size: u64,
    pub wal_checkpoint_pos: u64,
    pub wal_sequence: u64,
    pub toc_checksum: [u8; 32],
}
