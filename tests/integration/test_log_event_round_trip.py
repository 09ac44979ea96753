"""A structured line's own fields, through every stage that reads a log event: the transformer Lambda (what it
archives in ``events/``), the Flink job's record decoder (what the realtime sums read) and the batch job's reader
on Spark (what the roll-ups read), with documents of both schema versions in one read."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from opsanalytics.batch import transforms as tx
from opsanalytics.batch.job import read_events
from opsanalytics.batch.local import local_spark_session
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.logevents.cloudwatch import decode_subscription_payload
from opsanalytics.logevents.model import LOG_EVENT_SCHEMA_VERSION
from opsanalytics.realtime.job import EVENT, RecordDecoder
from opsanalytics.transform.local import check_response, firehose_event
from tests.conftest import cloudwatch_record

ORDER = {
    "level": "ERROR",
    "message": "order failed",
    "order_id": "A-17",
    "amount": 12.5,
    "customer_tier": "gold",
    "items": 3,
    "gift": False,
    "coupon": None,
    "tags": ["promo", "mobile"],
    "payment": {"provider": "stripe", "attempt": {"number": 2, "declined": True}},
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
}
ORDER_ATTRIBUTES = {
    "order_id": "A-17",
    "amount": 12.5,
    "customer_tier": "gold",
    "items": 3,
    "gift": False,
    "coupon": None,
    "tags": ["promo", "mobile"],
    "payment.provider": "stripe",
    "payment.attempt.number": 2,
    "payment.attempt.declined": True,
}
LOGFMT = 'level=warn msg="slow checkout" duration_ms=812 region=eu-west-1 cart_size=4'
LOGFMT_ATTRIBUTES = {"region": "eu-west-1", "cart_size": "4"}
LINES = [orjson.dumps(ORDER).decode(), LOGFMT, "plain text line without fields"]


@pytest.fixture(scope="module")
def payload() -> bytes:
    return cloudwatch_record(LINES, log_group="/ecs/checkout")


@pytest.fixture(scope="module")
def archived(payload: bytes) -> list[dict[str, Any]]:
    """What the transformer Lambda writes to ``events/`` for the payload."""
    data = base64.b64encode(payload).decode()
    event = firehose_event([("record-0", data, 1_767_261_600_000)], "logs")
    entries = check_response(event, LocalFunction("log_transformer").invoke(event))
    assert entries["record-0"]["result"] == "Ok"
    return [orjson.loads(line) for line in base64.b64decode(entries["record-0"]["data"]).splitlines()]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session(app_name="opsanalytics-round-trip", cores=1, shuffle_partitions=1)
    yield session
    session.stop()


def test_the_transformer_archives_every_field(archived: list[dict[str, Any]]) -> None:
    order, logfmt, text = archived
    assert order["schema_version"] == LOG_EVENT_SCHEMA_VERSION == 3
    assert order["attributes"] == ORDER_ATTRIBUTES
    assert order["trace_id"] == ORDER["trace_id"]
    assert (order["level"], order["error"]) == ("ERROR", True)
    assert logfmt["format"] == "logfmt" and logfmt["latency_ms"] == 812.0
    assert logfmt["attributes"] == LOGFMT_ATTRIBUTES
    assert "attributes" not in text


def test_the_flink_decoder_sees_the_same_events(payload: bytes, archived: list[dict[str, Any]]) -> None:
    decoder = RecordDecoder()
    data = base64.b64encode(payload).decode()  # a local stream file line: the Kinesis record's data
    decoded = decoder.log_events(decode_subscription_payload(data, base64_encoded=True, validate_events=False))
    assert [dict(event) for event in decoded] == archived
    rows = decoder.decode(data)
    # (kind, owner, service, log_group, ts_ms, arrival_ms, events, errors, detail, reason)
    assert [(row[0], row[2], row[6], row[7]) for row in rows] == [(EVENT, "checkout", 3, 1)]


def test_the_batch_reader_reads_both_versions_with_attributes_intact(
    spark: Any, archived: list[dict[str, Any]], tmp_path: Path
) -> None:
    version_1 = {key: value for key, value in archived[2].items() if key != "attributes"}
    version_1 |= {"schema_version": 1, "event_id": "v1-event"}
    unknown = archived[2] | {"schema_version": LOG_EVENT_SCHEMA_VERSION + 1, "event_id": "v-next-event"}
    lines = [*archived, version_1, unknown]
    (tmp_path / "part-0.json").write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")

    raw = read_events(spark, [str(tmp_path)])
    usable = {row["event_id"]: row.asDict() for row in tx.valid_events(raw).collect()}
    # a version this reader does not know yet is unusable
    assert set(usable) == {event["event_id"] for event in archived} | {"v1-event"}
    order = usable[archived[0]["event_id"]]
    assert orjson.loads(order["attributes"]) == ORDER_ATTRIBUTES  # every value with its JSON type
    assert order["trace_id"] == ORDER["trace_id"]
    assert orjson.loads(usable[archived[1]["event_id"]]["attributes"]) == LOGFMT_ATTRIBUTES
    assert usable["v1-event"]["attributes"] is None
    assert usable["v1-event"]["service"] == "checkout"
