"""``opsanalytics verify`` hop by hop, offline: CloudWatch Logs, S3, SNS and SQS in moto, CloudFormation as botocore
stubs, the domain as a fake search, a clock that moves only when the command waits. The "pipeline" answers on the
clock's schedule: Firehose archives the run, the windows appear, the metrics function's notifier (the real
`SnsNotifier`) publishes the self-test alert to the operations topic."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from opsanalytics.alerting.evaluate import AlertState, Notification
from opsanalytics.alerting.notify import SnsNotifier, messages_for
from opsanalytics.deploy import verify as app

STACK = "opsanalytics"
START = datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC).timestamp()
ROLE = "arn:aws:iam::123456789012:role/opsanalytics-CloudWatchLogsToLogsStreamRole-abc"
RUN = "0123456789ab"
SERVICE = f"opsanalytics-verify-{RUN}"


class Clock:
    """Time that passes only when the command sleeps; `at` runs a step of the pipeline once its time has come."""

    def __init__(self) -> None:
        self.now = START
        self.scheduled: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def at(self, seconds_after_start: float, step: Callable[[], None]) -> None:
        self.scheduled.append((START + seconds_after_start, step))

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        due = [entry for entry in self.scheduled if entry[0] <= self.now]
        self.scheduled = [entry for entry in self.scheduled if entry[0] > self.now]
        for _, step in due:
            step()


@dataclass
class World:
    clock: Clock
    clients: app.Clients
    outputs: dict[str, str]
    windows: list[dict[str, Any]] = field(default_factory=list)
    status: int = 302


def _stack_response(outputs: Mapping[str, str], status: str = "UPDATE_COMPLETE") -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "CreationTime": datetime(2026, 12, 1, tzinfo=UTC),
                "StackStatus": status,
                "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
            }
        ]
    }


@pytest.fixture
def world(mocked_aws: str) -> Iterator[World]:
    region = mocked_aws
    kinesis = boto3.client("kinesis", region_name=region)
    kinesis.create_stream(StreamName="logs", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName="logs")["StreamDescription"]["StreamARN"]
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket="archive")
    sns = boto3.client("sns", region_name=region)
    topic = sns.create_topic(Name="operations")["TopicArn"]
    outputs = {
        "ArchiveBucketName": "archive",
        "LogsStreamArn": stream_arn,
        "LogsSubscriptionRoleArn": ROLE,
        "OperationsTopicArn": topic,
        "OpenSearchEndpoint": "https://search-logs-abc.us-east-1.es.amazonaws.com",
        "DashboardsUrl": "https://search-logs-abc.us-east-1.es.amazonaws.com/_dashboards",
    }
    cloudformation = boto3.client("cloudformation", region_name=region)
    clock = Clock()
    state = World(
        clock,
        app.Clients(
            cloudformation, boto3.client("logs", region_name=region), s3, sns, boto3.client("sqs", region_name=region)
        ),
        outputs,
    )
    state.clients.search = lambda index, body: {"hits": {"hits": [{"_source": w} for w in state.windows]}}
    state.clients.http_status = lambda url: state.status
    state.clients.sleep = clock.sleep
    state.clients.clock = clock
    state.clients.receive_wait_seconds = 0  # moto waits in real time
    with Stubber(cloudformation) as stubber:
        stubber.add_response("describe_stacks", _stack_response(outputs), {"StackName": STACK})
        yield state


def _notify(world: World, kind: str) -> None:
    alert = AlertState(
        alert_id="a1",
        rule_id="pipeline-self-test",
        rule_type="threshold",
        severity="info",
        status="firing" if kind == "firing" else "resolved",
        dimensions={"service": SERVICE, "log_group": f"/opsanalytics/verify/{STACK}/{RUN}"},
        metric="errors",
        value=20.0 if kind == "firing" else 0.0,
        threshold=0.0,
        detail="errors > 0",
        snapshot={},
        first_seen_ms=int(START * 1000),
        last_seen_ms=int(START * 1000),
        evaluated_until_ms=int(START * 1000),
    )
    notifier = SnsNotifier({"operations": world.outputs["OperationsTopicArn"]}, client=world.clients.sns)
    for message in messages_for(Notification(kind, alert)):  # type: ignore[arg-type]
        notifier.deliver(message)


def _pipeline_works(world: World) -> None:
    def archived() -> None:
        body = gzip.compress(f'{{"service": "{SERVICE}", "message": "opsanalytics verify {RUN} ERROR 0"}}\n'.encode())
        world.clients.s3.put_object(Bucket="archive", Key="events/dt=2026-12-03/hour=12/part-1.gz", Body=body)

    world.clock.at(200, archived)
    world.clock.at(260, lambda: world.windows.extend([{"errors": 20}, {"errors": 0}]))
    world.clock.at(270, lambda: _notify(world, "firing"))
    world.clock.at(280, lambda: _notify(world, "resolved"))


def _verify(world: World, **timeouts: float) -> app.VerifyReport:
    lines: list[str] = []
    return app.verify(STACK, world.clients, timeouts=app.Timeouts(**timeouts), progress=lines.append, run_id=RUN)


def test_every_hop_holds_and_what_the_run_made_is_removed(world: World) -> None:
    _pipeline_works(world)
    report = _verify(world)
    assert report.ok, report.summary()
    assert [hop.name for hop in report.hops] == ["stack", "write", "archive", "metrics", "alert", "dashboards"]
    assert "fired and resolved" in report.hops[4].detail
    assert all(hop.seconds >= 0 for hop in report.hops)
    assert "works end to end" in report.summary()
    assert not world.clients.logs.describe_log_groups(logGroupNamePrefix="/opsanalytics/verify/")["logGroups"]
    assert not world.clients.sqs.list_queues().get("QueueUrls")


def test_the_lines_come_from_the_self_test_service_over_three_minutes(world: World) -> None:
    run = app.Run(STACK, RUN, int(START * 1000), outputs=world.outputs)
    app.write_test_lines(world.clients, run)
    events = world.clients.logs.get_log_events(logGroupName=run.log_group, logStreamName="verify")["events"]
    assert len(events) == app.ERRORS_PER_BURST + app.CLEAN_LINES + 1
    assert all(SERVICE in e["message"] for e in events)
    minutes = {e["timestamp"] // 60_000 for e in events}
    assert len(minutes) == 3, "an error minute, a clean minute, a line that closes the clean one"
    (subscription,) = world.clients.logs.describe_subscription_filters(logGroupName=run.log_group)[
        "subscriptionFilters"
    ]
    assert subscription["destinationArn"] == world.outputs["LogsStreamArn"]
    assert subscription["roleArn"] == ROLE


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (_stack_response({}, "UPDATE_ROLLBACK_COMPLETE"), "the stack is UPDATE_ROLLBACK_COMPLETE; deploy it"),
        (_stack_response({"ArchiveBucketName": "archive"}), "has no output LogsStreamArn, LogsSubscriptionRoleArn"),
    ],
)
def test_a_stack_that_cannot_be_verified_says_why(response: dict[str, Any], message: str) -> None:
    cloudformation = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    clients = app.Clients(cloudformation, None, None, None, None)
    with Stubber(cloudformation) as stubber:
        stubber.add_response("describe_stacks", response, {"StackName": STACK})
        with pytest.raises(app.HopFailed, match=message):
            app.check_stack(clients, app.Run(STACK, RUN, 0))


def test_a_missing_stack_says_to_check_the_name_and_region() -> None:
    cloudformation = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(cloudformation) as stubber:
        stubber.add_client_error("describe_stacks", "ValidationError", f"Stack with id {STACK} does not exist")
        with pytest.raises(app.HopFailed, match="check the name and the region"):
            app.check_stack(app.Clients(cloudformation, None, None, None, None), app.Run(STACK, RUN, 0))


def test_credentials_that_may_not_make_the_log_group_are_named(world: World) -> None:
    class Refusing:
        def __getattr__(self, name: str) -> Any:
            def refuse(**_: Any) -> None:
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, name)

            return refuse

    world.clients.logs = Refusing()
    report = _verify(world)
    assert [hop.name for hop in report.hops] == ["stack", "write"]
    assert not report.ok
    assert f"iam:PassRole on {ROLE}" in report.hops[1].detail
    assert not world.clients.sqs.list_queues().get("QueueUrls"), "the queue it made first is removed"


def test_nothing_archived_points_at_the_delivery_stream(world: World) -> None:
    report = _verify(world, archive=60)
    assert report.hops[-1].name == "archive" and not report.hops[-1].ok
    assert "errors/ prefix, the ArchiveDeliveryFailureAlarm" in report.hops[-1].detail


def test_no_windows_points_at_flink_and_the_metrics_function(world: World) -> None:
    _pipeline_works(world)
    world.clock.scheduled = [entry for entry in world.clock.scheduled if entry[0] < START + 250]
    report = _verify(world, metrics=60)
    assert report.hops[-1].name == "metrics" and not report.hops[-1].ok
    assert "check the Flink application" in report.hops[-1].detail


def test_a_domain_that_refuses_the_search_says_to_map_the_identity(world: World) -> None:
    _pipeline_works(world)

    def refused(index: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        raise PermissionError("403 security_exception")

    world.clients.search = refused
    report = _verify(world)
    assert report.hops[-1].name == "metrics"
    assert "must be mapped (OpenSearchAdminArns)" in report.hops[-1].detail


def test_an_alert_that_fires_but_does_not_resolve_says_what_it_saw(world: World) -> None:
    _pipeline_works(world)
    world.clock.scheduled = [entry for entry in world.clock.scheduled if entry[0] < START + 275]
    report = _verify(world, alert=60)
    assert report.hops[-1].name == "alert" and not report.hops[-1].ok
    assert "(saw firing)" in report.hops[-1].detail


@pytest.mark.parametrize(
    ("status", "message"), [(503, "answers 503"), (OSError("timed out"), "reachable only from the VPC")]
)
def test_dashboards_that_do_not_answer_say_why(world: World, status: Any, message: str) -> None:
    _pipeline_works(world)

    def http_status(url: str) -> int:
        if isinstance(status, Exception):
            raise status
        return int(status)

    world.clients.http_status = http_status
    report = _verify(world)
    assert report.hops[-1].name == "dashboards" and not report.hops[-1].ok
    assert message in report.hops[-1].detail


def test_the_self_test_alert_goes_to_the_operations_topic_only() -> None:
    from opsanalytics.alerting.notify import channels_for
    from opsanalytics.alerting.rules import SELF_TEST_RULE, ServiceSelector

    assert SELF_TEST_RULE.services.matches(SERVICE)
    assert not SELF_TEST_RULE.services.matches("checkout")
    assert not ServiceSelector(None).matches(SERVICE), "a rule for all services leaves the self-test alone"
    alert = AlertState(
        alert_id="a",
        rule_id="x",
        rule_type="threshold",
        severity="critical",
        status="firing",
        dimensions={"service": SERVICE},
        metric="errors",
        value=1.0,
        threshold=0.0,
        detail="",
        snapshot={},
        first_seen_ms=0,
        last_seen_ms=0,
        evaluated_until_ms=0,
    )
    assert channels_for(alert) == ("operations",)


def test_the_archive_search_reads_a_chunk_at_a_time_and_crosses_midnight() -> None:
    import io

    body = b"x" * 10 + RUN.encode() + b"y" * 10
    assert app._holds(io.BytesIO(body), RUN.encode(), chunk=15), "the marker straddles two chunks"
    assert not app._holds(io.BytesIO(b"z" * 50), RUN.encode(), chunk=15)
    before = int(datetime(2026, 12, 3, 23, 59, tzinfo=UTC).timestamp() * 1000)
    after = int(datetime(2026, 12, 4, 0, 4, tzinfo=UTC).timestamp() * 1000)
    assert app._partitions(before, after) == ["events/dt=2026-12-03/hour=23/", "events/dt=2026-12-04/hour=00/"]
