"""The Flink starter custom resource (`opsanalytics.deploy.flink_start`) against Managed Flink as botocore stubs.

moto's kinesisanalyticsv2 has no StartApplication or ListApplicationSnapshots: the answers are botocore Stubber
responses, checked against the service model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from opsanalytics.deploy import flink_start as app
from opsanalytics.deploy.custom_resource import CustomResourceRequest

APP = "opsanalytics-RealtimeApplication-abc123"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/opsanalytics/5b6f2c40-0000-11f1-9c2e-0a1b2c3d4e5f"
LOG_GROUP = "/aws/kinesis-analytics/opsanalytics-realtime"


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def flink() -> Iterator[tuple[Any, Stubber]]:
    client = _client("kinesisanalyticsv2")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def cloudformation() -> Iterator[tuple[Any, Stubber]]:
    client = _client("cloudformation")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def describe(stubber: Stubber, status: str) -> None:
    detail = {
        "ApplicationARN": f"arn:aws:kinesisanalytics:us-east-1:123456789012:application/{APP}",
        "ApplicationName": APP,
        "RuntimeEnvironment": "FLINK-1_20",
        "ApplicationStatus": status,
        "ApplicationVersionId": 1,
    }
    stubber.add_response("describe_application", {"ApplicationDetail": detail}, {"ApplicationName": APP})


def snapshots(stubber: Stubber, *statuses: str) -> None:
    summaries = [
        {"SnapshotName": f"snapshot-{i}", "SnapshotStatus": s, "ApplicationVersionId": 1}
        for i, s in enumerate(statuses)
    ]
    stubber.add_response(
        "list_application_snapshots", {"SnapshotSummaries": summaries}, {"ApplicationName": APP, "Limit": 50}
    )


def start(stubber: Stubber, restore: str) -> None:
    run = {
        "ApplicationRestoreConfiguration": {"ApplicationRestoreType": restore},
        "FlinkRunConfiguration": {"AllowNonRestoredState": False},
    }
    stubber.add_response("start_application", {}, {"ApplicationName": APP, "RunConfiguration": run})


def run(client: Any, *, seconds: float = 600.0) -> tuple[Any, list[float]]:
    waits: list[float] = []
    outcome = app.ensure_running(client, APP, seconds_left=lambda: seconds, sleep=waits.append, log_group=LOG_GROUP)
    return outcome, waits


def test_a_new_application_is_started_without_a_snapshot_and_awaited(flink: tuple[Any, Stubber]) -> None:
    client, stubber = flink
    describe(stubber, "READY")
    snapshots(stubber)
    start(stubber, "SKIP_RESTORE_FROM_SNAPSHOT")
    describe(stubber, "STARTING")
    describe(stubber, "RUNNING")
    outcome, waits = run(client)
    assert outcome.data() == {"Status": "RUNNING", "Action": "started"}
    assert waits == [app.POLL_SECONDS, app.POLL_SECONDS]


def test_a_stopped_application_restarts_from_its_latest_snapshot(flink: tuple[Any, Stubber]) -> None:
    client, stubber = flink
    describe(stubber, "READY")
    snapshots(stubber, "FAILED", "READY")
    start(stubber, "RESTORE_FROM_LATEST_SNAPSHOT")
    describe(stubber, "RUNNING")
    outcome, _ = run(client)
    assert outcome.data() == {"Status": "RUNNING", "Action": "started from the latest snapshot"}


@pytest.mark.parametrize("status", ["RUNNING", "STARTING", "UPDATING", "AUTOSCALING", "MAINTENANCE"])
def test_a_running_application_is_left_alone(flink: tuple[Any, Stubber], status: str) -> None:
    client, stubber = flink
    describe(stubber, status)
    outcome, waits = run(client)
    assert outcome.data() == {"Status": status, "Action": "none"}
    assert waits == []


@pytest.mark.parametrize("status", ["STOPPING", "FORCE_STOPPING", "DELETING", "ROLLING_BACK", "ROLLED_BACK"])
def test_other_states_fail_the_stack_operation_with_the_state(flink: tuple[Any, Stubber], status: str) -> None:
    client, stubber = flink
    describe(stubber, status)
    with pytest.raises(app.ApplicationNotStarted, match=f"{APP} is {status}"):
        run(client)


def test_an_application_that_falls_back_to_ready_did_not_start(flink: tuple[Any, Stubber]) -> None:
    client, stubber = flink
    describe(stubber, "READY")
    snapshots(stubber)
    start(stubber, "SKIP_RESTORE_FROM_SNAPSHOT")
    describe(stubber, "STARTING")
    describe(stubber, "READY")
    with pytest.raises(app.ApplicationNotStarted, match=f"did not start .* see {LOG_GROUP}"):
        run(client)


def test_still_starting_when_time_runs_out_is_reported_not_failed(flink: tuple[Any, Stubber]) -> None:
    client, stubber = flink
    describe(stubber, "READY")
    snapshots(stubber)
    start(stubber, "SKIP_RESTORE_FROM_SNAPSHOT")
    outcome, waits = run(client, seconds=1.0)
    assert outcome.status == "STARTING"
    assert "still STARTING" in outcome.action
    assert waits == []


def _request(request_type: str = "Update") -> CustomResourceRequest:
    event = {
        "RequestType": request_type,
        "StackId": STACK_ID,
        "ResourceProperties": {"ApplicationName": APP, "LogGroupName": LOG_GROUP},
    }
    return CustomResourceRequest.from_event(event)


def _stack(stubber: Stubber, status: str) -> None:
    stack = {"StackName": "opsanalytics", "StackId": STACK_ID, "CreationTime": "2026-01-01T00:00:00Z"}
    stubber.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": status}]}, {"StackName": STACK_ID})


def test_a_failure_during_a_rollback_is_reported_not_raised(
    flink: tuple[Any, Stubber], cloudformation: tuple[Any, Stubber]
) -> None:
    describe(flink[1], "STOPPING")
    _stack(cloudformation[1], "UPDATE_ROLLBACK_IN_PROGRESS")
    outcome = app.handle(
        _request(), kinesisanalytics=flink[0], cloudformation=cloudformation[0], seconds_left=lambda: 600.0
    )
    assert outcome.data["Action"].startswith("not started during the rollback")


def test_a_failure_during_a_deploy_is_raised(flink: tuple[Any, Stubber], cloudformation: tuple[Any, Stubber]) -> None:
    describe(flink[1], "STOPPING")
    _stack(cloudformation[1], "UPDATE_IN_PROGRESS")
    with pytest.raises(app.ApplicationNotStarted):
        app.handle(_request(), kinesisanalytics=flink[0], cloudformation=cloudformation[0], seconds_left=lambda: 600.0)


def test_delete_leaves_the_application_to_cloudformation(
    flink: tuple[Any, Stubber], cloudformation: tuple[Any, Stubber]
) -> None:
    outcome = app.handle(
        _request("Delete"), kinesisanalytics=flink[0], cloudformation=cloudformation[0], seconds_left=lambda: 600.0
    )
    assert outcome.reason == "CloudFormation deletes the application"  # and no call: the stubbers hold none
