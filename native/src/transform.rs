//! One Firehose record, as `firehose.transform_record` handles it, or `Defer` when only Python can say.

use crate::decode::{decode_base64, gunzip};
use crate::json::{self, Value};
use crate::logevent::{Defer, RecordContext};
use crate::timestamp::civil_from_days;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// NDJSON of every event (newline-terminated), the `dt`/`hour` keys of the earliest, and the event count.
    Ok {
        data: Vec<u8>,
        dt: String,
        hour: String,
        log_events: usize,
    },
    /// The reason of a `Dropped` outcome.
    Dropped(&'static str),
    /// Not handled here: the Python path decides (every error outcome comes from there).
    Defer,
}

pub fn transform(data: &[u8]) -> Outcome {
    transform_inner(data).unwrap_or(Outcome::Defer)
}

fn transform_inner(data: &[u8]) -> Result<Outcome, Defer> {
    let compressed = decode_base64(data).ok_or(Defer)?;
    let raw = gunzip(&compressed).ok_or(Defer)?;
    let text = std::str::from_utf8(&raw).map_err(|_| Defer)?;
    let doc = json::parse(text).map_err(|_| Defer)?;
    if !matches!(doc, Value::Object(_)) {
        return Err(Defer);
    }
    let is_control = match doc.get("messageType") {
        Some(Value::Str(kind)) if kind == "DATA_MESSAGE" => false,
        Some(Value::Str(kind)) if kind == "CONTROL_MESSAGE" => true,
        _ => return Err(Defer),
    };
    let events: &[Value<'_>] = match doc.get("logEvents") {
        Some(Value::Array(events)) => events,
        None => &[],
        Some(_) => return Err(Defer),
    };
    let field = |name: &str| match doc.get(name) {
        Some(Value::Str(text)) => Ok(text.as_ref()),
        _ => Err(Defer),
    };
    if is_control {
        return Ok(Outcome::Dropped("control-message"));
    }
    let (owner, log_group, log_stream) = (field("owner")?, field("logGroup")?, field("logStream")?);
    if events.is_empty() {
        return Ok(Outcome::Dropped("no-log-events"));
    }
    let context = RecordContext::new(log_group, log_stream, owner);
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 2);
    let mut earliest = i64::MAX;
    for event in events {
        let (Some(Value::Str(id)), Some(Value::Int(timestamp)), Some(Value::Str(message))) =
            (event.get("id"), event.get("timestamp"), event.get("message"))
        else {
            return Err(Defer);
        };
        let parsed = context.parse_into(&mut out, id, *timestamp, message)?;
        earliest = earliest.min(parsed);
        out.push(b'\n');
    }
    let (dt, hour) = partition_keys(earliest).ok_or(Defer)?;
    Ok(Outcome::Ok {
        data: out,
        dt,
        hour,
        log_events: events.len(),
    })
}

/// `firehose.partition_keys_for`, for event times from 1970 to 9999.
fn partition_keys(timestamp_ms: i64) -> Option<(String, String)> {
    if !(0..253_402_300_800_000).contains(&timestamp_ms) {
        return None;
    }
    let seconds = timestamp_ms / 1000;
    let (year, month, day) = civil_from_days(seconds / 86_400);
    Some((
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}", seconds % 86_400 / 3600),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_of_event_time() {
        assert_eq!(
            partition_keys(1_767_261_600_000),
            Some(("2026-01-01".into(), "10".into()))
        );
        assert_eq!(partition_keys(-1), None);
    }
}
