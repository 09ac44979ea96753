"""A local rendering of the dashboards: the same queries as the saved objects, drawn into one HTML file.

`render_dashboard` runs the saved objects' index patterns, KQL filters and aggregations against OpenSearch
(``PANELS`` names the saved object each panel mirrors; a unit test checks that they agree) and writes one
self-contained page: inline CSS, charts as inline SVG drawn here, no scripts, no fonts or images to fetch, so
it opens without network access. The sections follow the three dashboards of ``assets/saved-objects/``:

- realtime: error rate and latency p95 per service over time (60 s windows, ``metrics-realtime-*``);
- alerts: a timeline of the firing episodes and the current state of every alert (``alerts-*``);
- batch & insights: hourly roll-ups (``metrics-batch-*``), top error signatures and the SLO report
  (``log-insights-*``).

Every series of every chart has a colour of its own (a service keeps its hue across charts, each chart has its
own shade), so a screenshot shows which chart drew what; `RenderReport` lists them.
"""

from __future__ import annotations

import colorsys
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from opensearchpy import OpenSearch

from opsanalytics.timestamps import parse_iso_ms

DEFAULT_INDEX_PATTERNS: Final[Mapping[str, str]] = {
    "realtime": "metrics-realtime-*",
    "batch": "metrics-batch-*",
    "insights": "log-insights-*",
    "alerts": "alerts-*",
}
MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS
MAX_BUCKETS: Final = 120
INTERVALS_MS: Final = tuple(
    m * MINUTE_MS for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2 * 1440, 7 * 1440)
)
SEVERITY_COLOURS: Final[Mapping[str, str]] = {"critical": "#b3261e", "warning": "#d9822b", "info": "#3a6fb0"}
# hues of the series (a service keeps its hue in every chart); shades (saturation, lightness) per chart
HUES: Final = (212, 28, 138, 352, 272, 48, 184, 318, 92, 240)
SHADES: Final = ((0.72, 0.44), (0.78, 0.32), (0.62, 0.56), (0.85, 0.24))

Unit = Literal["ratio", "ms"]


@dataclass(frozen=True, slots=True)
class LineChartSpec:
    """A line chart per service over time, as the saved visualisation ``saved_object_id`` draws it."""

    key: str
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
    unit: Unit
    min_interval_ms: int


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table panel (a saved data table visualisation or a saved search)."""

    key: str
    saved_object_id: str
    title: str
    pattern: str
    query: str


LINE_CHARTS: Final = (
    LineChartSpec(
        "realtime_error_rate",
        "opsanalytics-realtime-error-rate",
        "Error rate per service (realtime, 60 s windows)",
        "realtime",
        "",
        "avg",
        "error_rate",
        "window_start",
        "service",
        "ratio",
        MINUTE_MS,
    ),
    LineChartSpec(
        "realtime_latency_p95",
        "opsanalytics-realtime-latency-p95",
        "Latency p95 per service (realtime, 60 s windows)",
        "realtime",
        "",
        "max",
        "latency_p95_ms",
        "window_start",
        "service",
        "ms",
        MINUTE_MS,
    ),
    LineChartSpec(
        "batch_error_rate",
        "opsanalytics-batch-error-rate-hourly",
        "Error rate per service (batch, hourly roll-ups)",
        "batch",
        "granularity:hour",
        "avg",
        "error_rate",
        "period_start",
        "service",
        "ratio",
        HOUR_MS,
    ),
    LineChartSpec(
        "batch_latency_p95",
        "opsanalytics-batch-latency-p95-hourly",
        "Latency p95 per service (batch, hourly roll-ups)",
        "batch",
        "granularity:hour",
        "max",
        "latency_p95_ms",
        "period_start",
        "service",
        "ms",
        HOUR_MS,
    ),
)
ALERT_EPISODES: Final = TableSpec(
    "alert_episodes", "opsanalytics-alert-episodes", "Alert episodes", "alerts", "record_type:alert_episode"
)
ALERT_STATES: Final = TableSpec(
    "alert_states", "opsanalytics-alert-states", "Alert states", "alerts", "record_type:alert"
)
TOP_SIGNATURES: Final = TableSpec(
    "top_error_signatures",
    "opsanalytics-insights-top-error-signatures",
    "Top error signatures",
    "insights",
    "kind:error_signature",
)
SLO_TABLE: Final = TableSpec(
    "slo", "opsanalytics-insights-slo", "Service level objectives per day", "insights", "kind:slo"
)
TABLES: Final = (ALERT_EPISODES, ALERT_STATES, TOP_SIGNATURES, SLO_TABLE)
ALERT_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "alert_episodes": (
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
    "alert_states": (
        "rule_id",
        "dimensions.service",
        "severity",
        "state",
        "metric",
        "value",
        "threshold",
        "last_seen",
        "reminder_count",
    ),
}
ALERT_SORT: Final[Mapping[str, str]] = {"alert_episodes": "first_seen", "alert_states": "last_seen"}
SIGNATURE_ROWS: Final = 10
TABLE_ROWS: Final = 20
SLO_ROWS: Final = 50


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


# ------------------------------------------------------------------------------------------------ data


Point = tuple[int, float]


@dataclass(slots=True)
class ChartData:
    spec: LineChartSpec
    index_pattern: str
    series: dict[str, list[Point]] = field(default_factory=dict)
    interval_ms: int = MINUTE_MS
    documents: int = 0


@dataclass(frozen=True, slots=True)
class ChartReport:
    title: str
    index_pattern: str
    series: int
    points: int
    colours: dict[str, str]
    """series name → the exact colour of its line and markers"""


@dataclass(slots=True)
class RenderReport:
    path: Path
    index_patterns: dict[str, str]
    charts: dict[str, ChartReport] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    """table key → rows drawn (alert_episodes, alert_states, top_error_signatures, slo)"""
    timeline_bars: int = 0
    bytes: int = 0

    @property
    def series(self) -> int:
        return sum(chart.series for chart in self.charts.values())

    @property
    def points(self) -> int:
        return sum(chart.points for chart in self.charts.values())

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def summary(self) -> str:
        lines = [f"Dashboard page {self.path} ({self.bytes / 1024:.0f} KiB)"]
        lines.extend(
            f"  {chart.title:<52}{chart.series:>3} series {chart.points:>5} points" for chart in self.charts.values()
        )
        lines.extend(f"  {name:<52}{rows:>3} rows" for name, rows in self.tables.items())
        lines.append(f"  {'alert timeline':<52}{self.timeline_bars:>3} episodes")
        return "\n".join(lines)


def _search(client: OpenSearch, index: str, body: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = client.search(
        index=index, body=body, params={"ignore_unavailable": "true", "allow_no_indices": "true"}
    )
    return response


def _buckets(response: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """The buckets of a top-level aggregation; none when no index matched (no aggregations in the response)."""
    buckets: list[dict[str, Any]] = response.get("aggregations", {}).get(name, {}).get("buckets", [])
    return buckets


def choose_interval(span_ms: int, minimum_ms: int) -> int:
    """The smallest interval of the ladder, at least ``minimum_ms``, giving at most MAX_BUCKETS buckets."""
    for interval in INTERVALS_MS:
        if interval >= minimum_ms and span_ms / interval <= MAX_BUCKETS:
            return interval
    return INTERVALS_MS[-1]


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
                    "terms": {"field": spec.split_field, "size": 10, "order": {"_key": "asc"}},
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
    for bucket in _buckets(response, "split"):
        points = [
            (int(item["key"]), float(item["value"]["value"]))
            for item in bucket["time"]["buckets"]
            if item["value"]["value"] is not None
        ]
        if points:
            data.series[str(bucket["key"])] = points
    return data


def fetch_alerts(client: OpenSearch, spec: TableSpec, index_pattern: str, size: int = 200) -> list[dict[str, Any]]:
    """The saved search's documents, newest first."""
    response = _search(
        client,
        index_pattern,
        {"size": size, "query": kql_to_query(spec.query), "sort": [{ALERT_SORT[spec.key]: {"order": "desc"}}]},
    )
    return [hit["_source"] for hit in response["hits"]["hits"]]


def fetch_signatures(client: OpenSearch, index_pattern: str) -> list[dict[str, Any]]:
    """Top signatures by occurrences: terms(signature) → sum(count), top_hits(services), min/max seen."""
    response = _search(
        client,
        index_pattern,
        {
            "size": 0,
            "query": kql_to_query(TOP_SIGNATURES.query),
            "aggs": {
                "signature": {
                    "terms": {"field": "signature", "size": SIGNATURE_ROWS, "order": {"occurrences": "desc"}},
                    "aggs": {
                        "occurrences": {"sum": {"field": "count"}},
                        "services": {
                            "top_hits": {
                                "size": 3,
                                "_source": {"includes": ["services"]},
                                "sort": [{"last_seen": {"order": "desc"}}],
                            }
                        },
                        "first_seen": {"min": {"field": "first_seen"}},
                        "last_seen": {"max": {"field": "last_seen"}},
                    },
                }
            },
        },
    )
    rows = []
    for bucket in _buckets(response, "signature"):
        services: list[str] = []
        for hit in bucket["services"]["hits"]["hits"]:
            value = hit["_source"].get("services") or []
            for name in [value] if isinstance(value, str) else value:
                if name not in services:
                    services.append(str(name))
        rows.append(
            {
                "signature": bucket["key"],
                "occurrences": int(bucket["occurrences"]["value"] or 0),
                "services": services,
                "first_seen": bucket["first_seen"]["value"],
                "last_seen": bucket["last_seen"]["value"],
            }
        )
    return rows


SLO_METRICS: Final = (
    ("requests", "sum"),
    ("availability", "avg"),
    ("availability_target", "avg"),
    ("error_budget_remaining", "avg"),
    ("latency_attainment", "avg"),
    ("latency_target", "avg"),
)


def fetch_slo(client: OpenSearch, index_pattern: str) -> list[dict[str, Any]]:
    """terms(service) → date_histogram(period_start, 1 d) → the SLO metrics; newest day first per service."""
    response = _search(
        client,
        index_pattern,
        {
            "size": 0,
            "query": kql_to_query(SLO_TABLE.query),
            "aggs": {
                "service": {
                    "terms": {"field": "service", "size": SLO_ROWS, "order": {"_key": "asc"}},
                    "aggs": {
                        "day": {
                            "date_histogram": {"field": "period_start", "calendar_interval": "1d", "min_doc_count": 1},
                            "aggs": {name: {agg: {"field": name}} for name, agg in SLO_METRICS},
                        }
                    },
                }
            },
        },
    )
    rows = []
    for service in _buckets(response, "service"):
        for day in reversed(service["day"]["buckets"]):
            rows.append(
                {"service": service["key"], "day": int(day["key"])}
                | {name: day[name]["value"] for name, _agg in SLO_METRICS}
            )
    return rows[:SLO_ROWS]


# ------------------------------------------------------------------------------------------------ drawing


def _hex(hue: float, saturation: float, lightness: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(hue / 360.0, lightness, saturation)
    return "#{:02x}{:02x}{:02x}".format(*(round(channel * 255) for channel in (red, green, blue)))


def series_colour(series_index: int, chart_index: int) -> str:
    """The colour of a series: its hue, in the chart's shade (distinct for every chart and series)."""
    saturation, lightness = SHADES[chart_index % len(SHADES)]
    hue = HUES[series_index % len(HUES)] + 7 * (series_index // len(HUES))
    return _hex(hue, saturation, lightness)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_time(epoch_ms: float, with_date: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def _iso_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    try:
        return parse_iso_ms(str(value))
    except ValueError:
        return None


def fmt_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if unit == "ratio":
            return f"{value * 100:.2f} %"
        if unit == "ms":
            return f"{value:,.0f} ms"
        if isinstance(value, int) or float(value).is_integer():
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


def nice_ceiling(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least ``value`` (for the top of a value axis)."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value * 1.0000001:
            return step * magnitude
    return 10 * magnitude


def value_divisions(top: float) -> int:
    """Grid lines of a value axis up to ``top`` (a `nice_ceiling`) at round values: 2 → 4 x 0.5, 2.5 → 5 x 0.5."""
    mantissa = round(top / 10.0 ** math.floor(math.log10(top)), 6)
    return 4 if mantissa == 2 else 5


def time_ticks(start: int, end: int, target: int = 7) -> list[int]:
    span = max(end - start, MINUTE_MS)
    step = next((interval for interval in INTERVALS_MS if span / interval <= target), INTERVALS_MS[-1])
    first = start - start % step + (step if start % step else 0)
    return list(range(first, end + 1, step))


CHART_WIDTH: Final = 630
CHART_HEIGHT: Final = 250
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 80, 18, 14, 46


def line_chart_svg(data: ChartData, colours: Mapping[str, str]) -> str:
    """An SVG line chart: value axis from 0, time axis in UTC, one polyline and marker set per series."""
    width, height = CHART_WIDTH, CHART_HEIGHT
    plot_w, plot_h = width - MARGIN_LEFT - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM
    all_points = [point for points in data.series.values() for point in points]
    start = min(t for t, _ in all_points)
    end = max(t for t, _ in all_points)
    if end == start:
        start, end = start - data.interval_ms, end + data.interval_ms
    top = nice_ceiling(max(v for _, v in all_points))

    def x(t: float) -> float:
        return MARGIN_LEFT + (t - start) / (end - start) * plot_w

    def y(v: float) -> float:
        return MARGIN_TOP + plot_h - v / top * plot_h

    parts = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(data.spec.title)}">',
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff"/>',
    ]
    divisions = value_divisions(top)
    for i in range(divisions + 1):
        value = top * i / divisions
        pos = y(value)
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{pos:.1f}" x2="{MARGIN_LEFT + plot_w}" y2="{pos:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{pos + 4:.1f}" class="tick" text-anchor="end">'
            f"{_esc(fmt_value(value, data.spec.unit))}</text>"
        )
    with_date = end - start > DAY_MS
    for tick in time_ticks(start, end):
        pos = x(tick)
        parts.append(f'<line x1="{pos:.1f}" y1="{MARGIN_TOP}" x2="{pos:.1f}" y2="{MARGIN_TOP + plot_h}" class="grid"/>')
        parts.append(
            f'<text x="{pos:.1f}" y="{MARGIN_TOP + plot_h + 16}" class="tick" text-anchor="middle">'
            f"{_esc(fmt_time(tick, with_date))}</text>"
        )
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP + plot_h}" x2="{MARGIN_LEFT + plot_w}" '
        f'y2="{MARGIN_TOP + plot_h}" class="axis"/>'
    )
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" y2="{MARGIN_TOP + plot_h}" class="axis"/>'
    )
    axis_title = f"{data.spec.metric}({data.spec.field})"
    parts.append(
        f'<text class="axis-title" transform="translate(13 {MARGIN_TOP + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{_esc(axis_title)}</text>'
    )
    interval = fmt_interval(data.interval_ms)
    parts.append(
        f'<text class="axis-title" x="{MARGIN_LEFT + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">'
        f"{_esc(data.spec.time_field)} (UTC, {fmt_time(start, True)[:10]}), per {interval}</text>"
    )
    for name, points in data.series.items():
        colour = colours[name]
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="3" '
            f'stroke-linejoin="round" stroke-linecap="round"><title>{_esc(name)}</title></polyline>'
        )
        if len(points) <= 60:
            radius = 3.5 if len(points) > 1 else 6  # a lone point has no line to show it
            parts.extend(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="{radius}" fill="{colour}"/>' for t, v in points)
    parts.append("</svg>")
    return "".join(parts)


def fmt_interval(interval_ms: int) -> str:
    if interval_ms % DAY_MS == 0:
        return f"{interval_ms // DAY_MS} d"
    if interval_ms % HOUR_MS == 0:
        return f"{interval_ms // HOUR_MS} h"
    return f"{interval_ms // MINUTE_MS} min"


def chart_panel(data: ChartData, colours: Mapping[str, str]) -> str:
    head = (
        f'<div class="panel chart"><h3>{_esc(data.spec.title)}</h3>'
        f'<p class="sub">{_esc(data.index_pattern)}'
        + (f" · {_esc(data.spec.query)}" if data.spec.query else "")
        + f" · {data.documents:,} documents</p>"
    )
    if not data.series:
        return head + '<div class="empty">No data</div></div>'
    legend = "".join(
        f'<span class="item"><span class="swatch" style="background:{colours[name]}"></span>{_esc(name)}'
        f' <span class="last">max {_esc(fmt_value(max(v for _, v in points), data.spec.unit))}</span></span>'
        for name, points in data.series.items()
    )
    return head + line_chart_svg(data, colours) + f'<div class="legend">{legend}</div></div>'


def alert_timeline_svg(episodes: Sequence[Mapping[str, Any]], start: int, end: int) -> tuple[str, int]:
    """A row per alert episode (rule on service), a bar from first seen to resolution (or last seen)."""
    rows = []
    for episode in sorted(episodes, key=lambda doc: _iso_ms(doc.get("first_seen")) or 0):
        first = _iso_ms(episode.get("first_seen"))
        if first is None:
            continue
        last = _iso_ms(episode.get("resolved_at")) or _iso_ms(episode.get("last_seen")) or first
        rows.append((episode, first, max(last, first)))
    if not rows:
        return "", 0
    start = min([start, *(first for _, first, _ in rows)])
    end = max([end, *(last for _, _, last in rows)])
    if end <= start:
        end = start + MINUTE_MS
    label_w, width, row_h = 300, 1300, 26
    plot_w = width - label_w - 20
    height = 30 + row_h * len(rows) + 28

    def x(t: float) -> float:
        return label_w + (t - start) / (end - start) * plot_w

    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Alert timeline">'
    ]
    plot_bottom = 10 + row_h * len(rows)
    with_date = end - start > DAY_MS
    for tick in time_ticks(start, end, 10):
        pos = x(tick)
        parts.append(f'<line x1="{pos:.1f}" y1="6" x2="{pos:.1f}" y2="{plot_bottom}" class="grid"/>')
        parts.append(
            f'<text x="{pos:.1f}" y="{plot_bottom + 16}" class="tick" text-anchor="middle">'
            f"{_esc(fmt_time(tick, with_date))}</text>"
        )
    parts.append(
        f'<text class="axis-title" x="{label_w + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle">'
        f"first_seen → resolved_at (UTC, {fmt_time(start, True)[:10]})</text>"
    )
    for row, (episode, first, last) in enumerate(rows):
        top = 10 + row * row_h
        severity = str(episode.get("severity", "info"))
        colour = SEVERITY_COLOURS.get(severity, "#666666")
        service = (episode.get("dimensions") or {}).get("service", "")
        label = f"{episode.get('rule_id', '?')} on {service}" if service else str(episode.get("rule_id", "?"))
        state = str(episode.get("state", ""))
        parts.append(f'<text x="{label_w - 10}" y="{top + 17}" class="label" text-anchor="end">{_esc(label)}</text>')
        bar_w = max(x(last) - x(first), 6)
        parts.append(
            f'<rect x="{x(first):.1f}" y="{top + 4}" width="{bar_w:.1f}" height="{row_h - 8}" rx="3" '
            f'fill="{colour}"><title>{_esc(label)}: {_esc(state)}</title></rect>'
        )
        parts.append(
            f'<text x="{x(first) + bar_w + 6:.1f}" y="{top + 17}" class="label">'
            f"{_esc(severity)} · {_esc(state)} · {_esc(fmt_time(first))}–{_esc(fmt_time(last))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts), len(rows)


def _cell(doc: Mapping[str, Any], column: str) -> str:
    value: Any = doc
    for part in column.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if column in ("first_seen", "last_seen", "resolved_at"):
        moment = _iso_ms(value)
        return fmt_time(moment, True) if moment is not None else "–"
    if column == "severity":
        colour = SEVERITY_COLOURS.get(str(value), "#666666")
        return f'<span class="badge" style="background:{colour}">{_esc(value)}</span>'
    if column == "state":
        return f'<span class="state state-{_esc(value)}">{_esc(value)}</span>'
    return _esc(fmt_value(value))


def alerts_table(spec: TableSpec, docs: Sequence[Mapping[str, Any]], index_pattern: str) -> str:
    columns = ALERT_COLUMNS[spec.key]
    head = "".join(f"<th>{_esc(column)}</th>" for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(doc, c)}</td>" for c in columns) + "</tr>" for doc in docs)
    if not docs:
        body = f'<tr><td colspan="{len(columns)}" class="empty">No documents</td></tr>'
    return (
        f'<div class="panel"><h3>{_esc(spec.title)}</h3><p class="sub">{_esc(index_pattern)} · {_esc(spec.query)}'
        f" · {len(docs)} rows</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def signatures_table(rows: Sequence[Mapping[str, Any]], index_pattern: str) -> str:
    biggest = max((row["occurrences"] for row in rows), default=1) or 1
    body = "".join(
        "<tr>"
        f'<td class="sig"><code>{_esc(row["signature"])}</code></td>'
        f'<td class="num"><span class="bar" style="width:{60 * row["occurrences"] / biggest:.0f}px"></span>'
        f"{row['occurrences']:,}</td>"
        f"<td>{_esc(', '.join(row['services']))}</td>"
        f"<td>{_esc(fmt_time(row['first_seen'], True)) if row['first_seen'] is not None else '–'}</td>"
        f"<td>{_esc(fmt_time(row['last_seen'], True)) if row['last_seen'] is not None else '–'}</td>"
        "</tr>"
        for row in rows
    )
    if not rows:
        body = '<tr><td colspan="5" class="empty">No documents</td></tr>'
    return (
        f'<div class="panel"><h3>{_esc(TOP_SIGNATURES.title)}</h3><p class="sub">{_esc(index_pattern)} · '
        f"{_esc(TOP_SIGNATURES.query)} · top {SIGNATURE_ROWS} by occurrences</p><table><thead><tr><th>signature</th>"
        "<th>occurrences</th><th>services</th><th>first seen</th><th>last seen</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def slo_table(rows: Sequence[Mapping[str, Any]], index_pattern: str) -> str:
    def judged(value: Any, target: Any) -> str:
        if value is None:
            return "–"
        ok = target is None or value >= target
        return f'<span class="{"ok" if ok else "bad"}">{_esc(fmt_value(value, "ratio"))}</span>'

    def budget(value: Any) -> str:
        if value is None:
            return "–"
        return f'<span class="{"ok" if value >= 0 else "bad"}">{value * 100:.1f} %</span>'

    body = "".join(
        "<tr>"
        f"<td>{_esc(row['service'])}</td><td>{_esc(fmt_time(row['day'], True)[:10])}</td>"
        f'<td class="num">{_esc(fmt_value(row["requests"]))}</td>'
        f'<td class="num">{judged(row["availability"], row["availability_target"])}</td>'
        f'<td class="num">{_esc(fmt_value(row["availability_target"], "ratio"))}</td>'
        f'<td class="num">{budget(row["error_budget_remaining"])}</td>'
        f'<td class="num">{judged(row["latency_attainment"], row["latency_target"])}</td>'
        f'<td class="num">{_esc(fmt_value(row["latency_target"], "ratio"))}</td>'
        "</tr>"
        for row in rows
    )
    if not rows:
        body = '<tr><td colspan="8" class="empty">No documents</td></tr>'
    return (
        f'<div class="panel"><h3>{_esc(SLO_TABLE.title)}</h3><p class="sub">{_esc(index_pattern)} · '
        f"{_esc(SLO_TABLE.query)}</p><table><thead><tr><th>service</th><th>day</th><th>requests</th>"
        "<th>availability</th><th>target</th><th>error budget left</th><th>latency attainment</th><th>target</th>"
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )


STYLE: Final = """
*{box-sizing:border-box}
body{margin:0;background:#eef1f5;color:#1d2430;font:14px/1.4 "DejaVu Sans","Liberation Sans",Arial,sans-serif}
header{background:#1f2a3c;color:#fff;padding:18px 24px}
header h1{margin:0;font-size:24px}
header p{margin:4px 0 0;color:#c5cedb;font-size:13px}
main{padding:12px 20px 24px;width:1380px}
h2{font-size:18px;margin:18px 4px 8px;border-bottom:2px solid #c9d1dc;padding-bottom:4px}
.row{display:flex;gap:14px;flex-wrap:wrap}
.panel{background:#fff;border:1px solid #d5dbe3;border-radius:6px;padding:10px 12px;margin-bottom:14px}
.panel.chart{width:658px}
.panel h3{margin:0;font-size:15px}
.sub{margin:2px 0 6px;color:#5d6b7e;font-size:12px}
.kpis{display:flex;gap:14px;margin-top:12px}
.kpi{background:#fff;border:1px solid #d5dbe3;border-radius:6px;padding:8px 14px;min-width:200px}
.kpi b{display:block;font-size:22px}
.kpi span{color:#5d6b7e;font-size:12px}
svg .grid{stroke:#e3e7ed;stroke-width:1}
svg .axis{stroke:#7b8696;stroke-width:1}
svg .tick{fill:#4a5566;font-size:11px}
svg .axis-title{fill:#4a5566;font-size:11px;font-style:italic}
svg .label{fill:#1d2430;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:12px;margin-top:4px}
.legend .swatch{display:inline-block;width:16px;height:4px;margin-right:5px;vertical-align:middle;border-radius:2px}
.legend .last{color:#5d6b7e}
table{border-collapse:collapse;width:100%;font-size:12px}
th{text-align:left;background:#f3f5f8;color:#3b4656;font-weight:600;padding:4px 6px;border-bottom:1px solid #d5dbe3}
td{padding:3px 6px;border-bottom:1px solid #edf0f4;vertical-align:top}
td.num{text-align:right;white-space:nowrap}
td.sig code{font-size:11px;word-break:break-all}
.bar{display:inline-block;height:8px;background:#8aa4c8;margin-right:6px;border-radius:2px}
.badge{color:#fff;border-radius:3px;padding:0 5px}
.state-firing{color:#b3261e;font-weight:600}
.state-resolved{color:#2e7d32}
.ok{color:#2e7d32}.bad{color:#b3261e;font-weight:600}
.empty{color:#8a94a3;font-style:italic;padding:18px;text-align:center}
"""


def _kpis(charts: Mapping[str, ChartData], states: Sequence[Mapping[str, Any]], episodes: int) -> str:
    error = charts.get("realtime_error_rate")
    tiles = []
    if error is not None:
        services = len(error.series)
        tiles.append((f"{services}", f"services in {error.index_pattern}"))
        tiles.append((f"{error.documents:,}", "realtime metric windows"))
        peak = max(((v, t, name) for name, points in error.series.items() for t, v in points), default=None)
        if peak is not None:
            tiles.append((fmt_value(peak[0], "ratio"), f"peak error rate: {peak[2]} at {fmt_time(peak[1])} UTC"))
    firing = sum(1 for doc in states if doc.get("state") == "firing")
    tiles.append((f"{firing}", "alerts firing now"))
    tiles.append((f"{episodes}", "alert episodes"))
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for v, k in tiles)
        + "</div>"
    )


def render_dashboard(
    client: OpenSearch,
    out_path: Path,
    *,
    index_patterns: Mapping[str, str] | None = None,
    title: str = "opsanalytics dashboards",
    generated_at: datetime | None = None,
) -> RenderReport:
    """Query OpenSearch as the saved dashboards do and write the page to ``out_path``.

    ``index_patterns`` overrides the saved index pattern titles per key (``realtime``, ``batch``,
    ``insights``, ``alerts``), e.g. ``{"realtime": "metrics-realtime-demo-*", ...}`` for the demo's indices.
    """
    unknown = set(index_patterns or {}) - set(DEFAULT_INDEX_PATTERNS)
    if unknown:
        raise ValueError(f"unknown index pattern keys {sorted(unknown)}; expected {sorted(DEFAULT_INDEX_PATTERNS)}")
    patterns = {**DEFAULT_INDEX_PATTERNS, **(index_patterns or {})}
    report = RenderReport(path=out_path, index_patterns=patterns)

    charts = {spec.key: fetch_chart(client, spec, patterns[spec.pattern]) for spec in LINE_CHARTS}
    episodes = fetch_alerts(client, ALERT_EPISODES, patterns["alerts"])
    states = fetch_alerts(client, ALERT_STATES, patterns["alerts"])
    shown_episodes, shown_states = episodes[:TABLE_ROWS], states[:TABLE_ROWS]
    signatures = fetch_signatures(client, patterns["insights"])
    slo = fetch_slo(client, patterns["insights"])

    services = sorted({name for data in charts.values() for name in data.series})
    colours_by_chart: dict[str, dict[str, str]] = {}
    for chart_index, spec in enumerate(LINE_CHARTS):
        data = charts[spec.key]
        colours_by_chart[spec.key] = {name: series_colour(services.index(name), chart_index) for name in data.series}
        report.charts[spec.key] = ChartReport(
            title=spec.title,
            index_pattern=data.index_pattern,
            series=len(data.series),
            points=sum(len(points) for points in data.series.values()),
            colours=colours_by_chart[spec.key],
        )

    realtime_points = [
        t
        for key in ("realtime_error_rate", "realtime_latency_p95")
        for pts in charts[key].series.values()
        for t, _ in pts
    ]
    span_start = min(realtime_points, default=0)
    span_end = max(realtime_points, default=0) + charts["realtime_error_rate"].interval_ms
    timeline, report.timeline_bars = alert_timeline_svg(episodes, span_start or 0, span_end)
    report.tables = {
        ALERT_EPISODES.key: len(shown_episodes),
        ALERT_STATES.key: len(shown_states),
        TOP_SIGNATURES.key: len(signatures),
        SLO_TABLE.key: len(slo),
    }

    def charts_row(keys: Iterable[str]) -> str:
        return '<div class="row">' + "".join(chart_panel(charts[k], colours_by_chart[k]) for k in keys) + "</div>"

    moment = (generated_at or datetime.now(tz=UTC)).astimezone(UTC)
    timeline_panel = (
        f'<div class="panel"><h3>Alert timeline</h3><p class="sub">{_esc(patterns["alerts"])} · '
        f"{_esc(ALERT_EPISODES.query)} · one bar per firing episode, coloured by severity "
        + " ".join(
            f'<span class="badge" style="background:{colour}">{_esc(name)}</span>'
            for name, colour in SEVERITY_COLOURS.items()
        )
        + "</p>"
        + (timeline or '<div class="empty">No alert episodes</div>')
        + "</div>"
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{_esc(title)}</h1><p>Generated {moment:%Y-%m-%d %H:%M:%S} UTC from OpenSearch · "
        + " · ".join(f"{_esc(key)}: {_esc(value)}" for key, value in patterns.items())
        + "</p></header><main>"
        + _kpis(charts, states, len(episodes))
        + "<h2>Realtime</h2>"
        + charts_row(("realtime_error_rate", "realtime_latency_p95"))
        + "<h2>Alerts</h2>"
        + timeline_panel
        + alerts_table(ALERT_EPISODES, shown_episodes, patterns["alerts"])
        + alerts_table(ALERT_STATES, shown_states, patterns["alerts"])
        + "<h2>Batch &amp; insights</h2>"
        + charts_row(("batch_error_rate", "batch_latency_p95"))
        + signatures_table(signatures, patterns["insights"])
        + slo_table(slo, patterns["insights"])
        + "</main></body></html>\n"
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    report.bytes = len(page.encode("utf-8"))
    return report
