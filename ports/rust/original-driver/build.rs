//! Copies memvid's `src/io/wal.rs` into OUT_DIR, unmodified, so that the
//! driver compiles it as its `wal` module and no copy of memvid's code is
//! committed here. The file is `$MEMVID_WAL_RS` when set (memvid's own
//! `src/io/wal.rs`, say), else the seed copy beside the repository:
//! `../shared/seed/embedded_wal.rs`, relative to the repository's root.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=MEMVID_WAL_RS");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let source = match env::var_os("MEMVID_WAL_RS") {
        Some(path) => PathBuf::from(path),
        // ports/rust/original-driver -> the repository's root -> ../shared
        None => manifest.join("../../../../shared/seed/embedded_wal.rs"),
    };
    println!("cargo:rerun-if-changed={}", source.display());
    let code = fs::read(&source).unwrap_or_else(|error| {
        panic!("cannot read memvid's wal.rs at {}: {error}; set MEMVID_WAL_RS to its path", source.display())
    });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let copy = out.join("embedded_wal.rs");
    fs::write(&copy, code).expect("write the copy");
    // A module file of its own (not include! into a block), so that inner
    // attributes and doc comments at the top of memvid's file compile too.
    let module = format!("#[path = {:?}]\npub mod wal;\n", copy.display().to_string());
    fs::write(out.join("wal_module.rs"), module).expect("write the module declaration");
    println!("cargo:rustc-env=MEMVID_WAL_SOURCE={}", source.display());
}
