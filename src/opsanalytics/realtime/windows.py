"""Realtime metric windows: the contract the Flink job writes and the exact reference computation.

One `MetricWindow` per ``service`` by ``log_group`` by tumbling event-time window (60 s by default, aligned
to the epoch, so 60 s windows start on the minute). `compute_windows` is the reference: the Flink job must
produce the same documents from the same events, and the tests and the batch reconciliation compare
against it.

Percentiles: linear interpolation between the two nearest ranks of the sorted values (Hyndman & Fan type 7,
numpy's default ``linear`` method, Spark's ``percentile``): for ``n`` sorted values ``x`` and a fraction
``p``, ``h = (n - 1) * p`` and the result is
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
The Flink job collects each window's latencies (``ARRAY_AGG``, Java side) and calls `latency_percentiles`
once per window, so its percentiles are exact and equal to the reference (tolerance 0; the tests allow
1e-9 relative for float noise only). There is no approximation to tune.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypedDict

from opsanalytics.logevents.model import LogEvent
from opsanalytics.timestamps import iso_utc

METRIC_WINDOW_SCHEMA_VERSION: Final = 1
DEFAULT_WINDOW_SECONDS: Final = 60
PERCENTILES: Final = (0.50, 0.95, 0.99)


class MetricWindow(TypedDict):
    """One realtime metric document (schema version 1). Latency fields are None when no event of the
    window carried a latency. ``late_events`` counts events of this window that arrived after it was
    emitted; they are reported separately as `LateEvents` (see the Flink job), so it is 0 when emitted."""

    schema_version: int
    record_type: Literal["metric_window"]
    service: str
    log_group: str
    window_start: str  # ISO-8601 UTC, "2026-01-01T10:00:00Z"
    window_end: str
    events: int
    errors: int
    error_rate: float
    latency_count: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    late_events: int


# The contract's fields in document order, with their Flink SQL types: the Flink job's sink columns, the numeric
# fields alert rules may watch and the fields the metrics function checks all derive from these tables, and a test
# holds them against the TypedDicts and the index template.
WINDOW_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("schema_version", "INT"),
    ("record_type", "STRING"),
    ("service", "STRING"),
    ("log_group", "STRING"),
    ("window_start", "STRING"),
    ("window_end", "STRING"),
    ("events", "BIGINT"),
    ("errors", "BIGINT"),
    ("error_rate", "DOUBLE"),
    ("latency_count", "BIGINT"),
    ("latency_p50_ms", "DOUBLE"),
    ("latency_p95_ms", "DOUBLE"),
    ("latency_p99_ms", "DOUBLE"),
    ("latency_max_ms", "DOUBLE"),
    ("late_events", "BIGINT"),
)
# a late-events report carries its window's key (the first six fields) and the running late count
LATE_EVENTS_FIELDS: Final[tuple[tuple[str, str], ...]] = (*WINDOW_FIELDS[:6], ("late_events", "BIGINT"))
COUNT_FIELDS: Final = tuple(name for name, kind in WINDOW_FIELDS if kind == "BIGINT")
LATENCY_FIELDS: Final = tuple(name for name, kind in WINDOW_FIELDS if kind == "DOUBLE" and name.startswith("latency_"))
NUMERIC_FIELDS: Final = tuple(name for name, kind in WINDOW_FIELDS if kind in ("BIGINT", "DOUBLE"))
"""The numeric fields of a `MetricWindow`: what an alert rule may watch."""


class LateEvents(TypedDict):
    """Events that reached the streaming job after their window had been emitted. ``late_events`` is the
    running total for that window, so the newest document for a window id is the complete count."""

    schema_version: int
    record_type: Literal["late_events"]
    service: str
    log_group: str
    window_start: str
    window_end: str
    late_events: int


def window_start_ms(timestamp_ms: int, window_seconds: int = DEFAULT_WINDOW_SECONDS) -> int:
    """Start of the tumbling window holding `timestamp_ms` (Flink's TUMBLE alignment: offset 0)."""
    size = window_seconds * 1000
    return timestamp_ms - timestamp_ms % size


def window_document_id(service: str, log_group: str, window_start: str) -> str:
    """Deterministic document id of a window: a replay overwrites its document instead of adding one.

    Hashed because log group names may be up to 512 characters and OpenSearch ids are capped at 512 bytes.
    """
    key = f"metric_window\x1f{service}\x1f{log_group}\x1f{window_start}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (type 7) over already sorted, non-empty values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"percentile fraction {fraction} is outside [0, 1]")
    rank = (len(sorted_values) - 1) * fraction
    lower = math.floor(rank)
    upper = min(lower + 1, len(sorted_values) - 1)
    low_value = sorted_values[lower]
    return low_value + (rank - lower) * (sorted_values[upper] - low_value)


def latency_percentiles(values: Iterable[float | None] | None) -> list[float] | None:
    """[p50, p95, p99] of the non-null values, or None when there are none (the Flink UDF calls this)."""
    if values is None:
        return None
    ordered = sorted(float(v) for v in values if v is not None)
    if not ordered:
        return None
    return [percentile(ordered, fraction) for fraction in PERCENTILES]


@dataclass(slots=True)
class _Accumulator:
    events: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


def compute_windows(events: Iterable[LogEvent], window_seconds: int = DEFAULT_WINDOW_SECONDS) -> list[MetricWindow]:
    """Exact metric windows of `events`, sorted by (window_start, service, log_group).

    Every event lands in its window whatever the order it comes in, so ``late_events`` is 0: this is what
    the streaming job reports once its windows and its late-event counts are added up.
    """
    if window_seconds <= 0:
        raise ValueError("window_seconds must be positive")
    windows: dict[tuple[int, str, str], _Accumulator] = {}
    for event in events:
        key = (window_start_ms(event["timestamp"], window_seconds), event["service"], event["log_group"])
        acc = windows.get(key)
        if acc is None:
            acc = windows[key] = _Accumulator()
        acc.events += 1
        if event["error"]:
            acc.errors += 1
        latency = event.get("latency_ms")
        if latency is not None:
            acc.latencies.append(float(latency))
    result: list[MetricWindow] = []
    for (start, service, log_group), acc in sorted(windows.items()):
        percentiles = latency_percentiles(acc.latencies)
        summary = None if percentiles is None else (percentiles[0], percentiles[1], percentiles[2], max(acc.latencies))
        result.append(
            metric_window(
                service,
                log_group,
                start,
                events=acc.events,
                errors=acc.errors,
                latency_count=len(acc.latencies),
                latency=summary,
                window_seconds=window_seconds,
            )
        )
    return result


def metric_window(
    service: str,
    log_group: str,
    start_ms: int,
    *,
    events: int,
    errors: int,
    latency_count: int,
    latency: tuple[float, float, float, float] | None,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
) -> MetricWindow:
    """One window document as emitted (``late_events`` 0); ``latency`` is (p50, p95, p99, max) in ms, None
    when no event of the window carried a latency."""
    p50, p95, p99, most = latency if latency is not None else (None, None, None, None)
    return MetricWindow(
        schema_version=METRIC_WINDOW_SCHEMA_VERSION,
        record_type="metric_window",
        service=service,
        log_group=log_group,
        window_start=iso_utc(start_ms),
        window_end=iso_utc(start_ms + window_seconds * 1000),
        events=events,
        errors=errors,
        error_rate=errors / events,
        latency_count=latency_count,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        latency_max_ms=most,
        late_events=0,
    )
