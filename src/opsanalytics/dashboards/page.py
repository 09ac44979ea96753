"""The local dashboard page: `render_dashboard` queries OpenSearch for the saved objects' panels, writes one file.

The panels are those of ``assets/saved-objects/``, derived when the page is rendered
(`opsanalytics.dashboards.panels`: titles, index patterns, KQL, aggregations, columns, sort); this module only
places them, under the names `RenderReport` gives them. The page is self-contained: inline CSS, charts as inline
SVG, no scripts, no fonts or images to fetch, so it opens without network access. Its sections follow the three
dashboards:

- realtime: the KPIs, error rate and latency p95 per service over time (60 s windows, ``metrics-realtime-*``);
- alerts: a timeline of the firing episodes and the alert episodes and states (``alerts-*``);
- log lines: the lines behind each alert episode (its service over the episode, errors first) and the latest
  error lines (``events-*``, the log indices);
- batch & insights: hourly roll-ups (``metrics-batch-*``), top error signatures and the SLO report
  (``log-insights-*``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from opensearchpy import OpenSearch

from opsanalytics.dashboards.drawing import (
    SEVERITY_COLOURS,
    alert_timeline_svg,
    chart_panel,
    esc,
    fmt_time,
    fmt_value,
    ranking_table,
    search_table,
    series_colour,
    slo_table,
)
from opsanalytics.dashboards.panels import (
    DEFAULT_INDEX_PATTERNS,
    MINUTE_MS,
    SavedSearchSpec,
    panels_from_saved_objects,
)
from opsanalytics.dashboards.queries import ChartData, fetch_chart, fetch_documents, fetch_episode_lines, fetch_rows
from opsanalytics.dashboards.saved_objects import load_saved_objects
from opsanalytics.timestamps import parse_iso_ms

# where each saved object goes on the page, under its name in the report
REALTIME_CHARTS: Final[Mapping[str, str]] = {
    "realtime_error_rate": "opsanalytics-realtime-error-rate",
    "realtime_latency_p95": "opsanalytics-realtime-latency-p95",
}
BATCH_CHARTS: Final[Mapping[str, str]] = {
    "batch_error_rate": "opsanalytics-batch-error-rate-hourly",
    "batch_latency_p95": "opsanalytics-batch-latency-p95-hourly",
}
ALERT_EPISODES: Final = "opsanalytics-alert-episodes"
ALERT_STATES: Final = "opsanalytics-alert-states"
TOP_SIGNATURES: Final = "opsanalytics-insights-top-error-signatures"
SLO: Final = "opsanalytics-insights-slo"
DECLARED_METRICS: Final = "opsanalytics-declared-metrics"
LOG_LINES: Final = "opsanalytics-log-lines"
ERROR_LINES: Final = "opsanalytics-error-lines"
EPISODES_WITH_LINES: Final = 10
"""the most recent episodes whose lines are shown"""
EPISODE_LINES: Final = 5
"""lines drawn per episode"""
SEARCH_DOCUMENTS: Final = 200
"""documents fetched per saved search: the alert timeline draws every episode among them"""
SEARCH_ROWS: Final = 20
"""documents drawn per saved search table"""
DATA_TABLE_ROWS: Final = 50
"""rows drawn per data table (its buckets' combinations: services x days for the SLO report)"""


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


def _kpis(error_rate: ChartData, states: Sequence[Mapping[str, Any]], episodes: int) -> str:
    tiles = [
        (f"{len(error_rate.series)}", f"services in {error_rate.index_pattern}"),
        (f"{error_rate.documents:,}", "realtime metric windows"),
    ]
    peak = max(((v, t, name) for name, points in error_rate.series.items() for t, v in points), default=None)
    if peak is not None:
        tiles.append((fmt_value(peak[0], "ratio"), f"peak error rate: {peak[2]} at {fmt_time(peak[1])} UTC"))
    firing = sum(1 for doc in states if doc.get("state") == "firing")
    tiles.append((f"{firing}", "alerts firing now"))
    tiles.append((f"{episodes}", "alert episodes"))
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in tiles)
        + "</div>"
    )


def _timeline_panel(timeline: str, index_pattern: str, query: str) -> str:
    return (
        f'<div class="panel"><h3>Alert timeline</h3><p class="sub">{esc(index_pattern)} · '
        f"{esc(query)} · one bar per firing episode, coloured by severity "
        + " ".join(
            f'<span class="badge" style="background:{colour}">{esc(name)}</span>'
            for name, colour in SEVERITY_COLOURS.items()
        )
        + "</p>"
        + (timeline or '<div class="empty">No alert episodes</div>')
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
    panels = panels_from_saved_objects(load_saved_objects())
    report = RenderReport(path=out_path, index_patterns=patterns)

    chart_ids = {**REALTIME_CHARTS, **BATCH_CHARTS}
    charts = {}
    for key, saved_object_id in chart_ids.items():
        spec = panels.line_chart(saved_object_id)
        charts[key] = fetch_chart(client, spec, patterns[spec.pattern])
    episodes_spec, states_spec = panels.search(ALERT_EPISODES), panels.search(ALERT_STATES)
    episodes = fetch_documents(client, episodes_spec, patterns[episodes_spec.pattern], SEARCH_DOCUMENTS)
    states = fetch_documents(client, states_spec, patterns[states_spec.pattern], SEARCH_DOCUMENTS)
    shown_episodes, shown_states = episodes[:SEARCH_ROWS], states[:SEARCH_ROWS]
    signatures_spec, slo_spec = panels.data_table(TOP_SIGNATURES), panels.data_table(SLO)
    signatures = fetch_rows(client, signatures_spec, patterns[signatures_spec.pattern], DATA_TABLE_ROWS)
    slo = fetch_rows(client, slo_spec, patterns[slo_spec.pattern], DATA_TABLE_ROWS)
    declared_spec = panels.data_table(DECLARED_METRICS)
    declared = fetch_rows(client, declared_spec, patterns[declared_spec.pattern], DATA_TABLE_ROWS)

    lines_spec, errors_spec = panels.search(LOG_LINES), panels.search(ERROR_LINES)
    error_lines = fetch_documents(client, errors_spec, patterns[errors_spec.pattern], SEARCH_ROWS)
    error_table = replace(errors_spec, columns=("timestamp", *errors_spec.columns))
    episode_panels = [
        _episode_lines_panel(client, lines_spec, patterns[lines_spec.pattern], episode)
        for episode in episodes[:EPISODES_WITH_LINES]
    ]

    services = sorted({name for data in charts.values() for name in data.series})
    colours_by_chart: dict[str, dict[str, str]] = {}
    for chart_index, (key, data) in enumerate(charts.items()):
        colours_by_chart[key] = {name: series_colour(services.index(name), chart_index) for name in data.series}
        report.charts[key] = ChartReport(
            title=data.spec.title,
            index_pattern=data.index_pattern,
            series=len(data.series),
            points=sum(len(points) for points in data.series.values()),
            colours=colours_by_chart[key],
        )

    # the timeline spans the realtime charts' time axis at least, so the bars line up with the incidents
    realtime_points = [t for key in REALTIME_CHARTS for pts in charts[key].series.values() for t, _ in pts]
    error_rate = charts["realtime_error_rate"]
    span_start = min(realtime_points, default=0)
    span_end = max(realtime_points, default=0) + error_rate.interval_ms
    timeline, report.timeline_bars = alert_timeline_svg(episodes, span_start, span_end)
    report.tables = {
        "alert_episodes": len(shown_episodes),
        "alert_states": len(shown_states),
        "top_error_signatures": len(signatures),
        "slo": len(slo),
        "declared_metrics": len(declared),
        "episode_lines": sum(rows for rows, _ in episode_panels),
        "error_lines": len(error_lines),
    }

    def charts_row(keys: Iterable[str]) -> str:
        return '<div class="row">' + "".join(chart_panel(charts[k], colours_by_chart[k]) for k in keys) + "</div>"

    moment = (generated_at or datetime.now(tz=UTC)).astimezone(UTC)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>Generated {moment:%Y-%m-%d %H:%M:%S} UTC from OpenSearch · "
        + " · ".join(f"{esc(key)}: {esc(value)}" for key, value in patterns.items())
        + "</p></header><main>"
        + _kpis(error_rate, states, len(episodes))
        + "<h2>Realtime</h2>"
        + charts_row(REALTIME_CHARTS)
        + ranking_table(declared_spec, declared, patterns[declared_spec.pattern])
        + "<h2>Alerts</h2>"
        + _timeline_panel(timeline, patterns[episodes_spec.pattern], episodes_spec.query)
        + search_table(episodes_spec, shown_episodes, patterns[episodes_spec.pattern])
        + search_table(states_spec, shown_states, patterns[states_spec.pattern])
        + "<h2>Log lines</h2>"
        + "".join(html for _, html in episode_panels)
        + search_table(error_table, error_lines, patterns[errors_spec.pattern])
        + "<h2>Batch &amp; insights</h2>"
        + charts_row(BATCH_CHARTS)
        + ranking_table(signatures_spec, signatures, patterns[signatures_spec.pattern])
        + slo_table(slo_spec, slo, patterns[slo_spec.pattern])
        + "</main></body></html>\n"
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    report.bytes = len(page.encode("utf-8"))
    return report


def _episode_lines_panel(
    client: OpenSearch, spec: SavedSearchSpec, index_pattern: str, episode: Mapping[str, Any]
) -> tuple[int, str]:
    """The lines behind one alert episode: its service's lines from the episode's first window to the end of its
    last (or resolving) one, errors first. (rows drawn, HTML)"""
    service = (episode.get("dimensions") or {}).get("service")
    try:
        start = parse_iso_ms(str(episode.get("first_seen")))
        end = parse_iso_ms(str(episode.get("resolved_at") or episode.get("last_seen"))) + MINUTE_MS
    except ValueError:
        return 0, ""
    lines = fetch_episode_lines(
        client, spec, index_pattern, service=service, start_ms=start, end_ms=end, size=EPISODE_LINES
    )
    title = (
        f"Lines behind {episode.get('rule_id')} on {service or 'every service'}, "
        f"{fmt_time(start)}-{fmt_time(end)} UTC: {lines.total:,} lines, {lines.errors:,} errors"
    )
    query = f"service:{service}" if service else "every service"
    table = replace(spec, title=title, query=f"{query}, errors first", columns=("timestamp", *spec.columns))
    return len(lines.documents), search_table(table, lines.documents, index_pattern)
