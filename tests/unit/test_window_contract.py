"""The metric window contract has one source: the TypedDicts, the field tables the Flink sinks, the alert rules and
the metrics function use, and the index template the documents land in all name the same fields."""

from __future__ import annotations

import json

from opsanalytics.alerting import rules
from opsanalytics.assets import Assets
from opsanalytics.realtime import job, windows

# Flink SQL type → the OpenSearch field types a document of that column may be mapped to
MAPPED_AS = {
    "INT": {"integer"},
    "BIGINT": {"long"},
    "DOUBLE": {"double"},
    "STRING": {"keyword", "date"},
    "ARRAY<STRING>": {"text"},  # samples: kept to read, not searched
    "ARRAY<ROW<`signature` STRING, `count` BIGINT>>": {"object"},
}
UNMAPPED = {"record_type"}  # kept in _source; every document of an index has the same one


def _names(fields: tuple[tuple[str, str], ...]) -> list[str]:
    return [name for name, _ in fields]


def test_the_field_tables_are_the_typed_dicts() -> None:
    assert _names(windows.WINDOW_FIELDS) == list(windows.MetricWindow.__annotations__)
    assert list(windows.ErrorSignature.__annotations__) == ["signature", "count"]
    assert windows.METRIC_WINDOW_SCHEMA_VERSION == 2 and 1 in windows.READABLE_WINDOW_SCHEMA_VERSIONS


def test_the_flink_sinks_and_the_rules_use_the_tables() -> None:
    assert job.WINDOW_COLUMNS is windows.WINDOW_FIELDS
    assert rules.NUMERIC_FIELDS is windows.NUMERIC_FIELDS
    assert "revision" not in windows.NUMERIC_FIELDS  # an INT: no rule watches it
    assert set(windows.COUNT_FIELDS) == {"events", "errors", "latency_count", "late_events"}
    assert set(windows.LATENCY_FIELDS) == {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms"}


def test_the_index_template_maps_every_field_with_its_type() -> None:
    template = json.loads((Assets.checkout().index_templates / "metrics-realtime.json").read_text())
    mapped = {name: spec.get("type", "object") for name, spec in template["template"]["mappings"]["properties"].items()}
    fields = dict(windows.WINDOW_FIELDS)
    assert set(mapped) == set(fields) - UNMAPPED
    for name, kind in mapped.items():
        assert kind in MAPPED_AS[fields[name]], f"{name}: {fields[name]} mapped as {kind}"
