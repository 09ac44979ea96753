"""The Firehose transformation contract: results, partition keys, the 6 MB limit and out-of-band delivery."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from opsanalytics.logevents.cloudwatch import control_message_payload
from opsanalytics.logevents.model import REQUIRED_LOG_EVENT_FIELDS
from opsanalytics.storage import DirectoryStore
from opsanalytics.transform.firehose import (
    RESPONSE_LIMIT_BYTES,
    fit_response,
    partition_keys_for,
    response_size,
    transform_batch,
    transform_record,
)
from tests.conftest import cloudwatch_record, firehose_records


def decode_ok(entry: dict[str, str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in base64.b64decode(entry["data"]).splitlines()]


def test_ok_record_carries_ndjson_log_events_and_partition_keys() -> None:
    payload = cloudwatch_record(["START RequestId: 1 Version: $LATEST", '{"level":"error","message":"boom"}'])
    batch = transform_batch(firehose_records([payload]))
    (entry,) = batch.response["records"]
    assert entry["result"] == "Ok"
    assert entry["metadata"] == {"partitionKeys": {"dt": "2026-01-01", "hour": "10"}}
    events = decode_ok(entry)
    assert [e["format"] for e in events] == ["lambda_platform", "json"]
    assert all(e.keys() >= REQUIRED_LOG_EVENT_FIELDS for e in events)
    assert events[1]["error"] is True
    assert base64.b64decode(entry["data"]).endswith(b"\n")


def test_partition_keys_use_the_earliest_event_time() -> None:
    assert partition_keys_for(1_767_225_599_999) == {"dt": "2025-12-31", "hour": "23"}
    late_first = cloudwatch_record(['{"timestamp":"2026-01-01T09:59:59Z","message":"x"}', "y"])
    (entry,) = transform_batch(firehose_records([late_first])).response["records"]
    assert entry["metadata"]["partitionKeys"] == {"dt": "2026-01-01", "hour": "09"}


def test_control_messages_are_dropped_and_malformed_records_fail() -> None:
    batch = transform_batch(firehose_records([control_message_payload(), b"junk"]))
    assert [e["result"] for e in batch.response["records"]] == ["Dropped", "ProcessingFailed"]
    assert batch.records[1].reason == "invalid-gzip"


def test_event_ids_are_deterministic_across_replays() -> None:
    payload = cloudwatch_record(["a", "b", "c"])
    first = transform_batch(firehose_records([payload])).response
    second = transform_batch(firehose_records([payload])).response
    assert first == second


def incompressible_payload(seed: int, events: int = 40, size: int = 4000) -> bytes:
    rng = random.Random(seed)
    return cloudwatch_record([rng.randbytes(size).hex() for _ in range(events)])


def test_response_stays_within_the_limit_and_overflow_goes_to_the_sink(tmp_path: Path) -> None:
    payloads = [incompressible_payload(i) for i in range(30)]  # ~30 x 330 KB of NDJSON, ~13 MB base64
    batch = transform_batch(firehose_records(payloads), sink=DirectoryStore(tmp_path))
    assert response_size(batch.response) <= RESPONSE_LIMIT_BYTES
    assert batch.response_bytes == response_size(batch.response)
    results = [e["result"] for e in batch.response["records"]]
    assert "Ok" in results
    overflowed = [o for o in batch.records if o.overflow_uri]
    assert overflowed and all(o.result == "Dropped" for o in overflowed)
    stored = sorted(tmp_path.rglob("overflow-*.ndjson"))
    assert len(stored) == 1  # one object per partition, not one per record
    assert {o.overflow_uri for o in overflowed} == {f"file://{p.resolve()}" for p in stored}
    assert all("/events/dt=2026-01-01/hour=10/" in p.as_posix() for p in stored)
    # every log event is either in the response or in an out-of-band object, once
    in_response = sum(len(decode_ok(e)) for e in batch.response["records"] if e["result"] == "Ok")
    out_of_band = sum(len(p.read_bytes().splitlines()) for p in stored)
    assert in_response + out_of_band == 30 * 40


def test_overflow_is_idempotent_on_retry(tmp_path: Path) -> None:
    records = firehose_records([incompressible_payload(i) for i in range(30)])
    sink = DirectoryStore(tmp_path)
    transform_batch(records, sink=sink)
    first = {p: p.read_bytes() for p in tmp_path.rglob("*.ndjson")}
    transform_batch(records, sink=sink)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.ndjson")} == first


def test_without_a_sink_overflow_fails_into_the_error_prefix() -> None:
    batch = transform_batch(firehose_records([incompressible_payload(i) for i in range(30)]))
    assert response_size(batch.response) <= RESPONSE_LIMIT_BYTES
    failed = [o for o in batch.records if o.result == "ProcessingFailed"]
    assert failed and all(o.reason == "response-size-limit" for o in failed)


class BrokenSink:
    def put_object(self, key: str, body: bytes) -> str:
        raise OSError("bucket unreachable")


def test_a_failing_sink_falls_back_to_processing_failed() -> None:
    batch = transform_batch(firehose_records([incompressible_payload(i) for i in range(30)]), sink=BrokenSink())
    failed = [o for o in batch.records if o.result == "ProcessingFailed"]
    assert failed and all(o.reason == "overflow-write-failed" for o in failed)


@pytest.mark.parametrize("limit", [300, 5_000, 60_000, 400_000])
def test_any_limit_is_respected_exactly(limit: int, tmp_path: Path) -> None:
    outcomes = [
        transform_record(f"r{i}", firehose_records([incompressible_payload(i, 5, 500)])[0][1]) for i in range(20)
    ]
    batch = fit_response(outcomes, limit=limit, sink=DirectoryStore(tmp_path))
    assert response_size(batch.response) <= max(limit, batch.response_bytes)
    assert response_size(batch.response) == batch.response_bytes


@pytest.mark.parametrize("record_id", ['quote"and\\backslash', "tab\tand\nnewline", "caf\u00e9 \u2028", "\x7f"])
def test_response_size_is_exact_for_record_ids_that_need_escaping(record_id: str, tmp_path: Path) -> None:
    data = firehose_records([cloudwatch_record(["x"]), b"junk"])
    outcomes = [transform_record(f"{record_id}{i}", d) for i, (_, d) in enumerate(data)]
    batch = fit_response(outcomes, sink=DirectoryStore(tmp_path))
    assert batch.response_bytes == response_size(batch.response)


@pytest.mark.parametrize(
    "bad_entry",
    [
        {"id": 7, "timestamp": 1_767_261_600_000, "message": "x"},
        {"id": "e", "timestamp": 1_767_261_600_000.5, "message": "x"},
        {"id": "e", "timestamp": "1767261600000", "message": "x"},
        {"id": "e", "timestamp": True, "message": "x"},
        {"id": "e", "timestamp": 1_767_261_600_000},
        ["e", 1_767_261_600_000, "x"],
    ],
)
def test_a_payload_with_a_malformed_event_fails_whole_in_both_stages(bad_entry: object) -> None:
    """The transformer and the Flink decoder refuse the same payloads, so the archive and the realtime
    counts agree: a payload is used whole or not at all."""
    from opsanalytics.logevents.cloudwatch import encode_subscription_payload
    from opsanalytics.realtime.job import REJECTED, RecordDecoder

    good = {"id": "a" * 56, "timestamp": 1_767_261_600_000, "message": "fine"}
    payload = encode_subscription_payload(log_group="/ecs/x", log_stream="s", log_events=[good, bad_entry])
    (record,) = firehose_records([payload])
    outcome = transform_record(*record)
    assert (outcome.result, outcome.reason) == ("ProcessingFailed", "invalid-envelope")
    assert "logEvents[1]" in (outcome.detail or "")
    rows = RecordDecoder().decode(record[1])
    assert [(row[0], row[-1]) for row in rows] == [(REJECTED, "invalid-envelope")]
