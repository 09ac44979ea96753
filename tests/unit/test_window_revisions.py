"""The rules of updating windows (`opsanalytics.realtime.revisions`), driven as Flink drives them: rows in arrival
order with the watermark each one sees, event-time timers fired when the watermark reaches them."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import pytest

from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.signatures import normalise_message
from opsanalytics.realtime.revisions import NO_WATERMARK, WindowState, WindowTiming, add_row, on_timer
from opsanalytics.realtime.windows import MetricWindow, compute_windows, sample_text

T0 = 1_767_261_600_000  # 2026-01-01T10:00:00Z
KEY = ("123456789012", "checkout", "/aws/lambda/checkout")
TIMING = WindowTiming(window_seconds=60, allowed_lateness_seconds=120, late_retention_seconds=600)


@dataclass
class Driver:
    """One key group of the keyed function: state and timers per window, the watermark moved by hand."""

    timing: WindowTiming = TIMING
    states: dict[int, WindowState] = field(default_factory=dict)
    timers: list[tuple[int, int]] = field(default_factory=list)
    emitted: list[MetricWindow] = field(default_factory=list)
    placements: list[str] = field(default_factory=list)
    watermark: int = NO_WATERMARK

    def row(self, ts: int, *, latency: float | None = None, error: bool = False, events: int = 1) -> None:
        start = self.timing.start(ts)
        message = f"payment failed after {int(latency or 0)} ms"
        state, update = add_row(
            self.states.get(start),
            self.timing,
            start,
            self.watermark,
            events=events,
            errors=events if error else 0,
            latencies=[] if latency is None else [latency] * events,
            signatures={normalise_message(message): events} if error else None,
            samples=[(ts, sample_text(message))] if error else (),
        )
        self.placements.append(update.placement)
        if state is not None:
            self.states[start] = state
        for timer in update.timers:
            if (timer, start) not in self.timers:
                heapq.heappush(self.timers, (timer, start))

    def advance(self, watermark: int) -> None:
        self.watermark = max(self.watermark, watermark)
        while self.timers and self.timers[0][0] <= self.watermark:
            timestamp, start = heapq.heappop(self.timers)
            state, document = on_timer(self.states.get(start), self.timing, (*KEY, start), timestamp)
            if state is None:
                self.states.pop(start, None)
            else:
                self.states[start] = state
            if document is not None:
                self.emitted.append(document)


def event(ts: int, latency: float | None, error: bool = False) -> LogEvent:
    return {  # type: ignore[typeddict-item]
        "timestamp": ts,
        "owner": KEY[0],
        "service": KEY[1],
        "log_group": KEY[2],
        "error": error,
        "latency_ms": latency,
        "message": f"payment failed after {int(latency or 0)} ms",
    }


def test_a_window_is_emitted_once_when_the_watermark_passes_its_end() -> None:
    driver = Driver()
    driver.row(T0 + 1_000, latency=10.0)
    driver.row(T0 + 2_000, latency=30.0, error=True)
    driver.advance(T0 + 59_998)
    assert driver.emitted == []  # the last millisecond of the window is not passed yet
    driver.advance(T0 + 59_999)
    (first,) = driver.emitted
    assert first["revision"] == 1
    expected = compute_windows([event(T0 + 1_000, 10.0), event(T0 + 2_000, 30.0, error=True)])
    assert first == expected[0]
    assert first["error_signatures"] == [{"signature": "payment failed after <num> ms", "count": 1}]
    assert first["samples"] == ["payment failed after 30 ms"]
    driver.advance(T0 + 20 * 60_000)  # past the end + lateness + retention
    assert len(driver.emitted) == 1  # finalizing and clearing emit nothing new
    assert driver.states == {}


def test_late_events_within_the_allowed_lateness_correct_the_window_once_per_watermark() -> None:
    driver = Driver()
    driver.row(T0 + 1_000, latency=10.0)
    driver.advance(T0 + 65_000)
    driver.row(T0 + 5_000, latency=50.0, error=True)  # late, but within the 120 s
    driver.row(T0 + 6_000, latency=70.0)  # a second late row before the watermark moves: one correction
    assert driver.placements == ["window", "window", "window"]
    driver.advance(T0 + 66_000)
    assert [d["revision"] for d in driver.emitted] == [1, 2]
    corrected = driver.emitted[-1]
    expected = compute_windows([event(T0 + 1_000, 10.0), event(T0 + 5_000, 50.0, True), event(T0 + 6_000, 70.0)])
    assert {**corrected, "revision": 1} == expected[0]  # the percentiles include the late latencies
    assert corrected["late_events"] == 0


def test_events_after_the_allowed_lateness_count_as_late_and_leave_the_percentiles_alone() -> None:
    driver = Driver()
    driver.row(T0 + 1_000, latency=10.0)
    driver.advance(T0 + 59_999 + 120_000)  # finalized: the latencies are dropped
    first = driver.emitted[-1]
    driver.row(T0 + 2_000, latency=99.0, events=3)
    assert driver.placements[-1] == "late"
    driver.advance(T0 + 200_000)
    late = driver.emitted[-1]
    assert late["revision"] == 2 and late["late_events"] == 3
    assert (late["events"], late["latency_p95_ms"]) == (first["events"], first["latency_p95_ms"])


def test_events_after_the_retention_find_no_window_and_are_reported_too_late() -> None:
    driver = Driver()
    driver.row(T0 + 1_000, latency=10.0)
    driver.advance(T0 + 59_999 + 120_000 + 600_000)
    assert driver.states == {}
    driver.row(T0 + 2_000, latency=10.0)
    assert driver.placements[-1] == "too-late"
    assert driver.states == {} and len(driver.emitted) == 1


def test_a_window_first_seen_after_its_end_is_emitted_at_the_next_watermark() -> None:
    driver = Driver()
    driver.advance(T0 + 90_000)
    driver.row(T0 + 10_000, latency=5.0)  # its window ended 30 s ago (an idle shard catching up)
    driver.advance(T0 + 90_001)
    assert [(d["revision"], d["events"]) for d in driver.emitted] == [(1, 1)]


def test_without_a_watermark_every_window_is_emitted_once_at_the_end() -> None:
    """Batch mode: no watermark until the input ends, then every timer fires."""
    driver = Driver()
    events = [event(T0 + (i * 7_919) % 300_000, float(i % 17), error=i % 9 == 0) for i in range(400)]
    for e in events:
        driver.row(e["timestamp"], latency=e["latency_ms"], error=e["error"])
    driver.advance(2**62)
    assert {d["revision"] for d in driver.emitted} == {1}
    assert sorted(driver.emitted, key=lambda d: d["window_start"]) == compute_windows(events)


def test_the_timing_refuses_negative_durations() -> None:
    with pytest.raises(ValueError, match="lateness"):
        WindowTiming(60, -1)
