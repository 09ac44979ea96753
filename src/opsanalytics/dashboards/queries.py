"""The local page's queries: the panels' KQL as query DSL, their aggregations and searches run against OpenSearch.

Each fetch takes a panel spec of `opsanalytics.dashboards.panels` and an index pattern (the saved one or the
caller's override) and returns plain data for the drawing: a line chart's series (`ChartData`), a data table's
rows (one dict per innermost bucket, keyed by the aggregations' fields) or a saved search's documents. An index
pattern that matches no index gives empty data, not an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opensearchpy import OpenSearch

from opsanalytics.dashboards.panels import (
    INTERVAL_UNITS_MS,
    INTERVALS_MS,
    MINUTE_MS,
    DataTableSpec,
    LineChartSpec,
    MetricAgg,
    SavedSearchSpec,
    interval_ms,
)

MAX_BUCKETS: Final = 120
# interval units OpenSearch also has as calendar intervals (a bare "d" in Dashboards is a calendar day)
CALENDAR_UNITS: Final = frozenset({"m", "h", "d", "w"})

Point = tuple[int, float]


def kql_to_query(kql: str) -> dict[str, Any]:
    """The OpenSearch query of the saved objects' simple KQL: ``field:value`` terms joined by ``and``."""
    kql = kql.strip()
    if not kql:
        return {"match_all": {}}
    filters = []
    for term in kql.replace(" AND ", " and ").split(" and "):
        name, sep, value = term.partition(":")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"unsupported KQL term {term!r} (only field:value terms joined by 'and')")
        filters.append({"term": {name.strip(): value.strip().strip('"')}})
    return {"bool": {"filter": filters}}


@dataclass(slots=True)
class ChartData:
    spec: LineChartSpec
    index_pattern: str
    series: dict[str, list[Point]] = field(default_factory=dict)
    interval_ms: int = MINUTE_MS
    documents: int = 0


def _search(client: OpenSearch, index: str, body: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = client.search(
        index=index, body=body, params={"ignore_unavailable": "true", "allow_no_indices": "true"}
    )
    return response


def choose_interval(span_ms: int, minimum_ms: int) -> int:
    """The smallest interval of the ladder, at least ``minimum_ms``, giving at most MAX_BUCKETS buckets."""
    for interval in INTERVALS_MS:
        if interval >= minimum_ms and span_ms / interval <= MAX_BUCKETS:
            return interval
    return INTERVALS_MS[-1]


def histogram_interval(interval: str) -> dict[str, str]:
    """The date histogram parameter of a saved fixed interval: ``d`` → calendar day, ``30m`` → 30 fixed minutes."""
    length = interval_ms(interval)
    if length is None:
        raise ValueError("an auto interval has no date histogram parameter of its own")
    unit = interval.strip().lstrip("0123456789")
    count = length // INTERVAL_UNITS_MS[unit]
    if count == 1 and unit in CALENDAR_UNITS:
        return {"calendar_interval": f"1{unit}"}
    return {"fixed_interval": f"{count}{unit}"}


def fetch_chart(client: OpenSearch, spec: LineChartSpec, index_pattern: str) -> ChartData:
    """The chart's series: the metric per split term per date histogram bucket (empty buckets left out)."""
    data = ChartData(spec=spec, index_pattern=index_pattern)
    query = kql_to_query(spec.query)
    bounds = _search(
        client,
        index_pattern,
        {
            "size": 0,
            "track_total_hits": True,
            "query": query,
            "aggs": {"first": {"min": {"field": spec.time_field}}, "last": {"max": {"field": spec.time_field}}},
        },
    )
    data.documents = int(bounds["hits"]["total"]["value"])
    if not data.documents:  # also: no index matches (the response then has no aggregations)
        return data
    first, last = bounds["aggregations"]["first"]["value"], bounds["aggregations"]["last"]["value"]
    if first is None or last is None:
        return data
    data.interval_ms = choose_interval(int(last - first), spec.min_interval_ms)
    response = _search(
        client,
        index_pattern,
        {
            "size": 0,
            "query": query,
            "aggs": {
                "split": {
                    "terms": {"field": spec.split_field, "size": spec.split_size, "order": {"_key": spec.split_order}},
                    "aggs": {
                        "time": {
                            "date_histogram": {
                                "field": spec.time_field,
                                "fixed_interval": f"{data.interval_ms // 1000}s",
                                "min_doc_count": 1,
                            },
                            "aggs": {"value": {spec.metric: {"field": spec.field}}},
                        }
                    },
                }
            },
        },
    )
    for bucket in response.get("aggregations", {}).get("split", {}).get("buckets", []):
        points = [
            (int(item["key"]), float(item["value"]["value"]))
            for item in bucket["time"]["buckets"]
            if item["value"]["value"] is not None
        ]
        if points:
            data.series[str(bucket["key"])] = points
    return data


def fetch_documents(client: OpenSearch, spec: SavedSearchSpec, index_pattern: str, size: int) -> list[dict[str, Any]]:
    """The saved search's first ``size`` documents, in its sort order."""
    body: dict[str, Any] = {"size": size, "query": kql_to_query(spec.query)}
    if spec.sort:
        body["sort"] = [{name: {"order": order}} for name, order in spec.sort]
    response = _search(client, index_pattern, body)
    return [hit["_source"] for hit in response["hits"]["hits"]]


def _metric_body(metric: MetricAgg) -> dict[str, Any]:
    if metric.type == "top_hits":
        body: dict[str, Any] = {"size": metric.size, "_source": {"includes": [metric.field]}}
        if metric.sort is not None:
            body["sort"] = [{metric.sort[0]: {"order": metric.sort[1]}}]
        return {"top_hits": body}
    return {metric.type: {"field": metric.field}}


def data_table_aggs(spec: DataTableSpec) -> dict[str, Any]:
    """The table's aggregations, named by their saved ids: the buckets nested outermost first, the metrics in the
    innermost."""
    aggs: dict[str, Any] = {metric.id: _metric_body(metric) for metric in spec.metrics}
    for bucket in reversed(spec.buckets):
        if bucket.type == "terms":
            body: dict[str, Any] = {
                "terms": {"field": bucket.field, "size": bucket.size, "order": {bucket.order_by: bucket.order}}
            }
        else:
            body = {
                "date_histogram": {"field": bucket.field, **histogram_interval(bucket.interval), "min_doc_count": 1}
            }
        aggs = {bucket.id: body | {"aggs": aggs}}
    return aggs


def _metric_value(metric: MetricAgg, result: Mapping[str, Any]) -> Any:
    if metric.type != "top_hits":
        return result["value"]
    values: list[str] = []  # the documents' values concatenated, each once
    for hit in result["hits"]["hits"]:
        value = hit["_source"].get(metric.field)
        items: Iterable[Any] = [] if value is None else [value] if isinstance(value, str | int | float) else value
        for item in items:
            if str(item) not in values:
                values.append(str(item))
    return values


def fetch_rows(client: OpenSearch, spec: DataTableSpec, index_pattern: str, max_rows: int) -> list[dict[str, Any]]:
    """The table's rows, at most ``max_rows``: bucket keys and metric values by field. Terms buckets come in their
    saved order, date histogram buckets newest first (a table of days is read from the latest)."""
    response = _search(
        client, index_pattern, {"size": 0, "query": kql_to_query(spec.query), "aggs": data_table_aggs(spec)}
    )
    rows: list[dict[str, Any]] = []

    def walk(level: Mapping[str, Any], depth: int, row: dict[str, Any]) -> None:
        if depth == len(spec.buckets):
            rows.append(row | {metric.field: _metric_value(metric, level[metric.id]) for metric in spec.metrics})
            return
        bucket = spec.buckets[depth]
        items: list[dict[str, Any]] = level.get(bucket.id, {}).get("buckets", [])
        if bucket.type == "date_histogram":
            items = items[::-1]
        for item in items:
            key = int(item["key"]) if bucket.type == "date_histogram" else item["key"]
            walk(item, depth + 1, row | {bucket.field: key})

    walk(response.get("aggregations", {}), 0, {})  # no aggregations: no index matched
    return rows[:max_rows]


@dataclass(frozen=True, slots=True)
class EpisodeLines:
    """The log lines of one alert episode's service over the episode: the first few, errors first."""

    documents: list[dict[str, Any]]
    total: int
    errors: int


def fetch_episode_lines(
    client: OpenSearch,
    spec: SavedSearchSpec,
    index_pattern: str,
    *,
    service: str | None,
    start_ms: int,
    end_ms: int,
    size: int,
) -> EpisodeLines:
    """The saved search's lines of `service` (every service when None) in [start_ms, end_ms): errors first,
    then in time order, with how many lines and errors there are in all."""
    filters: list[dict[str, Any]] = [{"range": {"timestamp": {"gte": start_ms, "lt": end_ms}}}]
    if service:
        filters.append({"term": {"service": service}})
    query = kql_to_query(spec.query)
    if query != {"match_all": {}}:
        filters.extend(query["bool"]["filter"])
    body: dict[str, Any] = {
        "size": size,
        "track_total_hits": True,
        "query": {"bool": {"filter": filters}},
        "sort": [{"error": {"order": "desc"}}, {"timestamp": {"order": "asc"}}],
        "aggs": {"errors": {"filter": {"term": {"error": True}}}},
    }
    response = _search(client, index_pattern, body)
    hits = response["hits"]
    errors = response.get("aggregations", {}).get("errors", {}).get("doc_count", 0)
    return EpisodeLines([hit["_source"] for hit in hits["hits"]], int(hits["total"]["value"]), int(errors))
