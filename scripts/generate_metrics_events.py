"""The metrics Lambda's sample Kinesis events in events/metrics_processor/ (written by generate_events.py).

Deterministic: the same code always writes the same bytes. The events:

- ``kinesis-windows.json``: a normal minute of three services, then payments' window again, revision 2, with
  three events that arrived after the allowed lateness;
- ``kinesis-error-spike.json``: checkout's error rate jumps to 30% for four windows, which fires the
  ``checkout-error-rate`` rule of config/alert-rules.yaml (critical: SMS and email);
- ``kinesis-malformed.json``: two valid windows, a record that is not JSON and one of an unknown schema
  version; the last two come back as ``batchItemFailures``;
- ``kinesis-undecodable.json``: a record that is not JSON, alone (no OpenSearch needed: a cold-start probe);
- ``kinesis-declared.json``: the declared metric ``payment_gateway_timeouts`` of config/metrics.yaml on checkout,
  0, 6, 4, 0 and 0 a minute, which fires and resolves the ``payment-gateway-timeouts`` rule.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from opsanalytics.alerting.local import kinesis_event, kinesis_record
from opsanalytics.paths import project_root
from opsanalytics.realtime.declared import DeclaredMetric, load_metrics_file, new_figures
from opsanalytics.realtime.declared import document as declared_document
from opsanalytics.realtime.windows import MetricWindow
from opsanalytics.realtime.windows import metric_window as window_document

START = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
OWNER = "123456789012"
ARRIVAL_SECONDS = 1_767_261_900.5


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def metric_window(
    service: str, minute: int, events: int, errors: int, p95: float, *, revision: int = 1, late_events: int = 0
) -> MetricWindow:
    start_ms = int((START + timedelta(minutes=minute)).timestamp() * 1000)
    latency = (round(p95 * 0.4, 3), p95, round(p95 * 1.6, 3), round(p95 * 3.1, 3))
    return window_document(
        service,
        f"/aws/lambda/{service}",
        start_ms,
        events=events,
        errors=errors,
        latency_count=events,
        latency=latency,
        owner=OWNER,
        revision=revision,
        late_events=late_events,
    )


def event_of(documents: list[Any]) -> dict[str, Any]:
    records = []
    for position, document in enumerate(documents):
        data = document if isinstance(document, bytes) else json.dumps(document, separators=(",", ":")).encode()
        records.append(kinesis_record(position, data, ARRIVAL_SECONDS + position / 1000))
    return kinesis_event(records)


def windows_event() -> dict[str, Any]:
    return event_of(
        [
            metric_window("checkout", 0, 1200, 6, 180.0),
            metric_window("payments", 0, 800, 2, 95.5),
            metric_window("orders-api", 0, 450, 0, 60.25),
            metric_window("payments", 0, 800, 2, 95.5, revision=2, late_events=3),
        ]
    )


def error_spike_event() -> dict[str, Any]:
    documents: list[Any] = [metric_window("checkout", 0, 1200, 6, 180.0), metric_window("checkout", 1, 1180, 5, 175.0)]
    documents += [metric_window("checkout", minute, 1000, 300, 420.0) for minute in range(2, 6)]
    documents.append(metric_window("payments", 5, 800, 2, 95.5))
    return event_of(documents)


def malformed_event() -> dict[str, Any]:
    unknown_version = {**metric_window("payments", 1, 10, 0, 50.0), "schema_version": 99}
    return event_of(
        [
            metric_window("checkout", 1, 1100, 4, 170.0),
            b"not JSON: a record another producer put on the stream",
            unknown_version,
            metric_window("orders-api", 1, 430, 1, 61.0),
        ]
    )


def undecodable_event() -> dict[str, Any]:
    """Only records the function cannot decode: nothing to write, so no OpenSearch is needed (a cold start)."""
    return event_of([b"not JSON: a record another producer put on the stream"])


def declared_metric(minute: int, timeouts: int) -> DeclaredMetric:
    config = load_metrics_file(str(project_root() / "config" / "metrics.yaml"))
    metric = config.by_id("payment_gateway_timeouts")
    assert metric is not None
    figures = new_figures()
    figures[0] = timeouts
    start_ms = int((START + timedelta(minutes=minute)).timestamp() * 1000)
    return declared_document(metric, OWNER, start_ms, ("checkout",), figures)


def declared_event() -> dict[str, Any]:
    return event_of([declared_metric(minute, timeouts) for minute, timeouts in enumerate((0, 6, 4, 0, 0))])


def render() -> dict[str, str]:
    events = {
        "kinesis-windows.json": windows_event(),
        "kinesis-error-spike.json": error_spike_event(),
        "kinesis-malformed.json": malformed_event(),
        "kinesis-undecodable.json": undecodable_event(),
        "kinesis-declared.json": declared_event(),
    }
    return {name: json.dumps(event, indent=2) + "\n" for name, event in events.items()}
