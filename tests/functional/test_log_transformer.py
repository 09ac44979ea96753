"""The transformer Lambda handler, run in-process on the events/ files and on generated garbage."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.logevents.model import REQUIRED_LOG_EVENT_FIELDS
from opsanalytics.transform.firehose import RESPONSE_LIMIT_BYTES, RESULTS, response_size
from opsanalytics.transform.local import check_response
from tests.conftest import cloudwatch_record


@pytest.fixture(scope="module")
def transformer() -> LocalFunction:
    return LocalFunction("log_transformer")


def test_sample_event_gives_every_result(
    transformer: LocalFunction, load_event: Callable[[str], dict[str, Any]]
) -> None:
    event = load_event("log_transformer/firehose-logs.json")
    response = transformer.invoke(event)
    entries = check_response(event, response)
    results = [entries[r["recordId"]]["result"] for r in event["records"]]
    assert results[0] == "Dropped"  # control message
    assert results[-2:] == ["ProcessingFailed", "ProcessingFailed"]  # not gzip, truncated gzip
    assert set(results[1:-2]) == {"Ok"}
    formats = set()
    for record_id in (r["recordId"] for r in event["records"]):
        entry = entries[record_id]
        if entry["result"] != "Ok":
            continue
        for line in base64.b64decode(entry["data"]).splitlines():
            log_event = json.loads(line)
            assert log_event.keys() >= REQUIRED_LOG_EVENT_FIELDS
            formats.add(log_event["format"])
    assert formats == {"json", "lambda_report", "lambda_platform", "access_log", "text"}


def test_events_directory_is_up_to_date() -> None:
    from scripts.generate_events import render

    from tests.conftest import EVENTS_DIR

    for name, content in render().items():
        assert (EVENTS_DIR / name).read_text() == content, f"run python scripts/generate_events.py ({name})"


def firehose_event(datas: list[str]) -> dict[str, Any]:
    return {
        "invocationId": "fuzz",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/fuzz",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/logs",
        "region": "us-east-1",
        "records": [
            {"recordId": f"r{i:05d}", "approximateArrivalTimestamp": 1_767_261_600_000, "data": d}
            for i, d in enumerate(datas)
        ],
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
log_messages = st.one_of(
    st.text(max_size=200),
    json_values.map(lambda v: orjson.dumps(v).decode()),
    st.dictionaries(
        st.sampled_from(["level", "message", "status", "latency_ms", "timestamp", "service", "time", "msg"]),
        json_values,
        max_size=6,
    ).map(lambda v: orjson.dumps(v).decode()),
    st.sampled_from(["REPORT RequestId: x\tDuration: ", "START RequestId:", '1.2.3.4 - - [x] "GET / HTTP/1.1" 200 1']),
)
valid_payloads = st.lists(log_messages, min_size=1, max_size=8).map(lambda ms: b64(cloudwatch_record(ms)))
garbage = st.one_of(
    st.text(max_size=100),  # mostly not base64
    st.binary(max_size=200).map(b64),  # base64 of junk
    st.binary(max_size=200).map(lambda b: b64(gzip.compress(b, mtime=0))),  # gzip of junk
    json_values.map(lambda v: b64(gzip.compress(orjson.dumps(v), mtime=0))),  # gzip of random JSON
    valid_payloads.map(lambda d: d[: len(d) // 2]),  # truncated base64
    st.integers(1, 60).map(lambda n: b64(cloudwatch_record(["x"] * n)[:n])),  # truncated gzip
    st.dictionaries(
        st.sampled_from(["messageType", "owner", "logGroup", "logStream", "logEvents"]), json_values, max_size=5
    ).map(lambda v: b64(gzip.compress(orjson.dumps(v), mtime=0))),  # envelope-shaped junk
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(valid_payloads, garbage), min_size=1, max_size=12))
def test_handler_never_raises_and_returns_every_record_once(transformer: LocalFunction, datas: list[str]) -> None:
    event = firehose_event(datas)
    response = transformer.invoke(event)
    entries = check_response(event, response)  # every recordId once, allowed results, size limit
    assert {e["result"] for e in entries.values()} <= set(RESULTS)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=1, max_value=4), st.integers(min_value=200_000, max_value=900_000))
def test_huge_lines_never_break_the_size_limit(transformer: LocalFunction, count: int, line_size: int) -> None:
    huge = b64(cloudwatch_record(["E" * line_size] * 3))
    event = firehose_event([huge] * count * 3)
    response = transformer.invoke(event)
    check_response(event, response)
    assert response_size(response) <= RESPONSE_LIMIT_BYTES


def test_the_deployed_parser_rules_are_read_from_s3_and_applied(mocked_aws: str) -> None:
    """``PARSER_RULES`` as the stack sets it (the DeployArtifacts copy of config/parsers.yaml): the function reads
    it at cold start, parses the declared format and masks what the file names."""
    import boto3

    rules = """
version: 1
parsers:
  - name: inventory-text
    prefixes: /ecs/inventory-
    format: regex
    regex: '%{TIMESTAMP_ISO8601:time} \\| %{LEVEL:level} \\| %{GREEDYDATA:message}'
    fields: {timestamp: time}
masking:
  patterns: [email]
"""
    s3 = boto3.client("s3", region_name=mocked_aws)
    s3.create_bucket(Bucket="archive")
    s3.put_object(Bucket="archive", Key="artifacts/config/0123456789abcdef/parsers.yaml", Body=rules.encode())
    function = LocalFunction(
        "log_transformer",
        environment={"PARSER_RULES": "s3://archive/artifacts/config/0123456789abcdef/parsers.yaml"},
    )
    try:
        data = base64.b64encode(
            cloudwatch_record(
                ["2026-01-01 10:00:01 | ERROR | mail to ann@example.com bounced", "not the declared format"],
                log_group="/ecs/inventory-worker",
            )
        ).decode()
        event = firehose_event([data])
        entries = check_response(event, function.invoke(event))
    finally:
        function.close()
    (entry,) = entries.values()
    first, second = (orjson.loads(line) for line in base64.b64decode(entry["data"]).splitlines())
    assert (first["parser"], first["level"], first["timestamp"]) == ("inventory-text", "ERROR", 1_767_261_601_000)
    assert first["message"] == "mail to [REDACTED:email] bounced"
    assert "parser" not in second and second["format"] == "text"


def test_a_bad_rule_file_fails_the_cold_start_naming_the_mistake(tmp_path: Any) -> None:
    bad = tmp_path / "parsers.yaml"
    bad.write_text("version: 1\nparsers:\n  - {name: x, format: grok, prefixes: /x}\n")
    with pytest.raises(ValueError, match="parser 'x': field 'format'"):
        LocalFunction("log_transformer", environment={"PARSER_RULES": str(bad)})
