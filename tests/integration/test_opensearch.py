"""The OpenSearch access of the core against a real node: templates, bulk writes, queries, failures."""

from __future__ import annotations

import base64
import json
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from opsanalytics.assets import Assets
from opsanalytics.local.samples import generate_sample_batches
from opsanalytics.opensearch import (
    BulkOperation,
    BulkWriter,
    OpenSearchSettings,
    apply_index_templates,
    apply_ism_policy,
    create_client,
    document_id,
)
from opsanalytics.opensearch.bootstrap import TEMPLATE_NAMES, has_ism_plugin
from opsanalytics.transform.firehose import transform_record

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("index_templates")]

SERVICES = ("checkout", "payments", "orders-api")
START = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def metric_window(service: str, minute: int, p95: float, errors: int = 0) -> dict[str, Any]:
    start = START + timedelta(minutes=minute)
    return {
        "schema_version": 1,
        "service": service,
        "log_group": f"/aws/lambda/{service}",
        "window_start": iso(start),
        "window_end": iso(start + timedelta(minutes=1)),
        "events": 100,
        "errors": errors,
        "error_rate": errors / 100,
        "late_events": 0,
        "latency_count": 100,
        "latency_p50_ms": p95 / 2,
        "latency_p95_ms": p95,
        "latency_p99_ms": p95 * 1.5,
        "latency_max_ms": p95 * 2,
    }


def window_operations(index: str, minutes: int = 60) -> list[BulkOperation]:
    """One window per service and minute; checkout's p95 is 1..60 ms and it has 10 errors in minutes 20-25."""
    operations = []
    for offset, service in enumerate(SERVICES):
        for minute in range(minutes):
            errors = 10 if service == "checkout" and 20 <= minute < 26 else 0
            doc = metric_window(service, minute, p95=float(minute + 1 + 100 * offset), errors=errors)
            doc_id = document_id(service, doc["log_group"], doc["window_start"])
            operations.append(BulkOperation(index, doc_id, doc))
    return operations


def search(client: OpenSearch, index: str, body: dict[str, Any]) -> dict[str, Any]:
    client.indices.refresh(index=index)
    response: dict[str, Any] = client.search(index=index, body=body)
    return response


def test_index_templates_apply_idempotently_and_report_updates(opensearch_client: OpenSearch, tmp_path: Path) -> None:
    assert set(apply_index_templates(opensearch_client, replicas=0).statuses().values()) == {"unchanged"}

    changed = tmp_path / "index-templates"
    shutil.copytree(Assets.checkout().index_templates, changed)
    batch = json.loads((changed / "metrics-batch.json").read_text())
    batch["_meta"]["description"] += " (changed)"
    (changed / "metrics-batch.json").write_text(json.dumps(batch))
    try:
        report = apply_index_templates(opensearch_client, replicas=0, directory=changed)
        assert report.statuses()["metrics-batch"] == "updated"
        assert {s for name, s in report.statuses().items() if name != "metrics-batch"} == {"unchanged"}
    finally:
        restored = apply_index_templates(opensearch_client, replicas=0)
    assert restored.statuses()["metrics-batch"] == "updated"
    second = apply_index_templates(opensearch_client, replicas=0)
    assert second.statuses() == dict.fromkeys(TEMPLATE_NAMES, "unchanged")
    assert not second.changed


def test_new_indices_get_the_template_mappings_and_replicas(
    opensearch_client: OpenSearch, index_name: Callable[[str], str]
) -> None:
    names = [index_name(family) for family in TEMPLATE_NAMES]
    for name in names:
        opensearch_client.indices.create(index=name)
    settings = opensearch_client.indices.get_settings(index=",".join(names))
    assert {s["settings"]["index"]["number_of_replicas"] for s in settings.values()} == {"0"}
    mappings = opensearch_client.indices.get_mapping(index=",".join(names))
    realtime = mappings[index_name("metrics-realtime")]["mappings"]
    assert realtime["_meta"] == {"schema_version": 2}
    assert realtime["properties"]["revision"]["type"] == "integer"
    assert realtime["properties"]["window_start"]["type"] == "date"
    assert realtime["properties"]["latency_count"]["type"] == "long"
    events = mappings[index_name("events")]["mappings"]["properties"]
    assert events["timestamp"] == {"type": "date", "format": "epoch_millis"}
    assert events["message"] == {"type": "match_only_text"}
    assert events["attributes"] == {"type": "flat_object"}
    alerts = mappings[index_name("alerts")]["mappings"]["properties"]
    assert alerts["dimensions"]["properties"]["service"]["type"] == "keyword"


def test_ism_policy_is_applied_where_the_plugin_exists(opensearch_client: OpenSearch) -> None:
    first = apply_ism_policy(opensearch_client, retention_days=30)
    (change,) = first.changes
    if not has_ism_plugin(opensearch_client):
        assert change.status == "skipped"
        assert "opensearch-index-management" in change.detail
        return
    assert change.status in {"created", "updated", "unchanged"}
    assert apply_ism_policy(opensearch_client, retention_days=30).changes[0].status == "unchanged"


def test_metric_windows_are_indexed_queried_and_aggregated(
    opensearch_client: OpenSearch, index_name: Callable[[str], str]
) -> None:
    index = index_name("metrics-realtime")
    operations = window_operations(index)
    result = BulkWriter.for_client(opensearch_client, max_docs=50).write(operations)
    assert (result.created, result.failed, result.requests) == (180, [], 4)

    incident = search(
        opensearch_client,
        index,
        {
            "size": 10,
            "sort": [{"window_start": "asc"}],
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"service": "checkout"}},
                        {"range": {"error_rate": {"gte": 0.1}}},
                        {"range": {"window_start": {"gte": "2026-01-01T10:15:00Z"}}},
                    ]
                }
            },
        },
    )
    hits = incident["hits"]["hits"]
    assert [hit["_source"]["window_start"] for hit in hits] == [
        f"2026-01-01T10:{minute}:00Z" for minute in range(20, 26)
    ]

    aggregated = search(
        opensearch_client,
        index,
        {
            "size": 0,
            "aggs": {
                "services": {
                    "terms": {"field": "service"},
                    "aggs": {
                        "p95": {"percentiles": {"field": "latency_p95_ms", "percents": [50, 100]}},
                        "errors": {"sum": {"field": "errors"}},
                    },
                },
                "per_10_minutes": {
                    "date_histogram": {"field": "window_start", "fixed_interval": "10m"},
                    "aggs": {"events": {"sum": {"field": "events"}}},
                },
            },
        },
    )
    assert aggregated["hits"]["total"]["value"] == 180
    services = {b["key"]: b for b in aggregated["aggregations"]["services"]["buckets"]}
    assert {key: b["doc_count"] for key, b in services.items()} == dict.fromkeys(SERVICES, 60)
    assert services["checkout"]["errors"]["value"] == 60
    assert services["payments"]["errors"]["value"] == 0
    for offset, service in enumerate(SERVICES):
        percentiles = services[service]["p95"]["values"]
        assert percentiles["50.0"] == pytest.approx(30.5 + 100 * offset, abs=1.0)
        assert percentiles["100.0"] == 60.0 + 100 * offset
    histogram = aggregated["aggregations"]["per_10_minutes"]["buckets"]
    assert [b["key_as_string"] for b in histogram] == [f"2026-01-01T10:{m}0:00.000Z" for m in range(6)]
    assert [(b["doc_count"], b["events"]["value"]) for b in histogram] == [(30, 3000.0)] * 6


def test_reindexing_the_same_ids_overwrites_instead_of_duplicating(
    opensearch_client: OpenSearch, index_name: Callable[[str], str]
) -> None:
    index = index_name("metrics-realtime")
    writer = BulkWriter.for_client(opensearch_client)
    assert writer.write(window_operations(index, minutes=10)).created == 30
    replay = window_operations(index, minutes=10)
    replay[0] = BulkOperation(replay[0].index, replay[0].doc_id, {**replay[0].document, "events": 999})
    again = writer.write(replay)
    assert (again.created, again.updated, again.failed) == (0, 30, [])
    opensearch_client.indices.refresh(index=index)
    assert opensearch_client.count(index=index)["count"] == 30
    stored = opensearch_client.get(index=index, id=replay[0].doc_id)
    assert stored["_source"]["events"] == 999


def test_alert_upserts_merge_into_one_document(opensearch_client: OpenSearch, index_name: Callable[[str], str]) -> None:
    index = index_name("alerts")
    alert_id = document_id("error-rate-high", "checkout", "/aws/lambda/checkout")
    firing = {
        "alert_id": alert_id,
        "rule_id": "error-rate-high",
        "severity": "critical",
        "state": "firing",
        "dimensions": {"service": "checkout", "log_group": "/aws/lambda/checkout"},
        "metric": "error_rate",
        "value": 0.35,
        "threshold": 0.05,
        "first_seen": "2026-01-01T10:20:00Z",
        "last_seen": "2026-01-01T10:20:00Z",
        "reminder_count": 0,
    }
    resolved = {
        "state": "resolved",
        "resolved_at": "2026-01-01T10:27:00Z",
        "last_seen": "2026-01-01T10:26:00Z",
    }
    writer = BulkWriter.for_client(opensearch_client)
    assert writer.write([BulkOperation(index, alert_id, firing, op="update")]).created == 1
    assert writer.write([BulkOperation(index, alert_id, resolved, op="update")]).updated == 1
    stored = opensearch_client.get(index=index, id=alert_id)["_source"]
    assert stored == {**firing, **resolved}


def test_parsed_sample_log_events_are_indexed_with_their_event_ids(
    opensearch_client: OpenSearch, index_name: Callable[[str], str]
) -> None:
    index = index_name("events")
    events: list[dict[str, Any]] = []
    for number, batch in enumerate(generate_sample_batches(minutes=3, seed=3)):
        outcome = transform_record(f"record-{number}", base64.b64encode(batch.payload()))
        assert outcome.result == "Ok"
        assert outcome.data is not None
        events.extend(orjson.loads(line) for line in outcome.data.splitlines() if line)
    result = BulkWriter.for_client(opensearch_client).write(
        BulkOperation(index, event["event_id"], event) for event in events
    )
    assert (result.created, result.failed) == (len(events), [])

    response = search(
        opensearch_client,
        index,
        {
            "size": 0,
            "aggs": {
                "formats": {"terms": {"field": "format", "size": 10}},
                "errors": {"filter": {"term": {"error": True}}},
                "latency": {"max": {"field": "latency_ms"}},
                "first": {"min": {"field": "timestamp"}},
            },
        },
    )
    aggs = response["aggregations"]
    assert response["hits"]["total"]["value"] == len(events)
    assert {b["key"]: b["doc_count"] for b in aggs["formats"]["buckets"]} == Counter(e["format"] for e in events)
    assert aggs["errors"]["doc_count"] == sum(e["error"] for e in events)
    assert aggs["latency"]["value"] == pytest.approx(max(e.get("latency_ms", 0.0) for e in events))
    assert aggs["first"]["value"] == min(e["timestamp"] for e in events)


def test_a_mapping_conflict_fails_that_document_and_indexes_the_rest(
    opensearch_client: OpenSearch, index_name: Callable[[str], str]
) -> None:
    index = index_name("metrics-realtime")
    operations = window_operations(index, minutes=5)
    bad = operations[7]
    operations[7] = BulkOperation(index, bad.doc_id, {**bad.document, "events": "a lot"})
    result = BulkWriter.for_client(opensearch_client).write(operations)
    assert result.created == 14
    (failed,) = result.failed
    assert (failed.doc_id, failed.index, failed.status, failed.attempts) == (bad.doc_id, index, 400, 1)
    assert "pars" in failed.error_type
    assert "events" in failed.reason
    opensearch_client.indices.refresh(index=index)
    assert opensearch_client.count(index=index)["count"] == 14


def test_a_dead_endpoint_reports_every_document_as_failed(unused_port: int) -> None:
    client = create_client(OpenSearchSettings(url=f"http://127.0.0.1:{unused_port}", timeout_seconds=2))
    sleeps: list[float] = []
    writer = BulkWriter.for_client(client, max_docs=20, max_attempts=3, sleep=sleeps.append)
    operations = window_operations("metrics-realtime-unreachable", minutes=10)
    result = writer.write(operations)
    client.close()
    assert result.indexed == 0
    assert [f.doc_id for f in result.failed] == [op.doc_id for op in operations]
    assert {(f.status, f.error_type, f.attempts) for f in result.failed} == {(None, "ConnectionError", 3)}
    assert (result.requests, len(sleeps)) == (6, 4)
