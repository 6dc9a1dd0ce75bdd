//! Replay the conformance vectors of spec/vectors (spec/porting.md P5) in
//! process, without Python: the runner's part (P1.3, P2.2) in Rust.

use std::fs;
use std::path::{Path, PathBuf};

use crate::json::{self, Value};
use crate::{Driver, Port};

const PREFIX_BYTE: u8 = 0xA5;
const SUFFIX_BYTE: u8 = 0x5A;
const SUFFIX_SIZE: usize = 64;

/// What one replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub requests: usize,
    pub states_compared: usize,
    pub rewrites: usize,
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// P1.3: the canaries around the region; a short file (S3.2) ends with the region's bytes.
fn write_file(path: &Path, offset: usize, region: &[u8], short: bool) -> Result<(), String> {
    let mut bytes = vec![PREFIX_BYTE; offset];
    bytes.extend_from_slice(region);
    if !short {
        bytes.extend(std::iter::repeat_n(SUFFIX_BYTE, SUFFIX_SIZE));
    }
    fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn substitute_path(request: &Value, path: &Path) -> Value {
    match request {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    if k == "path" && v.as_str() == Some("@") {
                        (k.clone(), Value::Str(path.display().to_string()))
                    } else {
                        (k.clone(), v.clone())
                    }
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replay the vector at `vector` on `driver`, over a file in `workdir`.
/// The error names the step and the first difference.
pub fn replay<P: Port>(vector: &Path, driver: &mut Driver<P>, workdir: &Path) -> Result<Replayed, String> {
    let text = fs::read_to_string(vector).map_err(|e| format!("{}: {e}", vector.display()))?;
    let document = json::parse(&text)?;
    let offset = document.get("region_offset").and_then(Value::as_u64).ok_or("no region_offset")?;
    let offset = usize::try_from(offset).map_err(|e| e.to_string())?;
    let steps = document.get("steps").and_then(Value::as_array).ok_or("no steps")?;
    let name = vector.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let path: PathBuf = workdir.join(format!("{name}.mv2"));
    let mut replayed = Replayed::default();
    let mut supports_state = true;
    let mut region_size = 0;
    for (index, step) in steps.iter().enumerate() {
        let at = |what: String| format!("{name} step {index}: {what}");
        if let Some(file) = step.get("file") {
            let region = hex(file.get("region").and_then(Value::as_str).ok_or("file without region")?)?;
            let short = file.get("short").and_then(Value::as_bool).unwrap_or(false);
            if !short {
                region_size = region.len(); // a short file keeps the region's size
            }
            write_file(&path, offset, &region, short)?;
            replayed.rewrites += 1;
            continue;
        }
        let request = step.get("request").ok_or_else(|| at("neither request nor file".into()))?;
        let expected = step.get("response").ok_or_else(|| at("no response".into()))?;
        let answer = driver.answer(&substitute_path(request, &path));
        replayed.requests += 1;
        if !answer.same(expected) {
            return Err(at(differs(request.to_json(), expected, &answer)));
        }
        let data = fs::read(&path).map_err(|e| at(e.to_string()))?;
        let outside = step.get("outside_writes").and_then(Value::as_bool).unwrap_or(false);
        // S3.2: a short file ends where the model says, with no canary after it.
        let file_end =
            step.get("file_end").and_then(Value::as_u64).map(|end| (end as usize).min(region_size));
        let compared = file_end.unwrap_or(region_size);
        let intact = data.len() >= offset + compared
            && data[..offset].iter().all(|&b| b == PREFIX_BYTE)
            && (file_end.is_some()
                || (data.len() == offset + region_size + SUFFIX_SIZE
                    && data[offset + region_size..].iter().all(|&b| b == SUFFIX_BYTE)));
        if !intact && !outside {
            return Err(at(format!("the port changed the file outside the region (size {})", data.len())));
        }
        let mut want =
            hex(step.get("region").and_then(Value::as_str).ok_or_else(|| at("no region".into()))?)?;
        want.truncate(compared);
        let got = data.get(offset..offset + compared).unwrap_or(&[]);
        if got != want.as_slice() {
            let first = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
            return Err(at(format!("{}: region differs at offset {first}", request.to_json())));
        }
        if let (true, Some(state @ Value::Object(_))) = (supports_state, step.get("state")) {
            let mut answer = driver.answer(&json::parse(r#"{"op": "state"}"#)?);
            if answer.get("error").and_then(|e| e.get("kind")).and_then(Value::as_str) == Some("Unsupported")
            {
                supports_state = false;
                continue;
            }
            if let Value::Object(fields) = &mut answer {
                fields.retain(|(k, _)| k != "ok");
            }
            if !answer.same(state) {
                return Err(at(differs(format!("{}: state differs", request.to_json()), state, &answer)));
            }
            replayed.states_compared += 1;
        }
    }
    let _ = fs::remove_file(&path);
    Ok(replayed)
}

/// `what`, then the expected and the received value, one a line, aligned.
fn differs(what: String, expected: &Value, got: &Value) -> String {
    format!("{what}\n  expected {}\n  got      {}", expected.to_json(), got.to_json())
}

/// Replay every `*.json` in `directory`, in name order; the errors of all of them.
pub fn replay_directory<P: Port>(
    directory: &Path,
    mut make: impl FnMut() -> Driver<P>,
    workdir: &Path,
) -> Result<(usize, Replayed), Vec<String>> {
    let mut files: Vec<PathBuf> = match fs::read_dir(directory) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(error) => return Err(vec![format!("{}: {error}", directory.display())]),
    };
    files.sort();
    let mut total = Replayed::default();
    let mut errors = Vec::new();
    for file in &files {
        let mut driver = make();
        match replay(file, &mut driver, workdir) {
            Ok(done) => {
                total.requests += done.requests;
                total.states_compared += done.states_compared;
                total.rewrites += done.rewrites;
            }
            Err(error) => errors.push(error),
        }
        driver.port.close();
    }
    if files.is_empty() {
        errors.push(format!("no vectors in {}", directory.display()));
    }
    if errors.is_empty() {
        Ok((files.len(), total))
    } else {
        Err(errors)
    }
}

/// [`replay_directory`] over a temporary directory of its own: the vectors of
/// `design` (`fixed` or `original`) in this repository's spec/vectors.
pub fn replay_repository_vectors<P: Port>(
    design: &str,
    make: impl FnMut() -> Driver<P>,
) -> Result<(usize, Replayed), Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let workdir = std::env::temp_dir().join(format!("walproto-vectors-{design}-{}", std::process::id()));
    fs::create_dir_all(&workdir).map_err(|e| vec![e.to_string()])?;
    let result = replay_directory(&root.join("spec/vectors").join(design), make, &workdir);
    let _ = fs::remove_dir_all(&workdir);
    result
}
