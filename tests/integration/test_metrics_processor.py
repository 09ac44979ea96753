"""The metrics Lambda in-process against a real OpenSearch: indexing, alert lifecycle, notifications, failures.

SNS is the only thing mocked (moto); what the tests check is what the topics delivered to SQS subscribers,
the documents in OpenSearch and the lines in the local outbox.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from opsanalytics.alerting import AlertRuleError, AlertStore, read_outbox
from opsanalytics.alerting.history import realtime_index
from opsanalytics.alerting.local import drive_records, kinesis_event, kinesis_record
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.realtime.windows import MetricWindow, metric_window, window_document_id

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("index_templates")]

ACCOUNT = "123456789012"
START = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events" / "metrics_processor"
RULES = """
version: 1
rules:
  - id: checkout-error-rate
    description: Checkout fails more than 5% of requests for 3 minutes
    type: threshold
    severity: critical
    services: checkout
    metric: error_rate
    operator: ">"
    threshold: 0.05
    for: 3
    min_events: 20
"""
ABSENCE_RULES = """
version: 1
rules:
  - id: service-silent
    type: absence
    severity: warning
    minutes: 3
    seen_within_minutes: 30
"""


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def window(service: str, minute: int, errors: int = 2, events: int = 200) -> MetricWindow:
    start_ms = int((START + timedelta(minutes=minute)).timestamp() * 1000)
    return metric_window(
        service,
        f"/aws/lambda/{service}",
        start_ms,
        events=events,
        errors=errors,
        latency_count=events,
        latency=(40.0, 120.0, 180.0, 400.0),
        owner=ACCOUNT,  # window ids carry it (contract v2): the alert history must find them by it
    )


class Stream:
    """Records with growing sequence numbers, as one shard hands them out."""

    def __init__(self) -> None:
        self.position = 0

    def event(self, documents: Sequence[Any]) -> dict[str, Any]:
        records = []
        for document in documents:
            data = document if isinstance(document, bytes) else orjson.dumps(document)
            records.append(kinesis_record(self.position, data, 1_767_261_900.0))
            self.position += 1
        return kinesis_event(records)


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def incident() -> list[list[MetricWindow]]:
    """One batch a minute: 5 normal minutes, 5 minutes of 30% checkout errors, 5 normal; payments stays calm."""
    batches = []
    for minute in range(15):
        errors = 60 if 5 <= minute < 10 else 2
        batches.append([window("checkout", minute, errors=errors), window("payments", minute)])
    return batches


@pytest.fixture
def prefixes(opensearch_client: OpenSearch, index_name: Any) -> Iterator[dict[str, str]]:
    """This test's index prefixes (metrics and alerts); its indices are deleted afterwards."""
    token = index_name.token
    yield {
        "METRICS_INDEX_PREFIX": f"metrics-realtime-{token}-",
        "DECLARED_INDEX_PREFIX": f"metrics-declared-realtime-{token}-",
        "ALERTS_INDEX_PREFIX": f"alerts-{token}-",
    }
    existing = opensearch_client.indices.get(index=f"*-{token}-*", expand_wildcards="all")
    if existing:
        opensearch_client.indices.delete(index=",".join(sorted(existing)))


@pytest.fixture
def make_function(
    opensearch_url: str, prefixes: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., LocalFunction]]:
    functions: list[LocalFunction] = []

    def make(rules: str | None = RULES, **environment: str) -> LocalFunction:
        env = {
            "OPENSEARCH_URL": opensearch_url,
            "OPENSEARCH_BULK_MAX_ATTEMPTS": "2",
            "OPENSEARCH_BULK_MAX_RETRY_SECONDS": "1",
            "DASHBOARD_URL": "https://dashboards.example.com/app/dashboards#/view/opsanalytics-alerts",
            "POWERTOOLS_METRICS_DISABLED": "true",
            **prefixes,
        }
        if rules is not None:
            rules_path = tmp_path / "alert-rules.yaml"
            rules_path.write_text(rules)
            env["ALERT_RULES"] = str(rules_path)
        if "EMAIL_TOPIC_ARN" not in environment and rules is not None:
            env["ALERT_OUTBOX"] = str(tmp_path / "outbox.jsonl")
        function = LocalFunction("metrics_processor", environment={**env, **environment})
        functions.append(function)
        return function

    yield make
    for function in functions:
        function.close()


def count(client: OpenSearch, index: str) -> int:
    client.indices.refresh(index=index, params={"ignore_unavailable": "true", "allow_no_indices": "true"})
    return int(client.count(index=index, params={"ignore_unavailable": "true", "allow_no_indices": "true"})["count"])


def alert_store(client: OpenSearch, prefixes: dict[str, str]) -> AlertStore:
    return AlertStore(client, prefixes["ALERTS_INDEX_PREFIX"])


@pytest.fixture
def sns_topics(mocked_aws: str) -> Iterator[dict[str, Any]]:
    """Two SNS topics, each with an SQS subscriber (the SMS one filtered on severity, as the stack would)."""
    import boto3

    sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    topics: dict[str, Any] = {"sqs": sqs, "queues": {}}
    for channel, policy in (("email", None), ("sms", {"severity": ["critical"]})):
        arn = sns.create_topic(Name=f"opsanalytics-alerts-{channel}")["TopicArn"]
        queue_url = sqs.create_queue(QueueName=f"alerts-{channel}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
        topics[channel] = arn
        topics["queues"][channel] = queue_url
    yield topics


def received(topics: dict[str, Any], channel: str) -> list[dict[str, Any]]:
    sqs, url = topics["sqs"], topics["queues"][channel]
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_an_incident_notifies_once_when_it_fires_and_once_when_it_resolves(
    make_function: Callable[..., LocalFunction],
    sns_topics: dict[str, Any],
    opensearch_client: OpenSearch,
    prefixes: dict[str, str],
) -> None:
    function = make_function(
        EMAIL_TOPIC_ARN=sns_topics["email"], SMS_TOPIC_ARN=sns_topics["sms"], AWS_DEFAULT_REGION="us-east-1"
    )
    stream = Stream()
    events = [stream.event(batch) for batch in incident()]
    for event in events:
        assert function.invoke(event) == {"batchItemFailures": []}

    email, sms = received(sns_topics, "email"), received(sns_topics, "sms")
    assert [m["MessageAttributes"]["alert_state"]["Value"] for m in email] == ["firing", "resolved"]
    assert [m["MessageAttributes"]["alert_state"]["Value"] for m in sms] == ["firing", "resolved"]
    assert {m["MessageAttributes"]["severity"]["Value"] for m in email + sms} == {"critical"}
    assert email[0]["Subject"].startswith("[CRITICAL] FIRING checkout-error-rate on checkout: error_rate 0.3")
    assert "Since:      2026-01-01T10:08:00Z" in email[0]["Message"]  # the third breaching window's end
    assert "dashboards.example.com" in email[0]["Message"]
    assert all(len(m["Message"]) <= 140 for m in sms)

    (alert,) = alert_store(opensearch_client, prefixes).alerts()
    assert alert.status == "resolved" and alert.rule_id == "checkout-error-rate"
    assert iso(datetime.fromtimestamp(alert.resolved_at_ms / 1000, UTC)) == "2026-01-01T10:11:00Z"
    # the resolved alert carries the window that resolved it, not the last firing one
    assert alert.snapshot["errors"] == 2 and alert.value == 0.01 and alert.threshold == 0.05
    assert "Value:      0.01 (threshold 0.05)" in email[1]["Message"]
    assert count(opensearch_client, f"{prefixes['ALERTS_INDEX_PREFIX']}history-*") == 1
    assert count(opensearch_client, f"{prefixes['METRICS_INDEX_PREFIX']}*") == 30

    # a replay of the whole incident (a new shard iterator, a redeploy) notifies nobody again
    for event in events:
        assert function.invoke(event) == {"batchItemFailures": []}
    assert received(sns_topics, "email") == [] and received(sns_topics, "sms") == []


def test_the_same_batch_twice_gives_no_duplicate_documents_or_notifications(
    make_function: Callable[..., LocalFunction], opensearch_client: OpenSearch, prefixes: dict[str, str], tmp_path: Path
) -> None:
    function = make_function()
    spike = json.loads((EVENTS_DIR / "kinesis-error-spike.json").read_text())
    assert function.invoke(spike) == {"batchItemFailures": []}
    first = read_outbox(tmp_path / "outbox.jsonl")
    assert [(m["channel"], m["kind"]) for m in first] == [("sms", "firing"), ("email", "firing")]

    assert function.invoke(spike) == {"batchItemFailures": []}
    assert read_outbox(tmp_path / "outbox.jsonl") == first
    assert count(opensearch_client, f"{prefixes['METRICS_INDEX_PREFIX']}*") == len(spike["Records"])
    assert count(opensearch_client, prefixes["ALERTS_INDEX_PREFIX"] + "*") == 2  # the state and its episode


def test_malformed_records_fail_alone_and_a_later_revision_replaces_its_window(
    make_function: Callable[..., LocalFunction], opensearch_client: OpenSearch, prefixes: dict[str, str]
) -> None:
    function = make_function(rules=None)
    malformed = json.loads((EVENTS_DIR / "kinesis-malformed.json").read_text())
    response = function.invoke(malformed)
    sequence_numbers = [record["kinesis"]["sequenceNumber"] for record in malformed["Records"]]
    assert failed_ids(response) == sequence_numbers[1:3]
    assert count(opensearch_client, f"{prefixes['METRICS_INDEX_PREFIX']}*") == 2

    windows = json.loads((EVENTS_DIR / "kinesis-windows.json").read_text())
    assert function.invoke(windows) == {"batchItemFailures": []}
    revised = json.loads(base64.b64decode(windows["Records"][-1]["kinesis"]["data"]))
    index = realtime_index(prefixes["METRICS_INDEX_PREFIX"], revised["window_start"])
    doc_id = window_document_id(revised["service"], revised["log_group"], revised["window_start"], revised["owner"])
    stored = opensearch_client.get(index=index, id=doc_id)
    assert stored["_version"] == 2
    assert stored["_source"]["revision"] == 2 and stored["_source"]["late_events"] == 3
    assert stored["_source"]["events"] == 800 and stored["_source"]["record_type"] == "metric_window"


def test_revisions_in_any_order_keep_the_highest_and_a_correction_does_not_fire_by_itself(
    make_function: Callable[..., LocalFunction],
    opensearch_client: OpenSearch,
    prefixes: dict[str, str],
    tmp_path: Path,
) -> None:
    """Corrected windows through the metrics function: the highest revision stays whatever order the revisions
    come in (external versions), an older one is not a failure, and an alert applies each window once."""
    function = make_function()
    stream = Stream()
    calm = [window("checkout", minute) for minute in range(6)]
    assert function.invoke(stream.event(calm)) == {"batchItemFailures": []}
    # minute 2 corrected, twice, the newer revision first: 40 % errors, but its alert was evaluated already
    third = {**window("checkout", 2, errors=80), "revision": 3}
    second = {**window("checkout", 2, errors=60), "revision": 2}
    assert function.invoke(stream.event([third])) == {"batchItemFailures": []}
    assert function.invoke(stream.event([second, window("checkout", 2)])) == {"batchItemFailures": []}
    index = realtime_index(prefixes["METRICS_INDEX_PREFIX"], third["window_start"])
    stored = opensearch_client.get(
        index=index, id=window_document_id("checkout", "/aws/lambda/checkout", third["window_start"], ACCOUNT)
    )
    assert stored["_source"]["revision"] == 3 and stored["_source"]["errors"] == 80
    assert count(opensearch_client, f"{prefixes['METRICS_INDEX_PREFIX']}*") == 6
    assert read_outbox(tmp_path / "outbox.jsonl") == []  # one corrected window is no three breaching minutes


def test_version_1_documents_still_drain_with_their_late_reports(
    make_function: Callable[..., LocalFunction], opensearch_client: OpenSearch, prefixes: dict[str, str]
) -> None:
    """A metrics stream written by a job of window contract version 1 after an upgrade."""
    function = make_function(rules=None)
    old = {**window("payments", 0), "schema_version": 1}
    for name in ("owner", "revision", "error_signatures", "samples"):
        old.pop(name)
    late = {
        "schema_version": 1,
        "record_type": "late_events",
        **{name: old[name] for name in ("service", "log_group", "window_start", "window_end")},
        "late_events": 3,
    }
    assert function.invoke(Stream().event([old, late])) == {"batchItemFailures": []}
    doc = opensearch_client.get(
        index=realtime_index(prefixes["METRICS_INDEX_PREFIX"], old["window_start"]),
        id=window_document_id(old["service"], old["log_group"], old["window_start"]),
    )["_source"]
    assert doc["late_events"] == 3 and doc["events"] == 200


def test_an_unreachable_cluster_fails_the_batch_and_a_replay_loses_nothing(
    make_function: Callable[..., LocalFunction],
    opensearch_client: OpenSearch,
    prefixes: dict[str, str],
    unused_port: int,
    tmp_path: Path,
) -> None:
    documents = [orjson.dumps(w) for batch in incident()[:9] for w in batch]
    down = make_function(OPENSEARCH_URL=f"http://127.0.0.1:{unused_port}")
    report = drive_records(down.invoke, documents, tmp_path, batch_size=6, max_retries=1)
    assert (report.records, report.batches, report.invocations) == (18, 3, 6)
    assert report.dlq == 18 and report.dlq_path is not None

    dead = [json.loads(line) for line in report.dlq_path.read_text().splitlines()]
    up = make_function()
    replay = drive_records(
        up.invoke, [base64.b64decode(entry["data"]) for entry in dead], tmp_path / "replay", batch_size=6
    )
    assert (replay.failures, replay.dlq) == (0, 0)
    assert count(opensearch_client, f"{prefixes['METRICS_INDEX_PREFIX']}*") == 18
    outbox = read_outbox(tmp_path / "outbox.jsonl")
    assert [(m["channel"], m["kind"]) for m in outbox] == [("sms", "firing"), ("email", "firing")]


def test_a_service_that_goes_silent_raises_an_absence_alert(
    make_function: Callable[..., LocalFunction], opensearch_client: OpenSearch, prefixes: dict[str, str], tmp_path: Path
) -> None:
    function = make_function(rules=ABSENCE_RULES)
    stream = Stream()
    for minute in range(8):
        batch = [window("checkout", minute)] + ([window("payments", minute)] if minute < 2 else [])
        assert function.invoke(stream.event(batch)) == {"batchItemFailures": []}
        # windows are a minute apart in production; here the next batch follows within the refresh interval
        count(opensearch_client, f"{prefixes['METRICS_INDEX_PREFIX']}*")
    outbox = read_outbox(tmp_path / "outbox.jsonl")
    assert [(m["channel"], m["kind"]) for m in outbox] == [("email", "firing")]
    assert "payments" in outbox[0]["subject"] and "no metric window for 3 min" in outbox[0]["message"]

    assert function.invoke(stream.event([window("payments", 8), window("checkout", 8)])) == {"batchItemFailures": []}
    assert [m["kind"] for m in read_outbox(tmp_path / "outbox.jsonl")] == ["firing", "resolved"]


def test_a_rule_file_with_mistakes_stops_the_cold_start(make_function: Callable[..., LocalFunction]) -> None:
    broken = RULES.replace('operator: ">"', 'operator: "=>"').replace("for: 3", "for: three")
    with pytest.raises(AlertRuleError) as raised:
        make_function(rules=broken)
    assert "rule 'checkout-error-rate': field 'operator': must be one of" in str(raised.value)
    assert "rule 'checkout-error-rate': field 'for': must be a whole number" in str(raised.value)


def test_the_self_test_service_fires_and_resolves_on_the_operations_topic_only(
    make_function: Callable[..., LocalFunction], sns_topics: dict[str, Any]
) -> None:
    """What ``opsanalytics verify`` relies on: its service's error window fires the built-in rule and its clean
    window resolves it, on the operations topic; the rule file's rules (one for every service here) and the alert
    topics never see it."""
    import boto3

    sns, sqs = boto3.client("sns", region_name="us-east-1"), sns_topics["sqs"]
    operations = sns.create_topic(Name="opsanalytics-operations")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="operations")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=operations, Protocol="sqs", Endpoint=queue_arn)
    sns_topics["queues"]["operations"] = queue_url
    every_service = RULES.replace("services: checkout", "services: all")
    function = make_function(
        every_service,
        EMAIL_TOPIC_ARN=sns_topics["email"],
        SMS_TOPIC_ARN=sns_topics["sms"],
        OPERATIONS_TOPIC_ARN=operations,
    )
    stream = Stream()
    service = "opsanalytics-verify-0123456789ab"
    for minute, errors in ((0, 20), (1, 0)):
        response = function.invoke(stream.event([window(service, minute, errors=errors, events=20)]))
        assert failed_ids(response) == []
    states = [message["MessageAttributes"]["alert_state"]["Value"] for message in received(sns_topics, "operations")]
    assert states == ["firing", "resolved"]
    assert received(sns_topics, "email") == [] and received(sns_topics, "sms") == []


DECLARED_RULES = """
version: 1
rules:
  - id: gateway-timeouts
    type: threshold
    severity: warning
    services: all
    metric: declared.gateway_timeouts
    operator: ">="
    threshold: 3
    resolve_after: 2
"""


def declared(minute: int, value: int, revision: int = 1) -> dict[str, Any]:
    start = START + timedelta(minutes=minute)
    return {
        "schema_version": 1,
        "record_type": "declared_metric",
        "metric": "gateway_timeouts",
        "kind": "count",
        "unit": "",
        "owner": ACCOUNT,
        "service": "checkout",
        "group": "checkout",
        "dimensions": {},
        "window_start": iso(start),
        "window_end": iso(start + timedelta(minutes=1)),
        "window_seconds": 60,
        "revision": revision,
        "value": float(value),
        "count": value,
        "numerator": None,
        "sum": None,
        "min": None,
        "max": None,
        "late_events": 0,
        "groups_folded": 0,
    }


def test_declared_metrics_are_indexed_by_revision_and_alert_rules_watch_them(
    make_function: Callable[..., LocalFunction],
    opensearch_client: OpenSearch,
    prefixes: dict[str, str],
    tmp_path: Path,
) -> None:
    """Declared metrics' documents on the metrics stream: indexed in their own daily index under their ids (the
    highest revision stays), and a threshold rule on ``declared.<id>`` fires and resolves on them."""
    function = make_function(DECLARED_RULES)
    stream = Stream()
    values = [0, 1, 5, 7, 4, 0, 0, 0]
    for minute, value in enumerate(values):
        response = function.invoke(stream.event([declared(minute, value)]))
        assert failed_ids(response) == []
    # a correction of minute 5, then its older revision arriving late: the highest stays
    function.invoke(stream.event([declared(5, 2, revision=3), declared(5, 9, revision=2)]))
    index = f"{prefixes['DECLARED_INDEX_PREFIX']}*"
    assert count(opensearch_client, index) == len(values)
    query = {"query": {"term": {"window_start": iso(START + timedelta(minutes=5))}}, "version": True}
    hits = opensearch_client.search(index=index, body=query)
    (hit,) = hits["hits"]["hits"]
    assert (hit["_source"]["revision"], hit["_source"]["value"], hit["_version"]) == (3, 2.0, 3)
    notifications = read_outbox(tmp_path / "outbox.jsonl")
    kinds = [(n["kind"], n["subject"].split(" on ")[1].split(":")[0]) for n in notifications if n["channel"] == "email"]
    assert kinds == [("firing", "checkout"), ("resolved", "checkout")]
    firing = next(n for n in notifications if n["channel"] == "email")
    assert "gateway_timeouts of group checkout: 5 (5 events counted)" in firing["message"]
    # malformed declared documents fail alone
    bad = {**declared(9, 1), "revision": 0}
    response = function.invoke(stream.event([bad, declared(10, 0)]))
    assert len(failed_ids(response)) == 1


def test_a_rule_on_a_declared_metric_may_not_wait_for_windows(make_function: Callable[..., LocalFunction]) -> None:
    with pytest.raises(AlertRuleError, match="must be 1 for a declared metric"):
        make_function(DECLARED_RULES.replace("resolve_after: 2", "for: 2"))


def test_the_sample_declared_event_fires_and_resolves_the_shipped_rule(
    make_function: Callable[..., LocalFunction], opensearch_client: OpenSearch, prefixes: dict[str, str], tmp_path: Path
) -> None:
    """events/metrics_processor/kinesis-declared.json (what ``sam local invoke`` gets) with config/alert-rules.yaml."""
    shipped = (Path(__file__).resolve().parents[2] / "config" / "alert-rules.yaml").read_text()
    function = make_function(shipped)
    event = json.loads((EVENTS_DIR / "kinesis-declared.json").read_text())
    assert failed_ids(function.invoke(event)) == []
    assert count(opensearch_client, f"{prefixes['DECLARED_INDEX_PREFIX']}*") == 5
    # the folded group and a window's late events feed no rule: neither the declared rule nor the windows' rules
    other = {**declared(6, 40), "metric": "payment_gateway_timeouts", "group": "<other>", "service": "<other>"}
    late = {**declared(7, 0), "metric": "payment_gateway_timeouts", "late_events": 25}
    assert failed_ids(function.invoke(Stream().event([other, late]))) == []
    emails = [n for n in read_outbox(tmp_path / "outbox.jsonl") if n["channel"] == "email"]
    assert [(n["kind"], "payment-gateway-timeouts" in n["subject"]) for n in emails] == [
        ("firing", True),
        ("resolved", True),
    ]
