"""Alerting: the metrics processor (the Lambda core), rules, pure evaluation, state in OpenSearch, notifications,
and the local Kinesis event source mapping that drives it."""

from __future__ import annotations

from opsanalytics.alerting.engine import AlertBatchReport, AlertEngine
from opsanalytics.alerting.evaluate import AlertState, Notification, Observation, advance, evaluate_windows
from opsanalytics.alerting.notify import (
    Notifier,
    OutboxNotifier,
    OutgoingMessage,
    SnsNotifier,
    messages_for,
    read_outbox,
)
from opsanalytics.alerting.rules import (
    AbsenceRule,
    AlertRule,
    AlertRuleError,
    DeviationRule,
    RuleSet,
    ThresholdRule,
    load_rules,
    parse_rules,
)
from opsanalytics.alerting.store import AlertStore

__all__ = [
    "AbsenceRule",
    "AlertBatchReport",
    "AlertEngine",
    "AlertRule",
    "AlertRuleError",
    "AlertState",
    "AlertStore",
    "DeviationRule",
    "Notification",
    "Notifier",
    "Observation",
    "OutboxNotifier",
    "OutgoingMessage",
    "RuleSet",
    "SnsNotifier",
    "ThresholdRule",
    "advance",
    "evaluate_windows",
    "load_rules",
    "messages_for",
    "parse_rules",
    "read_outbox",
]
