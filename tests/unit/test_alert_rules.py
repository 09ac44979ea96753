"""Alert rules: loading and validation, pure evaluation of each rule type, the lifecycle, rendering."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsanalytics.alerting import AlertRuleError, advance, load_rules, messages_for, parse_rules
from opsanalytics.alerting.engine import AlertEngine
from opsanalytics.alerting.evaluate import (
    MINUTE_MS,
    AlertState,
    Notification,
    Observation,
    deviation_observations,
    evaluate_absence,
    evaluate_deviation,
    evaluate_threshold,
    evaluate_windows,
)
from opsanalytics.alerting.notify import SMS_MAX_CHARS, dashboard_links, render_sms, render_subject
from opsanalytics.alerting.rules import AbsenceRule, DeviationRule, ServiceSelector, ThresholdRule
from opsanalytics.realtime.windows import MetricWindow
from opsanalytics.timestamps import parse_iso_ms

START = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
RULES_FILE = Path(__file__).resolve().parents[2] / "config" / "alert-rules.yaml"


def window(minute: int, *, service: str = "checkout", events: int = 100, errors: int = 0, p95: float | None = 100.0):
    start = START + timedelta(minutes=minute)
    return MetricWindow(
        schema_version=1,
        record_type="metric_window",
        service=service,
        log_group=f"/aws/lambda/{service}",
        window_start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        window_end=(start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        events=events,
        errors=errors,
        error_rate=errors / events if events else 0.0,
        latency_count=events if p95 is not None else 0,
        latency_p50_ms=None if p95 is None else p95 / 2,
        latency_p95_ms=p95,
        latency_p99_ms=None if p95 is None else p95 * 1.5,
        latency_max_ms=None if p95 is None else p95 * 2,
        late_events=0,
    )


def series(windows: list[MetricWindow]) -> dict[int, MetricWindow]:
    return {parse_iso_ms(w["window_start"]): w for w in windows}


def start_ms(minute: int) -> int:
    return int((START + timedelta(minutes=minute)).timestamp() * 1000)


def rules_yaml(*rules: str) -> str:
    return "version: 1\nrules:\n" + "".join(rules)


ERROR_RULE = """
  - id: checkout-errors
    type: threshold
    severity: critical
    services: checkout
    metric: error_rate
    operator: ">"
    threshold: 0.05
    for: 3
"""


class TestLoading:
    def test_the_shipped_rule_file_loads(self) -> None:
        rules = load_rules(str(RULES_FILE))
        assert {rule.type for rule in rules.rules} == {"threshold", "deviation", "absence"}
        assert rules.source == str(RULES_FILE)

    def test_a_threshold_rule_is_parsed_with_defaults(self) -> None:
        (rule,) = parse_rules(rules_yaml(ERROR_RULE)).rules
        assert rule == ThresholdRule(
            id="checkout-errors",
            severity="critical",
            services=ServiceSelector(frozenset({"checkout"})),
            metric="error_rate",
            operator=">",
            threshold=0.05,
            for_windows=3,
            cooldown_minutes=60.0,
        )

    def test_services_may_be_a_list_or_all(self) -> None:
        text = rules_yaml(
            "  - {id: a, type: absence, severity: info, services: [x, y], minutes: 5}\n",
            "  - {id: b, type: absence, severity: info, services: all, minutes: 5}\n",
        )
        first, second = parse_rules(text).rules
        assert first.services.matches("x") and not first.services.matches("z")
        assert second.services.matches("anything")

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (('operator: ">"', 'operator: "=>"'), "rule 'checkout-errors': field 'operator': must be one of"),
            (("metric: error_rate", "metric: error_ratio"), "rule 'checkout-errors': field 'metric'"),
            (("threshold: 0.05", "threshold: high"), "rule 'checkout-errors': field 'threshold': must be a number"),
            (("for: 3", "for: 0"), "rule 'checkout-errors': field 'for': must be >= 1"),
            (("for: 3", "for: 2.5"), "rule 'checkout-errors': field 'for': must be a whole number"),
            (("severity: critical", "severity: urgent"), "rule 'checkout-errors': field 'severity'"),
            (("type: threshold", "type: thresold"), "rule 'checkout-errors': field 'type'"),
            (("threshold: 0.05", "treshold: 0.05"), "rule 'checkout-errors': field 'treshold': is not a field"),
            (("services: checkout", "services: []"), "rule 'checkout-errors': field 'services'"),
        ],
    )
    def test_mistakes_name_the_rule_and_field(self, change: tuple[str, str], expected: str) -> None:
        with pytest.raises(AlertRuleError) as raised:
            parse_rules(rules_yaml(ERROR_RULE.replace(*change)), "rules.yaml")
        assert expected in str(raised.value)
        assert "rules.yaml" in str(raised.value)

    def test_every_mistake_is_reported_at_once(self) -> None:
        text = rules_yaml(
            ERROR_RULE.replace("for: 3", "for: -1"),
            "  - id: silent\n    type: absence\n    severity: critical\n",
            "  - id: p95\n    type: deviation\n    severity: warning\n    metric: latency_p95_ms\n"
            "    method: zscore\n    alpha: 0.5\n    baseline_windows: 5\n    min_baseline: 8\n",
            ERROR_RULE,
        )
        with pytest.raises(AlertRuleError) as raised:
            parse_rules(text)
        problems = raised.value.problems
        assert any(p.startswith("rule 'checkout-errors': field 'for'") for p in problems)
        assert "rule 'silent': field 'minutes': is required" in problems
        assert any(p.startswith("rule 'p95': field 'alpha': applies to method ewma") for p in problems)
        assert any(p.startswith("rule 'p95': field 'min_baseline': must be <= baseline_windows") for p in problems)
        assert "rule 'checkout-errors': field 'id': is used by more than one rule" in problems

    def test_a_missing_id_is_named_by_position(self) -> None:
        with pytest.raises(AlertRuleError, match=r"rule #1: field 'id'"):
            parse_rules(rules_yaml("  - {type: absence, severity: info, minutes: 5}\n"))

    def test_bad_yaml_names_the_line(self) -> None:
        with pytest.raises(AlertRuleError, match=r"not valid YAML at line 3, column 10"):
            parse_rules("version: 1\nrules:\n  - id: a: b\n")

    def test_wrong_version_and_unknown_top_level_keys(self) -> None:
        with pytest.raises(AlertRuleError) as raised:
            parse_rules("version: 2\nrule: []\nrules: []\n")
        assert "top level: field 'version': must be 1, got 2" in raised.value.problems
        assert "top level: field 'rule': is not a known field" in raised.value.problems

    def test_a_missing_file_is_a_rule_error(self, tmp_path: Path) -> None:
        with pytest.raises(AlertRuleError, match="cannot read the rule file"):
            load_rules(str(tmp_path / "absent.yaml"))


class TestThreshold:
    rule = ThresholdRule(
        id="errors", severity="critical", services=ServiceSelector(), metric="error_rate", operator=">",
        threshold=0.05, for_windows=3, min_events=20,
    )  # fmt: skip

    def test_fires_only_after_n_consecutive_breaching_windows(self) -> None:
        windows = series([window(0, errors=10), window(1, errors=10), window(2, errors=10)])
        assert not evaluate_threshold(self.rule, windows, start_ms(1), MINUTE_MS).breaching  # type: ignore[union-attr]
        observation = evaluate_threshold(self.rule, windows, start_ms(2), MINUTE_MS)
        assert observation is not None and observation.breaching
        assert observation.value == 0.1 and observation.threshold == 0.05
        assert observation.at_ms == start_ms(3)
        assert observation.dimensions == {"service": "checkout", "log_group": "/aws/lambda/checkout"}

    def test_a_gap_or_a_quiet_window_breaks_the_run(self) -> None:
        gap = series([window(0, errors=10), window(2, errors=10), window(3, errors=10)])
        assert not evaluate_threshold(self.rule, gap, start_ms(3), MINUTE_MS).breaching  # type: ignore[union-attr]
        quiet = series([window(0, events=10, errors=5), window(1, errors=10), window(2, errors=10)])
        assert not evaluate_threshold(self.rule, quiet, start_ms(2), MINUTE_MS).breaching  # type: ignore[union-attr]

    def test_a_window_without_the_metric_gives_no_observation(self) -> None:
        rule = ThresholdRule(
            id="p95", severity="warning", services=ServiceSelector(), metric="latency_p95_ms", operator=">=",
            threshold=500,
        )  # fmt: skip
        assert evaluate_threshold(rule, series([window(0, p95=None)]), start_ms(0), MINUTE_MS) is None
        assert evaluate_threshold(rule, series([window(0, p95=500)]), start_ms(0), MINUTE_MS).breaching  # type: ignore[union-attr]

    def test_evaluate_windows_applies_each_rule_to_its_services_in_time_order(self) -> None:
        batch = [window(2, errors=10), window(1, errors=10), window(2, service="payments", errors=50)]
        history = {("checkout", "/aws/lambda/checkout"): series([window(0, errors=10)])}
        rule = replace(self.rule, services=ServiceSelector(frozenset({"checkout"})))
        observations = evaluate_windows([rule], batch, history)
        assert [(o.at_ms, o.breaching) for o in observations] == [(start_ms(2), False), (start_ms(3), True)]


def test_resolve_after_and_for_on_a_deviation_rule_load_and_deepen_the_history() -> None:
    rules = parse_rules(
        rules_yaml(
            """
  - id: p95
    type: deviation
    severity: warning
    metric: latency_p95_ms
    baseline_windows: 30
    min_baseline: 10
    for: 2
    resolve_after: 3
"""
        )
    )
    (rule,) = rules.rules
    assert isinstance(rule, DeviationRule) and (rule.for_windows, rule.resolve_after) == (2, 3)
    assert rules.history_windows == 2 * 30 + 1  # the older half tells which windows were anomalous
    with pytest.raises(AlertRuleError, match="rule 'p95': field 'resolve_after': must be >= 1"):
        parse_rules(rules_yaml("  - {id: p95, type: absence, severity: info, minutes: 5, resolve_after: 0}\n"))


class TestDeviation:
    def rule(self, **overrides: Any) -> DeviationRule:
        fields: dict[str, Any] = {
            "id": "p95", "severity": "warning", "services": ServiceSelector(), "metric": "latency_p95_ms",
            "method": "zscore", "baseline_windows": 10, "min_baseline": 5, "threshold": 3.0,
        }  # fmt: skip
        return DeviationRule(**{**fields, **overrides})

    def baseline(self, spike: float) -> dict[int, MetricWindow]:
        values = [100, 104, 96, 102, 98, 100, 101, 99, 103, 97]
        return series([window(m, p95=v) for m, v in enumerate(values)] + [window(10, p95=spike)])

    def test_zscore_flags_a_value_far_above_the_baseline(self) -> None:
        observation = evaluate_deviation(self.rule(), self.baseline(200), start_ms(10), MINUTE_MS)
        assert observation is not None and observation.breaching
        assert observation.snapshot["baseline_mean"] == pytest.approx(100.0)
        assert observation.threshold == pytest.approx(100 + 3 * observation.snapshot["baseline_stddev"])
        assert not evaluate_deviation(self.rule(), self.baseline(104), start_ms(10), MINUTE_MS).breaching  # type: ignore[union-attr]

    def test_direction_below_and_both(self) -> None:
        low = self.baseline(10)
        assert not evaluate_deviation(self.rule(), low, start_ms(10), MINUTE_MS).breaching  # type: ignore[union-attr]
        assert evaluate_deviation(self.rule(direction="below"), low, start_ms(10), MINUTE_MS).breaching  # type: ignore[union-attr]
        assert evaluate_deviation(self.rule(direction="both"), low, start_ms(10), MINUTE_MS).breaching  # type: ignore[union-attr]

    def test_ewma_follows_a_trend_the_mean_does_not(self) -> None:
        rising = series([window(m, p95=100 + 10 * m) for m in range(10)] + [window(10, p95=205)])
        ewma = evaluate_deviation(self.rule(method="ewma", alpha=0.5), rising, start_ms(10), MINUTE_MS)
        zscore = evaluate_deviation(self.rule(), rising, start_ms(10), MINUTE_MS)
        assert ewma is not None and zscore is not None
        assert ewma.snapshot["baseline_mean"] > zscore.snapshot["baseline_mean"]

    def test_no_observation_until_the_baseline_is_long_enough(self) -> None:
        short = series([window(m, p95=100) for m in range(6, 10)] + [window(10, p95=500)])
        assert evaluate_deviation(self.rule(), short, start_ms(10), MINUTE_MS) is None

    def test_a_flat_baseline_flags_any_change_and_stores_no_infinity(self) -> None:
        flat = series([window(m, p95=100) for m in range(10)] + [window(10, p95=101)])
        observation = evaluate_deviation(self.rule(), flat, start_ms(10), MINUTE_MS)
        assert observation is not None and observation.breaching

    def test_an_incident_is_not_its_own_baseline(self) -> None:
        """The demo's shape: p95 ~100 ms for 30 minutes, ~2,400 ms for six, back to ~100. Every incident window is
        breaching (the earlier ones do not feed the later ones' baseline) and the first one after it is clear."""
        rule = self.rule(baseline_windows=30, min_baseline=10, threshold=4)
        normal = [100 + (m * 7) % 9 - 4 for m in range(30)]
        values = [*normal, 2300, 2500, 2400, 2600, 2200, 2450, 101, 99, 103]
        windows = series([window(m, p95=v) for m, v in enumerate(values)])
        observations = deviation_observations(rule, windows, [start_ms(m) for m in range(30, 39)], MINUTE_MS)
        assert [o.breaching for o in observations] == [True] * 6 + [False] * 3
        assert "5 anomalous left out" in observations[5].detail
        # without leaving them out, the baseline takes the incident in and the alert resolves within it
        plain = [evaluate_deviation(rule, windows, start_ms(m), MINUTE_MS) for m in range(30, 36)]
        assert not all(o is not None and o.breaching for o in plain)

    def test_a_lasting_change_becomes_the_new_baseline(self) -> None:
        """Anomalous windows are left out only while min_baseline normal ones remain: then the new level is the
        baseline (after baseline_windows - min_baseline windows)."""
        rule = self.rule(baseline_windows=10, min_baseline=5, threshold=3)
        values = [100, 104, 96, 102, 98, 100, 101, 99, 103, 97] + [300 + m % 3 for m in range(12)]
        windows = series([window(m, p95=v) for m, v in enumerate(values)])
        observations = deviation_observations(rule, windows, [start_ms(m) for m in range(10, 22)], MINUTE_MS)
        flags = [o.breaching for o in observations]
        assert flags[:5] == [True] * 5 and not flags[-1]

    def test_for_needs_consecutive_deviating_windows(self) -> None:
        rule = self.rule(for_windows=2)
        values = [100, 104, 96, 102, 98, 100, 101, 99, 103, 97, 400, 100, 400, 400]
        windows = series([window(m, p95=v) for m, v in enumerate(values)])
        observations = deviation_observations(rule, windows, [start_ms(m) for m in range(10, 14)], MINUTE_MS)
        assert [o.breaching for o in observations] == [False, False, False, True]
        assert observations[0].detail.endswith("1 of 2 windows")


class TestAbsence:
    rule = AbsenceRule(id="silent", severity="critical", services=ServiceSelector(), minutes=5, seen_within_minutes=60)

    def test_a_recent_service_that_went_quiet_breaches(self) -> None:
        now = start_ms(30)
        last_seen = {"checkout": start_ms(29), "payments": start_ms(24), "gone": start_ms(-60)}
        observations = {o.dimensions["service"]: o for o in evaluate_absence(self.rule, last_seen, now)}
        assert set(observations) == {"checkout", "payments"}  # "gone" was not seen within the hour
        assert not observations["checkout"].breaching
        assert observations["payments"].breaching and observations["payments"].value == 6


class TestLifecycle:
    rule = ThresholdRule(
        id="errors", severity="critical", services=ServiceSelector(), metric="error_rate", operator=">",
        threshold=0.05, cooldown_minutes=30,
    )  # fmt: skip

    def observation(self, minute: int, breaching: bool) -> Observation:
        return Observation(
            rule_id="errors", dimensions={"service": "checkout", "log_group": "/aws/lambda/checkout"},
            at_ms=start_ms(minute), breaching=breaching, metric="error_rate", value=0.3 if breaching else 0.0,
            threshold=0.05, detail="error_rate", snapshot={},
        )  # fmt: skip

    def run(self, pattern: str) -> tuple[Any, list[Notification]]:
        """One observation a minute: '#' breaching, '.' clear."""
        state, sent = None, []
        for minute, mark in enumerate(pattern):
            state, notifications = advance(state, [self.observation(minute, mark == "#")], self.rule, "now")
            sent.extend(notifications)
        return state, sent

    def test_one_firing_and_one_resolved(self) -> None:
        state, sent = self.run("..#####..")
        assert [n.kind for n in sent] == ["firing", "resolved"]
        assert state.status == "resolved"
        assert state.first_seen_ms == start_ms(2) and state.last_seen_ms == start_ms(6)
        assert state.resolved_at_ms == start_ms(7)

    def test_a_reminder_only_after_the_cooldown(self) -> None:
        state, sent = self.run("#" * 65)
        assert [n.kind for n in sent] == ["firing", "reminder", "reminder"]
        assert state.reminder_count == 2

    def test_replayed_observations_change_nothing(self) -> None:
        state, _ = self.run("##")
        replayed, notifications = advance(state, [self.observation(0, True), self.observation(1, True)], self.rule, "x")
        assert replayed is state and notifications == []

    def test_clear_with_nothing_firing_creates_no_alert(self) -> None:
        assert advance(None, [self.observation(0, False)], self.rule, "now") == (None, [])

    def test_a_new_episode_after_resolution_fires_again(self) -> None:
        state, sent = self.run("##..##")
        assert [n.kind for n in sent] == ["firing", "resolved", "firing"]
        assert state.first_seen_ms == start_ms(4)

    def test_resolve_after_needs_clear_observations_in_a_row_and_resolves_with_the_current_value(self) -> None:
        rule = replace(self.rule, resolve_after=2)
        state, sent = None, []
        for minute, mark in enumerate("###.#..#"):
            state, notifications = advance(state, [self.observation(minute, mark == "#")], rule, "now")
            sent.extend(notifications)
        # one clear window (minute 3) does not resolve; two in a row (5, 6) do; 7 opens a new episode
        assert [(n.kind, n.alert.evaluated_until_ms) for n in sent] == [
            ("firing", start_ms(0)),
            ("resolved", start_ms(6)),
            ("firing", start_ms(7)),
        ]
        resolved = sent[1].alert
        assert resolved.value == 0.0 and resolved.clear_since_ms == start_ms(5) and resolved.clear_streak == 2
        assert resolved.last_seen_ms == start_ms(4)
        email = messages_for(sent[1])[-1].body
        assert "Value:      0 (threshold 0.05)" in email
        assert "Back:       within the rule since 2026-01-01T10:05:00Z (2 clear observations in a row)" in email

    def test_the_state_keeps_the_clear_count_across_batches(self) -> None:
        rule = replace(self.rule, resolve_after=3)
        state, _ = advance(None, [self.observation(0, True)], rule, "now")
        state, sent = advance(state, [self.observation(1, False)], rule, "now")
        assert sent == [] and state is not None and state.status == "firing"
        stored = AlertState.from_document(state.to_document())
        assert (stored.clear_streak, stored.clear_since_ms) == (1, start_ms(1))
        state, sent = advance(stored, [self.observation(2, False), self.observation(3, False)], rule, "now")
        assert [n.kind for n in sent] == ["resolved"] and state is not None and state.resolved_at_ms == start_ms(3)


class TestRendering:
    def notification(self, severity: str, kind: str = "firing") -> Notification:
        rule = ThresholdRule(
            id="checkout-error-rate-with-a-rather-long-identifier", severity=severity, services=ServiceSelector(),  # type: ignore[arg-type]
            metric="error_rate", operator=">", threshold=0.05, description="Checkout fails → too often",
        )  # fmt: skip
        observation = Observation(
            rule_id=rule.id, dimensions={"service": "checkout-service-with-a-long-name", "log_group": "/ecs/x"},
            at_ms=start_ms(3), breaching=True, metric="error_rate", value=0.3127, threshold=0.05,
            detail="error_rate 0.3127 (rule: > 0.05)", snapshot=dict(window(2, errors=31)),
        )  # fmt: skip
        state, _ = advance(None, [observation], rule, "2026-01-01T10:03:05Z")
        return Notification(kind, state)  # type: ignore[arg-type]

    def test_routing_by_severity(self) -> None:
        assert [m.channel for m in messages_for(self.notification("critical"))] == ["sms", "email"]
        assert [m.channel for m in messages_for(self.notification("warning"))] == ["email"]
        assert messages_for(self.notification("info")) == []

    def test_sms_fits_140_characters_and_subject_is_short_ascii(self) -> None:
        for kind in ("firing", "reminder", "resolved"):
            notification = self.notification("critical", kind)
            assert len(render_sms(notification)) <= SMS_MAX_CHARS
            subject = render_subject(notification)
            assert len(subject) < 100 and subject.isascii() and "\n" not in subject

    def test_email_says_what_where_value_since_and_links_the_dashboard(self) -> None:
        (email,) = [
            m for m in messages_for(self.notification("critical"), "https://dash/alerts") if m.channel == "email"
        ]
        assert "service=checkout-service-with-a-long-name" in email.body
        assert "0.3127 (threshold 0.05)" in email.body
        assert "Since:      2026-01-01T10:03:00Z" in email.body
        assert "https://dash/alerts" in email.body
        assert email.attributes == {"severity": "critical", "alert_state": "firing"}

    def test_email_quotes_the_windows_errors_and_lines_and_links_the_episodes_time_range(self) -> None:
        notification = self.notification("warning")
        snapshot = {
            **notification.alert.snapshot,
            "error_signatures": [
                {"signature": "Timeout calling payment gateway after <n> ms", "count": 12},
                {"signature": "KeyError: 'customer_id' while handling order <uuid>", "count": 3},
            ],
            "samples": ["Timeout calling payment gateway after 5012 ms (order 1f0e)", "KeyError: 'customer_id'"],
        }
        alert = replace(notification.alert, snapshot=snapshot)
        (email,) = messages_for(Notification("firing", alert), "https://search-logs.example.com/_dashboards")
        body = email.body
        assert "Top errors: 12 x Timeout calling payment gateway after <n> ms" in body
        assert "            3 x KeyError: 'customer_id' while handling order <uuid>" in body
        assert "Lines:      Timeout calling payment gateway after 5012 ms (order 1f0e)" in body
        window = "_g=(time:(from:'2026-01-01T09:33:00Z',to:'2026-01-01T10:18:00Z'))"
        assert (
            "Dashboard:  https://search-logs.example.com/_dashboards/app/dashboards#/view/opsanalytics-dashboard-alerts?"
            + window
        ) in body
        logs = next(line for line in body.splitlines() if line.startswith("Log lines:"))
        assert logs.startswith(
            "Log lines:  https://search-logs.example.com/_dashboards/app/dashboards#/view/opsanalytics-dashboard-log-lines?"
            + window
        )
        assert "service:%22checkout-service-with-a-long-name%22" in logs
        # a dashboard URL of its own gets the time range; the local page is linked as it is
        given = dashboard_links("https://dash/app/dashboards#/view/mine", alert)
        assert given == [("Dashboard:", f"https://dash/app/dashboards#/view/mine?{window}")]
        assert dashboard_links("file:///tmp/demo/dashboard.html", alert) == [
            ("Dashboard:", "file:///tmp/demo/dashboard.html")
        ]
        assert dashboard_links(None, alert) == []


def test_the_self_tests_rule_id_is_reserved() -> None:
    text = """
version: 1
rules:
  - id: pipeline-self-test
    type: absence
    severity: warning
    minutes: 5
"""
    with pytest.raises(AlertRuleError, match="built-in rule of opsanalytics verify"):
        parse_rules(text, "rules.yaml")


MAINTENANCE_RULES = """
version: 1
rules:
  - id: checkout-errors
    type: threshold
    severity: critical
    services: checkout
    metric: error_rate
    operator: ">"
    threshold: 0.05
    runbook_url: https://wiki.example.com/runbooks/checkout-errors
    labels: {team: payments, tier: 1}
maintenance:
  - from: 2026-01-01T10:00:00Z
    to: "2026-01-01T10:05:00Z"
    services: checkout
    reason: database failover
"""


class _History:
    def __init__(self) -> None:
        self.stored: dict[Any, MetricWindow] = {}

    def windows(self, wanted: Any, owners: Any = None) -> dict[Any, dict[int, MetricWindow]]:
        found: dict[Any, dict[int, MetricWindow]] = {}
        for key, start in wanted:
            if (key, start) in self.stored:
                found.setdefault(key, {})[start] = self.stored[(key, start)]
        return found

    def last_seen(self, *args: Any, **kwargs: Any) -> dict[str, int]:
        return {}


class _Store:
    def __init__(self) -> None:
        self.states: dict[str, Any] = {}

    def get_many(self, ids: list[str]) -> dict[str, Any]:
        return {i: self.states[i] for i in ids if i in self.states}

    def get(self, alert_id: str) -> Any:
        return self.states.get(alert_id)

    def put(self, state: AlertState, stored: Any) -> None:
        from types import SimpleNamespace

        self.states[state.alert_id] = SimpleNamespace(state=state)

    def restore(self, *args: Any) -> None: ...

    def record_history(self, state: AlertState) -> None: ...


class _Outbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def deliver(self, message: Any) -> None:
        self.messages.append(message)


def test_runbook_labels_and_a_maintenance_window_that_pages_nobody() -> None:
    rules = parse_rules(MAINTENANCE_RULES, "rules.yaml")
    (rule,) = rules.rules
    assert rule.runbook_url.startswith("https://wiki") and rule.labels == (("team", "payments"), ("tier", "1"))
    (window_,) = rules.maintenance
    assert (window_.start_ms, window_.end_ms, window_.reason) == (start_ms(0), start_ms(5), "database failover")
    engine = AlertEngine(rules, _History(), _Store(), _Outbox())  # type: ignore[arg-type]
    outbox = engine.notifier
    # fires inside the maintenance window (10:02): recorded, nobody paged; resolves at 10:07: that is sent
    first = engine.evaluate([window(1, errors=30)])
    assert first.transitions["firing"] == 1 and first.muted == 1 and outbox.messages == []  # type: ignore[attr-defined]
    engine.evaluate([window(6, errors=0)])
    (email, *_) = [m for m in outbox.messages if m.channel == "email"]  # type: ignore[attr-defined]
    assert email.kind == "resolved"
    assert "Labels:     team=payments, tier=1" in email.body
    assert "Runbook:    https://wiki.example.com/runbooks/checkout-errors" in email.body


def test_maintenance_and_runbook_mistakes_are_named() -> None:
    text = MAINTENANCE_RULES.replace("https://wiki", "wiki").replace(
        "reason: database failover", "rules: [nope]\n    colour: red"
    )
    text = text.replace('to: "2026-01-01T10:05:00Z"', "to: 2026-01-01T09:00:00Z")
    with pytest.raises(AlertRuleError) as error:
        parse_rules(text, "rules.yaml")
    message = str(error.value)
    for expected in (
        "rule 'checkout-errors': field 'runbook_url': must be an http(s) URL",
        "maintenance #1: field 'to': must be after from",
        "maintenance #1: field 'rules': names no rule of this file: 'nope'",
        "maintenance #1: field 'colour': is not a field of a maintenance window",
    ):
        assert expected in message, expected
