//! `parsing.LogEventParser.parse`, writing each `LogEvent` as `orjson.dumps` would. Where Python's result
//! cannot be known for certain (non-ASCII text under a regular expression, numbers beyond 64 bits, strings
//! `float()` or `int()` might read differently), parsing returns `Defer` and the record goes to Python.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::bytes::{Captures, Regex};

use crate::json::{self, JsonError, Value};
use crate::output::{write_float, write_int, write_str};
use crate::pytext::{head_chars, is_py_space, parse_ascii_int, py_float, py_strip, PyFloat};
use crate::timestamp::parse_timestamp;

/// Python's result is not certain: hand the record to the Python path.
#[derive(Debug)]
pub struct Defer;

type Parsed<T> = Result<T, Defer>;

// `re` classes of the Python patterns, spelled out for ASCII text: `\s` includes \x1c-\x1f there.
macro_rules! py_re {
    ($pattern:expr) => {
        LazyLock::new(|| {
            let pattern = $pattern
                .replace(r"\S", r"[^\t\n\x0B\x0C\r\x1C-\x1F ]")
                .replace(r"\s", r"[\t\n\x0B\x0C\r\x1C-\x1F ]")
                .replace(r"\d", "[0-9]")
                .replace(r"\w", "[0-9A-Za-z_]");
            Regex::new(&format!("(?-u){pattern}")).expect("valid pattern")
        })
    };
}

static ACCESS_LOG: LazyLock<Regex> = py_re!(concat!(
    r#"\A(?P<ip>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: [^"]*)?" (?P<status>\d{3}) "#,
    r#"(?P<bytes>\d+|-)(?: "[^"]*" "(?P<ua>[^"]*)")?(?:.*?\s(?:(?:rt|request_time)=)?"?(?P<rt>\d+(?:\.\d+)?)"?)?\s*\z"#
));
static EMBEDDED_REQUEST: LazyLock<Regex> = py_re!(concat!(
    r#""(?P<method>GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (?P<path>\S+) HTTP/[\d.]+"\s+(?:status:?\s*)?"#,
    r"(?P<status>\d{3})(?:\s+len:?\s*(?P<bytes>\d+))?(?:\s+time:?\s*(?P<time>[\d.]+))?"
));
static STACK_TRACE: LazyLock<Regex> =
    py_re!(r"Traceback \(most recent call last\)|Exception in thread|\n\s+at \S+\(|\A\w+(?:\.\w+)*Exception: ");

const LEVEL_SEARCH_CHARS: usize = 160;

/// `_LEVEL_ALIASES`, keys already upper-case.
fn level_alias(upper: &str) -> Option<&'static str> {
    Some(match upper {
        "TRACE" | "FINEST" | "FINER" => "TRACE",
        "DEBUG" | "FINE" | "VERBOSE" => "DEBUG",
        "INFO" | "INFORMATION" | "NOTICE" | "LOG" => "INFO",
        "WARN" | "WARNING" => "WARN",
        "ERROR" | "ERR" | "SEVERE" => "ERROR",
        "FATAL" | "PANIC" => "FATAL",
        "CRITICAL" | "CRIT" | "ALERT" | "EMERG" | "EMERGENCY" => "CRITICAL",
        _ => return None,
    })
}

fn numeric_level(value: i64) -> Option<&'static str> {
    Some(match value {
        10 => "TRACE",
        20 => "DEBUG",
        30 => "INFO",
        40 => "WARN",
        50 => "ERROR",
        60 => "FATAL",
        _ => return None,
    })
}

/// `normalise_level`.
fn normalise_level(value: Option<&Value<'_>>) -> Parsed<Option<&'static str>> {
    match value {
        Some(Value::Str(text)) => {
            if !text.is_ascii() {
                return Err(Defer);
            }
            Ok(level_alias(&py_strip(text).to_ascii_uppercase()))
        }
        Some(Value::Int(number)) => Ok(numeric_level(*number)),
        _ => Ok(None),
    }
}

/// `re`'s `\s` on ASCII text.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

/// `re`'s `\w` on ASCII text.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

const UPPER_LEVELS: [&[u8]; 15] = [
    b"TRACE",
    b"DEBUG",
    b"INFO",
    b"NOTICE",
    b"WARN",
    b"WARNING",
    b"ERROR",
    b"ERR",
    b"SEVERE",
    b"FATAL",
    b"PANIC",
    b"CRITICAL",
    b"CRIT",
    b"EMERG",
    b"ALERT",
];
const DELIMITED_LEVELS: [&[u8]; 14] = [
    b"trace",
    b"debug",
    b"info",
    b"notice",
    b"warn",
    b"warning",
    b"error",
    b"err",
    b"severe",
    b"fatal",
    b"critical",
    b"crit",
    b"emerg",
    b"alert",
];

/// `_UPPER_LEVEL.search(head)`: `\b(WORD|...)\b` can only match a whole run of word characters, so the
/// first run that is one of the words.
fn upper_level(head: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    while i < head.len() {
        if !is_word(head[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < head.len() && is_word(head[i]) {
            i += 1;
        }
        let word = &head[start..i];
        if UPPER_LEVELS.contains(&word) {
            return Some(word);
        }
    }
    None
}

/// `_DELIMITED_LEVEL.search(head)`, case-insensitive: at each start, `^` (only at 0) then a delimiter
/// character, then the words in pattern order, each followed by `]`, `>`, `)`, `:`, `|` or `\s*:`.
fn delimited_level(head: &[u8]) -> Option<&[u8]> {
    let word_at = |q: usize| -> Option<&[u8]> {
        for word in DELIMITED_LEVELS {
            let end = q + word.len();
            if end <= head.len() && head[q..end].eq_ignore_ascii_case(word) {
                let mut e = end;
                if matches!(head.get(e), Some(b']' | b'>' | b')' | b':' | b'|')) {
                    return Some(&head[q..end]);
                }
                while e < head.len() && is_space(head[e]) {
                    e += 1;
                }
                if head.get(e) == Some(&b':') {
                    return Some(&head[q..end]);
                }
            }
        }
        None
    };
    for (p, &b) in head.iter().enumerate() {
        if p == 0 {
            if let Some(word) = word_at(0) {
                return Some(word);
            }
        }
        if matches!(b, b'[' | b'<' | b'(' | b'|') || is_space(b) {
            if let Some(word) = word_at(p + 1) {
                return Some(word);
            }
        }
    }
    None
}

/// `_KV_LEVEL.search(head)`: `\blevel="?(\w+)`, case-insensitive.
fn kv_level(head: &[u8]) -> Option<&[u8]> {
    let mut p = 0;
    while p + 6 <= head.len() {
        if head[p..p + 6].eq_ignore_ascii_case(b"level=") && (p == 0 || !is_word(head[p - 1])) {
            let mut q = p + 6;
            if head.get(q) == Some(&b'"') {
                q += 1;
            }
            let start = q;
            while q < head.len() && is_word(head[q]) {
                q += 1;
            }
            if q > start {
                return Some(&head[start..q]);
            }
        }
        p += 1;
    }
    None
}

/// `detect_text_level`.
fn detect_text_level(text: &str) -> Parsed<&'static str> {
    let head = head_chars(text, LEVEL_SEARCH_CHARS);
    if !head.is_ascii() {
        return Err(Defer);
    }
    let head = head.as_bytes();
    if let Some(word) = upper_level(head)
        .or_else(|| delimited_level(head))
        .or_else(|| kv_level(head))
    {
        let word = std::str::from_utf8(word).map_err(|_| Defer)?;
        if let Some(level) = level_alias(&word.to_ascii_uppercase()) {
            return Ok(level);
        }
    }
    if text.contains('\n') {
        if !text.is_ascii() {
            return Err(Defer);
        }
        if STACK_TRACE.is_match(text.as_bytes()) {
            return Ok("ERROR");
        }
    }
    Ok("INFO")
}

fn level_from_status(status: i64) -> &'static str {
    if status >= 500 {
        "ERROR"
    } else if status >= 400 {
        "WARN"
    } else {
        "INFO"
    }
}

/// `_to_int`: None when Python gives None.
fn to_int(value: Option<&Value<'_>>) -> Parsed<Option<i64>> {
    match value {
        Some(Value::Int(number)) => Ok(Some(*number)),
        Some(Value::Float(number)) => {
            if number.abs() < 9.2e18 {
                Ok(Some(number.trunc() as i64))
            } else {
                Err(Defer)
            }
        }
        Some(Value::OtherNumber) => Err(Defer),
        Some(Value::Str(text)) => {
            if !text.is_ascii() {
                return Err(Defer); // str.isdigit() and int() accept other digits
            }
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(None);
            }
            parse_ascii_int(text).map(Some).ok_or(Defer)
        }
        _ => Ok(None),
    }
}

/// `_to_float`: None when Python gives None.
fn to_float(value: Option<&Value<'_>>) -> Parsed<Option<f64>> {
    match value {
        Some(Value::Int(number)) => Ok(Some(*number as f64)),
        Some(Value::Float(number)) => Ok(Some(*number)),
        Some(Value::OtherNumber) => Err(Defer),
        Some(Value::Str(text)) => match py_float(text) {
            PyFloat::Value(number) => Ok(Some(number)),
            PyFloat::Invalid => Ok(None),
            PyFloat::Unsure => Err(Defer),
        },
        _ => Ok(None),
    }
}

/// `float(match)` of a `[\d.]+` group: a ValueError in Python fails the record, so only clean numbers here.
fn group_float(text: &[u8]) -> Parsed<f64> {
    let text = std::str::from_utf8(text).map_err(|_| Defer)?;
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        _ => Err(Defer),
    }
}

fn group_int(text: &[u8]) -> Parsed<i64> {
    parse_ascii_int(std::str::from_utf8(text).map_err(|_| Defer)?).ok_or(Defer)
}

fn group_str<'t>(text: &'t str, captures: &Captures<'_>, name: &str) -> Parsed<&'t str> {
    captures.name(name).map(|m| &text[m.start()..m.end()]).ok_or(Defer)
}

/// One event's JSON, written in the order Python assigns its keys. The record constants and the `service`
/// and `timestamp` values (which Python overwrites in place) are written by `begin`, before any other key.
struct EventWriter<'c, 'o> {
    context: &'c RecordContext,
    out: &'o mut Vec<u8>,
    event_id: &'c str,
    timestamp: i64,
    service: Option<&'c str>,
    begun: bool,
    level: &'static str,
    status: Option<i64>,
}

impl EventWriter<'_, '_> {
    fn begin(&mut self) {
        if self.begun {
            return;
        }
        self.begun = true;
        let out = &mut *self.out;
        out.extend_from_slice(b"{\"schema_version\":1,\"event_id\":");
        write_str(out, self.event_id);
        out.extend_from_slice(b",\"timestamp\":");
        write_int(out, self.timestamp);
        out.extend_from_slice(&self.context.prefix_group_stream_owner);
        out.extend_from_slice(b",\"service\":");
        match self.service {
            Some(service) => write_str(out, service),
            None => out.extend_from_slice(&self.context.base_service),
        }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        self.begin();
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        write_str(self.key(key), value);
    }

    fn int(&mut self, key: &str, value: i64) {
        write_int(self.key(key), value);
    }

    fn float(&mut self, key: &str, value: f64) {
        write_float(self.key(key), value);
    }

    fn level(&mut self, level: &'static str) {
        self.level = level;
        self.str("level", level);
    }

    fn status(&mut self, status: i64) {
        self.status = Some(status);
        self.int("status", status);
    }

    fn finish(&mut self) {
        self.begin();
        let error = matches!(self.level, "ERROR" | "FATAL" | "CRITICAL") || self.status.is_some_and(|s| s >= 500);
        self.out.extend_from_slice(if error {
            b",\"error\":true}"
        } else {
            b",\"error\":false}"
        });
    }
}

/// The per-record constants of `LogEventParser` with their JSON already written.
pub struct RecordContext {
    prefix_group_stream_owner: Vec<u8>,
    base_service: Vec<u8>,
}

impl RecordContext {
    pub fn new(log_group: &str, log_stream: &str, owner: &str) -> Self {
        let mut constants = Vec::new();
        constants.extend_from_slice(b",\"log_group\":");
        write_str(&mut constants, log_group);
        constants.extend_from_slice(b",\"log_stream\":");
        write_str(&mut constants, log_stream);
        constants.extend_from_slice(b",\"owner\":");
        write_str(&mut constants, owner);
        let mut base_service = Vec::new();
        write_str(&mut base_service, &service_from_log_group(log_group));
        RecordContext {
            prefix_group_stream_owner: constants,
            base_service,
        }
    }

    /// Parse one CloudWatch event and append its JSON to `out`; returns the event's timestamp.
    pub fn parse_into(&self, out: &mut Vec<u8>, event_id: &str, timestamp: i64, message: &str) -> Parsed<i64> {
        let stripped = py_strip(message);
        let first = stripped.as_bytes().first().copied();
        let doc = match first {
            Some(b'{') => match json::parse_log_line(stripped) {
                Ok(doc @ Value::Object(_)) => Some(doc),
                Ok(_) | Err(JsonError::Invalid) => None,
                Err(JsonError::Unsure) => return Err(Defer),
            },
            _ => None,
        };
        let mut event = EventWriter {
            context: self,
            out,
            event_id,
            timestamp,
            service: None,
            begun: false,
            level: "INFO",
            status: None,
        };
        let handled = match &doc {
            Some(doc) => {
                parse_json(&mut event, doc, stripped)?;
                true
            }
            None => false,
        } || match first {
            Some(b'S' | b'E' | b'R' | b'I') => parse_lambda_platform(&mut event, stripped)?,
            _ => false,
        } || match first {
            Some(b'0'..=b'9') => parse_access_log(&mut event, stripped)?,
            Some(b) if b >= 0x80 => return Err(Defer), // str.isdigit() of a non-ASCII character
            _ => false,
        };
        if !handled {
            parse_text(&mut event, stripped)?;
        }
        event.finish();
        Ok(event.timestamp)
    }
}

/// `service_from_log_group`.
pub fn service_from_log_group(log_group: &str) -> Cow<'_, str> {
    for prefix in ["/aws/lambda/", "/aws/ecs/", "/ecs/"] {
        if let Some(rest) = log_group.strip_prefix(prefix) {
            let name = rest.split('/').next().unwrap_or("");
            if !name.is_empty() {
                return Cow::Borrowed(name);
            }
        }
    }
    match log_group.split('/').rfind(|s| !s.is_empty()) {
        Some(segment) => Cow::Borrowed(segment),
        None => Cow::Borrowed("unknown"),
    }
}

// `_JSON_KEY_ROLES`: key → (field, priority, factor to ms).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Level,
    Message,
    Service,
    Status,
    Timestamp,
    Method,
    Path,
    Bytes,
    RequestId,
    ClientIp,
    UserAgent,
    Latency,
}

const ROLES: usize = 12;

fn key_role(key: &str) -> Option<(Role, u8, f64)> {
    use Role::*;
    Some(match key {
        "level" => (Level, 0, 1.0),
        "levelname" => (Level, 1, 1.0),
        "severity" => (Level, 2, 1.0),
        "log_level" => (Level, 3, 1.0),
        "loglevel" => (Level, 4, 1.0),
        "lvl" => (Level, 5, 1.0),
        "levelName" => (Level, 6, 1.0),
        "@l" => (Level, 7, 1.0),
        "message" => (Message, 0, 1.0),
        "msg" => (Message, 1, 1.0),
        "@message" => (Message, 2, 1.0),
        "@m" => (Message, 3, 1.0),
        "event" => (Message, 4, 1.0),
        "text" => (Message, 5, 1.0),
        "log" => (Message, 6, 1.0),
        "service" => (Service, 0, 1.0),
        "service_name" => (Service, 1, 1.0),
        "serviceName" => (Service, 2, 1.0),
        "app" => (Service, 3, 1.0),
        "application" => (Service, 4, 1.0),
        "status" => (Status, 0, 1.0),
        "status_code" => (Status, 1, 1.0),
        "statusCode" => (Status, 2, 1.0),
        "http_status" => (Status, 3, 1.0),
        "httpStatus" => (Status, 4, 1.0),
        "response_status" => (Status, 5, 1.0),
        "timestamp" => (Timestamp, 0, 1.0),
        "time" => (Timestamp, 1, 1.0),
        "ts" => (Timestamp, 2, 1.0),
        "@timestamp" => (Timestamp, 3, 1.0),
        "@t" => (Timestamp, 4, 1.0),
        "requestTimeEpoch" => (Timestamp, 5, 1.0),
        "datetime" => (Timestamp, 6, 1.0),
        "method" => (Method, 0, 1.0),
        "http_method" => (Method, 1, 1.0),
        "httpMethod" => (Method, 2, 1.0),
        "request_method" => (Method, 3, 1.0),
        "path" => (Path, 0, 1.0),
        "resourcePath" => (Path, 1, 1.0),
        "route" => (Path, 2, 1.0),
        "uri" => (Path, 3, 1.0),
        "url" => (Path, 4, 1.0),
        "request_uri" => (Path, 5, 1.0),
        "bytes" => (Bytes, 0, 1.0),
        "responseLength" => (Bytes, 1, 1.0),
        "bytes_sent" => (Bytes, 2, 1.0),
        "body_bytes_sent" => (Bytes, 3, 1.0),
        "response_size" => (Bytes, 4, 1.0),
        "request_id" => (RequestId, 0, 1.0),
        "requestId" => (RequestId, 1, 1.0),
        "aws_request_id" => (RequestId, 2, 1.0),
        "function_request_id" => (RequestId, 3, 1.0),
        "client_ip" => (ClientIp, 0, 1.0),
        "ip" => (ClientIp, 1, 1.0),
        "sourceIp" => (ClientIp, 2, 1.0),
        "remote_addr" => (ClientIp, 3, 1.0),
        "clientIp" => (ClientIp, 4, 1.0),
        "user_agent" => (UserAgent, 0, 1.0),
        "userAgent" => (UserAgent, 1, 1.0),
        "http_user_agent" => (UserAgent, 2, 1.0),
        "latency_ms" => (Latency, 0, 1.0),
        "duration_ms" => (Latency, 1, 1.0),
        "latency" => (Latency, 2, 1.0),
        "duration" => (Latency, 3, 1.0),
        "elapsed_ms" => (Latency, 4, 1.0),
        "response_time_ms" => (Latency, 5, 1.0),
        "responseLatency" => (Latency, 6, 1.0),
        "durationMs" => (Latency, 7, 1.0),
        "latencyMs" => (Latency, 8, 1.0),
        "took_ms" => (Latency, 9, 1.0),
        "request_time" => (Latency, 10, 1000.0),
        _ => return None,
    })
}

/// `_pick_json_fields`: per field, the value of the highest-priority key present that is neither null
/// nor "" (with the latency key's factor).
struct Picked<'v, 'a> {
    values: [Option<(u8, &'v Value<'a>, f64)>; ROLES],
}

impl<'v, 'a> Picked<'v, 'a> {
    fn new(members: &'v [(Cow<'a, str>, Value<'a>)]) -> Self {
        let mut values: [Option<(u8, &'v Value<'a>, f64)>; ROLES] = [None; ROLES];
        for (key, value) in members {
            if let Some((role, priority, factor)) = key_role(key) {
                if matches!(value, Value::Null) || matches!(value, Value::Str(s) if s.is_empty()) {
                    continue;
                }
                let slot = &mut values[role as usize];
                if slot.is_none_or(|(best, _, _)| priority < best) {
                    *slot = Some((priority, value, factor));
                }
            }
        }
        Picked { values }
    }

    fn get(&self, role: Role) -> Option<&'v Value<'a>> {
        self.values[role as usize].map(|(_, value, _)| value)
    }
}

fn has_duplicate_keys(members: &[(Cow<'_, str>, Value<'_>)]) -> bool {
    members
        .iter()
        .enumerate()
        .any(|(i, (key, _))| members[..i].iter().any(|(other, _)| other == key))
}

fn parse_json<'d>(event: &mut EventWriter<'d, '_>, doc: &'d Value<'d>, text: &'d str) -> Parsed<()> {
    let Value::Object(members) = doc else { return Err(Defer) };
    if has_duplicate_keys(members) {
        return Err(Defer);
    }
    if let Some(Value::Str(record_type)) = doc.get("type") {
        if record_type.starts_with("platform.") {
            return lambda_json_platform(event, doc, record_type, text);
        }
    }
    let picked = Picked::new(members);

    let mut service = picked.get(Role::Service);
    if let Some(inner @ Value::Object(_)) = service {
        service = inner.get("name");
    }
    if let Some(Value::Str(name)) = service {
        if !name.is_empty() {
            event.service = Some(name);
        }
    }
    if let Some(value) = picked.get(Role::Timestamp) {
        if let Some(parsed) = parse_timestamp(Some(value)).ok_or(Defer)? {
            event.timestamp = parsed;
        }
    }
    let message: &str = match picked.get(Role::Message) {
        Some(Value::Str(message)) => message,
        _ => text,
    };
    let is_access = doc.get("requestId").is_some()
        && doc.get("httpMethod").is_some()
        && (doc.get("status").is_some() || doc.get("statusCode").is_some());

    let status = to_int(picked.get(Role::Status))?;
    let mut level = normalise_level(picked.get(Role::Level))?;
    if level.is_none() {
        if let Some(log @ Value::Object(_)) = doc.get("log") {
            level = normalise_level(log.get("level"))?;
        }
    }
    let level = match level {
        Some(level) => level,
        None => match status {
            Some(status) => level_from_status(status),
            None => detect_text_level(message)?,
        },
    };
    let latency = match to_float(picked.get(Role::Latency))? {
        Some(number) => {
            let factor = picked.values[Role::Latency as usize].map_or(1.0, |(_, _, factor)| factor);
            let latency = number * factor;
            if !latency.is_finite() {
                return Err(Defer);
            }
            Some(latency)
        }
        None => None,
    };
    let size = to_int(picked.get(Role::Bytes))?;
    event.str("message", message);
    event.str("format", if is_access { "access_log" } else { "json" });
    event.level(level);
    if let Some(status) = status {
        event.status(status);
    }
    if let Some(latency) = latency {
        event.float("latency_ms", latency);
    }
    for (name, role) in [
        ("method", Role::Method),
        ("path", Role::Path),
        ("request_id", Role::RequestId),
        ("client_ip", Role::ClientIp),
        ("user_agent", Role::UserAgent),
    ] {
        if let Some(Value::Str(value)) = picked.get(role) {
            event.str(name, value);
        }
    }
    if let Some(size) = size {
        event.int("bytes", size);
    }
    Ok(())
}

fn lambda_json_platform<'d>(
    event: &mut EventWriter<'d, '_>,
    doc: &'d Value<'d>,
    record_type: &str,
    text: &'d str,
) -> Parsed<()> {
    let empty = Value::Object(Vec::new());
    let record = match doc.get("record") {
        Some(record @ Value::Object(_)) => record,
        _ => &empty,
    };
    if let Some(timestamp) = parse_timestamp(doc.get("time")).ok_or(Defer)? {
        event.timestamp = timestamp;
    }
    let metrics = match record.get("metrics") {
        Some(metrics @ Value::Object(_)) => metrics,
        _ => &empty,
    };
    let is_report = record_type == "platform.report";
    // Convert before writing: a Defer must come before any output of this event.
    let mut floats = [None; 3];
    let mut ints = [None; 2];
    if is_report {
        for (slot, key) in floats
            .iter_mut()
            .zip(["durationMs", "billedDurationMs", "initDurationMs"])
        {
            *slot = to_float(metrics.get(key))?;
        }
        for (slot, key) in ints.iter_mut().zip(["memorySizeMB", "maxMemoryUsedMB"]) {
            *slot = to_int(metrics.get(key))?;
        }
    }
    if let Some(Value::Str(request_id)) = record.get("requestId") {
        event.str("request_id", request_id);
    }
    event.str("message", text);
    if is_report {
        event.str("format", "lambda_report");
        for (value, name) in floats.into_iter().zip(["latency_ms", "billed_ms", "init_ms"]) {
            if let Some(value) = value {
                event.float(name, value);
            }
        }
        for (value, name) in ints.into_iter().zip(["memory_size_mb", "memory_used_mb"]) {
            if let Some(value) = value {
                event.int(name, value);
            }
        }
    } else {
        event.str("format", "lambda_platform");
    }
    match record.get("status") {
        Some(Value::Str(status)) if status != "success" => {
            event.str("lambda_status", status);
            event.level("ERROR");
        }
        _ => event.level("INFO"),
    }
    Ok(())
}

/// The groups of `_LAMBDA_REPORT.match(text)`.
struct Report<'t> {
    rid: &'t str,
    dur: &'t [u8],
    billed: &'t [u8],
    mem: &'t [u8],
    used: &'t [u8],
    init: Option<&'t [u8]>,
    status: Option<&'t str>,
}

/// `_LAMBDA_REPORT.match` on ASCII text. Every required part is a maximal run followed by a character the
/// run cannot contain, so no backtracking can change the groups; the optional Init group is taken when it
/// matches; `.*?Status: (\w+)` takes the first "Status: " + word character on the same line.
fn match_report(text: &str) -> Option<Report<'_>> {
    struct Cursor<'t> {
        s: &'t [u8],
        i: usize,
    }
    impl<'t> Cursor<'t> {
        fn lit(&mut self, literal: &[u8]) -> Option<()> {
            self.s[self.i..].starts_with(literal).then(|| self.i += literal.len())
        }
        fn run(&mut self, accept: impl Fn(u8) -> bool) -> Option<&'t [u8]> {
            let start = self.i;
            while self.i < self.s.len() && accept(self.s[self.i]) {
                self.i += 1;
            }
            (self.i > start).then(|| &self.s[start..self.i])
        }
    }
    let number = |b: u8| b.is_ascii_digit() || b == b'.';
    let digit = |b: u8| b.is_ascii_digit();
    let mut c = Cursor {
        s: text.as_bytes(),
        i: 0,
    };
    c.lit(b"REPORT RequestId: ")?;
    let rid_start = c.i;
    c.run(|b| !is_space(b))?;
    let rid = &text[rid_start..c.i];
    c.run(is_space)?;
    c.lit(b"Duration: ")?;
    let dur = c.run(number)?;
    c.lit(b" ms")?;
    c.run(is_space)?;
    c.lit(b"Billed Duration: ")?;
    let billed = c.run(number)?;
    c.lit(b" ms")?;
    c.run(is_space)?;
    c.lit(b"Memory Size: ")?;
    let mem = c.run(digit)?;
    c.lit(b" MB")?;
    c.run(is_space)?;
    c.lit(b"Max Memory Used: ")?;
    let used = c.run(digit)?;
    c.lit(b" MB")?;
    let saved = c.i;
    let init = (|| {
        c.run(is_space)?;
        c.lit(b"Init Duration: ")?;
        let init = c.run(number)?;
        c.lit(b" ms")?;
        Some(init)
    })();
    if init.is_none() {
        c.i = saved;
    }
    let line = &text[c.i..text[c.i..].find('\n').map_or(text.len(), |n| c.i + n)];
    let mut status = None;
    let mut from = 0;
    while let Some(found) = line[from..].find("Status: ") {
        let start = from + found + "Status: ".len();
        let end = line[start..]
            .bytes()
            .position(|b| !is_word(b))
            .map_or(line.len(), |n| start + n);
        if end > start {
            status = Some(&line[start..end]);
            break;
        }
        from = from + found + 1;
    }
    Some(Report {
        rid,
        dur,
        billed,
        mem,
        used,
        init,
        status,
    })
}

const LAMBDA_PLATFORM_PREFIXES: [&str; 5] = [
    "START RequestId:",
    "END RequestId:",
    "INIT_START",
    "INIT_REPORT",
    "EXTENSION",
];

fn parse_lambda_platform<'d>(event: &mut EventWriter<'d, '_>, text: &'d str) -> Parsed<bool> {
    if text.starts_with("REPORT RequestId:") {
        if !text.is_ascii() {
            return Err(Defer);
        }
        let Some(m) = match_report(text) else { return Ok(false) };
        let (dur, billed, mem, used) = (
            group_float(m.dur)?,
            group_float(m.billed)?,
            group_int(m.mem)?,
            group_int(m.used)?,
        );
        let init = m.init.map(group_float).transpose()?;
        event.str("format", "lambda_report");
        event.str("message", text);
        event.str("request_id", m.rid);
        event.float("latency_ms", dur);
        event.float("billed_ms", billed);
        event.int("memory_size_mb", mem);
        event.int("memory_used_mb", used);
        if let Some(init) = init {
            event.float("init_ms", init);
        }
        match m.status.map(str::to_ascii_lowercase) {
            Some(status) if status != "success" => {
                event.str("lambda_status", &status);
                event.level("ERROR");
            }
            _ => event.level("INFO"),
        }
        return Ok(true);
    }
    if LAMBDA_PLATFORM_PREFIXES.iter().any(|prefix| text.starts_with(prefix)) {
        event.str("format", "lambda_platform");
        event.str("message", text);
        event.level("INFO");
        if let Some(request_id) = lambda_request_id(text) {
            event.str("request_id", request_id);
        }
        return Ok(true);
    }
    Ok(false)
}

/// `RequestId: (\S+)` searched in `text`, with Python's Unicode `\S`.
fn lambda_request_id(text: &str) -> Option<&str> {
    const NEEDLE: &str = "RequestId: ";
    let mut from = 0;
    while let Some(found) = text[from..].find(NEEDLE) {
        let start = from + found + NEEDLE.len();
        let rest = &text[start..];
        let end = rest.find(is_py_space).unwrap_or(rest.len());
        if end > 0 {
            return Some(&rest[..end]);
        }
        from = from + found + 1;
    }
    None
}

fn parse_access_log<'d>(event: &mut EventWriter<'d, '_>, text: &'d str) -> Parsed<bool> {
    if text.contains('\n') {
        return Ok(false);
    }
    if !text.is_ascii() {
        return Err(Defer);
    }
    let m = match match_access_log(text.as_bytes()) {
        Some(AccessMatch::Found(m)) => m,
        Some(AccessMatch::NoMatch) => return Ok(false),
        None => {
            let Some(captures) = ACCESS_LOG.captures(text.as_bytes()) else {
                return Ok(false);
            };
            let span = |name: &str| captures.name(name).map(|m| m.range());
            AccessLog {
                ip: span("ip").ok_or(Defer)?,
                method: span("method").ok_or(Defer)?,
                path: span("path").ok_or(Defer)?,
                status: span("status").ok_or(Defer)?,
                bytes: span("bytes").ok_or(Defer)?,
                ua: span("ua"),
                rt: span("rt"),
            }
        }
    };
    let s = text.as_bytes();
    let status = group_int(&s[m.status.clone()])?;
    let size = if &s[m.bytes.clone()] == b"-" {
        None
    } else {
        Some(group_int(&s[m.bytes.clone()])?)
    };
    let latency = match m.rt.clone().map(|rt| &s[rt]) {
        Some(rt) if rt.contains(&b'.') => Some(group_float(rt)? * 1000.0),
        Some(rt) => {
            // int(rt) / 1000.0: exact below 2**53, where an integer converts to a double without rounding.
            let micros = group_int(rt)?;
            if micros >= 1 << 53 {
                return Err(Defer);
            }
            Some(micros as f64 / 1000.0)
        }
        None => None,
    };
    event.str("format", "access_log");
    event.str("message", text);
    event.level(level_from_status(status));
    event.status(status);
    event.str("method", &text[m.method]);
    event.str("path", &text[m.path]);
    event.str("client_ip", &text[m.ip]);
    if let Some(size) = size {
        event.int("bytes", size);
    }
    if let Some(ua) = m.ua {
        event.str("user_agent", &text[ua]);
    }
    if let Some(latency) = latency {
        event.float("latency_ms", latency);
    }
    Ok(true)
}

/// The groups of `_ACCESS_LOG.match`, as byte ranges of the line.
struct AccessLog {
    ip: Range<usize>,
    method: Range<usize>,
    path: Range<usize>,
    status: Range<usize>,
    bytes: Range<usize>,
    ua: Option<Range<usize>>,
    rt: Option<Range<usize>>,
}

enum AccessMatch {
    Found(AccessLog),
    NoMatch,
}

/// `_ACCESS_LOG.match` along the path a backtracking engine tries first: maximal runs, optional groups taken
/// when they match, the lazy `.*?` as short as it can be. When that path succeeds it is the match; when it
/// fails before the first real choice (the path's length) there is no match; otherwise None, and the
/// regular expression itself decides.
fn match_access_log(s: &[u8]) -> Option<AccessMatch> {
    let run = |mut i: usize, accept: &dyn Fn(u8) -> bool| {
        while i < s.len() && accept(s[i]) {
            i += 1;
        }
        i
    };
    let not_space = |b: u8| !is_space(b);
    let no_match = Some(AccessMatch::NoMatch);
    // Up to the method every part is forced.
    let ip_end = run(0, &not_space);
    if ip_end == 0 || s.get(ip_end) != Some(&b' ') {
        return no_match;
    }
    let mut i = ip_end + 1;
    for _ in 0..2 {
        let end = run(i, &not_space);
        if end == i || s.get(end) != Some(&b' ') {
            return no_match;
        }
        i = end + 1;
    }
    if s.get(i) != Some(&b'[') {
        return no_match;
    }
    let end = run(i + 1, &|b| b != b']');
    if end == i + 1 || s.get(end) != Some(&b']') || s.get(end + 1..end + 3) != Some(b" \"") {
        return no_match;
    }
    let method_start = end + 3;
    let method_end = run(method_start, &|b: u8| b.is_ascii_uppercase());
    if method_end == method_start || s.get(method_end) != Some(&b' ') {
        return no_match;
    }
    let path_start = method_end + 1;
    let path_end = run(path_start, &not_space);
    if path_end == path_start {
        return no_match;
    }
    // From here on a failure may be undone by backtracking: leave it to the regular expression.
    i = path_end;
    if s.get(i) == Some(&b' ') {
        i = run(i + 1, &|b| b != b'"');
    }
    if s.get(i..i + 2) != Some(b"\" ") {
        return None;
    }
    let status = i + 2..i + 5;
    if s.len() < status.end + 1 || !s[status.clone()].iter().all(u8::is_ascii_digit) || s[status.end] != b' ' {
        return None;
    }
    let bytes_start = status.end + 1;
    let bytes_end = match s.get(bytes_start) {
        Some(b'0'..=b'9') => run(bytes_start, &|b: u8| b.is_ascii_digit()),
        Some(b'-') => bytes_start + 1,
        _ => return None,
    };
    i = bytes_end;
    let mut ua = None;
    if s.get(i..i + 2) == Some(b" \"") {
        let referer_end = run(i + 2, &|b| b != b'"');
        if s.get(referer_end..referer_end + 3) == Some(b"\" \"") {
            let ua_end = run(referer_end + 3, &|b| b != b'"');
            if s.get(ua_end) == Some(&b'"') {
                ua = Some(referer_end + 3..ua_end);
                i = ua_end + 1;
            }
        }
    }
    let at_end = |from: usize| run(from, &is_space) == s.len();
    // (?:.*?\s(?:(?:rt|request_time)=)?"?(\d+(?:\.\d+)?)"?)?\s*$
    let mut rt = None;
    for w in i..s.len() {
        if !is_space(s[w]) {
            continue;
        }
        let mut j = w + 1;
        if s[j..].starts_with(b"rt=") {
            j += 3;
        } else if s[j..].starts_with(b"request_time=") {
            j += 13;
        }
        if s.get(j) == Some(&b'"') {
            j += 1;
        }
        let digits_end = run(j, &|b: u8| b.is_ascii_digit());
        if digits_end == j {
            continue;
        }
        let mut end = digits_end;
        if s.get(end) == Some(&b'.') {
            let fraction_end = run(end + 1, &|b: u8| b.is_ascii_digit());
            if fraction_end > end + 1 {
                end = fraction_end;
            }
        }
        let mut after = end;
        if s.get(after) == Some(&b'"') {
            after += 1;
        }
        if at_end(after) {
            rt = Some(j..end);
            break;
        }
    }
    if rt.is_none() && !at_end(i) {
        return None;
    }
    Some(AccessMatch::Found(AccessLog {
        ip: 0..ip_end,
        method: method_start..method_end,
        path: path_start..path_end,
        status,
        bytes: bytes_start..bytes_end,
        ua,
        rt,
    }))
}

fn parse_text<'d>(event: &mut EventWriter<'d, '_>, text: &'d str) -> Parsed<()> {
    let mut level = detect_text_level(text)?;
    let mut request = None;
    if text.contains("\" ") {
        if !text.is_ascii() {
            return Err(Defer);
        }
        if let Some(m) = EMBEDDED_REQUEST.captures(text.as_bytes()) {
            let status = group_int(&m["status"])?;
            let size = m.name("bytes").map(|size| group_int(size.as_bytes())).transpose()?;
            let latency = m.name("time").map(|time| group_float(time.as_bytes())).transpose()?;
            let (method, path) = (group_str(text, &m, "method")?, group_str(text, &m, "path")?);
            if level == "INFO" && status >= 400 {
                level = level_from_status(status);
            }
            request = Some((status, method, path, size, latency));
        }
    }
    event.str("format", "text");
    event.str("message", text);
    if let Some((status, method, path, size, latency)) = request {
        event.status(status);
        event.str("method", method);
        event.str("path", path);
        if let Some(size) = size {
            event.int("bytes", size);
        }
        if let Some(latency) = latency {
            event.float("latency_ms", latency * 1000.0);
        }
    }
    event.level(level);
    Ok(())
}
