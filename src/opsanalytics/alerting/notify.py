"""Alert notifications: rendering, routing by severity, and the `Notifier` port with its two adapters.

Routing: critical goes to SMS and email, warning to email, info nowhere (it is still recorded in
``alerts-*`` for the dashboards); the self-test alerts of ``opsanalytics verify`` go to the operations topic
only. Every message carries a ``severity`` attribute so SNS subscription filter policies can narrow further.
In AWS the adapter is `SnsNotifier` (one topic per channel); locally it is `OutboxNotifier` (a JSON lines file,
echoed to the console).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TextIO
from urllib.parse import quote

import orjson

from opsanalytics.alerting.evaluate import AlertState, Notification, format_value
from opsanalytics.alerting.rules import SELF_TEST_PREFIX, Severity
from opsanalytics.timestamps import iso_utc

Channel = Literal["email", "sms", "operations"]
ROUTES: Final[Mapping[Severity, tuple[Channel, ...]]] = {
    "critical": ("sms", "email"),
    "warning": ("email",),
    "info": (),
}
SELF_TEST_CHANNELS: Final[tuple[Channel, ...]] = ("operations",)


def channels_for(alert: AlertState) -> tuple[Channel, ...]:
    """Where an alert's messages go: by severity (`ROUTES`); an alert on the self-test service of ``opsanalytics
    verify`` to the operations topic only, whatever its severity, so that a smoke test never pages anyone."""
    if str(alert.dimensions.get("service", "")).startswith(SELF_TEST_PREFIX):
        return SELF_TEST_CHANNELS
    return ROUTES[alert.severity]


SMS_MAX_CHARS: Final = 140
SUBJECT_MAX_CHARS: Final = 99  # SNS: subjects under 100 characters, printable ASCII, no line breaks
_HEADLINE: Final[Mapping[str, str]] = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}
_SMS_SEVERITY: Final[Mapping[str, str]] = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message on one channel; ``subject`` is for email only."""

    channel: Channel
    severity: Severity
    kind: str
    alert_id: str
    subject: str
    body: str

    @property
    def attributes(self) -> dict[str, str]:
        return {"severity": self.severity, "alert_state": self.kind}


class Notifier(Protocol):
    """Delivers rendered messages; raises when a message could not be handed over."""

    def deliver(self, message: OutgoingMessage) -> None: ...


def _where(alert: AlertState) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(alert.dimensions.items()))


def _ascii(text: str) -> str:
    return re.sub(r"[^\x20-\x7e]", "?", text)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def render_subject(notification: Notification) -> str:
    alert = notification.alert
    service = alert.dimensions.get("service", "")
    text = (
        f"[{alert.severity.upper()}] {_HEADLINE[notification.kind]} {alert.rule_id} on {service}: "
        f"{alert.metric} {format_value(alert.value)}"
    )
    return _truncate(_ascii(text), SUBJECT_MAX_CHARS)


def render_email(notification: Notification, dashboard_url: str | None) -> str:
    alert = notification.alert
    lines = [
        f"{_HEADLINE[notification.kind]}: {alert.rule_id} ({alert.severity})",
        "",
    ]
    if alert.description:
        lines.append(f"Rule:       {alert.description}")
    if alert.labels:
        lines.append("Labels:     " + ", ".join(f"{key}={value}" for key, value in alert.labels.items()))
    if alert.runbook_url:
        lines.append(f"Runbook:    {alert.runbook_url}")
    lines += [
        f"Where:      {_where(alert)}",
        f"What:       {alert.detail}",
        f"Value:      {format_value(alert.value)} (threshold {format_value(alert.threshold)})",
        f"Since:      {iso_utc(alert.first_seen_ms)} (last seen {iso_utc(alert.last_seen_ms)})",
    ]
    if notification.kind == "resolved" and alert.resolved_at_ms is not None:
        minutes = (alert.resolved_at_ms - alert.first_seen_ms) / 60_000
        lines.append(f"Resolved:   {iso_utc(alert.resolved_at_ms)} after {format_value(minutes)} min")
        if alert.clear_since_ms is not None:
            back = alert.clear_streak if alert.clear_streak > 1 else 1
            lines.append(
                f"Back:       within the rule since {iso_utc(alert.clear_since_ms)} "
                f"({back} clear observation{'s' if back > 1 else ''} in a row)"
            )
    if notification.kind == "reminder":
        lines.append(f"Reminder:   {alert.reminder_count}")
    snapshot = alert.snapshot
    if "declared_metric" in snapshot:
        lines.append(
            f"Window:     {snapshot.get('window_start')} {snapshot['declared_metric']} of group "
            f"{snapshot.get('group')}: {format_value(snapshot.get(alert.metric))} ({snapshot.get('events')} events "
            "counted)"
        )
    elif "events" in snapshot:
        lines.append(
            f"Window:     {snapshot.get('window_start')} events={snapshot.get('events')} "
            f"errors={snapshot.get('errors')} p95={format_value(snapshot.get('latency_p95_ms'))} ms"
        )
    signatures = [item for item in snapshot.get("error_signatures") or [] if isinstance(item, Mapping)]
    if signatures:
        lines.append("Top errors: " + _signature_line(signatures[0]))
        lines.extend("            " + _signature_line(item) for item in signatures[1:MAX_SIGNATURES])
    samples = [text for text in snapshot.get("samples") or [] if isinstance(text, str)]
    if samples:
        lines.append("Lines:      " + samples[0])
        lines.extend("            " + text for text in samples[1:MAX_SAMPLE_LINES])
    for label, link in dashboard_links(dashboard_url, alert):
        lines.append(f"{label:<12}{link}")
    lines += ["", f"Alert id:   {alert.alert_id}"]
    return "\n".join(lines) + "\n"


MAX_SIGNATURES: Final = 5
MAX_SAMPLE_LINES: Final = 3
ALERTS_DASHBOARD: Final = "opsanalytics-dashboard-alerts"
LOG_LINES_DASHBOARD: Final = "opsanalytics-dashboard-log-lines"
LINK_BEFORE_MS: Final = 30 * 60_000
"""A link's time range starts this long before the episode, to show what led to it..."""
LINK_AFTER_MS: Final = 15 * 60_000
"""...and ends this long after its last observation."""


def _signature_line(item: Mapping[str, Any]) -> str:
    return f"{item.get('count', '?')} x {item.get('signature', '')}"


def _rison(text: str) -> str:
    """A rison string (the URL state of Dashboards): quoted, its ' and ! escaped with !."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def dashboard_links(dashboard_url: str | None, alert: AlertState) -> list[tuple[str, str]]:
    """Links for a message: the alerts dashboard over the episode's time range and the log lines of its service
    in that range (``dashboard_url`` is the Dashboards address, ``.../_dashboards``), or the dashboard URL given,
    with the time range; a ``file://`` URL (the local page) as it is; none without one."""
    if not dashboard_url:
        return []
    if dashboard_url.startswith("file://"):
        return [("Dashboard:", dashboard_url)]
    end = alert.resolved_at_ms if alert.resolved_at_ms is not None else alert.last_seen_ms
    time_range = (
        f"_g=(time:(from:{_rison(iso_utc(alert.first_seen_ms - LINK_BEFORE_MS))},"
        f"to:{_rison(iso_utc(end + LINK_AFTER_MS))}))"
    )
    if "#/view/" in dashboard_url:  # a dashboard of its own: the time range only
        joiner = "&" if "?" in dashboard_url.split("#", 1)[1] else "?"
        return [("Dashboard:", f"{dashboard_url}{joiner}{time_range}")]
    base = dashboard_url.rstrip("/")
    links = [("Dashboard:", f"{base}/app/dashboards#/view/{ALERTS_DASHBOARD}?{time_range}")]
    service = alert.dimensions.get("service")
    if service:
        query = quote(f"(query:(language:kuery,query:{_rison(f'service:{json.dumps(service)}')}))", safe="(),:!'")
        links.append(("Log lines:", f"{base}/app/dashboards#/view/{LOG_LINES_DASHBOARD}?{time_range}&_a={query}"))
    return links


def render_sms(notification: Notification) -> str:
    """At most 140 characters: severity, state, rule, service, value vs threshold, since when."""
    alert = notification.alert
    since = iso_utc(alert.first_seen_ms)[11:16]
    text = (
        f"{_SMS_SEVERITY[alert.severity]} {_HEADLINE[notification.kind]} {alert.rule_id} "
        f"{alert.dimensions.get('service', '')} {alert.metric}={format_value(alert.value)} "
        f"thr {format_value(alert.threshold)} since {since}Z"
    )
    return _truncate(text, SMS_MAX_CHARS)


def messages_for(notification: Notification, dashboard_url: str | None = None) -> list[OutgoingMessage]:
    """The messages a notification becomes, one per channel its severity routes to."""
    alert = notification.alert
    messages = []
    for channel in channels_for(alert):
        if channel == "sms":
            body, subject = render_sms(notification), ""
        else:
            body, subject = render_email(notification, dashboard_url), render_subject(notification)
        messages.append(OutgoingMessage(channel, alert.severity, notification.kind, alert.alert_id, subject, body))
    return messages


class SnsNotifier:
    """Publishes to one SNS topic per channel (boto3 is imported here only, when no client is given)."""

    def __init__(self, topics: Mapping[Channel, str], client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sns")
        self.topics = dict(topics)
        self._client = client

    def deliver(self, message: OutgoingMessage) -> None:
        topic = self.topics.get(message.channel)
        if topic is None:
            raise LookupError(f"no SNS topic configured for the {message.channel} channel")
        request: dict[str, Any] = {
            "TopicArn": topic,
            "Message": message.body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()
            },
        }
        if message.subject:
            request["Subject"] = message.subject
        self._client.publish(**request)


class OutboxNotifier:
    """Appends each message to a JSON lines file (the local SNS stand-in) and echoes it to the console."""

    def __init__(self, path: Path, console: TextIO | None = sys.stderr) -> None:
        self.path = path
        self.console = console
        self._lock = threading.Lock()

    def deliver(self, message: OutgoingMessage) -> None:
        line = orjson.dumps(
            {
                "channel": message.channel,
                "severity": message.severity,
                "kind": message.kind,
                "alert_id": message.alert_id,
                "subject": message.subject,
                "message": message.body,
                "attributes": message.attributes,
            }
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                handle.write(line + b"\n")
        if self.console is not None:
            headline = message.subject or message.body
            print(f"[alert:{message.channel}] {headline}", file=self.console, flush=True)


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """The messages an `OutboxNotifier` wrote, oldest first (none when the file does not exist)."""
    if not path.is_file():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
