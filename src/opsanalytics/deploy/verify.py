"""``opsanalytics verify``: a smoke test of a deployed stack, hop by hop, with the time each hop took.

1. ``stack``: the stack exists, its last operation completed, and it has the outputs the other hops need.
2. ``write``: a test log group of its own (``/opsanalytics/verify/<stack>/<run>``) subscribed to the logs stream
   with the stack's subscription role, and lines from the self-test service ``opsanalytics-verify-<run>``
   (`opsanalytics.alerting.rules.SELF_TEST_PREFIX`) over the next three minutes: an error burst at the start of
   one minute, clean lines at the start of the next, then one more line that moves the realtime job's watermark
   past the clean minute.
3. ``archive``: the run's events in the archive bucket's ``events/`` (Firehose buffers up to five minutes).
4. ``metrics``: the run's metric windows in ``metrics-realtime-*`` (the realtime job and the metrics function).
5. ``alert``: the built-in self-test rule fired and resolved on the operations topic, read through a queue this
   command subscribes for the run; the alert topics (email, SMS) never see it.
6. ``dashboards``: the Dashboards URL answers (a sign-in redirect counts: it is reachable).

Every hop that fails says what to check. What the command made (the log group, its subscription filter, the queue
and its subscription) is removed at the end unless ``--keep``. It needs credentials that may create log groups and
subscription filters, pass the stack's subscription role, create an SQS queue and subscribe it to the operations
topic, read the archive bucket, and search the domain (with fine-grained access control: an identity mapped as in
``OpenSearchAdminArns``).
"""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from opsanalytics.alerting.rules import SELF_TEST_PREFIX, SELF_TEST_RULE

REQUIRED_OUTPUTS: Final = (
    "ArchiveBucketName",
    "LogsStreamArn",
    "LogsSubscriptionRoleArn",
    "OperationsTopicArn",
    "OpenSearchEndpoint",
)
COMPLETE: Final = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")
ERRORS_PER_BURST: Final = 20
CLEAN_LINES: Final = 10
POLL_SECONDS: Final = 15.0
FILTER_NAME: Final = "opsanalytics-verify"


class HopFailed(Exception):
    """A hop did not hold; the message says what to check."""


@dataclass(frozen=True, slots=True)
class HopResult:
    name: str
    ok: bool
    seconds: float
    detail: str

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"  {mark} {self.name:<11} {self.seconds:6.1f} s  {self.detail}"


@dataclass(slots=True)
class VerifyReport:
    stack: str
    run_id: str
    hops: list[HopResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.hops) and all(hop.ok for hop in self.hops)

    def summary(self) -> str:
        verdict = "the stack works end to end" if self.ok else "the stack does not work end to end"
        lines = [f"opsanalytics verify {self.stack} (run {self.run_id}): {verdict}"]
        return "\n".join([*lines, *(hop.line() for hop in self.hops)])


class OpenSearchSearch(Protocol):
    def __call__(self, index: str, body: Mapping[str, Any]) -> Mapping[str, Any]: ...


@dataclass(slots=True)
class Clients:
    """What the hops call: boto3 clients, a search on the domain, an HTTP GET, the clock."""

    cloudformation: Any
    logs: Any
    s3: Any
    sns: Any
    sqs: Any
    search: OpenSearchSearch | None = None
    """Built from the stack's endpoint when None (SigV4 with the caller's credentials)."""
    http_status: Callable[[str], int] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    receive_wait_seconds: int = 10
    """SQS long polling of the alert hop."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    archive: float = 600.0
    metrics: float = 420.0
    alert: float = 420.0


@dataclass(slots=True)
class Run:
    """What one verification made and learnt; `cleanup` removes what it made."""

    stack: str
    run_id: str
    started_ms: int
    outputs: dict[str, str] = field(default_factory=dict)
    log_group: str = ""
    burst_ms: int = 0
    """The minute the error burst is in: the archive partition its events land in."""
    queue_url: str = ""
    subscription_arn: str = ""

    @property
    def service(self) -> str:
        return f"{SELF_TEST_PREFIX}{self.run_id}"


# --- the hops ---------------------------------------------------------------------------------------------------


def check_stack(clients: Clients, run: Run) -> str:
    try:
        (stack,) = clients.cloudformation.describe_stacks(StackName=run.stack)["Stacks"]
    except Exception as exc:  # botocore's ClientError: the stack does not exist (or cannot be read)
        raise HopFailed(f"cannot read the stack {run.stack}: {exc}; check the name and the region") from exc
    status = str(stack["StackStatus"])
    if status not in COMPLETE:
        raise HopFailed(f"the stack is {status}; deploy it (sam deploy) until it is CREATE_COMPLETE or UPDATE_COMPLETE")
    run.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if not run.outputs.get(name)]
    if missing:
        raise HopFailed(f"the stack has no output {', '.join(missing)}: deploy this version of the template")
    return f"{status}, {len(run.outputs)} outputs"


def _line(run: Run, level: str, index: int) -> str:
    return json.dumps(
        {"level": level, "service": run.service, "message": f"opsanalytics verify {run.run_id} {level} {index}"}
    )


def _minute_start(ms: int) -> int:
    return ms - ms % 60_000


def _put(clients: Clients, run: Run, stream: str, lines: list[str], at_ms: int) -> None:
    """`lines` stamped from `at_ms` on, a millisecond apart: all in the minute of `at_ms`."""
    events = [{"timestamp": at_ms + i, "message": line} for i, line in enumerate(lines)]
    clients.logs.put_log_events(logGroupName=run.log_group, logStreamName=stream, logEvents=events)


def _sleep_until(clients: Clients, epoch_ms: int) -> None:
    wait = epoch_ms / 1000 - clients.clock()
    if wait > 0:
        clients.sleep(wait)


def write_test_lines(clients: Clients, run: Run) -> str:
    subscribe_queue(clients, run)  # first: the alert can fire as soon as the burst is in a window
    run.log_group = f"/opsanalytics/verify/{run.stack}/{run.run_id}"
    stream = "verify"
    try:
        clients.logs.create_log_group(logGroupName=run.log_group)
        clients.logs.put_retention_policy(logGroupName=run.log_group, retentionInDays=1)
        clients.logs.create_log_stream(logGroupName=run.log_group, logStreamName=stream)
        clients.logs.put_subscription_filter(
            logGroupName=run.log_group,
            filterName=FILTER_NAME,
            filterPattern="",
            destinationArn=run.outputs["LogsStreamArn"],
            roleArn=run.outputs["LogsSubscriptionRoleArn"],
        )
    except Exception as exc:
        raise HopFailed(
            f"cannot make the test log group {run.log_group}: {exc}; your credentials need logs:CreateLogGroup, "
            f"logs:PutSubscriptionFilter and iam:PassRole on {run.outputs['LogsSubscriptionRoleArn']}"
        ) from exc
    # each group of lines at the start of a minute of its own, at the time it is written: on a busy stack the
    # realtime job's watermark follows the other traffic, and a line written late in its minute could arrive late
    burst_minute = _minute_start(int(clients.clock() * 1000)) + 60_000
    _sleep_until(clients, burst_minute + 2_000)
    _put(clients, run, stream, [_line(run, "ERROR", i) for i in range(ERRORS_PER_BURST)], burst_minute + 2_000)
    clean_minute = burst_minute + 60_000
    _sleep_until(clients, clean_minute + 2_000)
    _put(clients, run, stream, [_line(run, "INFO", i) for i in range(CLEAN_LINES)], clean_minute + 2_000)
    # the realtime job emits a window once its watermark (newest event time less 5 s) passes the window's end
    _sleep_until(clients, clean_minute + 60_000 + 10_000)
    _put(clients, run, stream, [_line(run, "INFO", CLEAN_LINES)], clean_minute + 60_000 + 10_000)
    run.burst_ms = burst_minute
    return f"{ERRORS_PER_BURST} errors, then {CLEAN_LINES + 1} clean lines, to {run.log_group}"


def _wait_for(clients: Clients, timeout: float, probe: Callable[[], str | None]) -> str | None:
    deadline = clients.clock() + timeout
    while True:
        found = probe()
        if found is not None or clients.clock() >= deadline:
            return found
        clients.sleep(POLL_SECONDS)


def _partitions(since_ms: int, until_ms: int) -> list[str]:
    """The archive's ``events/dt=/hour=/`` prefixes of the hours from `since_ms` to `until_ms` (a run may cross
    midnight): a Firehose record is filed under the hour of its earliest event."""
    hour_ms = 3_600_000
    first, last = since_ms - since_ms % hour_ms, until_ms - until_ms % hour_ms
    return [
        datetime.fromtimestamp(start / 1000, tz=UTC).strftime("events/dt=%Y-%m-%d/hour=%H/")
        for start in range(first, last + 1, hour_ms)
    ]


def _holds(stream: Any, marker: bytes, chunk: int = 1 << 20) -> bool:
    """Whether `marker` is in the stream, read a chunk at a time (objects of 128 MB stay out of memory)."""
    tail = b""
    while block := stream.read(chunk):
        if marker in tail + block:
            return True
        tail = block[-len(marker) :]
    return False


def check_archive(clients: Clients, run: Run, timeout: float) -> str:
    bucket = run.outputs["ArchiveBucketName"]
    marker = run.run_id.encode()
    checked: set[str] = set()
    paginator = clients.s3.get_paginator("list_objects_v2")

    def probe() -> str | None:
        for prefix in _partitions(run.burst_ms or run.started_ms, int(clients.clock() * 1000)):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])
                    if key in checked:
                        continue
                    checked.add(key)
                    body = clients.s3.get_object(Bucket=bucket, Key=key)["Body"]
                    stream = gzip.GzipFile(fileobj=body) if key.endswith(".gz") else body
                    if _holds(stream, marker):
                        return key
        return None

    key = _wait_for(clients, timeout, probe)
    if key is None:
        raise HopFailed(
            f"no event of the run in s3://{bucket}/events/ after {timeout:.0f} s; check the delivery stream's "
            "errors/ prefix, the ArchiveDeliveryFailureAlarm and the log transformer's log group"
        )
    return f"s3://{bucket}/{key}"


def opensearch_search(endpoint: str) -> OpenSearchSearch:
    from opsanalytics.opensearch import OpenSearchSettings, create_client

    client = create_client(OpenSearchSettings.for_url(endpoint))

    def search(index: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        response: Mapping[str, Any] = client.search(index=index, body=dict(body))
        return response

    return search


def check_metrics(clients: Clients, run: Run, timeout: float) -> str:
    search = clients.search or opensearch_search(run.outputs["OpenSearchEndpoint"])
    query = {"size": 10, "query": {"term": {"service": run.service}}, "sort": [{"window_start": "asc"}]}

    def probe() -> str | None:
        try:
            hits = search("metrics-realtime-*", query)["hits"]["hits"]
        except Exception as exc:  # opensearch-py's errors: refused, unreachable
            raise HopFailed(
                f"cannot search {run.outputs['OpenSearchEndpoint']}: {exc}; with fine-grained access control your "
                "identity must be mapped (OpenSearchAdminArns), and a domain inside a VPC is searchable only from it"
            ) from exc
        windows = [hit["_source"] for hit in hits]
        if any(w.get("errors", 0) > 0 for w in windows) and any(w.get("errors", 0) == 0 for w in windows):
            return f"{len(windows)} windows, errors {[w.get('errors') for w in windows]}"
        return None

    found = _wait_for(clients, timeout, probe)
    if found is None:
        raise HopFailed(
            f"no metric windows of {run.service} with and without errors after {timeout:.0f} s; check the Flink "
            "application (the RealtimeApplicationDowntimeAlarm, its log group), the metrics stream's iterator age "
            "and the metrics function's errors and dead-letter queue"
        )
    return found


def subscribe_queue(clients: Clients, run: Run) -> None:
    """A queue of the run's own on the operations topic, before any test line is written."""
    topic = run.outputs["OperationsTopicArn"]
    try:
        run.queue_url = clients.sqs.create_queue(QueueName=f"opsanalytics-verify-{run.run_id}")["QueueUrl"]
        queue_arn = clients.sqs.get_queue_attributes(QueueUrl=run.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        clients.sqs.set_queue_attributes(QueueUrl=run.queue_url, Attributes={"Policy": json.dumps(policy)})
        run.subscription_arn = clients.sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    except Exception as exc:
        raise HopFailed(
            f"cannot listen to the operations topic {topic}: {exc}; your credentials need sqs:CreateQueue, "
            "sqs:SetQueueAttributes and sns:Subscribe"
        ) from exc


def check_alert(clients: Clients, run: Run, timeout: float) -> str:
    seen: set[str] = set()

    def probe() -> str | None:
        response = clients.sqs.receive_message(
            QueueUrl=run.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=clients.receive_wait_seconds,
            MessageAttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            if run.service in message.get("Body", ""):
                state = (message.get("MessageAttributes") or {}).get("alert_state", {}).get("StringValue", "")
                seen.add(state or _state_from_body(message["Body"]))
            clients.sqs.delete_message(QueueUrl=run.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return "fired and resolved" if {"firing", "resolved"} <= seen else None

    found = _wait_for(clients, timeout, probe)
    if found is None:
        saw = ", ".join(sorted(seen)) or "nothing"
        raise HopFailed(
            f"the {SELF_TEST_RULE.id} alert of {run.service} was not both fired and resolved on the operations "
            f"topic after {timeout:.0f} s (saw {saw}); check the metrics function's log group (alert evaluation "
            "problems) and that its ALERT_RULES load"
        )
    return f"{SELF_TEST_RULE.id}: {found} on {run.outputs['OperationsTopicArn']}"


def _state_from_body(body: str) -> str:
    lowered = body.lower()
    return "resolved" if "resolved" in lowered else "firing" if "firing" in lowered else ""


def default_http_status(url: str) -> int:
    request = urllib.request.Request(url, method="GET")  # noqa: S310 (an https URL of the stack's outputs)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def check_dashboards(clients: Clients, run: Run) -> str:
    url = run.outputs.get("DashboardsUrl") or f"{run.outputs['OpenSearchEndpoint']}/_dashboards"
    try:
        status = (clients.http_status or default_http_status)(url)
    except OSError as exc:
        raise HopFailed(
            f"{url} does not answer from here ({exc}); a domain inside a VPC is reachable only from the VPC "
            "(a VPN, a bastion, a proxy)"
        ) from exc
    if status >= 500:
        raise HopFailed(f"{url} answers {status}; check the domain's health in the OpenSearch Service console")
    return f"{url} answers {status} (a sign-in page or its redirect)"


def cleanup(clients: Clients, run: Run) -> list[str]:
    """Remove what the run made; what could not be removed, as lines to act on."""
    problems = []
    steps: list[tuple[bool, str, Callable[[], object]]] = [
        (
            bool(run.subscription_arn),
            "the queue's subscription",
            lambda: clients.sns.unsubscribe(SubscriptionArn=run.subscription_arn),
        ),
        (bool(run.queue_url), f"the queue {run.queue_url}", lambda: clients.sqs.delete_queue(QueueUrl=run.queue_url)),
        (
            bool(run.log_group),
            f"the log group {run.log_group}",
            lambda: clients.logs.delete_log_group(logGroupName=run.log_group),
        ),
    ]
    for needed, what, remove in steps:
        if not needed:
            continue
        try:
            remove()
        except Exception as exc:
            problems.append(f"could not remove {what}: {exc}")
    return problems


def verify(
    stack: str,
    clients: Clients,
    *,
    timeouts: Timeouts = Timeouts(),
    keep: bool = False,
    progress: Callable[[str], None] = print,
    run_id: str | None = None,
) -> VerifyReport:
    run = Run(stack, run_id or uuid.uuid4().hex[:12], int(clients.clock() * 1000))
    report = VerifyReport(stack, run.run_id)
    hops: list[tuple[str, Callable[[], str]]] = [
        ("stack", lambda: check_stack(clients, run)),
        ("write", lambda: write_test_lines(clients, run)),
        ("archive", lambda: check_archive(clients, run, timeouts.archive)),
        ("metrics", lambda: check_metrics(clients, run, timeouts.metrics)),
        ("alert", lambda: check_alert(clients, run, timeouts.alert)),
        ("dashboards", lambda: check_dashboards(clients, run)),
    ]
    try:
        for name, hop in hops:
            progress(f"verify: {name} ...")
            started = clients.clock()
            try:
                detail, ok = hop(), True
            except HopFailed as exc:
                detail, ok = str(exc), False
            report.hops.append(HopResult(name, ok, clients.clock() - started, detail))
            progress(report.hops[-1].line())
            if not ok:
                break
    finally:
        if not keep:
            for problem in cleanup(clients, run):
                progress(f"verify: {problem}")
    return report
