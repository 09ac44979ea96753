"""The panels of the local page, derived from the Dashboards saved objects when the page is rendered.

`panels_from_saved_objects` reads what each saved object of ``assets/saved-objects/`` says about its panel:

- a line visualisation (`LineChartSpec`): its title, index pattern, KQL query, metric aggregation (type and
  field), date histogram (time field, interval) and terms split (field, size, order);
- a data table visualisation (`DataTableSpec`): its title, index pattern, KQL query, bucket aggregations
  (terms, date histograms; outermost first, as Dashboards nests them) and metric aggregations with their labels;
- a saved search (`SavedSearchSpec`): its title, index pattern, KQL query, columns and sort.

Other visualisation types are not drawn from their aggregations (the alert histogram: the page draws the
documents of the alert episodes search as a timeline instead). Disabled aggregations are left out, as
Dashboards leaves them out.

What the saved objects do not say follows a rule, the same for every panel:

- an index pattern's key (the names `render_dashboard` overrides patterns by) is the key of its title in
  `DEFAULT_INDEX_PATTERNS`;
- the unit of a field's values (`unit_of`): ``*_ms`` fields are milliseconds, ``*_rate`` fields ratios, others
  plain numbers;
- the smallest bucket of an ``auto`` date histogram (`min_interval_ms`): the granularity of the documents, which
  the query names for the roll-ups (``granularity:hour``) and is one minute otherwise (the realtime windows).

A saved object the page cannot draw fails the derivation with a `PanelError` naming the object and what it lacks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from opsanalytics.dashboards.saved_objects import SavedObject, SavedObjectsError

DEFAULT_INDEX_PATTERNS: Final[Mapping[str, str]] = {
    "realtime": "metrics-realtime-*",
    "declared": "metrics-declared-realtime-*",
    "batch": "metrics-batch-*",
    "insights": "log-insights-*",
    "alerts": "alerts-*",
    "logs": "events-*",
}
MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS
# the bucket widths of the charts and the steps of their time axes (a chart's minimum rounds up to one of them)
INTERVALS_MS: Final = tuple(
    m * MINUTE_MS for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2 * 1440, 7 * 1440)
)
# the interval units of Dashboards' date histograms that have a fixed length (months and years do not)
INTERVAL_UNITS_MS: Final[Mapping[str, int]] = {
    "ms": 1,
    "s": 1000,
    "m": MINUTE_MS,
    "h": HOUR_MS,
    "d": DAY_MS,
    "w": 7 * DAY_MS,
}
# the documents' granularity a query may name (the batch roll-ups' ``granularity`` field)
GRANULARITIES_MS: Final[Mapping[str, int]] = {"minute": MINUTE_MS, "hour": HOUR_MS, "day": DAY_MS}
# metric aggregations with one value per bucket (``{"value": ...}``)
SINGLE_VALUE_METRICS: Final = frozenset({"avg", "cardinality", "max", "min", "sum"})
TABLE_METRICS: Final = SINGLE_VALUE_METRICS | {"top_hits"}

_INTERVAL: Final = re.compile(r"([1-9]\d*)?(ms|s|m|h|d|w)")
_GRANULARITY_TERM: Final = re.compile(r"(?<![\w.])granularity\s*:\s*\"?(\w+)")

Unit = Literal["ratio", "ms", ""]
Order = Literal["asc", "desc"]


class PanelError(SavedObjectsError):
    """A saved object does not say what the page needs to draw its panel; the message names the object."""


@dataclass(frozen=True, slots=True)
class LineChartSpec:
    """A line per split term over time, as the saved line visualisation ``saved_object_id`` draws it."""

    saved_object_id: str
    title: str
    pattern: str
    """key of the index patterns: realtime, batch, insights, alerts"""
    query: str
    """the saved object's KQL (``field:value`` terms joined by ``and``)"""
    metric: str
    field: str
    time_field: str
    split_field: str
    split_size: int
    split_order: Order
    """order of the split terms by their value (the series are named by them)"""
    unit: Unit
    min_interval_ms: int


@dataclass(frozen=True, slots=True)
class MetricAgg:
    """A metric aggregation of a data table: one column of its rows."""

    id: str
    type: str
    field: str
    label: str
    size: int = 1
    """top_hits: the documents per bucket whose values the cell concatenates"""
    sort: tuple[str, Order] | None = None
    """top_hits: which documents (field, order)"""


@dataclass(frozen=True, slots=True)
class BucketAgg:
    """A bucket aggregation of a data table (terms or date histogram): one column of its rows."""

    id: str
    type: Literal["terms", "date_histogram"]
    field: str
    label: str
    size: int = 0
    """terms: the buckets kept"""
    order_by: str = "_key"
    """terms: ``_key``, or the id of the metric the buckets are ranked by"""
    order: Order = "asc"
    interval: str = ""
    """date_histogram: the saved interval (``d``, ``1h``, ``30m`` ...)"""


@dataclass(frozen=True, slots=True)
class DataTableSpec:
    """A table of aggregated rows, as the saved data table visualisation ``saved_object_id`` computes them."""

    saved_object_id: str
    title: str
    pattern: str
    query: str
    buckets: tuple[BucketAgg, ...]
    """outermost first"""
    metrics: tuple[MetricAgg, ...]
    """computed in the innermost bucket"""

    @property
    def columns(self) -> tuple[str, ...]:
        """The rows' keys: the buckets' fields, then the metrics' fields."""
        return tuple(bucket.field for bucket in self.buckets) + tuple(metric.field for metric in self.metrics)

    @property
    def labels(self) -> tuple[str, ...]:
        """The columns' headings, in the order of `columns`."""
        return tuple(bucket.label for bucket in self.buckets) + tuple(metric.label for metric in self.metrics)


@dataclass(frozen=True, slots=True)
class SavedSearchSpec:
    """The documents of the saved search ``saved_object_id``: a table of its columns, in its sort order."""

    saved_object_id: str
    title: str
    pattern: str
    query: str
    columns: tuple[str, ...]
    sort: tuple[tuple[str, Order], ...]


TableSpec = DataTableSpec | SavedSearchSpec


@dataclass(frozen=True, slots=True)
class Panels:
    """The panels the saved objects define, by saved object id, in the order of the files."""

    line_charts: Mapping[str, LineChartSpec]
    tables: Mapping[str, TableSpec]

    def line_chart(self, saved_object_id: str) -> LineChartSpec:
        spec = self.line_charts.get(saved_object_id)
        if spec is None:
            raise PanelError(f"no line visualisation {saved_object_id!r} in the saved objects")
        return spec

    def data_table(self, saved_object_id: str) -> DataTableSpec:
        spec = self.tables.get(saved_object_id)
        if not isinstance(spec, DataTableSpec):
            raise PanelError(f"no data table visualisation {saved_object_id!r} in the saved objects")
        return spec

    def search(self, saved_object_id: str) -> SavedSearchSpec:
        spec = self.tables.get(saved_object_id)
        if not isinstance(spec, SavedSearchSpec):
            raise PanelError(f"no saved search {saved_object_id!r} in the saved objects")
        return spec


def unit_of(field: str) -> Unit:
    """The unit of a field's values, by the naming of the index templates: ``*_ms`` ms, ``*_rate`` ratios."""
    if field.endswith("_ms"):
        return "ms"
    if field.endswith("_rate"):
        return "ratio"
    return ""


def interval_ms(interval: str) -> int | None:
    """The length of a Dashboards date histogram interval (``d``, ``1h``, ``30m``); None for ``auto``."""
    if interval == "auto":
        return None
    match = _INTERVAL.fullmatch(interval.strip())
    if match is None:
        raise ValueError(f"unsupported interval {interval!r} (auto, or a number of ms, s, m, h, d or w)")
    return int(match.group(1) or 1) * INTERVAL_UNITS_MS[match.group(2)]


def min_interval_ms(interval: str, query: str) -> int:
    """The smallest bucket of a chart: the saved interval, or for ``auto`` the granularity of the documents
    (``granularity:<minute|hour|day>`` in the query; one minute, the realtime windows, without)."""
    fixed = interval_ms(interval)
    if fixed is not None:
        return fixed
    match = _GRANULARITY_TERM.search(query)
    if match is None:
        return MINUTE_MS
    granularity = match.group(1)
    if granularity not in GRANULARITIES_MS:
        raise ValueError(f"unknown granularity {granularity!r} (expected {', '.join(GRANULARITIES_MS)})")
    return GRANULARITIES_MS[granularity]


# ------------------------------------------------------------------------------------------------ derivation


def _where(obj: SavedObject) -> str:
    return f"{obj.source}: {obj.type} {obj.id}"


def _pattern_key(obj: SavedObject, index_patterns: Mapping[str, SavedObject]) -> str:
    try:
        pattern_id = obj.index_pattern_id()
    except (TypeError, ValueError) as exc:
        raise PanelError(f"{_where(obj)}: searchSourceJSON: {exc}") from None
    if pattern_id is None:
        raise PanelError(f"{_where(obj)}: no index pattern reference")
    pattern = index_patterns.get(pattern_id)
    if pattern is None:
        raise PanelError(f"{_where(obj)}: index pattern {pattern_id!r} is in no file")
    key = next((key for key, title in DEFAULT_INDEX_PATTERNS.items() if title == pattern.title), None)
    if key is None:
        known = ", ".join(DEFAULT_INDEX_PATTERNS.values())
        raise PanelError(f"{_where(obj)}: index pattern {pattern.title!r} is none the page queries ({known})")
    return key


def _query(obj: SavedObject) -> str:
    try:
        return obj.query()
    except (TypeError, ValueError) as exc:
        raise PanelError(f"{_where(obj)}: searchSourceJSON: {exc}") from None


def _vis_state(obj: SavedObject) -> dict[str, Any]:
    try:
        state = obj.json_attribute("visState")
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise PanelError(f"{_where(obj)}: visState is not a JSON string: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("aggs"), list):
        raise PanelError(f"{_where(obj)}: visState needs a list of aggs")
    return state


def _enabled_aggs(obj: SavedObject, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    aggs = []
    for agg in state["aggs"]:
        if not isinstance(agg, dict) or not all(agg.get(key) for key in ("id", "type", "schema")):
            raise PanelError(f"{_where(obj)}: aggregation {agg!r} needs an id, a type and a schema")
        if agg.get("enabled", True):
            aggs.append(agg)
    return aggs


def _params(agg: Mapping[str, Any]) -> dict[str, Any]:
    params = agg.get("params") or {}
    return dict(params) if isinstance(params, Mapping) else {}


def _field(obj: SavedObject, agg: Mapping[str, Any]) -> str:
    field = _params(agg).get("field")
    if not isinstance(field, str) or not field:
        raise PanelError(f"{_where(obj)}: the {agg['type']} aggregation {agg.get('id')!r} has no field")
    return field


def _order(obj: SavedObject, value: Any, what: str) -> Order:
    if value == "asc":
        return "asc"
    if value == "desc":
        return "desc"
    raise PanelError(f"{_where(obj)}: {what} order {value!r} is neither asc nor desc")


def _one(obj: SavedObject, aggs: Sequence[Mapping[str, Any]], schema: str, what: str) -> Mapping[str, Any]:
    found = [agg for agg in aggs if agg["schema"] == schema]
    if not found:
        raise PanelError(f"{_where(obj)}: no {what} (an aggregation of schema {schema!r})")
    if len(found) > 1:
        raise PanelError(f"{_where(obj)}: {len(found)} aggregations of schema {schema!r}, the page draws one {what}")
    return found[0]


def line_chart_spec(obj: SavedObject, index_patterns: Mapping[str, SavedObject]) -> LineChartSpec:
    """The chart of a line visualisation: metric per split term per date histogram bucket."""
    pattern = _pattern_key(obj, index_patterns)
    query = _query(obj)
    aggs = _enabled_aggs(obj, _vis_state(obj))
    metric = _one(obj, aggs, "metric", "metric aggregation")
    if metric["type"] not in SINGLE_VALUE_METRICS:
        raise PanelError(
            f"{_where(obj)}: metric aggregation {metric['type']!r} is not one the page draws "
            f"({', '.join(sorted(SINGLE_VALUE_METRICS))})"
        )
    segment = _one(obj, aggs, "segment", "x-axis")
    if segment["type"] != "date_histogram":
        raise PanelError(f"{_where(obj)}: the x-axis is a {segment['type']} aggregation, not a date_histogram")
    group = _one(obj, aggs, "group", "series split")
    if group["type"] != "terms":
        raise PanelError(f"{_where(obj)}: the series split is a {group['type']} aggregation, not terms")
    group_params = _params(group)
    if group_params.get("orderBy", "_key") != "_key":
        raise PanelError(
            f"{_where(obj)}: the series split is ordered by {group_params['orderBy']!r}; the page orders by _key"
        )
    try:
        minimum = min_interval_ms(str(_params(segment).get("interval", "auto")), query)
    except ValueError as exc:
        raise PanelError(f"{_where(obj)}: {exc}") from None
    field = _field(obj, metric)
    return LineChartSpec(
        saved_object_id=obj.id,
        title=obj.title,
        pattern=pattern,
        query=query,
        metric=str(metric["type"]),
        field=field,
        time_field=_field(obj, segment),
        split_field=_field(obj, group),
        split_size=int(group_params.get("size", 10)),
        split_order=_order(obj, group_params.get("order", "asc"), "series split"),
        unit=unit_of(field),
        min_interval_ms=minimum,
    )


def _label(agg: Mapping[str, Any], field: str) -> str:
    label = _params(agg).get("customLabel")
    return str(label) if label else f"{agg['type']} of {field}"


def data_table_spec(obj: SavedObject, index_patterns: Mapping[str, SavedObject]) -> DataTableSpec:
    """The rows of a data table visualisation: its metrics per combination of its buckets."""
    pattern = _pattern_key(obj, index_patterns)
    query = _query(obj)
    aggs = _enabled_aggs(obj, _vis_state(obj))
    metrics: list[MetricAgg] = []
    buckets: list[BucketAgg] = []
    for agg in aggs:
        kind, agg_id, params = str(agg["type"]), str(agg["id"]), _params(agg)
        if agg["schema"] == "metric":
            if kind not in TABLE_METRICS:
                raise PanelError(
                    f"{_where(obj)}: metric aggregation {kind!r} is not one the page computes "
                    f"({', '.join(sorted(TABLE_METRICS))})"
                )
            field = _field(obj, agg)
            sort = None
            if kind == "top_hits" and params.get("sortField"):
                sort = (str(params["sortField"]), _order(obj, params.get("sortOrder", "desc"), "top_hits sort"))
            metrics.append(MetricAgg(agg_id, kind, field, _label(agg, field), int(params.get("size", 1)), sort))
        elif agg["schema"] == "bucket":
            field = _field(obj, agg)
            if kind == "terms":
                buckets.append(
                    BucketAgg(
                        agg_id,
                        "terms",
                        field,
                        _label(agg, field),
                        size=int(params.get("size", 10)),
                        order_by=str(params.get("orderBy", "_key")),
                        order=_order(obj, params.get("order", "asc"), "terms"),
                    )
                )
            elif kind == "date_histogram":
                interval = str(params.get("interval", ""))
                try:
                    length = interval_ms(interval)
                except ValueError as exc:
                    raise PanelError(f"{_where(obj)}: {exc}") from None
                if length is None:
                    raise PanelError(f"{_where(obj)}: a table's date histogram needs a fixed interval, not auto")
                buckets.append(BucketAgg(agg_id, "date_histogram", field, _label(agg, field), interval=interval))
            else:
                raise PanelError(f"{_where(obj)}: bucket aggregation {kind!r} is neither terms nor date_histogram")
        else:
            raise PanelError(
                f"{_where(obj)}: an aggregation of schema {agg['schema']!r}; the page draws no split tables"
            )
    if not metrics:
        raise PanelError(f"{_where(obj)}: no metric aggregation")
    if not buckets:
        raise PanelError(f"{_where(obj)}: no bucket aggregation (split rows) to make the rows of")
    metric_ids = {metric.id for metric in metrics}
    for depth, bucket in enumerate(buckets):
        if bucket.type != "terms" or bucket.order_by == "_key":
            continue
        if bucket.order_by not in metric_ids:
            raise PanelError(
                f"{_where(obj)}: terms {bucket.field!r} is ordered by {bucket.order_by!r}, which no metric is"
            )
        if depth != len(buckets) - 1:
            # the metrics are computed in the innermost bucket: an outer one cannot be ranked by them
            raise PanelError(f"{_where(obj)}: terms {bucket.field!r} is ranked by a metric but is not innermost")
    spec = DataTableSpec(obj.id, obj.title, pattern, query, tuple(buckets), tuple(metrics))
    if len(set(spec.columns)) != len(spec.columns):
        raise PanelError(f"{_where(obj)}: two aggregations of one field ({', '.join(spec.columns)})")
    return spec


def saved_search_spec(obj: SavedObject, index_patterns: Mapping[str, SavedObject]) -> SavedSearchSpec:
    """The table of a saved search: its columns, its sort."""
    pattern = _pattern_key(obj, index_patterns)
    columns = obj.attributes.get("columns")
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
        raise PanelError(f"{_where(obj)}: columns must be a non-empty list of field names, not {columns!r}")
    raw_sort = obj.attributes.get("sort") or []
    if raw_sort and isinstance(raw_sort[0], str):  # the older export form: one [field, order] pair
        raw_sort = [raw_sort]
    sort = []
    for entry in raw_sort:
        if not isinstance(entry, list | tuple) or len(entry) != 2 or not isinstance(entry[0], str):
            raise PanelError(f"{_where(obj)}: sort entry {entry!r} is not a [field, order] pair")
        sort.append((entry[0], _order(obj, entry[1], "sort")))
    return SavedSearchSpec(obj.id, obj.title, pattern, _query(obj), tuple(columns), tuple(sort))


def panels_from_saved_objects(objects: Iterable[SavedObject]) -> Panels:
    """Every line chart and table the saved objects define (`PanelError` on one the page cannot draw)."""
    objects = list(objects)
    index_patterns = {obj.id: obj for obj in objects if obj.type == "index-pattern"}
    line_charts: dict[str, LineChartSpec] = {}
    tables: dict[str, TableSpec] = {}
    for obj in objects:
        if obj.type == "search":
            tables[obj.id] = saved_search_spec(obj, index_patterns)
        elif obj.type == "visualization":
            kind = _vis_state(obj).get("type")
            if kind == "line":
                line_charts[obj.id] = line_chart_spec(obj, index_patterns)
            elif kind == "table":
                tables[obj.id] = data_table_spec(obj, index_patterns)
    return Panels(line_charts=line_charts, tables=tables)
