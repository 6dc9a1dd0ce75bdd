//! `fixed-driver`: serve spec/porting.md's protocol on stdin/stdout with the
//! Rust port of FIXED.

fn main() -> std::process::ExitCode {
    walproto::run(fixed_driver::FixedPort::default())
}
