"""The OpenSearch Dashboards saved objects of dashboards/: format, references, fields, and the panels the local
page derives from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsanalytics.assets import Assets
from opsanalytics.dashboards import drawing, page
from opsanalytics.dashboards.panels import (
    BucketAgg,
    LineChartSpec,
    MetricAgg,
    PanelError,
    Panels,
    SavedSearchSpec,
    interval_ms,
    min_interval_ms,
    panels_from_saved_objects,
    unit_of,
)
from opsanalytics.dashboards.queries import (
    choose_interval,
    data_table_aggs,
    fetch_documents,
    fetch_rows,
    histogram_interval,
    kql_to_query,
)
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
    assert len(check_saved_objects()) == 22
    ids = [obj.id for obj in objects]
    assert len(set(ids)) == len(ids)  # unique across types too: an id names one thing
    assert all(obj.id.startswith("opsanalytics-") for obj in objects)


def test_index_patterns_and_time_fields(objects: list[SavedObject]) -> None:
    patterns = {obj.title: obj.attributes.get("timeFieldName") for obj in objects if obj.type == "index-pattern"}
    assert patterns == {
        "metrics-realtime-*": "window_start",
        "metrics-declared-realtime-*": "window_start",
        "metrics-batch-*": "period_start",
        "log-insights-*": None,
        "alerts-*": None,
        "events-*": "timestamp",
    }


def test_four_dashboards_with_their_panels(objects: list[SavedObject], by_id: dict[str, SavedObject]) -> None:
    dashboards = {obj.id: obj for obj in objects if obj.type == "dashboard"}
    expected = {
        "opsanalytics-dashboard-realtime": [
            "opsanalytics-realtime-error-rate",
            "opsanalytics-realtime-latency-p95",
            "opsanalytics-alert-states",
            "opsanalytics-declared-metrics",
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
        "opsanalytics-dashboard-log-lines": ["opsanalytics-error-lines", "opsanalytics-log-lines"],
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
    assert any("uses reference 'panel_3' it does not declare" in p for p in problems)


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


# -- the local page's panels, derived from the saved objects ----------------------------------------------


@pytest.fixture(scope="module")
def panels(objects: list[SavedObject]) -> Panels:
    return panels_from_saved_objects(objects)


def test_the_line_charts_are_derived_from_the_visualisations(panels: Panels) -> None:
    minute, hour = 60_000, 3_600_000
    assert list(panels.line_charts.values()) == [
        LineChartSpec(
            "opsanalytics-realtime-error-rate",
            "Error rate per service (realtime, 60 s windows)",
            "realtime",
            "",
            "avg",
            "error_rate",
            "window_start",
            "service",
            10,
            "asc",
            "ratio",
            minute,
        ),
        LineChartSpec(
            "opsanalytics-realtime-latency-p95",
            "Latency p95 per service (realtime, 60 s windows)",
            "realtime",
            "",
            "max",
            "latency_p95_ms",
            "window_start",
            "service",
            10,
            "asc",
            "ms",
            minute,
        ),
        LineChartSpec(
            "opsanalytics-batch-error-rate-hourly",
            "Error rate per service (batch, hourly roll-ups)",
            "batch",
            "granularity:hour",
            "avg",
            "error_rate",
            "period_start",
            "service",
            10,
            "asc",
            "ratio",
            hour,
        ),
        LineChartSpec(
            "opsanalytics-batch-latency-p95-hourly",
            "Latency p95 per service (batch, hourly roll-ups)",
            "batch",
            "granularity:hour",
            "max",
            "latency_p95_ms",
            "period_start",
            "service",
            10,
            "asc",
            "ms",
            hour,
        ),
    ]


def test_the_tables_are_derived_from_the_searches_and_data_tables(panels: Panels) -> None:
    assert panels.search("opsanalytics-alert-episodes") == SavedSearchSpec(
        "opsanalytics-alert-episodes",
        "Alert episodes",
        "alerts",
        "record_type:alert_episode",
        (
            "rule_id",
            "dimensions.service",
            "severity",
            "state",
            "metric",
            "value",
            "threshold",
            "first_seen",
            "resolved_at",
        ),
        (("first_seen", "desc"),),
    )
    states = panels.search("opsanalytics-alert-states")
    assert (states.title, states.pattern, states.query, states.sort) == (
        "Alert states",
        "alerts",
        "record_type:alert",
        (("last_seen", "desc"),),
    )
    assert states.columns[-2:] == ("last_seen", "reminder_count")

    signatures = panels.data_table("opsanalytics-insights-top-error-signatures")
    assert (signatures.title, signatures.pattern, signatures.query) == (
        "Top error signatures",
        "insights",
        "kind:error_signature",
    )
    assert signatures.buckets == (
        BucketAgg("5", "terms", "signature", "Signature", size=10, order_by="1", order="desc"),
    )
    assert signatures.metrics == (
        MetricAgg("1", "sum", "count", "Occurrences"),
        MetricAgg("2", "top_hits", "services", "Services", size=3, sort=("last_seen", "desc")),
        MetricAgg("3", "min", "first_seen", "First seen"),
        MetricAgg("4", "max", "last_seen", "Last seen"),
    )
    assert signatures.labels == ("Signature", "Occurrences", "Services", "First seen", "Last seen")

    slo = panels.data_table("opsanalytics-insights-slo")
    assert (slo.title, slo.pattern, slo.query) == ("Service level objectives per day", "insights", "kind:slo")
    assert [(b.type, b.field, b.size, b.interval) for b in slo.buckets] == [
        ("terms", "service", 50, ""),
        ("date_histogram", "period_start", 0, "d"),
    ]
    assert slo.columns == (
        "service",
        "period_start",
        "requests",
        "availability",
        "availability_target",
        "error_budget_remaining",
        "latency_attainment",
        "latency_target",
    )
    assert [m.type for m in slo.metrics] == ["sum", "avg", "avg", "avg", "avg", "avg"]
    lines = panels.search("opsanalytics-log-lines")
    assert (lines.title, lines.pattern, lines.query, lines.sort) == ("Log lines", "logs", "", (("timestamp", "desc"),))
    assert panels.search("opsanalytics-error-lines").query == "error:true"
    # the alert histogram is drawn as the page's timeline of the episodes search, not from its aggregations
    assert set(panels.tables) == {
        "opsanalytics-alert-episodes",
        "opsanalytics-alert-states",
        "opsanalytics-insights-top-error-signatures",
        "opsanalytics-insights-slo",
        "opsanalytics-declared-metrics",
        "opsanalytics-log-lines",
        "opsanalytics-error-lines",
    }


def test_the_page_places_every_derived_panel(panels: Panels) -> None:
    charts = {**page.REALTIME_CHARTS, **page.BATCH_CHARTS}
    assert set(charts.values()) == set(panels.line_charts)
    assert {panels.line_chart(i).pattern for i in page.REALTIME_CHARTS.values()} == {"realtime"}
    assert {panels.line_chart(i).pattern for i in page.BATCH_CHARTS.values()} == {"batch"}
    placed = {page.ALERT_EPISODES, page.ALERT_STATES, page.TOP_SIGNATURES, page.SLO, page.LOG_LINES, page.ERROR_LINES}
    placed.add(page.DECLARED_METRICS)
    assert placed == set(panels.tables)
    assert panels.search(page.ALERT_EPISODES).sort[0][0] == "first_seen"  # the timeline's order
    with pytest.raises(PanelError, match="no saved search 'opsanalytics-insights-slo'"):
        panels.search(page.SLO)
    with pytest.raises(PanelError, match="no line visualisation 'nope'"):
        panels.line_chart("nope")


def test_the_data_tables_aggregations(panels: Panels) -> None:
    signatures = data_table_aggs(panels.data_table("opsanalytics-insights-top-error-signatures"))
    assert signatures == {
        "5": {
            "terms": {"field": "signature", "size": 10, "order": {"1": "desc"}},
            "aggs": {
                "1": {"sum": {"field": "count"}},
                "2": {
                    "top_hits": {
                        "size": 3,
                        "_source": {"includes": ["services"]},
                        "sort": [{"last_seen": {"order": "desc"}}],
                    }
                },
                "3": {"min": {"field": "first_seen"}},
                "4": {"max": {"field": "last_seen"}},
            },
        }
    }
    slo = data_table_aggs(panels.data_table("opsanalytics-insights-slo"))
    days = slo["7"]["aggs"]["8"]
    assert slo["7"]["terms"] == {"field": "service", "size": 50, "order": {"_key": "asc"}}
    assert days["date_histogram"] == {"field": "period_start", "calendar_interval": "1d", "min_doc_count": 1}
    assert days["aggs"]["2"] == {"avg": {"field": "availability"}}


class FakeClient:
    """Answers every search with one canned response and keeps the requests."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        self.bodies: list[dict[str, Any]] = []

    def search(self, *, index: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        self.bodies.append(body)
        return self.response


def test_data_table_rows_by_field_newest_day_first(panels: Panels) -> None:
    slo = panels.data_table("opsanalytics-insights-slo")
    metrics = {m.id: {"value": float(m.id)} for m in slo.metrics}
    day = 86_400_000
    response = {
        "aggregations": {
            "7": {"buckets": [{"key": "checkout", "8": {"buckets": [{"key": 0, **metrics}, {"key": day, **metrics}]}}]}
        }
    }
    rows = fetch_rows(FakeClient(response), slo, "log-insights-*", max_rows=50)  # type: ignore[arg-type]
    assert [(row["service"], row["period_start"]) for row in rows] == [("checkout", day), ("checkout", 0)]
    assert rows[0]["requests"] == 1.0 and rows[0]["latency_target"] == 6.0
    assert fetch_rows(FakeClient(response), slo, "log-insights-*", max_rows=1) == rows[:1]  # type: ignore[arg-type]
    assert fetch_rows(FakeClient({"hits": {"hits": []}}), slo, "none-*", max_rows=50) == []  # type: ignore[arg-type]

    signatures = panels.data_table("opsanalytics-insights-top-error-signatures")
    hits = [{"_source": {"services": ["checkout", "payments"]}}, {"_source": {"services": "checkout"}}]
    bucket = {"key": "Timeout <n>", "1": {"value": 5.0}, "2": {"hits": {"hits": hits}}}
    bucket |= {"3": {"value": 1.0}, "4": {"value": 2.0}}
    client = FakeClient({"aggregations": {"5": {"buckets": [bucket]}}})
    rows = fetch_rows(client, signatures, "log-insights-*", max_rows=50)  # type: ignore[arg-type]
    assert rows == [
        {
            "signature": "Timeout <n>",
            "count": 5.0,
            "services": ["checkout", "payments"],
            "first_seen": 1.0,
            "last_seen": 2.0,
        }
    ]
    assert client.bodies[0]["query"] == {"bool": {"filter": [{"term": {"kind": "error_signature"}}]}}


def test_saved_search_documents_in_the_saved_order(panels: Panels) -> None:
    client = FakeClient({"hits": {"hits": [{"_source": {"rule_id": "a"}}]}})
    spec = panels.search("opsanalytics-alert-states")
    assert fetch_documents(client, spec, "alerts-*", 20) == [{"rule_id": "a"}]  # type: ignore[arg-type]
    assert client.bodies == [
        {
            "size": 20,
            "query": {"bool": {"filter": [{"term": {"record_type": "alert"}}]}},
            "sort": [{"last_seen": {"order": "desc"}}],
        }
    ]


def test_the_rules_for_what_the_saved_objects_do_not_say() -> None:
    assert [unit_of(f) for f in ("error_rate", "latency_p95_ms", "events")] == ["ratio", "ms", ""]
    assert [interval_ms(i) for i in ("auto", "d", "1h", "30m", "15s", "2w")] == [
        None,
        86_400_000,
        3_600_000,
        1_800_000,
        15_000,
        1_209_600_000,
    ]
    with pytest.raises(ValueError, match="unsupported interval 'M'"):
        interval_ms("M")
    assert min_interval_ms("auto", "") == 60_000
    assert min_interval_ms("auto", "granularity:hour") == 3_600_000
    assert min_interval_ms("auto", 'service:checkout and granularity:"day"') == 86_400_000
    assert min_interval_ms("5m", "granularity:hour") == 300_000  # a saved interval wins
    with pytest.raises(ValueError, match="unknown granularity 'week'"):
        min_interval_ms("auto", "granularity:week")
    assert histogram_interval("d") == {"calendar_interval": "1d"}
    assert histogram_interval("1h") == {"calendar_interval": "1h"}
    assert histogram_interval("30m") == {"fixed_interval": "30m"}
    assert histogram_interval("10s") == {"fixed_interval": "10s"}


def _derive(tmp_path: Path, objects: list[SavedObject], change: Any) -> Panels:
    return panels_from_saved_objects(load_saved_objects(_write(tmp_path, objects, change)))


def _change_vis_state(object_id: str, change: Any) -> Any:
    def apply(raw: dict[str, Any]) -> None:
        if raw["id"] == object_id:
            state = json.loads(raw["attributes"]["visState"])
            change(state)
            raw["attributes"]["visState"] = json.dumps(state)

    return apply


def test_a_line_chart_without_its_metric_fails_clearly(tmp_path: Path, objects: list[SavedObject]) -> None:
    def drop_metric(state: dict[str, Any]) -> None:
        state["aggs"] = [agg for agg in state["aggs"] if agg["schema"] != "metric"]

    change = _change_vis_state("opsanalytics-realtime-latency-p95", drop_metric)
    with pytest.raises(PanelError, match="visualization opsanalytics-realtime-latency-p95: no metric aggregation"):
        _derive(tmp_path, objects, change)

    def disable_metric(state: dict[str, Any]) -> None:
        state["aggs"][0]["enabled"] = False  # Dashboards leaves a disabled aggregation out

    change = _change_vis_state("opsanalytics-realtime-latency-p95", disable_metric)
    with pytest.raises(PanelError, match="no metric aggregation"):
        _derive(tmp_path, objects, change)


def test_an_unsupported_aggregation_fails_clearly(tmp_path: Path, objects: list[SavedObject]) -> None:
    def percentiles(state: dict[str, Any]) -> None:
        state["aggs"][0]["type"] = "percentiles"

    change = _change_vis_state("opsanalytics-batch-error-rate-hourly", percentiles)
    with pytest.raises(PanelError, match="metric aggregation 'percentiles' is not one the page draws"):
        _derive(tmp_path, objects, change)

    def histogram(state: dict[str, Any]) -> None:
        state["aggs"][-1]["type"] = "histogram"

    change = _change_vis_state("opsanalytics-insights-slo", histogram)
    with pytest.raises(PanelError, match="bucket aggregation 'histogram' is neither terms nor date_histogram"):
        _derive(tmp_path, objects, change)

    def no_metrics(state: dict[str, Any]) -> None:
        state["aggs"] = [agg for agg in state["aggs"] if agg["schema"] != "metric"]

    change = _change_vis_state("opsanalytics-insights-top-error-signatures", no_metrics)
    with pytest.raises(PanelError, match="top-error-signatures: no metric aggregation"):
        _derive(tmp_path, objects, change)


def test_an_unknown_index_pattern_fails_clearly(tmp_path: Path, objects: list[SavedObject]) -> None:
    def dangling(raw: dict[str, Any]) -> None:
        if raw["id"] == "opsanalytics-alert-states":
            raw["references"][0]["id"] = "opsanalytics-no-such-pattern"

    with pytest.raises(
        PanelError, match="search opsanalytics-alert-states: index pattern 'opsanalytics-no-such-pattern' is in no file"
    ):
        _derive(tmp_path, objects, dangling)

    def retitled(raw: dict[str, Any]) -> None:
        if raw["id"] == "opsanalytics-metrics-batch":
            raw["attributes"]["title"] = "metrics-hourly-*"

    with pytest.raises(PanelError, match="index pattern 'metrics-hourly-\\*' is none the page queries"):
        _derive(tmp_path, objects, retitled)


def test_kql_to_query() -> None:
    assert kql_to_query("") == {"match_all": {}}
    assert kql_to_query("record_type:alert and severity:critical") == {
        "bool": {"filter": [{"term": {"record_type": "alert"}}, {"term": {"severity": "critical"}}]}
    }
    with pytest.raises(ValueError, match="unsupported KQL"):
        kql_to_query("not record_type")


def test_series_colours_are_distinct_per_chart_and_series(panels: Panels) -> None:
    colours = [drawing.series_colour(s, c) for c in range(len(panels.line_charts)) for s in range(12)]
    assert len(set(colours)) == len(colours)
    assert not set(colours) & set(drawing.SEVERITY_COLOURS.values())


def test_interval_and_axis_helpers() -> None:
    assert choose_interval(30 * 60_000, 60_000) == 60_000
    assert choose_interval(24 * 3_600_000, 60_000) == 15 * 60_000
    assert choose_interval(2 * 3_600_000, 3_600_000) == 3_600_000
    assert drawing.nice_ceiling(0.37) == 0.5
    assert drawing.nice_ceiling(1234) == 2000
    assert drawing.nice_ceiling(0) == 1.0
    assert [drawing.value_divisions(top) for top in (1.0, 2.0, 0.025, 5000.0)] == [5, 4, 5, 5]
    ticks = drawing.time_ticks(1_767_261_630_000, 1_767_263_400_000)
    assert ticks and all(t % 300_000 == 0 for t in ticks)
