//! The Rust port of FIXED (`memvid-wal`) as a protocol port (spec/porting.md).

walproto::embedded_wal_port!(
    FixedPort,
    memvid_wal::EmbeddedWal,
    format!("memvid-wal {} (Rust port of FIXED)", env!("CARGO_PKG_VERSION")),
    |wal| Some(wal.volatile_state())
);
