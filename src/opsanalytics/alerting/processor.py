"""The metrics Lambda's core: Kinesis records of metric windows → OpenSearch, then the alert rules.

A batch is handled in three steps so it costs one ``_bulk`` request, not one per record:

1. decode every record (base64, JSON, the `MetricWindow` contract, version 2, or version 1 with its `LateEvents`
   reports, so that a stream written by an earlier job drains); a record that does not decode fails on its own;
2. write all windows in one bulk request: each window is indexed into ``<prefix>YYYY.MM.DD`` (its
   ``window_start``) under `window_document_id`, so a replay overwrites it. A version 2 window carries a
   revision and is written with it as the document's external version: the highest revision stays, whatever
   order the revisions arrive in, and an older one is counted as superseded. (Version 1: a late-events report
   updates the ``late_events`` of its window.) Items the cluster still rejects after the writer's retries fail
   the records that carried them;
3. evaluate the alert rules on the windows that were written. An alert applies each window once, in event-time
   order (`opsanalytics.alerting.evaluate`): a corrected revision of a window it already evaluated is indexed, and
   later windows' rules read it from the index, but it does not fire or resolve anything itself. Windows whose
   alerts could not be handled fail their records too, and since indexing and evaluation are idempotent a retry
   is safe.

The result maps each failed record's sequence number to a reason; the handler turns those into Lambda's
``batchItemFailures``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from opsanalytics.alerting import AlertBatchReport, AlertEngine, AlertStore, OutboxNotifier, SnsNotifier, load_rules
from opsanalytics.alerting.evaluate import window_key
from opsanalytics.alerting.history import MetricsHistory, realtime_index
from opsanalytics.alerting.notify import Channel, Notifier
from opsanalytics.alerting.rules import DECLARED_METRIC_PREFIX, SELF_TEST_RULE, RuleSet
from opsanalytics.opensearch import BulkOperation, BulkResult, BulkWriter, OpenSearchSettings, create_client
from opsanalytics.realtime.declared import DECLARED_SCHEMA_VERSION, OTHER, DeclaredMetric, declared_document_id
from opsanalytics.realtime.windows import (
    COUNT_FIELDS,
    LATENCY_FIELDS,
    READABLE_WINDOW_SCHEMA_VERSIONS,
    LateEvents,
    MetricWindow,
    window_document_id,
)
from opsanalytics.settings import SettingsError
from opsanalytics.timestamps import parse_iso_ms

_INDEX_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]*-$")
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")


class MetricRecordError(ValueError):
    """A record is not a metric window or late-events document of a known schema version."""


class RecordFailedError(RuntimeError):
    """Raised for a record that failed, so the batch processor reports it as a batch item failure."""


@dataclass(frozen=True, slots=True)
class MetricsProcessorSettings:
    """Settings of the metrics Lambda, parsed once at cold start."""

    opensearch: OpenSearchSettings
    metrics_index_prefix: str = "metrics-realtime-"
    declared_index_prefix: str = "metrics-declared-realtime-"
    """The declared metrics' documents (`opsanalytics.realtime.declared`): ``<prefix>YYYY.MM.DD``."""
    alerts_index_prefix: str = "alerts-"
    alert_rules: str | None = None
    """A rule file path or s3://bucket/key; None disables alerting (windows are still indexed)."""
    email_topic_arn: str | None = None
    sms_topic_arn: str | None = None
    operations_topic_arn: str | None = None
    """Where the self-test alerts of ``opsanalytics verify`` go (the pipeline-health topic)."""
    alert_outbox: Path | None = None
    """Locally: the JSON lines file that stands in for the SNS topics."""
    dashboard_url: str | None = None
    bulk_max_attempts: int = 4
    bulk_max_retry_seconds: float = 20.0
    """Stays well inside the function timeout: what still fails after it becomes batch item failures."""

    def __post_init__(self) -> None:
        for name, prefix in (
            ("METRICS_INDEX_PREFIX", self.metrics_index_prefix),
            ("DECLARED_INDEX_PREFIX", self.declared_index_prefix),
            ("ALERTS_INDEX_PREFIX", self.alerts_index_prefix),
        ):
            if not _INDEX_PREFIX.match(prefix):
                raise SettingsError(f"{name} must be a lower-case index name prefix ending in '-', got {prefix!r}")
        for name, arn in (
            ("EMAIL_TOPIC_ARN", self.email_topic_arn),
            ("SMS_TOPIC_ARN", self.sms_topic_arn),
            ("OPERATIONS_TOPIC_ARN", self.operations_topic_arn),
        ):
            if arn is not None and not _SNS_TOPIC_ARN.match(arn):
                raise SettingsError(f"{name} must be an SNS topic ARN, got {arn!r}")
        if self.alert_rules:
            topics = (self.email_topic_arn, self.sms_topic_arn)
            if self.alert_outbox is not None and any(topics):
                raise SettingsError("set either ALERT_OUTBOX (local runs) or the SNS topic ARNs, not both")
            if self.alert_outbox is None and not all(topics):
                raise SettingsError(
                    "ALERT_RULES is set: alerts need EMAIL_TOPIC_ARN and SMS_TOPIC_ARN (or ALERT_OUTBOX locally)"
                )
        if self.dashboard_url is not None and not self.dashboard_url.startswith(("https://", "http://", "file://")):
            raise SettingsError(
                f"DASHBOARD_URL must be an http(s) URL (or, locally, the file:// of the local page), "
                f"got {self.dashboard_url!r}"
            )
        if self.bulk_max_attempts < 1:
            raise SettingsError(f"OPENSEARCH_BULK_MAX_ATTEMPTS must be >= 1, got {self.bulk_max_attempts}")
        if self.bulk_max_retry_seconds < 0:
            raise SettingsError(f"OPENSEARCH_BULK_MAX_RETRY_SECONDS must be >= 0, got {self.bulk_max_retry_seconds}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MetricsProcessorSettings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        def number(name: str, default: float, kind: type[int] | type[float]) -> Any:
            raw = get(name)
            if raw is None:
                return default
            try:
                return kind(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None

        outbox = get("ALERT_OUTBOX")
        return cls(
            opensearch=OpenSearchSettings.from_env(env),
            metrics_index_prefix=get("METRICS_INDEX_PREFIX") or "metrics-realtime-",
            declared_index_prefix=get("DECLARED_INDEX_PREFIX") or "metrics-declared-realtime-",
            alerts_index_prefix=get("ALERTS_INDEX_PREFIX") or "alerts-",
            alert_rules=get("ALERT_RULES"),
            email_topic_arn=get("EMAIL_TOPIC_ARN"),
            sms_topic_arn=get("SMS_TOPIC_ARN"),
            operations_topic_arn=get("OPERATIONS_TOPIC_ARN"),
            alert_outbox=Path(outbox) if outbox else None,
            dashboard_url=get("DASHBOARD_URL"),
            bulk_max_attempts=number("OPENSEARCH_BULK_MAX_ATTEMPTS", 4, int),
            bulk_max_retry_seconds=number("OPENSEARCH_BULK_MAX_RETRY_SECONDS", 20.0, float),
        )


def _require(doc: Mapping[str, Any], name: str, kinds: tuple[type, ...], *, nullable: bool = False) -> None:
    if name not in doc:
        raise MetricRecordError(f"field {name!r} is missing")
    value = doc[name]
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise MetricRecordError(f"field {name!r} has the wrong type: {value!r}")


def _check_window_bounds(doc: Mapping[str, Any]) -> None:
    try:
        start, end = parse_iso_ms(doc["window_start"]), parse_iso_ms(doc["window_end"])
    except ValueError as exc:
        raise MetricRecordError(f"window bounds are not ISO-8601: {exc}") from None
    if end <= start:
        raise MetricRecordError("window_end is not after window_start")


def _declared_metric(doc: dict[str, Any]) -> DeclaredMetric:
    if doc.get("schema_version") != DECLARED_SCHEMA_VERSION:
        raise MetricRecordError(f"unsupported schema_version {doc.get('schema_version')!r} for declared_metric")
    for name in ("metric", "kind", "owner", "service", "group", "window_start", "window_end"):
        _require(doc, name, (str,))
    for name in ("metric", "service", "group"):
        if not doc[name]:
            raise MetricRecordError(f"field {name!r} is empty")
    _check_window_bounds(doc)
    for name in ("revision", "count", "late_events", "groups_folded"):
        _require(doc, name, (int,))
    if doc["revision"] < 1:
        raise MetricRecordError(f"field 'revision' must be at least 1, got {doc['revision']}")
    _require(doc, "value", (int, float), nullable=True)
    _require(doc, "dimensions", (dict,))
    return doc  # type: ignore[return-value]


def alert_view(doc: DeclaredMetric) -> MetricWindow:
    """A declared metric's document as the alert rules read windows: its group as the window's dimensions (the
    service, and the metric and group as the log group) and its value as ``declared.<metric>``, so that threshold
    rules watch it like any window field."""
    view: dict[str, Any] = {
        "schema_version": 2,
        "record_type": "metric_window",
        "owner": doc["owner"],
        "service": doc["service"],
        "log_group": f"{DECLARED_METRIC_PREFIX}{doc['metric']}:{doc['group']}",
        "window_start": doc["window_start"],
        "window_end": doc["window_end"],
        "revision": doc["revision"],
        "events": doc["count"],
        "late_events": doc["late_events"],
        "error_signatures": [],
        "samples": [],
        "declared_metric": doc["metric"],
        "group": doc["group"],
        f"{DECLARED_METRIC_PREFIX}{doc['metric']}": doc["value"],
    }
    return view  # type: ignore[return-value]


def decode_metric_record(data: bytes) -> MetricWindow | LateEvents | DeclaredMetric:
    """A metric window, late-events or declared metric document from a record's data, or `MetricRecordError`."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MetricRecordError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MetricRecordError("not a JSON object")
    if doc.get("record_type") == "declared_metric":
        return _declared_metric(doc)
    version = doc.get("schema_version")
    if version not in READABLE_WINDOW_SCHEMA_VERSIONS:
        raise MetricRecordError(f"unsupported schema_version {version!r}")
    record_type = doc.get("record_type")
    if record_type not in ("metric_window", "late_events") or (record_type == "late_events" and version != 1):
        raise MetricRecordError(f"unknown record_type {record_type!r} for schema_version {version}")
    for name in ("service", "log_group", "window_start", "window_end"):
        _require(doc, name, (str,))
        if not doc[name]:
            raise MetricRecordError(f"field {name!r} is empty")
    _check_window_bounds(doc)
    _require(doc, "late_events", (int,))
    if record_type == "late_events":
        return doc  # type: ignore[return-value]
    for name in COUNT_FIELDS:
        _require(doc, name, (int,))
        if doc[name] < 0:
            raise MetricRecordError(f"field {name!r} is negative")
    _require(doc, "error_rate", (int, float))
    for name in LATENCY_FIELDS:
        _require(doc, name, (int, float), nullable=True)
    if version == 1:
        return doc  # type: ignore[return-value]
    _require(doc, "owner", (str,))
    _require(doc, "revision", (int,))
    if doc["revision"] < 1:
        raise MetricRecordError(f"field 'revision' must be at least 1, got {doc['revision']}")
    _require(doc, "error_signatures", (list,))
    for entry in doc["error_signatures"]:
        if not isinstance(entry, dict):
            raise MetricRecordError("error_signatures holds something other than objects")
        _require(entry, "signature", (str,))
        _require(entry, "count", (int,))
    _require(doc, "samples", (list,))
    if not all(isinstance(sample, str) for sample in doc["samples"]):
        raise MetricRecordError("samples holds something other than strings")
    return doc  # type: ignore[return-value]


@dataclass(slots=True)
class MetricsBatchOutcome:
    records: int = 0
    windows: int = 0
    late_reports: int = 0
    declared: int = 0
    bulk: BulkResult = field(default_factory=BulkResult)
    alerts: AlertBatchReport | None = None
    failures: dict[str, str] = field(default_factory=dict)
    """Reason by sequence number of every record that failed."""

    def raise_if_failed(self, sequence_number: str) -> None:
        reason = self.failures.get(sequence_number)
        if reason is not None:
            raise RecordFailedError(reason)


class MetricsProcessor:
    def __init__(
        self,
        writer: BulkWriter,
        index_prefix: str,
        alerts: AlertEngine | None = None,
        declared_index_prefix: str = "metrics-declared-realtime-",
    ) -> None:
        self.writer = writer
        self.index_prefix = index_prefix
        self.alerts = alerts
        self.declared_index_prefix = declared_index_prefix

    def process(self, records: Sequence[tuple[str, str]]) -> MetricsBatchOutcome:
        """Handle (sequence number, base64 data) records; see the module docstring."""
        outcome = MetricsBatchOutcome(records=len(records))
        windows: dict[tuple[str, str], MetricWindow] = {}
        late: dict[tuple[str, str], LateEvents] = {}
        declared: dict[tuple[str, str], DeclaredMetric] = {}
        carriers: dict[tuple[str, str], list[str]] = {}
        for sequence_number, data in records:
            try:
                doc = decode_metric_record(base64.b64decode(data, validate=True))
            except (binascii.Error, ValueError) as exc:
                outcome.failures[sequence_number] = f"malformed record: {exc}"
                continue
            if doc["record_type"] == "declared_metric":
                outcome.declared += 1
                target = (realtime_index(self.declared_index_prefix, doc["window_start"]), _declared_id(doc))
                carriers.setdefault(target, []).append(sequence_number)
                previous_doc = declared.get(target)
                if previous_doc is None or doc["revision"] >= previous_doc["revision"]:
                    declared[target] = doc
                continue
            target = (realtime_index(self.index_prefix, doc["window_start"]), _document_id(doc))
            carriers.setdefault(target, []).append(sequence_number)
            if doc["record_type"] == "metric_window":
                outcome.windows += 1
                previous_window = windows.get(target)
                # revisions of one window in one batch: the highest is the window
                if previous_window is None or doc.get("revision", 0) >= previous_window.get("revision", 0):
                    windows[target] = doc
            else:
                outcome.late_reports += 1
                previous = late.get(target)
                # late counts are running totals: the largest is the newest
                if previous is None or doc["late_events"] >= previous["late_events"]:
                    late[target] = doc
        operations = []
        for target, window in list(windows.items()):
            report = late.pop(target, None)
            merged = window
            if report is not None and report["late_events"] > window["late_events"]:
                merged = windows[target] = {**window, "late_events": report["late_events"]}
            revision = merged.get("revision")
            operations.append(BulkOperation(target[0], target[1], merged, version=revision))
        for target, report in late.items():
            # upsert: the window may not be indexed yet; its own document then overwrites this one
            update: dict[str, Any] = {
                name: report[name] for name in ("service", "log_group", "window_start", "window_end")
            }
            update["late_events"] = report["late_events"]
            operations.append(BulkOperation(target[0], target[1], update, op="update"))
        for target, declared_doc in declared.items():
            operations.append(BulkOperation(target[0], target[1], dict(declared_doc), version=declared_doc["revision"]))
        if operations:
            outcome.bulk = self.writer.write(operations)
        failed_targets: set[tuple[str, str]] = set()
        for item in outcome.bulk.failed:
            target = (item.index, item.doc_id or "")
            failed_targets.add(target)
            status = f"{item.status} " if item.status is not None else ""
            for sequence_number in carriers.get(target, []):
                outcome.failures[sequence_number] = (
                    f"not indexed after {item.attempts} attempt(s): {status}{item.error_type}: {item.reason}"
                )
        if self.alerts is not None:
            # a superseded revision is evaluated like any other: an alert applies a window once, by its start,
            # so an older revision of a window it has seen changes nothing
            # the folded group of a declared metric (`<other>`) is no service or group anyone owns: not alerted on
            views = {target: alert_view(doc) for target, doc in declared.items() if doc["group"] != OTHER}
            evaluated = {**windows, **views}
            written = [window for target, window in evaluated.items() if target not in failed_targets]
            outcome.alerts = self.alerts.evaluate(sorted(written, key=lambda w: w["window_start"]))
            self._fail_unevaluated(outcome, outcome.alerts, evaluated, carriers, failed_targets)
        return outcome

    @staticmethod
    def _fail_unevaluated(
        outcome: MetricsBatchOutcome,
        report: AlertBatchReport,
        windows: Mapping[tuple[str, str], MetricWindow],
        carriers: Mapping[tuple[str, str], list[str]],
        failed_targets: set[tuple[str, str]],
    ) -> None:
        if not report.failed_all and not report.failed_keys:
            return
        reason = "; ".join(report.errors) or "alert evaluation failed"
        for target, window in windows.items():
            if target in failed_targets:
                continue
            if report.failed_all or window_key(window) in report.failed_keys:
                for sequence_number in carriers[target]:
                    outcome.failures.setdefault(sequence_number, f"alert evaluation failed: {reason}")


def _declared_id(doc: DeclaredMetric) -> str:
    return declared_document_id(doc["owner"], doc["metric"], doc["window_start"], doc["group"])


def _document_id(doc: MetricWindow | LateEvents) -> str:
    return window_document_id(doc["service"], doc["log_group"], doc["window_start"], str(doc.get("owner") or ""))


def notifier_for(settings: MetricsProcessorSettings, sns_client: Any = None) -> Notifier:
    if settings.alert_outbox is not None:
        return OutboxNotifier(settings.alert_outbox)
    topics: dict[Channel, str] = {}
    if settings.email_topic_arn:
        topics["email"] = settings.email_topic_arn
    if settings.sms_topic_arn:
        topics["sms"] = settings.sms_topic_arn
    if settings.operations_topic_arn:
        topics["operations"] = settings.operations_topic_arn
    return SnsNotifier(topics, client=sns_client)


def with_self_test(rules: RuleSet) -> RuleSet:
    """The rule file's rules and `SELF_TEST_RULE`, which ``opsanalytics verify`` fires and resolves."""
    return dataclasses.replace(rules, rules=(*rules.rules, SELF_TEST_RULE))


def build_metrics_processor(settings: MetricsProcessorSettings, *, sns_client: Any = None) -> MetricsProcessor:
    """The processor the settings describe: the rules are loaded (and validated) here, at cold start."""
    client = create_client(settings.opensearch)
    writer = BulkWriter.for_client(
        client, max_attempts=settings.bulk_max_attempts, max_retry_seconds=settings.bulk_max_retry_seconds
    )
    engine = None
    if settings.alert_rules:
        engine = AlertEngine(
            with_self_test(load_rules(settings.alert_rules)),
            MetricsHistory(client, settings.metrics_index_prefix),
            AlertStore(client, settings.alerts_index_prefix),
            notifier_for(settings, sns_client),
            dashboard_url=settings.dashboard_url,
        )
    return MetricsProcessor(writer, settings.metrics_index_prefix, engine, settings.declared_index_prefix)
