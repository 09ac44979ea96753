"""Alert rules over realtime metric windows: rules, pure evaluation, state in OpenSearch, notifications."""

from __future__ import annotations

from .engine import AlertBatchReport, AlertEngine
from .evaluate import AlertState, Notification, Observation, advance, evaluate_windows
from .notify import Notifier, OutboxNotifier, OutgoingMessage, SnsNotifier, messages_for, read_outbox
from .rules import (
    AbsenceRule,
    AlertRule,
    AlertRuleError,
    DeviationRule,
    RuleSet,
    ThresholdRule,
    load_rules,
    parse_rules,
)
from .store import AlertStore

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
