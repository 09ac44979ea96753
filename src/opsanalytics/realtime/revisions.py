"""Windows that update: when each window is emitted, what a late event does to it, and when its state goes.

The Flink job keeps one `WindowState` per window (owner, service, log group, window start) and asks this module
what to do; nothing here knows Flink, so the rules are unit-tested on their own. With ``end`` the last
millisecond of a window, ``L`` the allowed lateness and ``R`` how long a window's counts are kept after it:

- **first emission** when the watermark reaches ``end``: revision 1, the early result the alerts read;
- **an event at most L behind** (the watermark is past ``end`` but not past ``end + L``) is added to the window
  like any other, latencies and all, and the window is emitted again, corrected, with the next revision;
- **an event more than L behind** (watermark past ``end + L``) is counted in the window's ``late_events`` and
  the window is emitted again with the next revision; the window's latencies are no longer kept, so its
  percentiles stay as they were;
- **an event more than L + R behind** finds no state: it is counted in the job's ``eventsTooLate`` metric and
  logged with its window (the batch job, which reads the archive, still counts it).

Corrections are coalesced: the events of a window that arrive between two watermarks give one emission, at the
first watermark after them (a timer at ``watermark + 1``), not one per record. In batch mode (no watermark
until the input ends) every window is emitted once, as revision 1, equal to `compute_windows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from opsanalytics.realtime.windows import (
    DEFAULT_WINDOW_SECONDS,
    MetricWindow,
    WindowAccumulator,
    latency_summary,
)

DEFAULT_ALLOWED_LATENESS_SECONDS: Final = 300
DEFAULT_LATE_RETENTION_SECONDS: Final = 86_400
NO_WATERMARK: Final = -(2**63)
"""Flink's watermark before the first one (``Long.MIN_VALUE``)."""

Placement = Literal["window", "late", "too-late"]


@dataclass(frozen=True, slots=True)
class WindowTiming:
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    allowed_lateness_seconds: int = DEFAULT_ALLOWED_LATENESS_SECONDS
    late_retention_seconds: int = DEFAULT_LATE_RETENTION_SECONDS

    def __post_init__(self) -> None:
        if self.window_seconds < 1 or self.allowed_lateness_seconds < 0 or self.late_retention_seconds < 0:
            raise ValueError("window size must be >= 1 s, the allowed lateness and the retention >= 0 s")

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    def start(self, timestamp_ms: int) -> int:
        return timestamp_ms - timestamp_ms % self.window_ms

    def end(self, start_ms: int) -> int:
        """The window's last millisecond: its first emission fires when the watermark reaches it."""
        return start_ms + self.window_ms - 1

    def finalize_at(self, start_ms: int) -> int:
        return self.end(start_ms) + self.allowed_lateness_seconds * 1000

    def clear_at(self, start_ms: int) -> int:
        return self.finalize_at(start_ms) + self.late_retention_seconds * 1000

    def placement(self, start_ms: int, watermark: int) -> Placement:
        if watermark >= self.clear_at(start_ms):
            return "too-late"
        if watermark >= self.finalize_at(start_ms):
            return "late"
        return "window"


@dataclass(slots=True)
class WindowState:
    """What the job keeps of one window between events (one Flink value state: PyFlink keeps it as a Python
    object in its state cache and writes it back once per bundle, not once per row)."""

    acc: WindowAccumulator = field(default_factory=WindowAccumulator)
    revision: int = 0
    dirty: bool = False
    finalized: bool = False
    summary: tuple[float, float, float, float] | None = None
    """The latency summary frozen when the window was finalized (its latencies are then dropped)."""
    latencies: list[float] = field(default_factory=list)
    """The window's latencies until it is finalized."""


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """What one decoded row did: where its events went and the timers the window needs."""

    placement: Placement
    timers: tuple[int, ...] = ()


class Revisioned(Protocol):
    """What `place` and `fire` read and move of a window's state: `WindowState`, and the declared metrics'
    `opsanalytics.realtime.declared.DeclaredWindowState`."""

    revision: int
    dirty: bool
    finalized: bool


def place(state: Revisioned, timing: WindowTiming, start_ms: int, watermark: int, *, new: bool) -> tuple[int, ...]:
    """A row was added to the window (``new``: its state was just created): mark it for emission and return the
    timers it needs (its life for a new window; the correction at the next watermark once it was emitted)."""
    timers: list[int] = []
    if new:
        timers += [timing.end(start_ms), timing.finalize_at(start_ms), timing.clear_at(start_ms)]
    state.dirty = True
    if watermark >= timing.end(start_ms):
        timers.append(watermark + 1)
    return tuple(timers)


def fire(state: Revisioned, timing: WindowTiming, start_ms: int, timestamp: int) -> tuple[bool, bool, bool]:
    """A timer fired: (emit the next revision, finalize now, clear the state after this). Moves the revision."""
    emit = state.dirty and timestamp >= timing.end(start_ms)
    if emit:
        state.revision += 1
        state.dirty = False
    finalize = not state.finalized and timestamp >= timing.finalize_at(start_ms)
    return emit, finalize, timestamp >= timing.clear_at(start_ms)


def add_row(
    state: WindowState | None,
    timing: WindowTiming,
    start_ms: int,
    watermark: int,
    *,
    events: int,
    errors: int,
    latencies: Sequence[float] = (),
    signatures: Mapping[str, int] | None = None,
    samples: Iterable[tuple[int, str]] = (),
) -> tuple[WindowState | None, RowUpdate]:
    """Add a decoded row (a record's events of one window) to the window's state, as the module docstring says."""
    placement = timing.placement(start_ms, watermark)
    if placement == "too-late":
        return state, RowUpdate("too-late")
    new = state is None
    if state is None:
        state = WindowState()
    if placement == "late" or state.finalized:
        state.acc.late_events += events
    else:
        state.acc.add(events, errors, len(latencies), signatures, samples)
        state.latencies.extend(latencies)
    return state, RowUpdate(placement, place(state, timing, start_ms, watermark, new=new))


def on_timer(
    state: WindowState | None,
    timing: WindowTiming,
    key: tuple[str, str, str, int],
    timestamp: int,
) -> tuple[WindowState | None, MetricWindow | None]:
    """A timer of the window `key` (owner, service, log group, start) fired at `timestamp`: the state to keep
    (None: clear it) and the document to emit (None when nothing changed since the last one)."""
    if state is None:
        return None, None
    owner, service, log_group, start_ms = key
    document = None
    emit, finalize, clear = fire(state, timing, start_ms, timestamp)
    if emit:
        summary = state.summary if state.finalized else latency_summary(state.latencies)
        document = state.acc.document(
            owner,
            service,
            log_group,
            start_ms,
            latency=summary,
            revision=state.revision,
            window_seconds=timing.window_seconds,
        )
    if finalize:
        state.summary = latency_summary(state.latencies)
        state.finalized = True
        state.latencies = []
    if clear:
        return None, document
    return state, document
