//! `wal-bench`: the workloads of walcheck's bench (walcheck/bench/rust.py)
//! on memvid's original module and on the FIXED port, timed inside the
//! process so that start-up is not counted. Prints one JSON object.
//!
//!     wal-bench appends original|port DIR PAYLOAD_BYTES COUNT SKIP_SYNC(0|1) REPEATS
//!     wal-bench open original|port PATH REGION_OFFSET REGION_SIZE CHECKPOINT_SEQUENCE RECORDS REPEATS
//!
//! `appends`: COUNT appends of one payload into a fresh file whose region
//! holds them all without wrapping, then a `flush` when SKIP_SYNC. `open`:
//! `open_read_only` of an existing file's region (its scan is the cost),
//! which must find RECORDS records.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use memvid_wal::Header;

const ENTRY_HEADER_SIZE: u64 = 48;
const WAL_OFFSET: u64 = 4096;
const MIB: u64 = 1 << 20;

fn header(offset: u64, size: u64, checkpoint_sequence: u64) -> Header {
    Header {
        magic: *b"MV2\0",
        version: 0x0201,
        footer_offset: 0,
        wal_offset: offset,
        wal_size: size,
        wal_checkpoint_pos: 0,
        wal_sequence: checkpoint_sequence,
        toc_checksum: [0; 32],
    }
}

/// The same rule as walcheck's bench: whole MiB that hold every entry and a sentinel.
fn region_size_for(count: u64, payload: u64) -> u64 {
    (count * (ENTRY_HEADER_SIZE + payload) + ENTRY_HEADER_SIZE).div_ceil(MIB) * MIB
}

/// Both modules have memvid's API; one body serves both.
macro_rules! workloads {
    ($name:ident, $wal:ty) => {
        mod $name {
            use super::*;

            pub fn appends(
                directory: &Path,
                payload_size: u64,
                count: u64,
                skip_sync: bool,
            ) -> Result<f64, String> {
                let path = directory.join(format!("wal-bench-{}-{payload_size}.mv2", stringify!($name)));
                let file = File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(|e| e.to_string())?;
                let size = region_size_for(count, payload_size);
                file.set_len(WAL_OFFSET + size).map_err(|e| e.to_string())?;
                let payload: Vec<u8> = (0..payload_size).map(|i| (i * 131 % 251) as u8).collect();
                let mut wal = <$wal>::open(&file, &header(WAL_OFFSET, size, 0)).map_err(|e| e.to_string())?;
                wal.set_skip_sync(skip_sync);
                let started = Instant::now();
                for _ in 0..count {
                    wal.append_entry(&payload).map_err(|e| e.to_string())?;
                }
                if skip_sync {
                    wal.flush().map_err(|e| e.to_string())?;
                }
                let seconds = started.elapsed().as_secs_f64();
                let sequence = wal.stats().sequence;
                drop(wal);
                let _ = std::fs::remove_file(&path);
                if sequence != count {
                    return Err(format!("{count} appends left sequence {sequence}"));
                }
                Ok(seconds)
            }

            pub fn open(
                path: &Path,
                offset: u64,
                size: u64,
                checkpoint: u64,
                records: u64,
            ) -> Result<f64, String> {
                let file = File::open(path).map_err(|e| e.to_string())?;
                let header = header(offset, size, checkpoint);
                let started = Instant::now();
                let wal = <$wal>::open_read_only(&file, &header).map_err(|e| e.to_string())?;
                let seconds = started.elapsed().as_secs_f64();
                let sequence = wal.stats().sequence;
                if sequence != checkpoint + records {
                    return Err(format!("open found sequence {sequence}, meant {}", checkpoint + records));
                }
                Ok(seconds)
            }
        }
    };
}

workloads!(original, original_driver::wal::EmbeddedWal);
workloads!(port, memvid_wal::EmbeddedWal);

fn number(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("not a number: {text}"))
}

fn run(args: &[String]) -> Result<(String, Vec<f64>), String> {
    let usage = || "usage: see the comment at the top of bench/src/main.rs".to_string();
    let (workload, implementation) = (args.first().ok_or_else(usage)?, args.get(1).ok_or_else(usage)?);
    let repeats = number(args.last().ok_or_else(usage)?)?;
    let mut seconds = Vec::new();
    for _ in 0..repeats {
        seconds.push(match (workload.as_str(), implementation.as_str(), args.len()) {
            ("appends", which, 7) => {
                let (dir, payload, count) = (Path::new(&args[2]), number(&args[3])?, number(&args[4])?);
                let skip = args[5] == "1";
                match which {
                    "original" => original::appends(dir, payload, count, skip)?,
                    "port" => port::appends(dir, payload, count, skip)?,
                    _ => return Err(usage()),
                }
            }
            ("open", which, 8) => {
                let path = Path::new(&args[2]);
                let (offset, size, checkpoint, records) =
                    (number(&args[3])?, number(&args[4])?, number(&args[5])?, number(&args[6])?);
                match which {
                    "original" => original::open(path, offset, size, checkpoint, records)?,
                    "port" => port::open(path, offset, size, checkpoint, records)?,
                    _ => return Err(usage()),
                }
            }
            _ => return Err(usage()),
        });
    }
    Ok((format!("{workload} {implementation}"), seconds))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok((what, seconds)) => {
            let list: Vec<String> = seconds.iter().map(|s| format!("{s:.9}")).collect();
            println!("{{\"workload\": \"{what}\", \"seconds\": [{}]}}", list.join(", "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("wal-bench: {error}");
            ExitCode::from(2)
        }
    }
}
