//! The driver protocol of spec/porting.md (P1), shared by the Rust drivers:
//! the JSON-lines loop, the protocol's own errors (P1.2: `Protocol`,
//! `NotOpen`, `AlreadyOpen`, `Unsupported`), and a replayer of the
//! conformance vectors (P5) for `cargo test`.
//!
//! A driver implements [`Port`]: one method per WAL request. Everything that
//! is the protocol's business rather than the WAL's (parsing, `hello`, `quit`,
//! "no WAL open", "open while open", unknown requests) is decided here once,
//! so that every Rust driver answers it the same way.

pub mod json;
pub mod memvid;
pub mod vectors;

use std::io::{BufRead, Write};

pub use json::Value;

pub const PROTOCOL: u64 = 1;

/// An `{"ok": false, "error": ...}` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: String,
    pub reason: String,
    /// Only for `WalCorruption` (P1.2).
    pub offset: Option<u64>,
}

impl Failure {
    #[must_use]
    pub fn new(kind: &str, reason: impl Into<String>) -> Self {
        Self { kind: kind.to_string(), reason: reason.into(), offset: None }
    }

    /// P3: an `Io` failure's reason is the OS's description alone. Rust's
    /// `io::Error` appends " (os error N)", which no other language does.
    #[must_use]
    pub fn io(error: &std::io::Error) -> Self {
        Self::new("Io", normalise_io_reason(&error.to_string()))
    }

    fn to_value(&self) -> Value {
        let mut error = vec![
            ("kind".to_string(), Value::Str(self.kind.clone())),
            ("reason".to_string(), Value::Str(self.reason.clone())),
        ];
        if let Some(offset) = self.offset {
            error.push(("offset".to_string(), Value::Int(offset)));
        }
        Value::Object(vec![("ok".into(), Value::Bool(false)), ("error".into(), Value::Object(error))])
    }
}

/// P3: strip Rust's " (os error N)" from an `io::Error`'s Display text.
#[must_use]
pub fn normalise_io_reason(text: &str) -> String {
    if let Some(start) = text.rfind(" (os error ") {
        if text.ends_with(')') && text[start + 11..text.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            return text[..start].to_string();
        }
    }
    text.to_string()
}

/// The fields of an `open` request (P1.4): the header's WAL fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    pub path: String,
    pub region_offset: u64,
    pub region_size: u64,
    pub checkpoint_pos: u64,
    pub checkpoint_sequence: u64,
    pub read_only: bool,
}

/// The volatile fields of an open WAL (S1.2), for the optional `state` request.
pub use memvid_wal::VolatileState as State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub region_size: u64,
    pub pending_bytes: u64,
    pub appends_since_checkpoint: u64,
    pub sequence: u64,
}

pub type Records = Vec<(u64, Vec<u8>)>;

/// One WAL implementation behind the protocol. The loop in [`Driver`] calls
/// the WAL methods only while `is_open()`, and `open` only while it is not.
pub trait Port {
    fn name(&self) -> String;
    fn is_open(&self) -> bool;
    /// On failure nothing may stay open (P1.4).
    fn open(&mut self, request: &OpenRequest) -> Result<(), Failure>;
    fn append(&mut self, payload: &[u8]) -> Result<u64, Failure>;
    /// `record_checkpoint` on the header the WAL was opened with; returns the
    /// two fields it wrote. Writes nothing to the file's header (P1.4).
    fn checkpoint(&mut self) -> Result<(u64, u64), Failure>;
    fn records_after(&mut self, sequence: u64) -> Result<Records, Failure>;
    fn pending(&mut self) -> Result<Records, Failure>;
    fn stats(&self) -> Stats;
    fn should_checkpoint(&self) -> bool;
    fn set_skip_sync(&mut self, skip: bool);
    fn flush(&mut self) -> Result<(), Failure>;
    /// Drop the WAL and close the file; writes nothing.
    fn close(&mut self);
    /// None: `state` is unsupported.
    fn state(&self) -> Option<State>;
}

/// Dispatches requests to a [`Port`].
pub struct Driver<P: Port> {
    pub port: P,
}

fn protocol_error(reason: impl Into<String>) -> Failure {
    Failure::new("Protocol", reason)
}

fn field<'a>(request: &'a Value, name: &str) -> Result<&'a Value, Failure> {
    request.get(name).ok_or_else(|| protocol_error(format!("missing field {name:?}")))
}

fn integer(request: &Value, name: &str) -> Result<u64, Failure> {
    field(request, name)?
        .as_u64()
        .ok_or_else(|| protocol_error(format!("{name:?} must be a non-negative integer")))
}

fn boolean(request: &Value, name: &str) -> Result<bool, Failure> {
    field(request, name)?.as_bool().ok_or_else(|| protocol_error(format!("{name:?} must be a boolean")))
}

fn hex_decode(text: &str) -> Result<Vec<u8>, Failure> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(protocol_error("payload: odd number of hex digits"));
    }
    bytes
        .chunks(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => Ok(high << 4 | low),
            _ => Err(protocol_error("payload: not a hex string")),
        })
        .collect()
}

#[must_use]
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

fn records_value(records: Records) -> Vec<(String, Value)> {
    let list = records
        .into_iter()
        .map(|(sequence, payload)| {
            Value::Object(vec![
                ("sequence".into(), Value::Int(sequence)),
                ("payload".into(), Value::Str(hex_encode(&payload))),
            ])
        })
        .collect();
    vec![("records".into(), Value::Array(list))]
}

fn state_value(state: State) -> Vec<(String, Value)> {
    vec![
        ("write_head".into(), Value::Int(state.write_head)),
        ("checkpoint_head".into(), Value::Int(state.checkpoint_head)),
        ("pending_bytes".into(), Value::Int(state.pending_bytes)),
        ("sequence".into(), Value::Int(state.sequence)),
        ("checkpoint_sequence".into(), Value::Int(state.checkpoint_sequence)),
        ("appends_since_checkpoint".into(), Value::Int(state.appends_since_checkpoint)),
    ]
}

/// Requests that need an open WAL.
const NEEDS_WAL: &[&str] = &[
    "append",
    "checkpoint",
    "records_after",
    "pending",
    "stats",
    "should_checkpoint",
    "skip_sync",
    "flush",
    "state",
];

impl<P: Port> Driver<P> {
    pub fn new(port: P) -> Self {
        Self { port }
    }

    /// The answer to one request line, and whether the driver should exit.
    pub fn answer_line(&mut self, line: &str) -> (Value, bool) {
        let request = match json::parse(line) {
            Ok(request @ Value::Object(_)) => request,
            Ok(_) => return (protocol_error("a request is a JSON object").to_value(), false),
            Err(error) => return (protocol_error(format!("not JSON: {error}")).to_value(), false),
        };
        let quit = request.get("op").and_then(Value::as_str) == Some("quit");
        (self.answer(&request), quit)
    }

    /// The answer to one parsed request.
    pub fn answer(&mut self, request: &Value) -> Value {
        match self.dispatch(request) {
            Ok(mut fields) => {
                fields.insert(0, ("ok".into(), Value::Bool(true)));
                Value::Object(fields)
            }
            Err(failure) => failure.to_value(),
        }
    }

    fn dispatch(&mut self, request: &Value) -> Result<Vec<(String, Value)>, Failure> {
        let op = field(request, "op")?.as_str().ok_or_else(|| protocol_error("\"op\" must be a string"))?;
        if NEEDS_WAL.contains(&op) && !self.port.is_open() {
            return Err(Failure::new("NotOpen", format!("{op}: no WAL is open")));
        }
        let port = &mut self.port;
        Ok(match op {
            "hello" => {
                vec![("protocol".into(), Value::Int(PROTOCOL)), ("name".into(), Value::Str(port.name()))]
            }
            "open" => {
                if port.is_open() {
                    return Err(Failure::new("AlreadyOpen", "open: a WAL is already open; close it first"));
                }
                let open = OpenRequest {
                    path: field(request, "path")?
                        .as_str()
                        .ok_or_else(|| protocol_error("\"path\" must be a string"))?
                        .to_string(),
                    region_offset: integer(request, "region_offset")?,
                    region_size: integer(request, "region_size")?,
                    checkpoint_pos: integer(request, "checkpoint_pos")?,
                    checkpoint_sequence: integer(request, "checkpoint_sequence")?,
                    read_only: boolean(request, "read_only")?,
                };
                port.open(&open)?;
                vec![]
            }
            "append" => {
                let payload = field(request, "payload")?
                    .as_str()
                    .ok_or_else(|| protocol_error("\"payload\" must be a hex string"))?;
                let payload = hex_decode(payload)?;
                vec![("sequence".into(), Value::Int(port.append(&payload)?))]
            }
            "checkpoint" => {
                let (position, sequence) = port.checkpoint()?;
                vec![
                    ("checkpoint_pos".into(), Value::Int(position)),
                    ("checkpoint_sequence".into(), Value::Int(sequence)),
                ]
            }
            "records_after" => {
                let sequence = integer(request, "sequence")?;
                records_value(port.records_after(sequence)?)
            }
            "pending" => records_value(port.pending()?),
            "stats" => {
                let stats = port.stats();
                vec![
                    ("region_size".into(), Value::Int(stats.region_size)),
                    ("pending_bytes".into(), Value::Int(stats.pending_bytes)),
                    ("appends_since_checkpoint".into(), Value::Int(stats.appends_since_checkpoint)),
                    ("sequence".into(), Value::Int(stats.sequence)),
                ]
            }
            "should_checkpoint" => vec![("value".into(), Value::Bool(port.should_checkpoint()))],
            "skip_sync" => {
                port.set_skip_sync(boolean(request, "skip")?);
                vec![]
            }
            "flush" => {
                port.flush()?;
                vec![]
            }
            "close" => {
                port.close();
                vec![]
            }
            "state" => match port.state() {
                Some(state) => state_value(state),
                None => {
                    return Err(Failure::new("Unsupported", "state: the private fields are not reachable"))
                }
            },
            "quit" => vec![],
            other => return Err(Failure::new("Unsupported", format!("unknown op {other:?}"))),
        })
    }

    /// Serve requests from `input` until `quit` or the end of input (P1.1).
    pub fn serve(&mut self, input: impl BufRead, mut output: impl Write) -> std::io::Result<()> {
        for line in input.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let (answer, quit) = self.answer_line(&line);
            let mut text = answer.to_json();
            text.push('\n');
            output.write_all(text.as_bytes())?;
            output.flush()?;
            if quit {
                break;
            }
        }
        self.port.close();
        Ok(())
    }
}

/// `main` of a driver binary: serve stdin to stdout.
pub fn run<P: Port>(port: P) -> std::process::ExitCode {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut driver = Driver::new(port);
    match driver.serve(stdin.lock(), stdout.lock()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("driver: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reasons_lose_the_os_error_suffix() {
        let error = std::io::Error::from_raw_os_error(2);
        assert_eq!(Failure::io(&error).reason, "No such file or directory");
        assert_eq!(normalise_io_reason("failed to fill whole buffer"), "failed to fill whole buffer");
        assert_eq!(normalise_io_reason("odd (os error x)"), "odd (os error x)");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_decode("00ff7A").unwrap(), vec![0, 255, 0x7a]);
        assert!(hex_decode("0").is_err() && hex_decode("zz").is_err());
        assert_eq!(hex_encode(&[0, 255, 0x7a]), "00ff7a");
    }
}
