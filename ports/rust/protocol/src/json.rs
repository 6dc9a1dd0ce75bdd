//! The JSON the driver protocol needs (spec/porting.md P1.1): objects, arrays,
//! strings, booleans, null and integers. Integers are kept as unsigned 64-bit
//! values (sequences reach 2^64 - 1); anything else numeric is refused, since
//! no request carries a fraction or a negative number.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(u64),
    Str(String),
    Array(Vec<Value>),
    /// Keys in the order they were written, so answers print as built.
    Object(Vec<(String, Value)>),
}

impl Value {
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Objects compare as maps (the runner's dict equality), everything else exactly.
    #[must_use]
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| other.get(k).is_some_and(|w| v.same(w)))
                    && b.iter().all(|(k, _)| self.get(k).is_some())
            }
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            _ => self == other,
        }
    }

    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Str(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(key, out);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parse one JSON document; the error says where and why.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut parser = Parser { bytes: text.as_bytes(), at: 0 };
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.at != parser.bytes.len() {
        return Err(format!("trailing characters at {}", parser.at));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.bytes.len() && matches!(self.bytes[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at {}", self.at))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            self.error(&format!("expected '{}'", byte as char))
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            self.error("invalid literal")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return self.error("nested too deeply");
        }
        self.skip_space();
        match self.peek() {
            None => self.error("unexpected end"),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'0'..=b'9') => self.integer(),
            Some(b'-') => self.error("negative numbers are not part of the protocol"),
            Some(_) => self.error("unexpected character"),
        }
    }

    fn integer(&mut self) -> Result<Value, String> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return self.error("only integers are part of the protocol");
        }
        let digits = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("");
        if digits.len() > 1 && digits.starts_with('0') {
            return self.error("leading zero");
        }
        digits.parse::<u64>().map(Value::Int).map_err(|_| format!("integer out of u64 range at {start}"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.at;
            while !matches!(self.peek(), None | Some(b'"' | b'\\')) {
                if self.bytes[self.at] < 0x20 {
                    return self.error("control character in string");
                }
                self.at += 1;
            }
            out.push_str(std::str::from_utf8(&self.bytes[start..self.at]).map_err(|e| e.to_string())?);
            match self.peek() {
                None => return self.error("unterminated string"),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                _ => {
                    self.at += 1;
                    let escape = self.peek().ok_or_else(|| "unterminated escape".to_string())?;
                    self.at += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                if !self.bytes[self.at..].starts_with(b"\\u") {
                                    return self.error("lone surrogate");
                                }
                                self.at += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return self.error("invalid surrogate pair");
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            out.push(char::from_u32(code).ok_or_else(|| "invalid code point".to_string())?);
                        }
                        _ => return self.error("invalid escape"),
                    }
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or_else(|| "short \\u escape".to_string())?;
        let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
        let code = u32::from_str_radix(text, 16).map_err(|_| format!("invalid \\u escape at {}", self.at))?;
        self.at += 4;
        Ok(code)
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        if self.closes(b']') {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            if self.comma_or_closes(b']')? {
                return Ok(Value::Array(items));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        self.expect(b'{')?;
        let mut fields: Vec<(String, Value)> = Vec::new();
        if self.closes(b'}') {
            return Ok(Value::Object(fields));
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            // Python's json keeps the last of repeated keys; so does this.
            fields.retain(|(k, _)| *k != key);
            fields.push((key, value));
            if self.comma_or_closes(b'}')? {
                return Ok(Value::Object(fields));
            }
        }
    }

    /// Past `close` (true) if it comes next, after white space; else nothing read past the space.
    fn closes(&mut self, close: u8) -> bool {
        self.skip_space();
        let closed = self.peek() == Some(close);
        if closed {
            self.at += 1;
        }
        closed
    }

    /// After an array's item or an object's field: past `close` (true) or past a comma (false).
    fn comma_or_closes(&mut self, close: u8) -> Result<bool, String> {
        if self.closes(close) {
            return Ok(true);
        }
        if self.peek() == Some(b',') {
            self.at += 1;
            return Ok(false);
        }
        self.error(&format!("expected ',' or '{}'", close as char))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_request() {
        let text = r#"{"op": "open", "path": "/tmp/a \"b\"\u00e9", "region_size": 18446744073709551615, "read_only": false, "x": [1, null]}"#;
        let value = parse(text).unwrap();
        assert_eq!(value.get("region_size").and_then(Value::as_u64), Some(u64::MAX));
        assert_eq!(value.get("path").and_then(Value::as_str), Some("/tmp/a \"b\"\u{e9}"));
        assert_eq!(parse(&value.to_json()).unwrap(), value);
    }

    #[test]
    fn refuses_what_the_protocol_has_not() {
        for bad in
            ["{", "-1", "1.5", "18446744073709551616", "{\"a\" 1}", "[1,]", "\"\\ud800\"", "01", "{} x"]
        {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn names_the_closing_byte_it_expected() {
        assert_eq!(parse("[1 2]"), Err("expected ',' or ']' at 3".to_string()));
        assert_eq!(parse(r#"{"a": 1 2}"#), Err("expected ',' or '}' at 8".to_string()));
        assert_eq!(parse("[ ]"), Ok(Value::Array(Vec::new())));
        assert_eq!(parse(r#"{ "a" : [ 1 , { } ] }"#).unwrap().to_json(), r#"{"a": [1, {}]}"#);
    }

    #[test]
    fn surrogate_pairs_and_map_equality() {
        assert_eq!(parse(r#""\ud83d\ude00""#).unwrap(), Value::Str("\u{1F600}".into()));
        let a = parse(r#"{"a": 1, "b": [true]}"#).unwrap();
        let b = parse(r#"{"b": [true], "a": 1}"#).unwrap();
        assert!(a.same(&b));
        assert!(!a.same(&parse(r#"{"a": 1}"#).unwrap()));
    }
}
