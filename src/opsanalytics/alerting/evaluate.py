"""Pure alert evaluation: rules over metric windows give observations; observations move an alert's lifecycle.

Nothing here reads a clock or the network. The caller gives the windows of a batch, the history those
windows need (earlier windows of the same ``service`` and ``log_group``) and, for absence rules, when each
service was last seen and the event-time "now" (the newest window end of the batch).

The lifecycle of one alert (one rule and one set of dimensions, so one deterministic alert id):

- a breaching observation with no alert, or a resolved one, opens an episode: state ``firing`` and a
  ``firing`` notification;
- further breaching observations update ``last_seen`` and the value, and give a ``reminder`` once
  ``cooldown_minutes`` of event time have passed since the last notification;
- clear observations while firing count towards the rule's ``resolve_after`` (a breaching one starts the count
  again); the one that reaches it resolves the alert: state ``resolved``, exactly one ``resolved``
  notification, and the state carries the value that cleared it;
- observations at or before ``evaluated_until`` were already applied and are ignored, so the same batch
  processed twice changes nothing and notifies nobody twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from opsanalytics.alerting.rules import AbsenceRule, AlertRule, DeviationRule, Severity, ThresholdRule
from opsanalytics.realtime.windows import MetricWindow
from opsanalytics.timestamps import iso_utc, parse_iso_ms

ALERT_SCHEMA_VERSION: Final = 1
MINUTE_MS: Final = 60_000

WindowKey = tuple[str, str]
"""(service, log_group): the dimensions of a metric window."""
WindowSeries = Mapping[int, MetricWindow]
"""The windows of one key by ``window_start`` in epoch milliseconds."""
AlertStatus = Literal["firing", "resolved"]
NotificationKind = Literal["firing", "reminder", "resolved"]


def window_key(window: MetricWindow) -> WindowKey:
    return window["service"], window["log_group"]


def window_span_ms(window: MetricWindow) -> int:
    """``window_end - window_start`` in milliseconds (60 000 for the default tumbling windows)."""
    return parse_iso_ms(window["window_end"]) - parse_iso_ms(window["window_start"])


def alert_id(rule_id: str, dimensions: Mapping[str, str]) -> str:
    """The deterministic id of the alert of ``rule_id`` for ``dimensions``: one alert per pair."""
    key = json.dumps([rule_id, sorted(dimensions.items())], separators=(",", ":"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one rule says about one set of dimensions at one point in event time."""

    rule_id: str
    dimensions: Mapping[str, str]
    at_ms: int
    """The evaluation point: the evaluated window's end, or "now" for absence."""
    breaching: bool
    metric: str
    value: float | None
    threshold: float | None
    detail: str
    snapshot: Mapping[str, Any] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        return alert_id(self.rule_id, self.dimensions)


def _value(window: MetricWindow, metric: str) -> float | None:
    value = window.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _compare(value: float, operator: str, threshold: float) -> bool:
    if operator == ">":
        return value > threshold
    if operator == ">=":
        return value >= threshold
    if operator == "<":
        return value < threshold
    if operator == "<=":
        return value <= threshold
    if operator == "==":
        return value == threshold
    return value != threshold


def _dimensions(window: MetricWindow) -> dict[str, str]:
    return {"service": window["service"], "log_group": window["log_group"]}


def evaluate_threshold(rule: ThresholdRule, series: WindowSeries, start_ms: int, span_ms: int) -> Observation | None:
    """The rule at the window starting ``start_ms``: breaching when it and the ``for - 1`` windows before it
    all hold. None when that window has no value for the metric (no latencies, say)."""
    current = series.get(start_ms)
    if current is None:
        return None
    value = _value(current, rule.metric)
    if value is None:
        return None

    def holds(window: MetricWindow | None) -> bool:
        if window is None or window["events"] < rule.min_events:
            return False
        found = _value(window, rule.metric)
        return found is not None and _compare(found, rule.operator, rule.threshold)

    breaching = all(holds(series.get(start_ms - k * span_ms)) for k in range(rule.for_windows))
    span = f" for {rule.for_windows} windows" if rule.for_windows > 1 else ""
    return Observation(
        rule_id=rule.id,
        dimensions=_dimensions(current),
        at_ms=start_ms + span_ms,
        breaching=breaching,
        metric=rule.metric,
        value=value,
        threshold=rule.threshold,
        detail=f"{rule.metric} {format_value(value)} (rule: {rule.operator} {format_value(rule.threshold)}{span})",
        snapshot=dict(current),
    )


def baseline_of(values: Sequence[float], method: str, alpha: float) -> tuple[float, float]:
    """(centre, standard deviation) of ``values`` (oldest first): population mean and standard deviation,
    or the exponentially weighted mean and variance with smoothing ``alpha``."""
    if method == "zscore":
        return statistics.fmean(values), statistics.pstdev(values)
    mean, variance = values[0], 0.0
    for value in values[1:]:
        delta = value - mean
        increment = alpha * delta
        mean += increment
        variance = (1 - alpha) * (variance + delta * increment)
    return mean, math.sqrt(variance)


def evaluate_deviation(
    rule: DeviationRule,
    series: WindowSeries,
    start_ms: int,
    span_ms: int,
    anomalous: AbstractSet[int] = frozenset(),
) -> Observation | None:
    """The window starting ``start_ms`` against the ``baseline_windows`` windows before it, those in
    ``anomalous`` (window starts) left out while at least ``min_baseline`` others remain. None while the
    baseline has fewer than ``min_baseline`` usable windows, or the window has no value."""
    current = series.get(start_ms)
    if current is None:
        return None
    value = _value(current, rule.metric)
    if value is None:
        return None
    usable: list[tuple[int, float]] = []
    for k in range(rule.baseline_windows, 0, -1):
        window = series.get(start_ms - k * span_ms)
        if window is None or window["events"] < rule.min_events:
            continue
        found = _value(window, rule.metric)
        if found is not None:
            usable.append((start_ms - k * span_ms, found))
    history = [found for start, found in usable if start not in anomalous]
    left_out = len(usable) - len(history)
    if len(history) < rule.min_baseline:  # too few normal windows left: the anomaly has become the level
        history, left_out = [found for _, found in usable], 0
    if len(history) < rule.min_baseline:
        return None
    centre, spread = baseline_of(history, rule.method, rule.alpha)
    if spread > 0:
        score = (value - centre) / spread
    else:  # a flat baseline: any change is infinitely many deviations away
        score = 0.0 if value == centre else math.copysign(math.inf, value - centre)
    if rule.direction == "above":
        breaching, bound = score >= rule.threshold, centre + rule.threshold * spread
    elif rule.direction == "below":
        breaching, bound = score <= -rule.threshold, centre - rule.threshold * spread
    else:
        breaching = abs(score) >= rule.threshold
        bound = centre + math.copysign(rule.threshold * spread, value - centre)
    if current["events"] < rule.min_events:
        breaching = False
    without = f", {left_out} anomalous left out" if left_out else ""
    detail = (
        f"{rule.metric} {format_value(value)} vs baseline {format_value(centre)} "
        f"± {format_value(spread)} ({rule.method}, {len(history)} windows{without}): {format_value(score)} σ"
    )
    return Observation(
        rule_id=rule.id,
        dimensions=_dimensions(current),
        at_ms=start_ms + span_ms,
        breaching=breaching,
        metric=rule.metric,
        value=value,
        threshold=bound,
        detail=detail,
        snapshot={**current, "baseline_mean": centre, "baseline_stddev": spread, "score": score},
    )


def deviation_observations(
    rule: DeviationRule, series: WindowSeries, starts: Iterable[int], span_ms: int
) -> list[Observation]:
    """The rule at each of ``starts``, with the series walked in time order from its oldest window: a window
    that deviates joins the anomalous windows the later baselines leave out, so an incident is compared with
    what came before it, not with itself. Breaching needs ``for`` consecutive deviating windows."""
    wanted = set(starts)
    anomalous: set[int] = set()
    observations: list[Observation] = []
    streak, previous = 0, None
    for start in sorted(series):
        observation = evaluate_deviation(rule, series, start, span_ms, anomalous)
        deviating = observation is not None and observation.breaching
        if deviating:
            anomalous.add(start)
            streak = streak + 1 if previous == start - span_ms else 1
            previous = start
        else:
            streak, previous = 0, None
        if observation is None or start not in wanted:
            continue
        if deviating and streak < rule.for_windows:
            observation = replace(
                observation,
                breaching=False,
                detail=f"{observation.detail}; {streak} of {rule.for_windows} windows",
            )
        observations.append(observation)
    return observations


def evaluate_absence(rule: AbsenceRule, last_seen: Mapping[str, int], now_ms: int) -> list[Observation]:
    """One observation per service of the rule seen within ``seen_within_minutes`` before ``now_ms``:
    breaching when its newest window ended ``minutes`` or more before ``now_ms``. ``last_seen`` maps a
    service to the end of its newest window (epoch ms)."""
    observations = []
    for service, last_ms in sorted(last_seen.items()):
        gap_minutes = (now_ms - last_ms) / MINUTE_MS
        if not rule.services.matches(service) or gap_minutes > rule.seen_within_minutes:
            continue
        observations.append(
            Observation(
                rule_id=rule.id,
                dimensions={"service": service},
                at_ms=now_ms,
                breaching=gap_minutes >= rule.minutes,
                metric="minutes_since_last_window",
                value=max(gap_minutes, 0.0),
                threshold=rule.minutes,
                detail=f"no metric window for {format_value(max(gap_minutes, 0.0))} min "
                f"(rule: {format_value(rule.minutes)} min); last window ended {iso_utc(last_ms)}",
                snapshot={"service": service, "last_window_end": iso_utc(last_ms), "evaluated_at": iso_utc(now_ms)},
            )
        )
    return observations


def merge_series(history: WindowSeries | None, windows: Iterable[MetricWindow]) -> dict[int, MetricWindow]:
    """History of one key with the batch's windows on top (the batch's are the newest versions)."""
    merged = dict(history or {})
    for window in windows:
        merged[parse_iso_ms(window["window_start"])] = window
    return merged


def evaluate_windows(
    rules: Sequence[AlertRule],
    windows: Sequence[MetricWindow],
    history: Mapping[WindowKey, WindowSeries],
) -> list[Observation]:
    """Every threshold and deviation rule at every window of the batch, in event-time order."""
    by_key: dict[WindowKey, list[MetricWindow]] = {}
    for window in windows:
        by_key.setdefault(window_key(window), []).append(window)
    observations: list[Observation] = []
    for key, key_windows in by_key.items():
        series = merge_series(history.get(key), key_windows)
        starts = sorted({parse_iso_ms(w["window_start"]) for w in key_windows})
        span_ms = window_span_ms(key_windows[0])
        for rule in rules:
            if isinstance(rule, AbsenceRule) or not rule.services.matches(key[0]):
                continue
            if isinstance(rule, DeviationRule):
                observations.extend(deviation_observations(rule, series, starts, span_ms))
                continue
            for start_ms in starts:
                observation = evaluate_threshold(rule, series, start_ms, span_ms)
                if observation is not None:
                    observations.append(observation)
    observations.sort(key=lambda o: (o.at_ms, o.rule_id, sorted(o.dimensions.items())))
    return observations


@dataclass(frozen=True, slots=True)
class AlertState:
    """The lifecycle document of one alert (see the module docstring)."""

    alert_id: str
    rule_id: str
    rule_type: str
    severity: Severity
    dimensions: Mapping[str, str]
    status: AlertStatus
    metric: str
    value: float | None
    threshold: float | None
    detail: str
    snapshot: Mapping[str, Any]
    first_seen_ms: int
    last_seen_ms: int
    evaluated_until_ms: int
    notified_for_ms: int | None = None
    """Event time of the last notification (reminders count their cooldown from it)."""
    notified_at: str | None = None
    """Wall-clock time the last notification was sent (ISO-8601 UTC)."""
    resolved_at_ms: int | None = None
    reminder_count: int = 0
    description: str = ""
    clear_streak: int = 0
    """Clear observations in a row while firing (the rule's ``resolve_after`` resolves it)."""
    clear_since_ms: int | None = None
    """When the current run of clear observations began: how long the metric has been back."""
    runbook_url: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def episode_id(self) -> str:
        """One firing episode of the alert: the alert id and when the episode started."""
        return hashlib.sha256(f"{self.alert_id}\x1f{self.first_seen_ms}".encode()).hexdigest()[:40]

    def to_document(self) -> dict[str, Any]:
        return {
            "schema_version": ALERT_SCHEMA_VERSION,
            "record_type": "alert",
            "alert_id": self.alert_id,
            "episode_id": self.episode_id,
            "rule_id": self.rule_id,
            "rule_type": self.rule_type,
            "severity": self.severity,
            "state": self.status,
            "dimensions": dict(self.dimensions),
            "metric": self.metric,
            "value": _finite(self.value),
            "threshold": _finite(self.threshold),
            "message": self.detail,
            "description": self.description,
            "snapshot": {key: _finite(value) for key, value in self.snapshot.items()},
            "first_seen": iso_utc(self.first_seen_ms),
            "last_seen": iso_utc(self.last_seen_ms),
            "evaluated_until": iso_utc(self.evaluated_until_ms),
            "notified_for": iso_utc(self.notified_for_ms) if self.notified_for_ms is not None else None,
            "notified_at": self.notified_at,
            "resolved_at": iso_utc(self.resolved_at_ms) if self.resolved_at_ms is not None else None,
            "reminder_count": self.reminder_count,
            "clear_streak": self.clear_streak,
            "clear_since": iso_utc(self.clear_since_ms) if self.clear_since_ms is not None else None,
            "runbook_url": self.runbook_url,
            "labels": dict(self.labels),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> AlertState:
        def optional_ms(name: str) -> int | None:
            value = doc.get(name)
            return parse_iso_ms(value) if isinstance(value, str) else None

        return cls(
            alert_id=doc["alert_id"],
            rule_id=doc["rule_id"],
            rule_type=doc.get("rule_type", ""),
            severity=doc["severity"],
            dimensions=dict(doc.get("dimensions") or {}),
            status=doc["state"],
            metric=doc.get("metric", ""),
            value=doc.get("value"),
            threshold=doc.get("threshold"),
            detail=doc.get("message", ""),
            snapshot=dict(doc.get("snapshot") or {}),
            first_seen_ms=parse_iso_ms(doc["first_seen"]),
            last_seen_ms=parse_iso_ms(doc["last_seen"]),
            evaluated_until_ms=parse_iso_ms(doc["evaluated_until"]),
            notified_for_ms=optional_ms("notified_for"),
            notified_at=doc.get("notified_at"),
            resolved_at_ms=optional_ms("resolved_at"),
            reminder_count=int(doc.get("reminder_count") or 0),
            description=doc.get("description", ""),
            clear_streak=int(doc.get("clear_streak") or 0),
            clear_since_ms=optional_ms("clear_since"),
            runbook_url=doc.get("runbook_url") or "",
            labels=dict(doc.get("labels") or {}),
        )


def _finite(value: Any) -> Any:
    """JSON has no infinity: a flat baseline's infinite score is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to send about an alert: it started firing, still fires after the cooldown, or resolved."""

    kind: NotificationKind
    alert: AlertState


def advance(
    state: AlertState | None,
    observations: Sequence[Observation],
    rule: AlertRule,
    notified_at: str,
) -> tuple[AlertState | None, list[Notification]]:
    """Apply ``observations`` of one alert (oldest first) to its ``state``; return the new state and the
    notifications due. ``notified_at`` is the wall-clock time stamped on the notifications sent now.
    Returns ``state`` itself when nothing changed (no new observation, or clear with nothing firing)."""
    notifications: list[Notification] = []
    cooldown_ms = int(rule.cooldown_minutes * MINUTE_MS)
    for observation in sorted(observations, key=lambda o: o.at_ms):
        if state is not None and observation.at_ms <= state.evaluated_until_ms:
            continue  # already applied: a replay or a concurrent invocation got here first
        firing = state is not None and state.status == "firing"
        if not observation.breaching:
            if state is not None and firing:
                # the state carries the value that cleared it, not the last firing one
                state = replace(
                    state,
                    evaluated_until_ms=observation.at_ms,
                    value=observation.value,
                    threshold=observation.threshold,
                    detail=observation.detail,
                    snapshot=dict(observation.snapshot),
                    clear_streak=state.clear_streak + 1,
                    clear_since_ms=state.clear_since_ms if state.clear_streak else observation.at_ms,
                )
                if state.clear_streak >= rule.resolve_after:
                    state = replace(
                        state,
                        status="resolved",
                        resolved_at_ms=observation.at_ms,
                        notified_for_ms=observation.at_ms,
                        notified_at=notified_at,
                    )
                    notifications.append(Notification("resolved", state))
            continue
        if state is None or not firing:
            state = AlertState(
                alert_id=observation.alert_id,
                rule_id=rule.id,
                rule_type=rule.type,
                severity=rule.severity,
                dimensions=dict(observation.dimensions),
                status="firing",
                metric=observation.metric,
                value=observation.value,
                threshold=observation.threshold,
                detail=observation.detail,
                snapshot=dict(observation.snapshot),
                first_seen_ms=observation.at_ms,
                last_seen_ms=observation.at_ms,
                evaluated_until_ms=observation.at_ms,
                notified_for_ms=observation.at_ms,
                notified_at=notified_at,
                description=rule.description,
                runbook_url=rule.runbook_url,
                labels=dict(rule.labels),
            )
            notifications.append(Notification("firing", state))
            continue
        state = replace(
            state,
            last_seen_ms=observation.at_ms,
            evaluated_until_ms=observation.at_ms,
            value=observation.value,
            threshold=observation.threshold,
            detail=observation.detail,
            snapshot=dict(observation.snapshot),
            clear_streak=0,
            clear_since_ms=None,
        )
        last_notified = state.notified_for_ms if state.notified_for_ms is not None else state.first_seen_ms
        if observation.at_ms - last_notified >= cooldown_ms:
            state = replace(
                state,
                notified_for_ms=observation.at_ms,
                notified_at=notified_at,
                reminder_count=state.reminder_count + 1,
            )
            notifications.append(Notification("reminder", state))
    return state, notifications
