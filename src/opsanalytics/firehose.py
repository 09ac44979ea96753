"""The Firehose data-transformation contract, independent of Lambda.

Firehose reads the logs Kinesis stream and hands the transformer batches of records whose data is a gzip
CloudWatch Logs subscription payload. For each record this module returns:

- ``Ok`` with newline-delimited `LogEvent` JSON and the ``dt``/``hour`` partition keys of its earliest event;
- ``Dropped`` for CONTROL_MESSAGEs (and for records delivered out of band, below);
- ``ProcessingFailed`` for anything malformed: Firehose then writes the untouched record to the error prefix.

The whole response must stay within Firehose's 6,000,000-byte limit. Parsed NDJSON is often ten times the
size of the gzip input, so a full batch can overflow it. Records that do not fit are written by the
transformer itself to the same ``events/`` partitions (through an `ObjectSink`) and answered ``Dropped``;
they are never put back into the source stream, which the Flink job also reads and would count twice. With
no sink configured, or when that write fails, they are answered ``ProcessingFailed`` and so land in the
error prefix. Either way nothing is lost.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import orjson

from .cloudwatch import PayloadError, check_log_event, decode_subscription_payload
from .parsing import LogEventParser

RESPONSE_LIMIT_BYTES: Final = 6_000_000

Result = Literal["Ok", "Dropped", "ProcessingFailed"]
RESULTS: Final[tuple[Result, ...]] = ("Ok", "Dropped", "ProcessingFailed")

# json.dumps separators of the Lambda Python runtime, which serialises the handler's return value.
_RESPONSE_PREFIX: Final = b'{"records": ['
_RESPONSE_SUFFIX: Final = b"]}"
_ENTRY_SEPARATOR: Final = b", "


class ObjectSink(Protocol):
    """Where records that do not fit in the response are written (S3 in AWS, a directory locally)."""

    def put_object(self, key: str, body: bytes) -> str:
        """Store `body` at `key`; return a URI the user can find it by."""
        ...


@dataclass(slots=True)
class RecordOutcome:
    record_id: str
    result: Result
    data: bytes = b""
    partition_keys: dict[str, str] | None = None
    log_events: int = 0
    reason: str | None = None
    detail: str | None = None
    overflow_uri: str | None = None

    def response_entry(self) -> dict[str, Any]:
        # Same shape as Powertools' KinesisFirehoseDataTransformationRecord: "data" always present.
        entry: dict[str, Any] = {"recordId": self.record_id, "result": self.result, "data": ""}
        if self.result == "Ok":
            entry["data"] = base64.b64encode(self.data).decode("ascii")
            if self.partition_keys:
                entry["metadata"] = {"partitionKeys": self.partition_keys}
        return entry


@dataclass(slots=True)
class BatchOutcome:
    records: list[RecordOutcome]
    response: dict[str, Any]
    response_bytes: int
    counts: dict[str, int] = field(default_factory=dict)


def partition_keys_for(timestamp_ms: int) -> dict[str, str]:
    """Firehose dynamic-partitioning keys (UTC date and hour) for an event time."""
    t = time.gmtime(timestamp_ms // 1000)
    return {"dt": f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}", "hour": f"{t.tm_hour:02d}"}


def transform_record(record_id: str, data: str | bytes) -> RecordOutcome:
    """Transform one Firehose record (base64 data of a Kinesis record) into its outcome. Never raises."""
    try:
        payload = decode_subscription_payload(data, validate_events=False)
        if payload.is_control:
            return RecordOutcome(record_id, "Dropped", reason="control-message")
        if not payload.log_events:
            return RecordOutcome(record_id, "Dropped", reason="no-log-events")
        parse = LogEventParser(payload.log_group, payload.log_stream, payload.owner).parse
        dumps = orjson.dumps
        lines = []
        timestamps = []
        for index, cw_event in enumerate(payload.log_events):
            try:
                event = parse(cw_event["id"], cw_event["timestamp"], cw_event["message"])
            except (KeyError, TypeError, AttributeError):
                check_log_event(cw_event, index)  # raises InvalidEnvelopeError naming the bad entry
                raise
            timestamps.append(event["timestamp"])
            lines.append(dumps(event))
    except PayloadError as exc:
        return RecordOutcome(record_id, "ProcessingFailed", reason=exc.reason, detail=str(exc))
    except Exception as exc:  # a parser bug must fail one record, not the batch
        return RecordOutcome(record_id, "ProcessingFailed", reason="parse-error", detail=f"{type(exc).__name__}: {exc}")
    lines.append(b"")
    return RecordOutcome(
        record_id,
        "Ok",
        data=b"\n".join(lines),
        partition_keys=partition_keys_for(min(timestamps)),
        log_events=len(payload.log_events),
    )


def _entry_size(entry: dict[str, Any]) -> int:
    return len(json.dumps(entry, ensure_ascii=False).encode("utf-8"))


def overflow_key(events_prefix: str, outcome: RecordOutcome) -> str:
    """Deterministic key for an out-of-band record, so a Firehose retry overwrites instead of duplicating."""
    keys = outcome.partition_keys or partition_keys_for(0)
    digest = hashlib.sha256(outcome.record_id.encode("utf-8")).hexdigest()[:32]
    return f"{events_prefix}dt={keys['dt']}/hour={keys['hour']}/overflow-{digest}.ndjson"


def fit_response(
    outcomes: Sequence[RecordOutcome],
    *,
    limit: int = RESPONSE_LIMIT_BYTES,
    sink: ObjectSink | None = None,
    events_prefix: str = "events/",
) -> BatchOutcome:
    """Build the Firehose response within `limit` bytes, sending what does not fit to `sink`."""
    # Every record needs at least its small Dropped/ProcessingFailed entry: reserve those first.
    minimal = [_entry_size({"recordId": o.record_id, "result": "ProcessingFailed", "data": ""}) for o in outcomes]
    used = len(_RESPONSE_PREFIX) + len(_RESPONSE_SUFFIX) + len(_ENTRY_SEPARATOR) * max(len(outcomes) - 1, 0)
    used += sum(minimal)
    entries: list[dict[str, Any]] = []
    for outcome, reserved in zip(outcomes, minimal, strict=True):
        entry = outcome.response_entry()
        if outcome.result == "Ok":
            # base64 needs no JSON escaping: size the entry without its data, then add the data's length.
            data = entry["data"]
            entry["data"] = ""
            size = _entry_size(entry) + len(data)
            entry["data"] = data
            if used + size - reserved > limit:
                _deliver_out_of_band(outcome, sink, events_prefix)
                entry = outcome.response_entry()
                size = _entry_size(entry)
        else:
            size = _entry_size(entry)
        used += size - reserved
        entries.append(entry)
    response = {"records": entries}
    counts: dict[str, int] = dict.fromkeys(RESULTS, 0)
    for outcome in outcomes:
        counts[outcome.result] += 1
    counts["overflow"] = sum(1 for o in outcomes if o.overflow_uri)
    counts["log_events"] = sum(o.log_events for o in outcomes if o.result == "Ok" or o.overflow_uri)
    return BatchOutcome(records=list(outcomes), response=response, response_bytes=used, counts=counts)


def _deliver_out_of_band(outcome: RecordOutcome, sink: ObjectSink | None, events_prefix: str) -> None:
    if sink is None:
        outcome.result = "ProcessingFailed"
        outcome.reason = "response-size-limit"
        outcome.detail = "record does not fit in the 6 MB Firehose response and no overflow bucket is configured"
        return
    try:
        # Uncompressed: compressing tens of MB would cost more CPU than the parsing did. Readers of events/
        # (Glue, Athena) pick the codec by file extension.
        uri = sink.put_object(overflow_key(events_prefix, outcome), outcome.data)
    except Exception as exc:  # the error prefix is the fallback: the record is still kept
        outcome.result = "ProcessingFailed"
        outcome.reason = "overflow-write-failed"
        outcome.detail = f"{type(exc).__name__}: {exc}"
        return
    outcome.result = "Dropped"
    outcome.reason = "delivered-out-of-band"
    outcome.overflow_uri = uri


def transform_batch(
    records: Iterable[tuple[str, str | bytes]],
    *,
    limit: int = RESPONSE_LIMIT_BYTES,
    sink: ObjectSink | None = None,
    events_prefix: str = "events/",
) -> BatchOutcome:
    """Transform (recordId, base64 data) pairs into a Firehose response that respects the size limit."""
    outcomes = [transform_record(record_id, data) for record_id, data in records]
    return fit_response(outcomes, limit=limit, sink=sink, events_prefix=events_prefix)


def response_size(response: dict[str, Any]) -> int:
    """Bytes of the response as the Lambda runtime serialises it."""
    return len(json.dumps(response, ensure_ascii=False).encode("utf-8"))
