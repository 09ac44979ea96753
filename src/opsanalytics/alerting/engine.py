"""Alert evaluation for a batch of metric windows: read history, evaluate, move each alert, notify.

The decisions are in `evaluate` (pure); this module only wires the ports together: windows and recent
services from `MetricsHistory`, alert states from `AlertStore`, messages out through a `Notifier`.
Notifications are sent only by the invocation whose conditional write moved the alert, and only after
that write succeeded; if sending fails the write is undone, so a retry of the batch sends them again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from opsanalytics.alerting.evaluate import (
    MINUTE_MS,
    Observation,
    WindowKey,
    advance,
    evaluate_absence,
    evaluate_windows,
    window_key,
    window_span_ms,
)
from opsanalytics.alerting.history import MetricsHistory
from opsanalytics.alerting.notify import Notifier, messages_for
from opsanalytics.alerting.rules import DECLARED_METRIC_PREFIX, AlertRule, RuleSet
from opsanalytics.alerting.store import AlertConflictError, AlertStore, StoredAlert
from opsanalytics.realtime.windows import MetricWindow
from opsanalytics.timestamps import parse_iso_ms

MAX_CONFLICT_RETRIES: Final = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class AlertBatchReport:
    """What evaluating one batch did, and what could not be done (so the caller can fail those records)."""

    observations: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    """Notifications by kind (firing, reminder, resolved), whether or not their severity routes anywhere."""
    messages: int = 0
    muted: int = 0
    """Notifications a maintenance window kept from being sent."""
    failed_keys: set[WindowKey] = field(default_factory=set)
    """Windows whose alerts could not be evaluated or notified."""
    failed_all: bool = False
    """Evaluation failed in a way not tied to particular windows (history unreadable, absence rules)."""
    errors: list[str] = field(default_factory=list)


class AlertEngine:
    def __init__(
        self,
        rules: RuleSet,
        history: MetricsHistory,
        store: AlertStore,
        notifier: Notifier,
        *,
        dashboard_url: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.rules = rules
        self.history = history
        self.store = store
        self.notifier = notifier
        self.dashboard_url = dashboard_url
        self._clock = clock

    def evaluate(self, windows: Sequence[MetricWindow]) -> AlertBatchReport:
        report = AlertBatchReport()
        if not windows or not self.rules.rules:
            return report
        observations: list[Observation] = []
        # declared metrics' documents (`opsanalytics.alerting.processor.alert_view`) feed their own rules only: no
        # history, no absence (a metric's group is no service that could go silent)
        declared = [w for w in windows if w["log_group"].startswith(DECLARED_METRIC_PREFIX)]
        windows = [w for w in windows if not w["log_group"].startswith(DECLARED_METRIC_PREFIX)]
        try:
            if self.rules.window_rules and windows:
                observations.extend(evaluate_windows(self.rules.window_rules, windows, self._history_for(windows)))
            if self.rules.declared_rules and declared:
                observations.extend(evaluate_windows(self.rules.declared_rules, declared, {}))
            if self.rules.absence_rules and windows:
                observations.extend(self._absence(windows))
        except Exception as exc:  # the cluster is unreachable or refused: the whole batch is retried
            report.failed_all = True
            report.errors.append(f"reading metric history failed: {type(exc).__name__}: {exc}")
            return report
        report.observations = len(observations)
        by_alert: dict[str, list[Observation]] = defaultdict(list)
        for observation in observations:
            by_alert[observation.alert_id].append(observation)
        notified_at = self._clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            stored = self.store.get_many(sorted(by_alert))
        except Exception as exc:
            report.failed_all = True
            report.errors.append(f"reading alert states failed: {type(exc).__name__}: {exc}")
            return report
        for alert_id, alert_observations in by_alert.items():
            rule = self.rules.by_id(alert_observations[0].rule_id)
            try:
                self._apply(rule, alert_observations, notified_at, report, stored.get(alert_id))
            except Exception as exc:
                dimensions = alert_observations[0].dimensions
                report.errors.append(f"alert {rule.id} {dict(dimensions)}: {type(exc).__name__}: {exc}")
                if "log_group" in dimensions:
                    report.failed_keys.add((dimensions["service"], dimensions["log_group"]))
                else:
                    report.failed_all = True
        return report

    def _history_for(self, windows: Sequence[MetricWindow]) -> dict[WindowKey, dict[int, MetricWindow]]:
        depth = self.rules.history_windows
        if depth == 0:
            return {}
        starts: dict[WindowKey, set[int]] = defaultdict(set)
        spans: dict[WindowKey, int] = {}
        owners: dict[WindowKey, set[str]] = defaultdict(set)
        for window in windows:
            key = window_key(window)
            starts[key].add(parse_iso_ms(window["window_start"]))
            spans[key] = window_span_ms(window)
            owners[key].add(str(window.get("owner") or ""))
        wanted: list[tuple[WindowKey, int]] = []
        for key, key_starts in starts.items():
            span = spans[key]
            first = min(key_starts) - depth * span
            wanted.extend((key, start) for start in range(first, max(key_starts), span) if start not in key_starts)
        return self.history.windows(wanted, owners)

    def _absence(self, windows: Sequence[MetricWindow]) -> list[Observation]:
        rules = self.rules.absence_rules
        now_ms = max(parse_iso_ms(w["window_end"]) for w in windows)
        last_seen = self.history.last_seen(
            now_ms,
            within_ms=int(max(rule.seen_within_minutes for rule in rules) * MINUTE_MS),
            recheck_older_than_ms=int(min(rule.minutes for rule in rules) * MINUTE_MS),
            span_ms=window_span_ms(windows[0]),
        )
        for window in windows:
            end_ms = parse_iso_ms(window["window_end"])
            last_seen[window["service"]] = max(last_seen.get(window["service"], end_ms), end_ms)
        observations = []
        for rule in rules:
            observations.extend(evaluate_absence(rule, last_seen, now_ms))
        return observations

    def _apply(
        self,
        rule: AlertRule,
        observations: list[Observation],
        notified_at: str,
        report: AlertBatchReport,
        prefetched: StoredAlert | None,
    ) -> None:
        alert_id = observations[0].alert_id
        for attempt in range(MAX_CONFLICT_RETRIES):
            stored = prefetched if attempt == 0 else self.store.get(alert_id)
            current = stored.state if stored is not None else None
            state, notifications = advance(current, observations, rule, notified_at)
            if state is None or state == current:
                return
            try:
                written = self.store.put(state, stored)
            except AlertConflictError:
                continue  # another invocation moved it: re-read and re-apply
            try:
                for notification in notifications:
                    service = str(notification.alert.dimensions.get("service", ""))
                    at_ms = notification.alert.notified_for_ms or notification.alert.last_seen_ms
                    if self.rules.muted(rule.id, service, at_ms) is not None:
                        report.muted += 1  # a maintenance window: the state moves, nobody is paged
                        continue
                    for message in messages_for(notification, self.dashboard_url):
                        self.notifier.deliver(message)
                        report.messages += 1
            except Exception:
                self.store.restore(stored, written)
                raise
            report.transitions.update(notification.kind for notification in notifications)
            try:
                self.store.record_history(state)
            except Exception as exc:  # the state is saved; the episode document catches up on its next change
                report.errors.append(f"alert {rule.id}: writing its history failed: {type(exc).__name__}: {exc}")
            return
        raise AlertConflictError(f"alert {alert_id} kept changing concurrently; giving up for this batch")
