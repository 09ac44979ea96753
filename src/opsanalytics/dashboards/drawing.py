"""The local page's drawing: colours, number and time formatting, SVG charts and the panels' HTML.

Everything here turns fetched data (`opsanalytics.dashboards.queries`) into HTML fragments; nothing queries.
Charts are inline SVG with a value axis from 0 and a time axis in UTC. Every series of every chart has a colour
of its own (a service keeps its hue across charts, each chart has its own shade), so a screenshot shows which
chart drew what. How a cell reads is the page's: the saved objects say what is computed, the drawing how each
column shows (times, severity badges, values judged against their targets).
"""

from __future__ import annotations

import colorsys
import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from opsanalytics.dashboards.panels import DAY_MS, HOUR_MS, INTERVALS_MS, MINUTE_MS, DataTableSpec, SavedSearchSpec
from opsanalytics.dashboards.queries import ChartData
from opsanalytics.timestamps import parse_iso_ms

SEVERITY_COLOURS: Final[Mapping[str, str]] = {"critical": "#b3261e", "warning": "#d9822b", "info": "#3a6fb0"}
# hues of the series (a service keeps its hue in every chart); shades (saturation, lightness) per chart
HUES: Final = (212, 28, 138, 352, 272, 48, 184, 318, 92, 240)
SHADES: Final = ((0.72, 0.44), (0.78, 0.32), (0.62, 0.56), (0.85, 0.24))
CHART_WIDTH: Final = 630
CHART_HEIGHT: Final = 250
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 80, 18, 14, 46


def _hex(hue: float, saturation: float, lightness: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(hue / 360.0, lightness, saturation)
    return "#{:02x}{:02x}{:02x}".format(*(round(channel * 255) for channel in (red, green, blue)))


def series_colour(series_index: int, chart_index: int) -> str:
    """The colour of a series: its hue, in the chart's shade (distinct for every chart and series)."""
    saturation, lightness = SHADES[chart_index % len(SHADES)]
    hue = HUES[series_index % len(HUES)] + 7 * (series_index // len(HUES))
    return _hex(hue, saturation, lightness)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_time(epoch_ms: float, with_date: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def iso_ms(value: Any) -> int | None:
    """Epoch milliseconds of a date value (epoch number or ISO 8601 text); None when it is neither."""
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
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(data.spec.title)}">',
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
            f"{esc(fmt_value(value, data.spec.unit))}</text>"
        )
    with_date = end - start > DAY_MS
    for tick in time_ticks(start, end):
        pos = x(tick)
        parts.append(f'<line x1="{pos:.1f}" y1="{MARGIN_TOP}" x2="{pos:.1f}" y2="{MARGIN_TOP + plot_h}" class="grid"/>')
        parts.append(
            f'<text x="{pos:.1f}" y="{MARGIN_TOP + plot_h + 16}" class="tick" text-anchor="middle">'
            f"{esc(fmt_time(tick, with_date))}</text>"
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
        f'text-anchor="middle">{esc(axis_title)}</text>'
    )
    interval = fmt_interval(data.interval_ms)
    parts.append(
        f'<text class="axis-title" x="{MARGIN_LEFT + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">'
        f"{esc(data.spec.time_field)} (UTC, {fmt_time(start, True)[:10]}), per {interval}</text>"
    )
    for name, points in data.series.items():
        colour = colours[name]
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="3" '
            f'stroke-linejoin="round" stroke-linecap="round"><title>{esc(name)}</title></polyline>'
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
        f'<div class="panel chart"><h3>{esc(data.spec.title)}</h3>'
        f'<p class="sub">{esc(data.index_pattern)}'
        + (f" · {esc(data.spec.query)}" if data.spec.query else "")
        + f" · {data.documents:,} documents</p>"
    )
    if not data.series:
        return head + '<div class="empty">No data</div></div>'
    legend = "".join(
        f'<span class="item"><span class="swatch" style="background:{colours[name]}"></span>{esc(name)}'
        f' <span class="last">max {esc(fmt_value(max(v for _, v in points), data.spec.unit))}</span></span>'
        for name, points in data.series.items()
    )
    return head + line_chart_svg(data, colours) + f'<div class="legend">{legend}</div></div>'


def alert_timeline_svg(episodes: Sequence[Mapping[str, Any]], start: int, end: int) -> tuple[str, int]:
    """A row per alert episode (rule on service), a bar from first seen to resolution (or last seen)."""
    rows = []
    for episode in sorted(episodes, key=lambda doc: iso_ms(doc.get("first_seen")) or 0):
        first = iso_ms(episode.get("first_seen"))
        if first is None:
            continue
        last = iso_ms(episode.get("resolved_at")) or iso_ms(episode.get("last_seen")) or first
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
            f"{esc(fmt_time(tick, with_date))}</text>"
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
        parts.append(f'<text x="{label_w - 10}" y="{top + 17}" class="label" text-anchor="end">{esc(label)}</text>')
        bar_w = max(x(last) - x(first), 6)
        parts.append(
            f'<rect x="{x(first):.1f}" y="{top + 4}" width="{bar_w:.1f}" height="{row_h - 8}" rx="3" '
            f'fill="{colour}"><title>{esc(label)}: {esc(state)}</title></rect>'
        )
        parts.append(
            f'<text x="{x(first) + bar_w + 6:.1f}" y="{top + 17}" class="label">'
            f"{esc(severity)} · {esc(state)} · {esc(fmt_time(first))}–{esc(fmt_time(last))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts), len(rows)


MESSAGE_CHARS: Final = 300
"""characters of a log line's message drawn in a table cell"""


def is_time_column(column: str) -> bool:
    """Whether a column holds moments, by the naming of the index templates (``first_seen``, ``resolved_at``)."""
    return column.endswith(("_seen", "_at"))


def _time_cell(value: Any) -> str:
    moment = iso_ms(value)
    return esc(fmt_time(moment, True)) if moment is not None else "–"


def _cell(doc: Mapping[str, Any], column: str) -> str:
    value: Any = doc
    for part in column.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if column == "timestamp":  # a log line's moment, to the second
        moment = iso_ms(value)
        return esc(datetime.fromtimestamp(moment / 1000, tz=UTC).strftime("%H:%M:%S")) if moment is not None else "–"
    if is_time_column(column):
        return _time_cell(value)
    if column == "message" and isinstance(value, str) and len(value) > MESSAGE_CHARS:
        return esc(value[:MESSAGE_CHARS]) + "…"
    if column == "severity":
        colour = SEVERITY_COLOURS.get(str(value), "#666666")
        return f'<span class="badge" style="background:{colour}">{esc(value)}</span>'
    if column == "state":
        return f'<span class="state state-{esc(value)}">{esc(value)}</span>'
    return esc(fmt_value(value))


def search_table(spec: SavedSearchSpec, docs: Sequence[Mapping[str, Any]], index_pattern: str) -> str:
    """A saved search's documents, a row each, in its columns."""
    head = "".join(f"<th>{esc(column)}</th>" for column in spec.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(doc, c)}</td>" for c in spec.columns) + "</tr>" for doc in docs)
    if not docs:
        body = f'<tr><td colspan="{len(spec.columns)}" class="empty">No documents</td></tr>'
    return (
        f'<div class="panel"><h3>{esc(spec.title)}</h3><p class="sub">{esc(index_pattern)} · {esc(spec.query)}'
        f" · {len(docs)} rows</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def ranking_table(spec: DataTableSpec, rows: Sequence[Mapping[str, Any]], index_pattern: str) -> str:
    """A data table of the top terms by a metric (the top error signatures): the terms as code, the ranking
    metric with a bar, concatenated values joined, times as times; a column each, headed by its label."""
    top = spec.buckets[0]
    ranking = next((metric for metric in spec.metrics if metric.id == top.order_by), None)
    biggest = max((row.get(ranking.field) or 0 for row in rows), default=1) if ranking else 1
    biggest = biggest or 1

    def cell(row: Mapping[str, Any], column: str) -> str:
        value = row.get(column)
        if column in (bucket.field for bucket in spec.buckets):
            return f'<td class="sig"><code>{esc(value)}</code></td>'
        if ranking is not None and column == ranking.field:
            width = 60 * (value or 0) / biggest
            return f'<td class="num"><span class="bar" style="width:{width:.0f}px"></span>{esc(fmt_value(value))}</td>'
        if isinstance(value, list):
            return f"<td>{esc(', '.join(str(item) for item in value))}</td>"
        if is_time_column(column):
            return f"<td>{_time_cell(value)}</td>"
        return f"<td>{esc(fmt_value(value))}</td>"

    head = "".join(f"<th>{esc(label.lower())}</th>" for label in spec.labels)
    body = "".join("<tr>" + "".join(cell(row, column) for column in spec.columns) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(spec.columns)}" class="empty">No documents</td></tr>'
    ranked = f" · top {top.size} by {(ranking.label if ranking else top.label).lower()}" if top.type == "terms" else ""
    return (
        f'<div class="panel"><h3>{esc(spec.title)}</h3><p class="sub">{esc(index_pattern)} · '
        f"{esc(spec.query)}{esc(ranked)}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def slo_table(spec: DataTableSpec, rows: Sequence[Mapping[str, Any]], index_pattern: str) -> str:
    """The SLO report per service and day: availability and latency attainment judged against their targets,
    the error budget left (the SLO documents' fields, by name)."""

    def day(value: Any) -> str:
        moment = iso_ms(value)
        return esc(fmt_time(moment, True)[:10]) if moment is not None else "–"

    def judged(value: Any, target: Any) -> str:
        if value is None:
            return "–"
        ok = target is None or value >= target
        return f'<span class="{"ok" if ok else "bad"}">{esc(fmt_value(value, "ratio"))}</span>'

    def budget(value: Any) -> str:
        if value is None:
            return "–"
        return f'<span class="{"ok" if value >= 0 else "bad"}">{value * 100:.1f} %</span>'

    body = "".join(
        "<tr>"
        f"<td>{esc(row.get('service'))}</td><td>{day(row.get('period_start'))}</td>"
        f'<td class="num">{esc(fmt_value(row.get("requests")))}</td>'
        f'<td class="num">{judged(row.get("availability"), row.get("availability_target"))}</td>'
        f'<td class="num">{esc(fmt_value(row.get("availability_target"), "ratio"))}</td>'
        f'<td class="num">{budget(row.get("error_budget_remaining"))}</td>'
        f'<td class="num">{judged(row.get("latency_attainment"), row.get("latency_target"))}</td>'
        f'<td class="num">{esc(fmt_value(row.get("latency_target"), "ratio"))}</td>'
        "</tr>"
        for row in rows
    )
    if not rows:
        body = '<tr><td colspan="8" class="empty">No documents</td></tr>'
    return (
        f'<div class="panel"><h3>{esc(spec.title)}</h3><p class="sub">{esc(index_pattern)} · '
        f"{esc(spec.query)}</p><table><thead><tr><th>service</th><th>day</th><th>requests</th>"
        "<th>availability</th><th>target</th><th>error budget left</th><th>latency attainment</th><th>target</th>"
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )
