"""The reference metric windows (`compute_windows`) and the realtime job's pure parts."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest

from opsanalytics.logevents.cloudwatch import control_message_payload, encode_subscription_payload
from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.signatures import normalise_message
from opsanalytics.realtime.job import (
    EVENT,
    NO_DETAIL,
    REJECTED,
    WINDOW_COLUMNS,
    KinesisStream,
    RealtimeSettingsError,
    RecordDecoder,
    WindowDetail,
    load_property_groups,
    settings_from_properties,
    sink_ddl,
    source_ddl,
)
from opsanalytics.realtime.windows import (
    compute_windows,
    latency_percentiles,
    percentile,
    window_document_id,
    window_start_ms,
)
from opsanalytics.timestamps import iso_utc

T0 = 1_767_261_600_000  # 2026-01-01T10:00:00Z


def event(
    ts: int,
    *,
    service: str = "checkout",
    log_group: str = "/aws/lambda/checkout",
    error: bool = False,
    latency: float | None = None,
) -> LogEvent:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "event_id": str(ts),
        "timestamp": ts,
        "log_group": log_group,
        "log_stream": "s",
        "owner": "123456789012",
        "service": service,
        "level": "ERROR" if error else "INFO",
        "message": "m",
        "format": "json",
        "error": error,
    }
    if latency is not None:
        doc["latency_ms"] = latency
    return doc  # type: ignore[return-value]


def test_percentile_is_linear_interpolation_between_closest_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.5) == 2.5
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 4.0
    assert math.isclose(percentile(values, 0.95), 3.85)
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_latency_percentiles_ignores_nulls_and_sorts() -> None:
    assert latency_percentiles(None) is None
    assert latency_percentiles([None]) is None
    assert latency_percentiles([3.0, None, 1.0, 2.0]) == [2.0, pytest.approx(2.9), pytest.approx(2.98)]


def test_windows_are_aligned_and_formatted() -> None:
    assert window_start_ms(T0 + 59_999) == T0
    assert window_start_ms(T0 + 60_000) == T0 + 60_000
    assert window_start_ms(T0 + 12_345, 10) == T0 + 10_000
    assert iso_utc(T0) == "2026-01-01T10:00:00Z"


def test_compute_windows_per_service_log_group_and_minute() -> None:
    events = [
        event(T0 + 61_000, latency=10.0),  # out of order: the second minute first
        event(T0 + 1_000, latency=20.0, error=True),
        event(T0 + 2_000, latency=40.0),
        event(T0 + 3_000),
        event(T0 + 4_000, service="payments", log_group="/ecs/payments", error=True),
    ]
    windows = compute_windows(events)
    assert [(w["service"], w["window_start"]) for w in windows] == [
        ("checkout", "2026-01-01T10:00:00Z"),
        ("payments", "2026-01-01T10:00:00Z"),
        ("checkout", "2026-01-01T10:01:00Z"),
    ]
    first = windows[0]
    assert first["window_end"] == "2026-01-01T10:01:00Z"
    assert (first["events"], first["errors"], first["latency_count"]) == (3, 1, 2)
    assert first["error_rate"] == pytest.approx(1 / 3)
    assert (first["latency_p50_ms"], first["latency_max_ms"]) == (30.0, 40.0)
    assert first["latency_p99_ms"] == pytest.approx(39.8)
    assert first["late_events"] == 0 and first["record_type"] == "metric_window"
    payments = windows[1]
    assert payments["error_rate"] == 1.0
    assert payments["latency_p50_ms"] is None and payments["latency_max_ms"] is None


def test_compute_windows_does_not_depend_on_order() -> None:
    events = [event(T0 + i * 7_919 % 180_000, latency=float(i % 13), error=i % 5 == 0) for i in range(500)]
    assert compute_windows(events) == compute_windows(list(reversed(events)))
    assert sum(w["events"] for w in compute_windows(events, window_seconds=10)) == 500


def test_window_document_id_is_deterministic_and_distinct() -> None:
    a = window_document_id("checkout", "/aws/lambda/checkout", "2026-01-01T10:00:00Z")
    # log groups repeat across accounts: the owner is part of the id (version 1 documents had none)
    b = window_document_id("checkout", "/aws/lambda/checkout", "2026-01-01T10:00:00Z", "123456789012")
    assert b != a != window_document_id("checkout", "/aws/lambda/checkout", "2026-01-01T10:00:00Z", "210987654321")
    assert a == window_document_id("checkout", "/aws/lambda/checkout", "2026-01-01T10:00:00Z")
    assert a != window_document_id("checkout", "/aws/lambda/checkout", "2026-01-01T10:01:00Z")
    assert a != window_document_id("checkout", "/ecs/checkout", "2026-01-01T10:00:00Z")
    assert len(a) == 40


def test_decoder_sums_events_per_window_and_rejects_with_a_reason() -> None:
    payload = encode_subscription_payload(
        log_group="/aws/lambda/checkout",
        log_stream="s",
        log_events=[
            {"id": "1", "timestamp": T0, "message": json.dumps({"level": "ERROR", "latency_ms": 12})},
            {
                "id": "2",
                "timestamp": T0 + 5,
                "message": "REPORT RequestId: r\tDuration: 3.5 ms\tBilled Duration: 4 ms"
                "\tMemory Size: 128 MB\tMax Memory Used: 60 MB",
            },
        ],
    )
    decoder = RecordDecoder()
    arrival = T0 + 9_000
    rows = decoder.decode(f"{arrival} " + base64.b64encode(payload).decode())
    # summed per service and window inside the record, with the record's arrival stamp; the latencies travel as
    # values, the error's signature and line beside them
    error_line = json.dumps({"level": "ERROR", "latency_ms": 12})
    assert [row[:8] for row in rows] == [
        (EVENT, "123456789012", "checkout", "/aws/lambda/checkout", T0 + 5, arrival, 2, 1)
    ]
    detail = WindowDetail.decode(rows[0][8])
    assert detail == ([12.0, 3.5], {normalise_message(error_line): 1}, [(T0, error_line)])
    assert rows[0][9] is None
    raw = decoder.decode(payload)  # raw Kinesis bytes decode the same; they arrive when they are decoded
    assert raw[0][:5] == rows[0][:5] and raw[0][6:] == rows[0][6:] and raw[0][5] >= arrival
    control = decoder.decode(base64.b64encode(control_message_payload()).decode())
    assert [row[:5] + row[6:] for row in control] == [
        (REJECTED, "", "", "", T0 + 5, 0, 0, NO_DETAIL, "control-message")
    ]
    assert decoder.decode("%%%")[0][9] == "invalid-base64"
    assert decoder.rejected == {"control-message": 1, "invalid-base64": 1}


def _groups(**overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    groups = {"source": {"local.path": "in"}, "sink": {"local.path": "out"}}
    groups.update(overrides)
    return groups


def test_settings_local_paths_are_bounded_batch() -> None:
    settings = settings_from_properties(_groups(), base=Path("/app"))
    assert settings.source == Path("/app/in") and settings.sink == Path("/app/out")
    assert settings.runtime_mode == "batch" and settings.window_seconds == 60


def test_settings_kinesis_is_streaming_and_follows_the_packaged_connector() -> None:
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/logs"
    groups = _groups(source={"stream.arn": arn}, sink={"stream.arn": arn.replace("logs", "metrics")})
    settings = settings_from_properties(groups, connector_hint=4)
    assert settings.source == KinesisStream(arn, "eu-west-1")
    assert settings.runtime_mode == "streaming" and settings.kinesis_connector == 4
    assert "'stream' = 'logs'" in source_ddl(settings) and "scan.stream.initpos" in source_ddl(settings)
    five = settings_from_properties(groups)
    assert f"'stream.arn' = '{arn}'" in source_ddl(five) and "source.init.position" in source_ddl(five)
    assert "PARTITIONED BY (`service`)" in sink_ddl(five, "t", "windows", WINDOW_COLUMNS)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"source": {}}, "stream.arn"),
        ({"windows": {"size.seconds": "0"}}, "at least 1"),
        ({"windows": {"size.seconds": "sixty"}}, "integer"),
        ({"job": {"runtime.mode": "fast"}}, "runtime.mode"),
        ({"source": {"stream.arn": "arn:aws:s3:::bucket"}}, "not a Kinesis stream ARN"),
        (
            {
                "source": {"stream.arn": "arn:aws:kinesis:us-east-1:1:stream/x"},
                "job": {"runtime.mode": "batch"},
            },
            "bounded",
        ),
    ],
)
def test_settings_fail_fast(groups: dict[str, dict[str, str]], message: str) -> None:
    with pytest.raises(RealtimeSettingsError, match=message):
        settings_from_properties(_groups(**groups))


def test_the_shipped_properties_file_parses() -> None:
    path = Path(__file__).resolve().parents[2] / "flink" / "application_properties.json"
    groups = load_property_groups(path)
    assert groups["kinesis.analytics.flink.run.options"] == {
        "python": "main.py",
        "jarfile": "lib/pyflink-dependencies.jar",
        "pyFiles": "python-deps/",
    }
    assert settings_from_properties(groups, base=path.parent).runtime_mode == "batch"
