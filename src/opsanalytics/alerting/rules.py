"""Alert rules: the models, the YAML loader and its validation.

Rules are a versioned YAML file (``config/alert-rules.yaml``; ``ALERT_RULES`` names a path or an
``s3://bucket/key``). Three rule types, each with an ``id``, a ``severity`` (critical | warning | info), the
``services`` it applies to (one name, a list, or ``all``), an optional ``cooldown_minutes`` (how long a
firing alert waits before a reminder, default 60) and ``resolve_after`` (how many clear observations in a row
resolve a firing alert, default 1; more keeps a flapping metric from paging again and again):

``threshold``
    ``metric`` (any numeric window field, or ``declared.<id>``: the value of a declared metric of
    ``config/metrics.yaml``, per service and group) ``operator`` (> >= < <= == !=) ``threshold``, true for
    ``for`` consecutive windows (default 1); ``min_events`` skips windows with too little traffic (for a declared
    metric: too few events counted).
``deviation``
    the window's ``metric`` against its own recent baseline: ``method`` zscore (mean and standard deviation
    of the previous ``baseline_windows`` windows) or ewma (exponentially weighted, smoothing ``alpha``);
    fires when the value is ``threshold`` standard deviations ``direction`` (above | below | both) the
    baseline, for ``for`` consecutive windows (default 1), once at least ``min_baseline`` windows of baseline
    exist. Windows that were anomalous themselves are left out of the baseline, so an incident does not
    become its own baseline; when fewer than ``min_baseline`` normal windows remain, the baseline takes them
    all again (a new normal is learned after ``baseline_windows - min_baseline`` windows).
``absence``
    a service that sent windows within the last ``seen_within_minutes`` but none for ``minutes``.

Validation happens at load time and names the rule and the field of every mistake at once
(`AlertRuleError`); unknown keys are mistakes too, so a typo never silently disables a condition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

import yaml

from opsanalytics.realtime.windows import NUMERIC_FIELDS
from opsanalytics.settings import ConfigFileError
from opsanalytics.storage import read_config_text
from opsanalytics.timestamps import parse_iso_ms

RULES_SCHEMA_VERSION: Final = 1
DEFAULT_COOLDOWN_MINUTES: Final = 60.0

Severity = Literal["critical", "warning", "info"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
Operator = Literal[">", ">=", "<", "<=", "==", "!="]
OPERATORS: Final[tuple[Operator, ...]] = get_args(Operator)
DeviationMethod = Literal["zscore", "ewma"]
DEVIATION_METHODS: Final[tuple[DeviationMethod, ...]] = get_args(DeviationMethod)
Direction = Literal["above", "below", "both"]
DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)


_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
DECLARED_METRIC_PREFIX: Final = "declared."
DECLARED_METRIC: Final = re.compile(r"^declared\.[A-Za-z0-9_-]+$")
"""A threshold rule's ``metric`` naming a declared metric (`opsanalytics.realtime.declared`) by its id."""
_ALL_SERVICES: Final = ("all", "*")
_COMMON_KEYS: Final = frozenset(
    {"id", "type", "description", "severity", "services", "cooldown_minutes", "resolve_after", "runbook_url", "labels"}
)
MAX_LABELS: Final = 10
_TYPE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "threshold": frozenset({"metric", "operator", "threshold", "for", "min_events"}),
    "deviation": frozenset(
        {"metric", "method", "baseline_windows", "min_baseline", "threshold", "direction", "alpha", "min_events", "for"}
    ),
    "absence": frozenset({"minutes", "seen_within_minutes"}),
}


class AlertRuleError(ConfigFileError):
    """The rule file is invalid. ``problems`` lists every mistake, each naming the rule id and field."""

    what = "alert rules"


SELF_TEST_PREFIX: Final = "opsanalytics-verify-"
"""The services ``opsanalytics verify`` writes as: only `SELF_TEST_RULE` watches them, and what it finds goes to
the operations topic, never to the alert topics (`opsanalytics.alerting.notify.channels_for`)."""


@dataclass(frozen=True, slots=True)
class ServiceSelector:
    """Which services a rule applies to: ``names`` None means all (but the self-test's); ``prefix`` those named
    with it."""

    names: frozenset[str] | None = None
    prefix: str | None = None

    def matches(self, service: str) -> bool:
        if self.prefix is not None:
            return service.startswith(self.prefix)
        if self.names is None:
            return not service.startswith(SELF_TEST_PREFIX)
        return service in self.names

    def __str__(self) -> str:
        if self.prefix is not None:
            return f"services named {self.prefix}*"
        return "all services" if self.names is None else ", ".join(sorted(self.names))


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    id: str
    severity: Severity
    services: ServiceSelector
    metric: str
    operator: Operator
    threshold: float
    for_windows: int = 1
    min_events: int = 0
    cooldown_minutes: float = DEFAULT_COOLDOWN_MINUTES
    description: str = ""
    resolve_after: int = 1
    """Clear observations in a row that resolve a firing alert (more than 1: a flapping metric pages once)."""
    runbook_url: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    """name, value pairs, in file order: who owns it, what it concerns"""
    type: Literal["threshold"] = "threshold"


@dataclass(frozen=True, slots=True)
class DeviationRule:
    id: str
    severity: Severity
    services: ServiceSelector
    metric: str
    method: DeviationMethod
    baseline_windows: int
    threshold: float
    """In standard deviations of the baseline."""
    min_baseline: int
    direction: Direction = "above"
    alpha: float = 0.3
    min_events: int = 0
    cooldown_minutes: float = DEFAULT_COOLDOWN_MINUTES
    description: str = ""
    resolve_after: int = 1
    for_windows: int = 1
    runbook_url: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    """name, value pairs, in file order: who owns it, what it concerns"""
    type: Literal["deviation"] = "deviation"


@dataclass(frozen=True, slots=True)
class AbsenceRule:
    id: str
    severity: Severity
    services: ServiceSelector
    minutes: float
    seen_within_minutes: float = 60.0
    cooldown_minutes: float = DEFAULT_COOLDOWN_MINUTES
    description: str = ""
    resolve_after: int = 1
    runbook_url: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    """name, value pairs, in file order: who owns it, what it concerns"""
    type: Literal["absence"] = "absence"


AlertRule = ThresholdRule | DeviationRule | AbsenceRule

SELF_TEST_RULE: Final = ThresholdRule(
    id="pipeline-self-test",
    severity="info",
    services=ServiceSelector(prefix=SELF_TEST_PREFIX),
    metric="errors",
    operator=">",
    threshold=0,
    min_events=1,
    cooldown_minutes=60,
    description="opsanalytics verify: a window of the self-test service with errors fires, one without resolves",
)
"""Built into every metrics function with alert rules, beside the rule file's (whose ids may not take its id)."""


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A time when alerts of some rules and services notify nobody (their state still moves)."""

    start_ms: int
    end_ms: int
    services: ServiceSelector = ServiceSelector()
    rule_ids: frozenset[str] | None = None
    """None: every rule"""
    reason: str = ""

    def mutes(self, rule_id: str, service: str, at_ms: int) -> bool:
        return (
            self.start_ms <= at_ms < self.end_ms
            and (self.rule_ids is None or rule_id in self.rule_ids)
            and (not service or self.services.matches(service))
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The loaded rules of one file, in file order, and its maintenance windows."""

    rules: tuple[AlertRule, ...]
    source: str = "<string>"
    version: int = RULES_SCHEMA_VERSION
    maintenance: tuple[Maintenance, ...] = ()

    def muted(self, rule_id: str, service: str, at_ms: int) -> Maintenance | None:
        """The maintenance window that mutes ``rule_id`` on ``service`` at event time ``at_ms``, if any."""
        return next((window for window in self.maintenance if window.mutes(rule_id, service, at_ms)), None)

    def by_id(self, rule_id: str) -> AlertRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    @property
    def window_rules(self) -> tuple[ThresholdRule | DeviationRule, ...]:
        """The rules on the metric windows' fields."""
        return tuple(
            rule
            for rule in self.rules
            if not isinstance(rule, AbsenceRule) and not rule.metric.startswith(DECLARED_METRIC_PREFIX)
        )

    @property
    def declared_rules(self) -> tuple[ThresholdRule, ...]:
        """The threshold rules on declared metrics (``declared.<id>``): they read the metrics' documents only."""
        return tuple(
            rule
            for rule in self.rules
            if isinstance(rule, ThresholdRule) and rule.metric.startswith(DECLARED_METRIC_PREFIX)
        )

    @property
    def absence_rules(self) -> tuple[AbsenceRule, ...]:
        return tuple(rule for rule in self.rules if isinstance(rule, AbsenceRule))

    @property
    def history_windows(self) -> int:
        """How many windows before an evaluated one the window rules need. A deviation rule reads twice its
        baseline: the older half tells which windows of the newer half were anomalous themselves
        (`opsanalytics.alerting.evaluate.deviation_observations` leaves those out of the baseline)."""
        needed = [0]
        for rule in self.window_rules:
            if isinstance(rule, ThresholdRule):
                needed.append(rule.for_windows - 1)
            else:
                needed.append(2 * rule.baseline_windows + rule.for_windows - 1)
        return max(needed)


class _RuleReader:
    """Reads the fields of one rule mapping, collecting problems instead of stopping at the first."""

    def __init__(self, label: str, raw: Mapping[str, Any], problems: list[str]) -> None:
        self.label = label
        self.raw = raw
        self.problems = problems

    def problem(self, name: str, message: str) -> None:
        self.problems.append(f"{self.label}: field '{name}': {message}")

    def has(self, name: str) -> bool:
        return name in self.raw

    def string(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name, default)
        if value is None:
            self.problem(name, "is required")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.problem(name, f"must be a non-empty string, got {value!r}")
            return ""
        return value.strip()

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.raw.get(name, default)
        if value is None:
            self.problem(name, f"is required (one of {', '.join(choices)})")
            return choices[0]
        if value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)}, got {value!r}")
            return choices[0]
        return str(value)

    def number(
        self,
        name: str,
        default: float | None = None,
        *,
        minimum: float | None = None,
        exclusive_minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self.raw.get(name, default)
        if value is None:
            self.problem(name, "is required")
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, f"must be a number, got {value!r}")
            return 0.0
        number = float(value)
        if minimum is not None and number < minimum:
            self.problem(name, f"must be >= {minimum:g}, got {value!r}")
        if exclusive_minimum is not None and number <= exclusive_minimum:
            self.problem(name, f"must be > {exclusive_minimum:g}, got {value!r}")
        if maximum is not None and number > maximum:
            self.problem(name, f"must be <= {maximum:g}, got {value!r}")
        return number

    def integer(self, name: str, default: int | None = None, *, minimum: int = 0) -> int:
        value = self.raw.get(name, default)
        if value is None:
            self.problem(name, "is required")
            return minimum
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"must be a whole number, got {value!r}")
            return minimum
        if value < minimum:
            self.problem(name, f"must be >= {minimum}, got {value!r}")
            return minimum
        return value

    def url(self, name: str) -> str:
        value = self.string(name)
        if value and not value.startswith(("https://", "http://")):
            self.problem(name, f"must be an http(s) URL, got {value!r}")
        return value

    def labels(self) -> tuple[tuple[str, str], ...]:
        value = self.raw.get("labels", {})
        if (
            not isinstance(value, dict)
            or len(value) > MAX_LABELS
            or not all(
                isinstance(key, str) and key and isinstance(item, str | int | float) and not isinstance(item, bool)
                for key, item in value.items()
            )
        ):
            self.problem("labels", f"must map up to {MAX_LABELS} names to text values, got {value!r}")
            return ()
        return tuple((key, str(item)) for key, item in value.items())

    def services(self) -> ServiceSelector:
        value = self.raw.get("services", "all")
        if isinstance(value, str) and value.strip() in _ALL_SERVICES:
            return ServiceSelector(None)
        if isinstance(value, str) and value.strip():
            return ServiceSelector(frozenset({value.strip()}))
        if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
            return ServiceSelector(frozenset(v.strip() for v in value))
        self.problem("services", f"must be 'all', a service name or a non-empty list of names, got {value!r}")
        return ServiceSelector(None)


def _rule_from(raw: Any, index: int, defaults: Mapping[str, Any], problems: list[str]) -> AlertRule | None:
    if not isinstance(raw, dict):
        problems.append(f"rule #{index + 1}: must be a mapping with id, type, severity, ..., got {raw!r}")
        return None
    rule_id = raw.get("id")
    label = f"rule {rule_id!r}" if isinstance(rule_id, str) and rule_id else f"rule #{index + 1}"
    reader = _RuleReader(label, raw, problems)
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        reader.problem("id", f"is required: lower-case letters, digits, '.', '_' or '-' (got {rule_id!r})")
    elif rule_id == SELF_TEST_RULE.id:
        reader.problem("id", f"{rule_id!r} is the built-in rule of opsanalytics verify; choose another id")
    rule_type = reader.choice("type", tuple(_TYPE_KEYS))
    unknown = sorted(set(raw) - _COMMON_KEYS - _TYPE_KEYS[rule_type])
    for key in unknown:
        reader.problem(key, f"is not a field of a {rule_type} rule")
    common: dict[str, Any] = {
        "id": rule_id if isinstance(rule_id, str) else "",
        "severity": reader.choice("severity", SEVERITIES),
        "services": reader.services(),
        "cooldown_minutes": reader.number(
            "cooldown_minutes", defaults.get("cooldown_minutes", DEFAULT_COOLDOWN_MINUTES), exclusive_minimum=0
        ),
        "description": reader.string("description", "") if reader.has("description") else "",
        "resolve_after": reader.integer("resolve_after", 1, minimum=1),
        "runbook_url": reader.url("runbook_url") if reader.has("runbook_url") else "",
        "labels": reader.labels(),
    }
    if rule_type == "threshold":
        declared = reader.raw.get("metric")
        watched = (
            declared
            if isinstance(declared, str) and DECLARED_METRIC.match(declared)
            else reader.choice("metric", (*NUMERIC_FIELDS, f"{DECLARED_METRIC_PREFIX}<id>"))
        )
        for_windows = reader.integer("for", 1, minimum=1)
        if watched.startswith(DECLARED_METRIC_PREFIX) and for_windows > 1:
            # the history a rule reads is the realtime windows' index: a declared metric's earlier windows are not
            # in it, so `for` would only see the windows of one batch
            reader.problem("for", "must be 1 for a declared metric (use resolve_after against flapping)")
        return ThresholdRule(
            **common,
            metric=watched,
            operator=reader.choice("operator", OPERATORS),  # type: ignore[arg-type]
            threshold=reader.number("threshold"),
            for_windows=for_windows,
            min_events=reader.integer("min_events", 0, minimum=0),
        )
    if rule_type == "deviation":
        baseline = reader.integer("baseline_windows", 30, minimum=2)
        min_baseline = reader.integer("min_baseline", min(baseline, 5), minimum=2)
        if min_baseline > baseline:
            reader.problem("min_baseline", f"must be <= baseline_windows ({baseline}), got {min_baseline}")
        method = reader.choice("method", DEVIATION_METHODS, "zscore")
        if method != "ewma" and reader.has("alpha"):
            reader.problem("alpha", "applies to method ewma only")
        return DeviationRule(
            **common,
            metric=reader.choice("metric", NUMERIC_FIELDS),
            method=method,  # type: ignore[arg-type]
            baseline_windows=baseline,
            min_baseline=min_baseline,
            threshold=reader.number("threshold", 3.0, exclusive_minimum=0),
            direction=reader.choice("direction", DIRECTIONS, "above"),  # type: ignore[arg-type]
            alpha=reader.number("alpha", 0.3, exclusive_minimum=0, maximum=1),
            min_events=reader.integer("min_events", 0, minimum=0),
            for_windows=reader.integer("for", 1, minimum=1),
        )
    minutes = reader.number("minutes", exclusive_minimum=0)
    seen_within = reader.number("seen_within_minutes", max(60.0, minutes * 2), exclusive_minimum=0)
    if seen_within <= minutes:
        reader.problem("seen_within_minutes", f"must be > minutes ({minutes:g}), got {seen_within:g}")
    return AbsenceRule(**common, minutes=minutes, seen_within_minutes=seen_within)


def parse_rules(text: str, source: str = "<string>") -> RuleSet:
    """The rules of a YAML document, or `AlertRuleError` listing every mistake."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise AlertRuleError(source, [f"not valid YAML{where}: {problem}"]) from None
    if not isinstance(document, dict):
        raise AlertRuleError(source, ["the file must be a mapping with 'version' and 'rules'"])
    problems: list[str] = []
    unknown = sorted(set(document) - {"version", "defaults", "rules", "maintenance"})
    problems.extend(f"top level: field '{key}': is not a known field" for key in unknown)
    version = document.get("version")
    if version != RULES_SCHEMA_VERSION:
        problems.append(f"top level: field 'version': must be {RULES_SCHEMA_VERSION}, got {version!r}")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"cooldown_minutes"}:
        problems.append(f"top level: field 'defaults': may only set cooldown_minutes, got {defaults!r}")
        defaults = {}
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list):
        problems.append(f"top level: field 'rules': must be a list of rules, got {raw_rules!r}")
        raw_rules = []
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _rule_from(raw, index, defaults, problems)
        if rule is None:
            continue
        if rule.id and rule.id in seen:
            problems.append(f"rule {rule.id!r}: field 'id': is used by more than one rule")
        seen.add(rule.id)
        rules.append(rule)
    maintenance = _maintenance_from(document.get("maintenance") or [], seen, problems)
    if problems:
        raise AlertRuleError(source, problems)
    return RuleSet(tuple(rules), source=source, version=RULES_SCHEMA_VERSION, maintenance=maintenance)


def _maintenance_from(raw: Any, rule_ids: set[str], problems: list[str]) -> tuple[Maintenance, ...]:
    if not isinstance(raw, list):
        problems.append(f"top level: field 'maintenance': must be a list of windows, got {raw!r}")
        return ()
    windows = []
    for index, item in enumerate(raw):
        label = f"maintenance #{index + 1}"
        if not isinstance(item, dict):
            problems.append(f"{label}: must be a mapping with from, to, and optionally services, rules, reason")
            continue
        reader = _RuleReader(label, item, problems)
        for key in sorted(set(item) - {"from", "to", "services", "rules", "reason"}):
            reader.problem(key, "is not a field of a maintenance window (from, to, services, rules, reason)")
        bounds = []
        for name in ("from", "to"):
            value = item.get(name)
            if isinstance(value, datetime):  # YAML reads an unquoted time as a datetime (naive: UTC)
                moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
                bounds.append(int(moment.timestamp() * 1000))
                continue
            try:
                bounds.append(parse_iso_ms(str(value)))
            except ValueError:
                reader.problem(name, f"must be an ISO-8601 time, got {value!r}")
        if len(bounds) == 2 and bounds[0] >= bounds[1]:
            reader.problem("to", "must be after from")
        names = item.get("rules")
        selected: frozenset[str] | None = None
        if names is not None:
            listed = [names] if isinstance(names, str) else names
            if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
                reader.problem("rules", f"must be a rule id or a list of them, got {names!r}")
            else:
                for name in sorted(set(listed) - rule_ids):
                    reader.problem("rules", f"names no rule of this file: {name!r}")
                selected = frozenset(listed)
        if len(bounds) == 2:
            windows.append(
                Maintenance(
                    bounds[0],
                    bounds[1],
                    reader.services(),
                    selected,
                    reader.string("reason", "") if reader.has("reason") else "",
                )
            )
    return tuple(windows)


def load_rules(location: str, s3_client: Any = None) -> RuleSet:
    """Rules from a file path or an ``s3://bucket/key`` (boto3 is imported only for S3)."""
    try:
        text = read_config_text(location, "rule file", "ALERT_RULES", s3_client)
    except ValueError as exc:
        raise AlertRuleError(location, [str(exc)]) from None
    return parse_rules(text, location)
