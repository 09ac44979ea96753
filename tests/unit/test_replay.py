"""Packing a user's own log files into subscription payloads."""

from __future__ import annotations

import json
from pathlib import Path

from opsanalytics.local.replay import (
    MAX_EVENTS_PER_PAYLOAD,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_SPAN_MS,
    read_log_file,
    subscription_payloads,
)
from opsanalytics.logevents.cloudwatch import decode_subscription_payload

START = 1_767_261_600_000


def test_text_lines_keep_their_own_time_and_stack_traces_stay_one_event(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "2026-01-01T10:00:05Z ERROR sync failed\n"
        "java.lang.IllegalStateException: pool exhausted\n"
        "\tat com.example.Sync.run(Sync.java:88)\n"
        "a line without a time\n"
        '{"level":"INFO","msg":"json line","time":"2026-01-01T10:00:07Z"}\n'
        "\n"
    )
    replay = read_log_file(log, start_ms=START, interval_ms=100)
    events = replay.streams["app"]
    assert [e["timestamp"] for e in events] == [START + 5000, START + 5100, START + 5200, START + 7000]
    assert events[1]["message"].endswith("\n\tat com.example.Sync.run(Sync.java:88)")
    assert len({e["id"] for e in events}) == 4


def test_cli_json_output_keeps_streams_ids_and_times(tmp_path: Path) -> None:
    export = tmp_path / "events.json"
    export.write_text(
        json.dumps(
            {
                "events": [
                    {"logStreamName": "s1", "timestamp": START, "message": "a", "eventId": "1"},
                    {"logStreamName": "s2", "timestamp": START + 1, "message": "b", "eventId": "2"},
                ]
            }
        )
    )
    replay = read_log_file(export, start_ms=0)
    assert {k: [e["id"] for e in v] for k, v in replay.streams.items()} == {"s1": ["1"], "s2": ["2"]}


def test_payloads_respect_cloudwatch_batch_limits_and_decode_back() -> None:
    events = [{"id": str(i), "timestamp": START + (i % 7), "message": f"line {i}"} for i in range(25_000)]
    payloads = list(subscription_payloads("/replay/app", "app", events))
    assert sum(count for _, count in payloads) == 25_000
    assert all(count <= MAX_EVENTS_PER_PAYLOAD for _, count in payloads)
    decoded = decode_subscription_payload(payloads[0][0], base64_encoded=False)
    assert decoded.log_group == "/replay/app"
    stamps = [e["timestamp"] for e in decoded.log_events]
    assert stamps == sorted(stamps)


def test_a_payload_spans_seconds_not_the_whole_file() -> None:
    """A file of a day's lines, one a minute: CloudWatch would deliver them one flush at a time, not as one."""
    events = [{"id": str(i), "timestamp": START + i * 60_000, "message": f"line {i}"} for i in range(1440)]
    payloads = list(subscription_payloads("/replay/app", "app", events))
    assert len(payloads) == 1440
    burst = [{"id": str(i), "timestamp": START + i * 100, "message": f"line {i}"} for i in range(200)]
    spans = []
    for payload, _ in subscription_payloads("/replay/app", "app", burst):
        stamps = [e["timestamp"] for e in decode_subscription_payload(payload, base64_encoded=False).log_events]
        spans.append(stamps[-1] - stamps[0])
    assert max(spans) <= MAX_PAYLOAD_SPAN_MS and len(spans) == 4


def test_the_size_limit_counts_bytes_as_cloudwatch_does() -> None:
    wide = "é" * 1000  # 2,000 bytes in UTF-8
    events = [{"id": str(i), "timestamp": START, "message": wide} for i in range(1000)]
    counts = [count for _, count in subscription_payloads("/replay/app", "app", events)]
    assert sum(counts) == 1000
    assert all(count * (2000 + 26) <= MAX_PAYLOAD_BYTES for count in counts)
