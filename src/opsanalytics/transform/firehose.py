"""The Firehose data-transformation contract, independent of Lambda.

Firehose reads the logs Kinesis stream and hands the transformer batches of records whose data is a gzip
CloudWatch Logs subscription payload. For each record this module returns:

- ``Ok`` with newline-delimited `LogEvent` JSON and the ``dt``/``hour`` partition keys of its earliest event;
- ``Dropped`` for CONTROL_MESSAGEs (and for records delivered out of band, below);
- ``ProcessingFailed`` for anything malformed: Firehose then writes the untouched record to the error prefix.

The whole response must stay within Firehose's 6,000,000-byte limit. Parsed NDJSON is often ten times the
size of the gzip input, so a full batch can overflow it. Records that do not fit are written by the
transformer itself to the same ``events/`` partitions (through an `ObjectStore`) and answered ``Dropped``;
they are never put back into the source stream, which the Flink job also reads and would count twice. With
no sink configured, or when that write fails, they are answered ``ProcessingFailed`` and so land in the
error prefix. Either way nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson
import pybase64

from opsanalytics.logevents.cloudwatch import PayloadError, decode_subscription_payload
from opsanalytics.logevents.parsing import LogEventParser
from opsanalytics.logevents.rules import NO_RULES, ParserConfig, RuleStats
from opsanalytics.ports import ObjectStore

RESPONSE_LIMIT_BYTES: Final = 6_000_000

Result = Literal["Ok", "Dropped", "ProcessingFailed"]
RESULTS: Final[tuple[Result, ...]] = ("Ok", "Dropped", "ProcessingFailed")

# json.dumps separators of the Lambda Python runtime, which serialises the handler's return value.
_RESPONSE_PREFIX: Final = b'{"records": ['
_RESPONSE_SUFFIX: Final = b"]}"
_ENTRY_SEPARATOR: Final = b", "


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

    def response_entry(self, *, encode_data: bool = True) -> dict[str, Any]:
        # Same shape as Powertools' KinesisFirehoseDataTransformationRecord: "data" always present.
        entry: dict[str, Any] = {"recordId": self.record_id, "result": self.result, "data": ""}
        if self.result == "Ok":
            if encode_data:
                entry["data"] = pybase64.b64encode_as_string(self.data)
            if self.partition_keys:
                entry["metadata"] = {"partitionKeys": self.partition_keys}
        return entry


@dataclass(slots=True)
class BatchOutcome:
    records: list[RecordOutcome]
    response: dict[str, Any]
    response_bytes: int
    counts: dict[str, int] = field(default_factory=dict)
    rules: RuleStats = field(default_factory=RuleStats)
    """what the declared rules did in this batch: lines parsed and missed per rule, values masked"""


def partition_keys_for(timestamp_ms: int) -> dict[str, str]:
    """Firehose dynamic-partitioning keys (UTC date and hour) for an event time."""
    t = time.gmtime(timestamp_ms // 1000)
    return {"dt": f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}", "hour": f"{t.tm_hour:02d}"}


def transform_record(record_id: str, data: str | bytes, rules: ParserConfig = NO_RULES) -> RecordOutcome:
    """Transform one Firehose record (base64 data of a Kinesis record) into its outcome, with the declared parser
    and masking ``rules``. Never raises."""
    try:
        payload = decode_subscription_payload(data, validate_events=False)
        if payload.is_control:
            return RecordOutcome(record_id, "Dropped", reason="control-message")
        log_events = payload.log_events
        if not log_events:
            return RecordOutcome(record_id, "Dropped", reason="no-log-events")
        events = LogEventParser(payload.log_group, payload.log_stream, payload.owner, rules).parse_events(log_events)
        dumps = orjson.dumps
        lines = [dumps(event) for event in events]
        partition_keys = partition_keys_for(min([event["timestamp"] for event in events]))
    except PayloadError as exc:
        return RecordOutcome(record_id, "ProcessingFailed", reason=exc.reason, detail=str(exc))
    except Exception as exc:  # a parser bug must fail one record, not the batch
        return RecordOutcome(record_id, "ProcessingFailed", reason="parse-error", detail=f"{type(exc).__name__}: {exc}")
    lines.append(b"")
    return RecordOutcome(
        record_id, "Ok", data=b"\n".join(lines), partition_keys=partition_keys, log_events=len(log_events)
    )


def _json_size(value: str | dict[str, str]) -> int:
    """Bytes of `value` as the Lambda runtime's json.dumps writes it."""
    if type(value) is str and value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return len(value) + 2  # needs no escaping: the text and its quotes
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


# {"recordId": <id>, "result": "<result>", "data": "<data>"[, "metadata": {"partitionKeys": <keys>}]}
_ENTRY_BYTES: Final = len('{"recordId": , "result": "", "data": ""}')
_METADATA_BYTES: Final = len(', "metadata": {"partitionKeys": }')


def _entry_size(outcome: RecordOutcome, id_size: int, data_size: int = 0) -> int:
    """Bytes of `outcome.response_entry()` (whose data is `data_size` bytes once encoded), computed."""
    size = _ENTRY_BYTES + id_size + len(outcome.result)
    if outcome.result == "Ok":
        size += data_size
        if outcome.partition_keys:
            size += _METADATA_BYTES + _json_size(outcome.partition_keys)
    return size


def overflow_key(events_prefix: str, partition_keys: dict[str, str], record_ids: Sequence[str]) -> str:
    """Deterministic key for records delivered out of band: Firehose retries a batch with the same records,
    the same ones overflow again, and the retry overwrites the object instead of duplicating it."""
    digest = hashlib.sha256("\n".join(record_ids).encode("utf-8")).hexdigest()[:32]
    return f"{events_prefix}dt={partition_keys['dt']}/hour={partition_keys['hour']}/overflow-{digest}.ndjson"


def fit_response(
    outcomes: Sequence[RecordOutcome],
    *,
    limit: int = RESPONSE_LIMIT_BYTES,
    sink: ObjectStore | None = None,
    events_prefix: str = "events/",
) -> BatchOutcome:
    """Build the Firehose response within `limit` bytes, sending what does not fit to `sink`."""
    # Every record needs at least its small Dropped/ProcessingFailed entry: reserve those first.
    id_sizes = [_json_size(o.record_id) for o in outcomes]
    minimal = [_ENTRY_BYTES + len("ProcessingFailed") + id_size for id_size in id_sizes]
    used = len(_RESPONSE_PREFIX) + len(_RESPONSE_SUFFIX) + len(_ENTRY_SEPARATOR) * max(len(outcomes) - 1, 0)
    used += sum(minimal)
    entries: list[dict[str, Any] | None] = []
    overflow: list[RecordOutcome] = []
    for outcome, id_size, reserved in zip(outcomes, id_sizes, minimal, strict=True):
        if outcome.result == "Ok":
            # base64 needs no JSON escaping: its length is known before encoding, so records which do not
            # fit are never encoded.
            size = _entry_size(outcome, id_size, 4 * ((len(outcome.data) + 2) // 3))
            if used + size - reserved > limit:
                overflow.append(outcome)
                entries.append(None)  # answered once its out-of-band delivery is known
                continue
            used += size - reserved
        entries.append(outcome.response_entry())
    _deliver_out_of_band(overflow, sink, events_prefix)
    final: list[dict[str, Any]] = []
    for outcome, decided, id_size, reserved in zip(outcomes, entries, id_sizes, minimal, strict=True):
        if decided is not None:
            final.append(decided)
            continue
        final.append(outcome.response_entry())  # an out-of-band record: Dropped or ProcessingFailed by now
        used += _entry_size(outcome, id_size) - reserved
    response = {"records": final}
    counts: dict[str, int] = dict.fromkeys(RESULTS, 0)
    for outcome in outcomes:
        counts[outcome.result] += 1
    counts["overflow"] = sum(1 for o in outcomes if o.overflow_uri)
    counts["log_events"] = sum(o.log_events for o in outcomes if o.result == "Ok" or o.overflow_uri)
    return BatchOutcome(records=list(outcomes), response=response, response_bytes=used, counts=counts)


def _deliver_out_of_band(overflow: Sequence[RecordOutcome], sink: ObjectStore | None, events_prefix: str) -> None:
    """Write the records that do not fit to the events prefix, one object per partition (a PUT per record
    would cost hundreds of S3 round trips per invocation); answer them Dropped, or ProcessingFailed if the
    write is impossible, so Firehose keeps them in the error prefix."""
    groups: dict[tuple[str, str], list[RecordOutcome]] = {}
    for outcome in overflow:
        keys = outcome.partition_keys or partition_keys_for(0)
        groups.setdefault((keys["dt"], keys["hour"]), []).append(outcome)
    for (dt, hour), members in groups.items():
        if sink is None:
            _fail(
                members,
                "response-size-limit",
                "does not fit in the 6 MB Firehose response and no overflow bucket is configured",
            )
            continue
        key = overflow_key(events_prefix, {"dt": dt, "hour": hour}, [o.record_id for o in members])
        try:
            # Uncompressed: compressing tens of MB would cost more CPU than the parsing did. Readers of
            # events/ (Glue, Athena) pick the codec by file extension.
            uri = sink.put_object(key, b"".join(o.data for o in members))
        except Exception as exc:  # the error prefix is the fallback: the records are still kept
            _fail(members, "overflow-write-failed", f"{type(exc).__name__}: {exc}")
            continue
        for outcome in members:
            outcome.result = "Dropped"
            outcome.reason = "delivered-out-of-band"
            outcome.overflow_uri = uri


def _fail(outcomes: Sequence[RecordOutcome], reason: str, detail: str) -> None:
    for outcome in outcomes:
        outcome.result = "ProcessingFailed"
        outcome.reason = reason
        outcome.detail = detail


def transform_batch(
    records: Iterable[tuple[str, str | bytes]],
    *,
    limit: int = RESPONSE_LIMIT_BYTES,
    sink: ObjectStore | None = None,
    events_prefix: str = "events/",
    rules: ParserConfig = NO_RULES,
) -> BatchOutcome:
    """Transform (recordId, base64 data) pairs into a Firehose response that respects the size limit."""
    rules.stats = RuleStats()  # this batch's figures
    outcomes = [transform_record(record_id, data, rules) for record_id, data in records]
    batch = fit_response(outcomes, limit=limit, sink=sink, events_prefix=events_prefix)
    batch.rules = rules.stats
    return batch


def response_size(response: dict[str, Any]) -> int:
    """Bytes of the response as the Lambda runtime serialises it."""
    return len(json.dumps(response, ensure_ascii=False).encode("utf-8"))
