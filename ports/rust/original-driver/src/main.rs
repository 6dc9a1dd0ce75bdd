//! `original-driver`: serve spec/porting.md's protocol on stdin/stdout with
//! memvid's original WAL module.

fn main() -> std::process::ExitCode {
    walproto::run(original_driver::OriginalPort::default())
}
