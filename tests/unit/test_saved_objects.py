"""The OpenSearch Dashboards saved objects of dashboards/: format, references, fields, and the local renderer's
agreement with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsanalytics.assets import Assets
from opsanalytics.dashboards import render
from opsanalytics.dashboards.saved_objects import (
    SEARCH_SOURCE_INDEX_REF,
    SavedObject,
    SavedObjectsError,
    check_saved_objects,
    field_uses,
    index_pattern_fields,
    load_saved_objects,
    mapped_templates,
    query_fields,
    templates_for,
    validate,
)


@pytest.fixture(scope="module")
def objects() -> list[SavedObject]:
    return load_saved_objects()


@pytest.fixture(scope="module")
def by_id(objects: list[SavedObject]) -> dict[str, SavedObject]:
    return {obj.id: obj for obj in objects}


def test_files_are_ndjson_of_saved_objects() -> None:
    files = sorted(Assets.checkout().saved_objects.glob("*.ndjson"))
    assert [f.name for f in files] == ["10-index-patterns.ndjson", "20-visualizations.ndjson", "30-dashboards.ndjson"]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)  # one object per line, nothing else
            assert set(raw) == {"id", "type", "migrationVersion", "attributes", "references"}


def test_the_saved_objects_are_valid(objects: list[SavedObject]) -> None:
    assert len(check_saved_objects()) == 16
    ids = [obj.id for obj in objects]
    assert len(set(ids)) == len(ids)  # unique across types too: an id names one thing
    assert all(obj.id.startswith("opsanalytics-") for obj in objects)


def test_index_patterns_and_time_fields(objects: list[SavedObject]) -> None:
    patterns = {obj.title: obj.attributes.get("timeFieldName") for obj in objects if obj.type == "index-pattern"}
    assert patterns == {
        "metrics-realtime-*": "window_start",
        "metrics-batch-*": "period_start",
        "log-insights-*": None,
        "alerts-*": None,
    }


def test_three_dashboards_with_their_panels(objects: list[SavedObject], by_id: dict[str, SavedObject]) -> None:
    dashboards = {obj.id: obj for obj in objects if obj.type == "dashboard"}
    expected = {
        "opsanalytics-dashboard-realtime": [
            "opsanalytics-realtime-error-rate",
            "opsanalytics-realtime-latency-p95",
            "opsanalytics-alert-states",
        ],
        "opsanalytics-dashboard-batch-insights": [
            "opsanalytics-batch-error-rate-hourly",
            "opsanalytics-batch-latency-p95-hourly",
            "opsanalytics-insights-top-error-signatures",
            "opsanalytics-insights-slo",
        ],
        "opsanalytics-dashboard-alerts": [
            "opsanalytics-alerts-timeline",
            "opsanalytics-alert-episodes",
            "opsanalytics-alert-states",
        ],
    }
    assert set(dashboards) == set(expected)
    for dashboard_id, panel_ids in expected.items():
        dashboard = dashboards[dashboard_id]
        panels = dashboard.json_attribute("panelsJSON")
        assert [p["panelRefName"] for p in panels] == [f"panel_{i}" for i in range(len(panel_ids))]
        resolved = []
        for panel in panels:
            ref = dashboard.reference(panel["panelRefName"])
            assert ref is not None
            target = by_id[ref["id"]]
            assert target.type == ref["type"]
            resolved.append(target.id)
            grid = panel["gridData"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 48 and grid["h"] > 0
        assert resolved == panel_ids
        assert len({p["panelIndex"] for p in panels}) == len(panels)


def test_every_reference_resolves(objects: list[SavedObject]) -> None:
    keys = {(obj.type, obj.id) for obj in objects}
    for obj in objects:
        for ref in obj.references:
            assert (ref["type"], ref["id"]) in keys, f"{obj.id}: {ref}"
        if obj.type in ("visualization", "search"):
            source = obj.search_source()
            assert source["indexRefName"] == SEARCH_SOURCE_INDEX_REF
            assert "index" not in source  # the id lives in the references, as exports have it
            ref = obj.reference(SEARCH_SOURCE_INDEX_REF)
            assert ref is not None and ref["type"] == "index-pattern"


def test_every_field_exists_in_the_index_templates(objects: list[SavedObject]) -> None:
    templates = mapped_templates()
    titles = {obj.id: obj.title for obj in objects if obj.type == "index-pattern"}
    checked = 0
    for obj in objects:
        if obj.type == "dashboard":
            continue
        title = obj.title if obj.type == "index-pattern" else titles[obj.index_pattern_id() or ""]
        assert templates_for(title, templates), title
        fields = index_pattern_fields(title, templates)
        for use in field_uses(obj):
            assert use.field in fields, f"{obj.id}: {use.what} field {use.field} not mapped for {title}"
            if use.accepted is not None:
                assert fields[use.field] in use.accepted, f"{obj.id}: {use.field} is a {fields[use.field]}"
            checked += 1
    assert checked >= 40


def test_visualisations_filter_on_the_record_kind(by_id: dict[str, SavedObject]) -> None:
    assert by_id["opsanalytics-alert-episodes"].query() == "record_type:alert_episode"
    assert by_id["opsanalytics-alert-states"].query() == "record_type:alert"
    assert by_id["opsanalytics-alerts-timeline"].query() == "record_type:alert_episode"
    assert by_id["opsanalytics-insights-top-error-signatures"].query() == "kind:error_signature"
    assert by_id["opsanalytics-insights-slo"].query() == "kind:slo"
    assert by_id["opsanalytics-batch-error-rate-hourly"].query() == "granularity:hour"


def test_query_fields() -> None:
    assert query_fields("record_type:alert and severity:critical") == {"record_type", "severity"}
    assert query_fields('message:"a: b" or dimensions.service : checkout') == {"message", "dimensions.service"}
    assert query_fields("") == set()


# -- the validator finds what is wrong ------------------------------------------------------------------


def _write(tmp_path: Path, objects: list[SavedObject], change: Any) -> Path:
    lines = []
    for obj in objects:
        raw = {"id": obj.id, "type": obj.type, "attributes": json.loads(json.dumps(obj.attributes))}
        raw["references"] = [dict(ref) for ref in obj.references]
        change(raw)
        lines.append(json.dumps(raw))
    (tmp_path / "all.ndjson").write_text("\n".join(lines) + "\n")
    return tmp_path


def _problems(tmp_path: Path, objects: list[SavedObject], change: Any) -> list[str]:
    return validate(load_saved_objects(_write(tmp_path, objects, change)), mapped_templates())


def test_a_dangling_reference_is_reported(tmp_path: Path, objects: list[SavedObject]) -> None:
    def change(raw: dict[str, Any]) -> None:
        if raw["id"] == "opsanalytics-dashboard-alerts":
            raw["references"][0]["id"] = "no-such-visualization"

    problems = _problems(tmp_path, objects, change)
    assert len(problems) == 1 and "no-such-visualization is in no file" in problems[0]


def test_an_undeclared_panel_reference_is_reported(tmp_path: Path, objects: list[SavedObject]) -> None:
    def change(raw: dict[str, Any]) -> None:
        if raw["id"] == "opsanalytics-dashboard-realtime":
            raw["references"] = raw["references"][:-1]

    problems = _problems(tmp_path, objects, change)
    assert any("uses reference 'panel_2' it does not declare" in p for p in problems)


def test_an_unmapped_field_is_reported(tmp_path: Path, objects: list[SavedObject]) -> None:
    def change(raw: dict[str, Any]) -> None:
        if raw["id"] == "opsanalytics-realtime-error-rate":
            raw["attributes"]["visState"] = raw["attributes"]["visState"].replace('"error_rate"', '"errorRate"')
        if raw["id"] == "opsanalytics-alert-states":
            raw["attributes"]["columns"].append("snapshot")  # stored, not indexed

    problems = _problems(tmp_path, objects, change)
    assert any("avg aggregation field 'errorRate' is not mapped" in p for p in problems)
    assert any("column field 'snapshot' is not mapped" in p for p in problems)


def test_a_field_of_the_wrong_type_is_reported(tmp_path: Path, objects: list[SavedObject]) -> None:
    def change(raw: dict[str, Any]) -> None:
        if raw["id"] == "opsanalytics-realtime-latency-p95":
            raw["attributes"]["visState"] = raw["attributes"]["visState"].replace(
                '"field":"window_start"', '"field":"service"'
            )
        if raw["id"] == "opsanalytics-dashboard-alerts":
            raw["attributes"]["panelsJSON"] = "[not json"

    problems = _problems(tmp_path, objects, change)
    assert any("panelsJSON is not a JSON string" in p for p in problems)
    # format problems stop the checks that need the format; without them the type is checked
    problems = _problems(tmp_path, objects, lambda raw: change(raw) if raw["type"] != "dashboard" else None)
    assert any("date_histogram aggregation field 'service' is a keyword" in p for p in problems)


def test_check_raises_with_every_problem(tmp_path: Path, objects: list[SavedObject]) -> None:
    def change(raw: dict[str, Any]) -> None:
        if raw["type"] == "index-pattern" and raw["attributes"]["title"] == "metrics-batch-*":
            raw["attributes"]["timeFieldName"] = "window_start"

    with pytest.raises(SavedObjectsError, match="time field field 'window_start' is not mapped for metrics-batch"):
        check_saved_objects(_write(tmp_path, objects, change))


# -- the local renderer queries what the saved objects query --------------------------------------------


def _pattern_title(obj: SavedObject, by_id: dict[str, SavedObject]) -> str:
    return by_id[obj.index_pattern_id() or ""].title


def test_the_renderer_uses_the_saved_index_patterns(by_id: dict[str, SavedObject]) -> None:
    for spec in (*render.LINE_CHARTS, *render.TABLES):
        obj = by_id[spec.saved_object_id]
        assert _pattern_title(obj, by_id) == render.DEFAULT_INDEX_PATTERNS[spec.pattern]
        assert obj.query() == spec.query
        assert obj.title == spec.title


def test_the_renderer_draws_the_saved_line_charts(by_id: dict[str, SavedObject]) -> None:
    for spec in render.LINE_CHARTS:
        state = by_id[spec.saved_object_id].json_attribute("visState")
        assert state["type"] == "line"
        aggs = {agg["schema"]: agg for agg in state["aggs"]}
        assert (aggs["metric"]["type"], aggs["metric"]["params"]["field"]) == (spec.metric, spec.field)
        assert aggs["segment"]["type"] == "date_histogram"
        assert aggs["segment"]["params"]["field"] == spec.time_field
        assert (aggs["group"]["type"], aggs["group"]["params"]["field"]) == ("terms", spec.split_field)


def test_the_renderer_builds_the_saved_tables(by_id: dict[str, SavedObject]) -> None:
    for key, columns in render.ALERT_COLUMNS.items():
        spec = next(s for s in render.TABLES if s.key == key)
        search = by_id[spec.saved_object_id]
        assert tuple(search.attributes["columns"]) == columns
        assert search.attributes["sort"] == [[render.ALERT_SORT[key], "desc"]]

    signatures = by_id[render.TOP_SIGNATURES.saved_object_id].json_attribute("visState")["aggs"]
    assert [(a["type"], a["params"].get("field")) for a in signatures] == [
        ("sum", "count"),
        ("top_hits", "services"),
        ("min", "first_seen"),
        ("max", "last_seen"),
        ("terms", "signature"),
    ]
    assert signatures[-1]["params"]["size"] == render.SIGNATURE_ROWS

    slo = by_id[render.SLO_TABLE.saved_object_id].json_attribute("visState")["aggs"]
    metrics = [(a["params"]["field"], a["type"]) for a in slo if a["schema"] == "metric"]
    assert tuple(metrics) == render.SLO_METRICS
    buckets = [(a["type"], a["params"]["field"]) for a in slo if a["schema"] == "bucket"]
    assert buckets == [("terms", "service"), ("date_histogram", "period_start")]


def test_kql_to_query() -> None:
    assert render.kql_to_query("") == {"match_all": {}}
    assert render.kql_to_query("record_type:alert and severity:critical") == {
        "bool": {"filter": [{"term": {"record_type": "alert"}}, {"term": {"severity": "critical"}}]}
    }
    with pytest.raises(ValueError, match="unsupported KQL"):
        render.kql_to_query("not record_type")


def test_series_colours_are_distinct_per_chart_and_series() -> None:
    colours = [render.series_colour(s, c) for c in range(len(render.LINE_CHARTS)) for s in range(12)]
    assert len(set(colours)) == len(colours)
    assert not set(colours) & set(render.SEVERITY_COLOURS.values())


def test_interval_and_axis_helpers() -> None:
    assert render.choose_interval(30 * 60_000, 60_000) == 60_000
    assert render.choose_interval(24 * 3_600_000, 60_000) == 15 * 60_000
    assert render.choose_interval(2 * 3_600_000, 3_600_000) == 3_600_000
    assert render.nice_ceiling(0.37) == 0.5
    assert render.nice_ceiling(1234) == 2000
    assert render.nice_ceiling(0) == 1.0
    assert [render.value_divisions(top) for top in (1.0, 2.0, 0.025, 5000.0)] == [5, 4, 5, 5]
    ticks = render.time_ticks(1_767_261_630_000, 1_767_263_400_000)
    assert ticks and all(t % 300_000 == 0 for t in ticks)
