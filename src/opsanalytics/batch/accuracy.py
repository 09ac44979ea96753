"""Realtime accuracy: the share of each hour's events that the realtime windows counted, against the batch count.

The realtime job counts an event in its window when it arrives within the allowed lateness; later events are
counted in the window's ``late_events`` only, and an event the stream lost is not counted at all. The batch job
counts every event of the archive in its own hour, so for the hours it recomputes it can say how right the
realtime figures were: per window (``service`` by ``log_group`` by window start, the owners of a log group
summed), the batch count is the truth; a window whose events or errors differ, or that the realtime job never
wrote, is a difference.

``counted_share`` is the sum over windows of ``min(realtime, batch)`` events over the batch events: events the
realtime windows counted twice (a replay the metrics function did not deduplicate) do not make up for ones
they missed. An hour whose realtime windows are still open (inside the allowed lateness) reads lower until
they close; the next run that recomputes the hour writes the figure again under the same id.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from opsanalytics.batch.inputs import HOUR_MS
from opsanalytics.realtime.windows import DEFAULT_WINDOW_SECONDS
from opsanalytics.timestamps import iso_utc

MAX_DIFFERENCES: Final = 20
"""Differing windows an hour's document lists (the largest event gaps first); all are counted."""
COMPOSITE_PAGE: Final = 1000

WindowKey = tuple[int, str, str]
"""(window start epoch ms, service, log group)"""


@dataclass(frozen=True, slots=True)
class WindowCounts:
    events: int
    errors: int
    late_events: int = 0
    """realtime only: events that arrived after the allowed lateness"""


@dataclass(frozen=True, slots=True)
class RealtimeCounts:
    """The realtime windows of a time range: their span and counts per window."""

    span_ms: int
    windows: Mapping[WindowKey, WindowCounts]
    other_spans: int = 0
    """windows of another span than ``span_ms`` (a job reconfigured in the range): not compared"""


class RealtimeWindowCounts(Protocol):
    """Where the realtime windows are read from (``metrics-realtime-*`` in OpenSearch)."""

    def counts(self, start_ms: int, end_ms: int) -> RealtimeCounts: ...


@dataclass(frozen=True, slots=True)
class WindowDifference:
    service: str
    log_group: str
    window_start: str
    batch_events: int
    realtime_events: int | None
    """None: the realtime job wrote no window"""
    batch_errors: int
    realtime_errors: int | None

    def document(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "log_group": self.log_group,
            "window_start": self.window_start,
            "batch_events": self.batch_events,
            "realtime_events": self.realtime_events,
            "batch_errors": self.batch_errors,
            "realtime_errors": self.realtime_errors,
        }


@dataclass(slots=True)
class HourAccuracy:
    hour_start_ms: int
    window_seconds: int
    batch_events: int = 0
    realtime_events: int = 0
    counted_events: int = 0
    """sum over windows of min(realtime, batch) events"""
    late_events: int = 0
    windows: int = 0
    windows_differing: int = 0
    windows_missing: int = 0
    """windows with batch events the realtime job did not write"""
    differences: list[WindowDifference] = field(default_factory=list)

    @property
    def counted_share(self) -> float:
        return self.counted_events / self.batch_events if self.batch_events else 1.0

    def document(self) -> dict[str, Any]:
        return {
            "period_start": iso_utc(self.hour_start_ms),
            "period_end": iso_utc(self.hour_start_ms + HOUR_MS),
            "window_seconds": self.window_seconds,
            "batch_events": self.batch_events,
            "realtime_events": self.realtime_events,
            "counted_events": self.counted_events,
            "counted_share": round(self.counted_share, 6),
            "late_events": self.late_events,
            "windows": self.windows,
            "windows_differing": self.windows_differing,
            "windows_missing": self.windows_missing,
            "differences": [item.document() for item in self.differences],
        }


@dataclass(frozen=True, slots=True)
class Accuracy:
    """The comparison of a run: one `HourAccuracy` per hour recomputed, or why there is none."""

    hours: Sequence[HourAccuracy] = ()
    not_compared: str = ""
    other_spans: int = 0

    @property
    def batch_events(self) -> int:
        return sum(hour.batch_events for hour in self.hours)

    @property
    def counted_events(self) -> int:
        return sum(hour.counted_events for hour in self.hours)

    @property
    def counted_share(self) -> float:
        return self.counted_events / self.batch_events if self.batch_events else 1.0

    def summary_lines(self) -> list[str]:
        if self.not_compared:
            return [f"  realtime accuracy            -  not compared: {self.not_compared}"]
        windows = sum(hour.windows for hour in self.hours)
        differing = sum(hour.windows_differing for hour in self.hours)
        missing = sum(hour.windows_missing for hour in self.hours)
        late = sum(hour.late_events for hour in self.hours)
        lines = [
            f"  realtime accuracy   {100 * self.counted_share:>9.2f} %  of {self.batch_events} events counted by "
            f"the realtime windows",
            f"    windows differing {differing:>10}  of {windows} ({missing} not written by the realtime job; "
            f"{late} events after the allowed lateness)",
        ]
        if self.other_spans:
            lines.append(f"    windows of another span {self.other_spans:>4}  (not compared)")
        worst = sorted(
            (item for hour in self.hours for item in hour.differences),
            key=lambda item: (-abs(item.batch_events - (item.realtime_events or 0)), item.window_start),
        )
        for item in worst[:5]:
            realtime = "none" if item.realtime_events is None else str(item.realtime_events)
            lines.append(
                f"    {item.window_start} {item.service} {item.log_group}: batch {item.batch_events}, "
                f"realtime {realtime}"
            )
        return lines


def compare(
    batch: Mapping[WindowKey, WindowCounts], realtime: RealtimeCounts, hours: Iterable[int]
) -> list[HourAccuracy]:
    """The accuracy of each of ``hours`` (epoch ms of their start) that has events or realtime windows. ``batch``
    holds per-minute counts; they are summed into the realtime windows' span (tumbling windows aligned to the
    epoch, as the Flink job's)."""
    span = realtime.span_ms
    wanted = sorted(set(hours))
    truth: dict[WindowKey, list[int]] = defaultdict(lambda: [0, 0])
    for (minute, service, log_group), counts in batch.items():
        counted = truth[(minute - minute % span, service, log_group)]
        counted[0] += counts.events
        counted[1] += counts.errors
    result = {hour: HourAccuracy(hour, span // 1000) for hour in wanted}
    for key in sorted(truth.keys() | realtime.windows.keys()):
        start, service, log_group = key
        hour = result.get(start - start % HOUR_MS)
        if hour is None:
            continue
        batch_events, batch_errors = truth.get(key, (0, 0))
        window = realtime.windows.get(key)
        hour.windows += 1
        hour.batch_events += batch_events
        if window is not None:
            hour.realtime_events += window.events
            hour.counted_events += min(window.events, batch_events)
            hour.late_events += window.late_events
            if (window.events, window.errors) == (batch_events, batch_errors):
                continue
        elif batch_events:
            hour.windows_missing += 1
        hour.windows_differing += 1
        hour.differences.append(
            WindowDifference(
                service=service,
                log_group=log_group,
                window_start=iso_utc(start),
                batch_events=batch_events,
                realtime_events=None if window is None else window.events,
                batch_errors=batch_errors,
                realtime_errors=None if window is None else window.errors,
            )
        )
    compared = [hour for hour in result.values() if hour.windows]  # an hour without events has nothing to say
    for hour in compared:
        hour.differences.sort(
            key=lambda item: (-abs(item.batch_events - (item.realtime_events or 0)), item.window_start)
        )
        del hour.differences[MAX_DIFFERENCES:]
    return compared


class OpenSearchWindowCounts:
    """The stored realtime windows (``<prefix>YYYY.MM.DD``), their counts summed over owners per window: each
    window's document is its highest revision (the metrics function writes with external versions)."""

    def __init__(self, client: Any, index_prefix: str = "metrics-realtime-") -> None:
        self._client = client
        self.index_prefix = index_prefix

    def _buckets(self, start_ms: int, end_ms: int) -> Iterator[dict[str, Any]]:
        composite: dict[str, Any] = {
            "size": COMPOSITE_PAGE,
            "sources": [
                {"start": {"terms": {"field": "window_start"}}},
                {"end": {"terms": {"field": "window_end"}}},
                {"service": {"terms": {"field": "service"}}},
                {"log_group": {"terms": {"field": "log_group"}}},
            ],
        }
        body = {
            "size": 0,
            "query": {
                "bool": {
                    "filter": [
                        {"exists": {"field": "events"}},  # metric windows (not version 1 late-event reports)
                        {"range": {"window_start": {"gte": start_ms, "lt": end_ms, "format": "epoch_millis"}}},
                    ]
                }
            },
            "aggs": {
                "windows": {
                    "composite": composite,
                    "aggs": {
                        "events": {"sum": {"field": "events"}},
                        "errors": {"sum": {"field": "errors"}},
                        "late_events": {"sum": {"field": "late_events"}},
                    },
                }
            },
        }
        while True:
            response = self._client.search(
                index=f"{self.index_prefix}*",
                body=body,
                params={"ignore_unavailable": "true", "allow_no_indices": "true"},
            )
            windows = response.get("aggregations", {}).get("windows", {})
            yield from windows.get("buckets", [])
            after = windows.get("after_key")
            if not after or len(windows.get("buckets", [])) < COMPOSITE_PAGE:
                return
            composite["after"] = after

    def counts(self, start_ms: int, end_ms: int) -> RealtimeCounts:
        by_span: dict[int, dict[WindowKey, WindowCounts]] = defaultdict(dict)
        for bucket in self._buckets(start_ms, end_ms):
            key = bucket["key"]
            start = int(key["start"])
            by_span[int(key["end"]) - start][(start, str(key["service"]), str(key["log_group"]))] = WindowCounts(
                events=int(bucket["events"]["value"]),
                errors=int(bucket["errors"]["value"]),
                late_events=int(bucket["late_events"]["value"]),
            )
        if not by_span:
            return RealtimeCounts(span_ms=DEFAULT_WINDOW_SECONDS * 1000, windows={})
        sizes = Counter({span: len(windows) for span, windows in by_span.items()})
        span = sizes.most_common(1)[0][0]
        return RealtimeCounts(span_ms=span, windows=by_span[span], other_spans=sum(sizes.values()) - sizes[span])
