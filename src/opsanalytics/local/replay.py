"""Pack a user's own log files into CloudWatch Logs subscription payloads, as a subscription filter would.

Accepted input, detected per file:
- the JSON that ``aws logs filter-log-events`` / ``get-log-events`` print (``{"events": [...]}``), whose
  events keep their own timestamps and log stream names;
- a CloudWatch Logs export to S3, or any text or JSON-lines file: one log event per line. A line's time is
  its leading ISO-8601 timestamp, or a JSON line's ``timestamp``/``time``/``@timestamp`` field; lines without
  one are spaced `interval_ms` apart from `start_ms`. A line that starts with whitespace continues the
  previous event (stack traces), as CloudWatch agents group them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from opsanalytics.local.samples import cloudwatch_event_id
from opsanalytics.logevents.cloudwatch import encode_subscription_payload
from opsanalytics.logevents.parsing import parse_timestamp

# CloudWatch Logs caps a PutLogEvents batch at 10,000 events and 1,048,576 bytes (the UTF-8 messages plus 26 bytes
# each); subscription deliveries are no larger.
MAX_EVENTS_PER_PAYLOAD: Final = 10_000
MAX_PAYLOAD_BYTES: Final = 1_000_000
# A delivery holds what one stream wrote in a short span: agents and the Lambda runtime flush every few seconds
# (the CloudWatch agent's force_flush_interval is 5 s), so a file's months of lines do not become one payload.
MAX_PAYLOAD_SPAN_MS: Final = 5_000
_LEADING_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s")


@dataclass
class ReplayFile:
    """The log events read from one file, by log stream."""

    path: Path
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(len(events) for events in self.streams.values())


def _line_time(line: str) -> int | None:
    match = _LEADING_ISO.match(line)
    if match:
        return parse_timestamp(match.group(1))
    if line.startswith("{"):
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if isinstance(doc, dict):
            for key in ("timestamp", "time", "@timestamp", "ts"):
                if key in doc:
                    return parse_timestamp(doc[key])
    return None


def read_log_file(path: Path, *, start_ms: int, interval_ms: int = 100, file_index: int = 0) -> ReplayFile:
    """Read one file into log events (id, timestamp, message) per log stream."""
    text = path.read_text(encoding="utf-8", errors="replace")
    replay = ReplayFile(path)
    stripped = text.lstrip()
    if stripped.startswith("{") and '"events"' in stripped[:200]:
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("events"), list):
            for sequence, event in enumerate(doc["events"]):
                if not isinstance(event, dict) or not isinstance(event.get("message"), str):
                    continue
                parsed = parse_timestamp(event.get("timestamp"))
                timestamp = parsed if parsed is not None else start_ms + sequence * interval_ms
                stream = str(event.get("logStreamName") or path.stem)
                event_id = str(event.get("eventId") or cloudwatch_event_id(timestamp, file_index, sequence))
                replay.streams.setdefault(stream, []).append(
                    {"id": event_id, "timestamp": timestamp, "message": event["message"]}
                )
            return replay
    events: list[dict[str, Any]] = []
    last = start_ms - interval_ms
    for line in text.splitlines():
        if not line.strip():
            continue
        if events and line[:1] in (" ", "\t"):
            events[-1]["message"] += "\n" + line
            continue
        line_time = _line_time(line)
        last = line_time if line_time is not None else last + interval_ms
        events.append({"id": "", "timestamp": last, "message": line})
    for sequence, event in enumerate(events):
        event["id"] = cloudwatch_event_id(event["timestamp"], file_index, sequence)
    replay.streams[path.stem] = events
    return replay


def subscription_payloads(
    log_group: str, log_stream: str, events: Iterable[dict[str, Any]], owner: str = "123456789012"
) -> Iterator[tuple[bytes, int]]:
    """(gzip payload, event count) batches of one stream's events, time-ordered, as CloudWatch delivers them:
    within its count and size limits, and no more than `MAX_PAYLOAD_SPAN_MS` of event time each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in sorted(events, key=lambda e: int(e["timestamp"])):
        event_size = len(event["message"].encode("utf-8")) + 26  # CloudWatch counts 26 bytes of overhead per event
        too_long = batch and int(event["timestamp"]) - int(batch[0]["timestamp"]) > MAX_PAYLOAD_SPAN_MS
        if batch and (len(batch) >= MAX_EVENTS_PER_PAYLOAD or size + event_size > MAX_PAYLOAD_BYTES or too_long):
            yield (
                encode_subscription_payload(log_group=log_group, log_stream=log_stream, log_events=batch, owner=owner),
                len(batch),
            )
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield (
            encode_subscription_payload(log_group=log_group, log_stream=log_stream, log_events=batch, owner=owner),
            len(batch),
        )
