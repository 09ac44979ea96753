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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypedDict

from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.signatures import normalise_message
from opsanalytics.timestamps import iso_utc

METRIC_WINDOW_SCHEMA_VERSION: Final = 2
READABLE_WINDOW_SCHEMA_VERSIONS: Final = (1, 2)
"""Version 1 documents (no revision, no owner, late events as separate reports) are still read, so that a metrics
stream written by an earlier job drains after an upgrade."""
DEFAULT_WINDOW_SECONDS: Final = 60
PERCENTILES: Final = (0.50, 0.95, 0.99)
TOP_SIGNATURES: Final = 5
"""Error signatures a window carries: the most frequent, ties by signature."""
MAX_SAMPLES: Final = 3
"""Error lines a window carries: the earliest (by time, then text), so every run picks the same ones."""
MAX_SAMPLE_CHARS: Final = 300
MAX_TRACKED_SIGNATURES: Final = 1000
"""Distinct signatures counted per window; further ones are counted under `OTHER_SIGNATURE`."""
OTHER_SIGNATURE: Final = "<other>"


class ErrorSignature(TypedDict):
    signature: str
    """`opsanalytics.logevents.signatures.normalise_message` of the error lines: the batch job's signature rules."""
    count: int


class MetricWindow(TypedDict):
    """One realtime metric document (schema version 2). Latency fields are None when no event of the window
    carried a latency.

    A window is emitted when the watermark passes its end (revision 1, what the alerts read first) and emitted
    again, with the next revision, when events of it arrive later: within the job's allowed lateness they are
    counted in ``events`` and the rest of the figures, after it in ``late_events`` only. The document with the
    highest revision of a window id is the window."""

    schema_version: int
    record_type: Literal["metric_window"]
    owner: str
    """The AWS account of the log group (the subscription payload's ``owner``): log group names repeat across
    accounts. Empty for documents of version 1."""
    service: str
    log_group: str
    window_start: str  # ISO-8601 UTC, "2026-01-01T10:00:00Z"
    window_end: str
    revision: int
    events: int
    errors: int
    error_rate: float
    latency_count: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    late_events: int
    error_signatures: list[ErrorSignature]
    samples: list[str]
    """Up to `MAX_SAMPLES` error messages of the window (first line, at most `MAX_SAMPLE_CHARS`)."""


# The contract's fields in document order, with their Flink SQL types: the Flink job's sink columns, the numeric
# fields alert rules may watch and the fields the metrics function checks all derive from these tables, and a test
# holds them against the TypedDicts and the index template.
WINDOW_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("schema_version", "INT"),
    ("record_type", "STRING"),
    ("owner", "STRING"),
    ("service", "STRING"),
    ("log_group", "STRING"),
    ("window_start", "STRING"),
    ("window_end", "STRING"),
    ("revision", "INT"),
    ("events", "BIGINT"),
    ("errors", "BIGINT"),
    ("error_rate", "DOUBLE"),
    ("latency_count", "BIGINT"),
    ("latency_p50_ms", "DOUBLE"),
    ("latency_p95_ms", "DOUBLE"),
    ("latency_p99_ms", "DOUBLE"),
    ("latency_max_ms", "DOUBLE"),
    ("late_events", "BIGINT"),
    ("error_signatures", "ARRAY<ROW<`signature` STRING, `count` BIGINT>>"),
    ("samples", "ARRAY<STRING>"),
)
COUNT_FIELDS: Final = tuple(name for name, kind in WINDOW_FIELDS if kind == "BIGINT")
LATENCY_FIELDS: Final = tuple(name for name, kind in WINDOW_FIELDS if kind == "DOUBLE" and name.startswith("latency_"))
NUMERIC_FIELDS: Final = tuple(name for name, kind in WINDOW_FIELDS if kind in ("BIGINT", "DOUBLE"))
"""The numeric fields of a `MetricWindow`: what an alert rule may watch."""


class LateEvents(TypedDict):
    """Version 1 only: events that reached the streaming job after their window had been emitted, as a running
    total per window. Version 2 counts them in the window's own ``late_events``, with a new revision."""

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


def window_document_id(service: str, log_group: str, window_start: str, owner: str = "") -> str:
    """Deterministic document id of a window: a replay overwrites its document instead of adding one, and every
    revision of a window has the same id.

    Hashed because log group names may be up to 512 characters and OpenSearch ids are capped at 512 bytes. The
    owner is part of the key when there is one (version 2), so version 1 documents keep their ids.
    """
    parts = (
        ("metric_window", owner, service, log_group, window_start)
        if owner
        else ("metric_window", service, log_group, window_start)
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]


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


def sample_text(message: str | None) -> str:
    """An error line as a window carries it: its first line, at most `MAX_SAMPLE_CHARS`."""
    return (message or "").strip().split("\n", 1)[0][:MAX_SAMPLE_CHARS]


@dataclass(slots=True)
class WindowAccumulator:
    """The figures of one window as its events arrive, in any order and in any grouping: the reference below and
    the Flink job's window state (`opsanalytics.realtime.revisions`) both add to one. Latencies are kept by the
    caller (a list here, Flink list state in the job), so that adding to a window never copies them."""

    events: int = 0
    errors: int = 0
    latency_count: int = 0
    late_events: int = 0
    signatures: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[int, str]] = field(default_factory=list)
    """The earliest error lines as (timestamp, text), sorted, at most `MAX_SAMPLES`."""

    def add(
        self,
        events: int,
        errors: int,
        latency_count: int,
        signatures: Mapping[str, int] | None = None,
        samples: Iterable[tuple[int, str]] = (),
    ) -> None:
        self.events += events
        self.errors += errors
        self.latency_count += latency_count
        counted = self.signatures
        for signature, count in (signatures or {}).items():
            if signature in counted or len(counted) < MAX_TRACKED_SIGNATURES:
                counted[signature] = counted.get(signature, 0) + count
            else:
                counted[OTHER_SIGNATURE] = counted.get(OTHER_SIGNATURE, 0) + count
        new = list(samples)
        if new:
            self.samples = sorted({*self.samples, *new})[:MAX_SAMPLES]

    def top_signatures(self) -> list[ErrorSignature]:
        ranked = sorted(self.signatures.items(), key=lambda item: (-item[1], item[0]))[:TOP_SIGNATURES]
        return [ErrorSignature(signature=signature, count=count) for signature, count in ranked]

    def document(
        self,
        owner: str,
        service: str,
        log_group: str,
        start_ms: int,
        *,
        latency: tuple[float, float, float, float] | None,
        revision: int = 1,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
    ) -> MetricWindow:
        """The window document; ``latency`` is (p50, p95, p99, max) in ms (`latency_summary`)."""
        p50, p95, p99, most = latency if latency is not None else (None, None, None, None)
        return MetricWindow(
            schema_version=METRIC_WINDOW_SCHEMA_VERSION,
            record_type="metric_window",
            owner=owner,
            service=service,
            log_group=log_group,
            window_start=iso_utc(start_ms),
            window_end=iso_utc(start_ms + window_seconds * 1000),
            revision=revision,
            events=self.events,
            errors=self.errors,
            error_rate=self.errors / self.events if self.events else 0.0,
            latency_count=self.latency_count,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
            latency_max_ms=most,
            late_events=self.late_events,
            error_signatures=self.top_signatures(),
            samples=[text for _, text in self.samples],
        )


def latency_summary(values: Sequence[float]) -> tuple[float, float, float, float] | None:
    """(p50, p95, p99, max) of `values`, None when there are none."""
    percentiles = latency_percentiles(values)
    if percentiles is None:
        return None
    return (percentiles[0], percentiles[1], percentiles[2], max(values))


WindowKey = tuple[int, str, str, str]
"""(window start ms, owner, service, log group)."""


def event_window_key(event: LogEvent, window_seconds: int = DEFAULT_WINDOW_SECONDS) -> WindowKey:
    return (
        window_start_ms(event["timestamp"], window_seconds),
        event.get("owner") or "",
        event["service"],
        event["log_group"],
    )


def compute_windows(events: Iterable[LogEvent], window_seconds: int = DEFAULT_WINDOW_SECONDS) -> list[MetricWindow]:
    """Exact metric windows of `events`, sorted by (window_start, owner, service, log_group), each as its first
    revision: every event lands in its window whatever the order it comes in, so ``late_events`` is 0. The
    streaming job's windows equal these once no event of them is later than the allowed lateness."""
    if window_seconds <= 0:
        raise ValueError("window_seconds must be positive")
    windows: dict[WindowKey, tuple[WindowAccumulator, list[float]]] = {}
    for event in events:
        key = event_window_key(event, window_seconds)
        entry = windows.get(key)
        if entry is None:
            entry = windows[key] = (WindowAccumulator(), [])
        acc, latencies = entry
        latency = event.get("latency_ms")
        if latency is not None:
            latencies.append(float(latency))
        if event["error"]:
            message = event.get("message")
            acc.add(
                1,
                1,
                0 if latency is None else 1,
                {normalise_message(message): 1},
                [(event["timestamp"], sample_text(message))],
            )
        else:
            acc.add(1, 0, 0 if latency is None else 1)
    return [
        acc.document(
            owner, service, log_group, start, latency=latency_summary(latencies), window_seconds=window_seconds
        )
        for (start, owner, service, log_group), (acc, latencies) in sorted(windows.items())
    ]


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
    owner: str = "",
    revision: int = 1,
    late_events: int = 0,
) -> MetricWindow:
    """One window document from its figures (fixtures, sample events); ``latency`` is (p50, p95, p99, max)."""
    acc = WindowAccumulator(events=events, errors=errors, latency_count=latency_count, late_events=late_events)
    return acc.document(
        owner, service, log_group, start_ms, latency=latency, revision=revision, window_seconds=window_seconds
    )
