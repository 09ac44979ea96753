"""The LogSubscriptions custom resource (`opsanalytics.deploy.subscriptions`) on CloudWatch Logs and Kinesis in moto."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from opsanalytics.deploy import subscriptions as app
from opsanalytics.deploy.custom_resource import CustomResourceRequest
from opsanalytics.local.lambda_runtime import LocalFunction

REGION = "us-east-1"
FILTER = "opsanalytics-logs-stream"
ROLE = "arn:aws:iam::123456789012:role/opsanalytics-CloudWatchLogsToLogsStreamRole"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/opsanalytics/1"
PIPELINE = ["/aws/lambda/opsanalytics-*", "/aws/kinesisfirehose/opsanalytics-*", "/aws-glue/*"]
LOG_GROUPS = (
    "/aws/lambda/orders-api",
    "/aws/lambda/orders-worker",
    "/aws/lambda/payments",
    "/ecs/checkout",
    "/aws/lambda/opsanalytics-log-transformer",
    "/aws-glue/jobs/output",
)


@pytest.fixture
def aws(mocked_aws: str) -> Iterator[dict[str, Any]]:
    import boto3

    logs = boto3.client("logs", region_name=REGION)
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName="logs", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    stream_arn = kinesis.describe_stream_summary(StreamName="logs")["StreamDescriptionSummary"]["StreamARN"]
    for name in LOG_GROUPS:
        logs.create_log_group(logGroupName=name)
    yield {"logs": logs, "stream_arn": stream_arn}


def props(aws: dict[str, Any], *names: str, **overrides: Any) -> dict[str, Any]:
    return {
        "LogGroupNames": list(names) or [""],
        "FilterName": FILTER,
        "FilterPattern": "",
        "DestinationArn": aws["stream_arn"],
        "RoleArn": ROLE,
        "Distribution": "Random",
        "PipelineLogGroups": PIPELINE,
        **overrides,
    }


def request(request_type: str, properties: dict[str, Any], old: dict[str, Any] | None = None) -> CustomResourceRequest:
    event = {"RequestType": request_type, "ResourceProperties": properties, "OldResourceProperties": old or {}}
    return CustomResourceRequest.from_event(event)


def filters(aws: dict[str, Any], log_group: str) -> dict[str, dict[str, Any]]:
    found = aws["logs"].describe_subscription_filters(logGroupName=log_group)["subscriptionFilters"]
    return {f["filterName"]: f for f in found}


def subscribed(aws: dict[str, Any]) -> set[str]:
    return {name for name in LOG_GROUPS if FILTER in filters(aws, name)}


def fill_with_filters_of_others(aws: dict[str, Any], log_group: str) -> None:
    """Two subscription filters of someone else: the most CloudWatch Logs allows on a log group."""
    for name in ("team-a", "team-b"):
        aws["logs"].put_subscription_filter(
            logGroupName=log_group, filterName=name, filterPattern="", destinationArn=aws["stream_arn"], roleArn=ROLE
        )


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected wait of {seconds} s")


def test_names_and_prefixes_are_subscribed_to_the_stream(aws: dict[str, Any]) -> None:
    data = app.apply(aws["logs"], request("Create", props(aws, "/aws/lambda/orders-*", "/ecs/checkout")), no_sleep)
    assert subscribed(aws) == {"/aws/lambda/orders-api", "/aws/lambda/orders-worker", "/ecs/checkout"}
    subscription = filters(aws, "/ecs/checkout")[FILTER]
    assert subscription["destinationArn"] == aws["stream_arn"]
    assert subscription["roleArn"] == ROLE
    assert data == {"LogGroups": "3", "Put": "3", "Removed": "0", "Skipped": ""}


def test_a_prefix_expands_over_every_page_of_log_groups(aws: dict[str, Any]) -> None:
    for index in range(120):
        aws["logs"].create_log_group(logGroupName=f"/ecs/batch-{index:03d}")
    data = app.apply(aws["logs"], request("Create", props(aws, "/ecs/batch-*")), no_sleep)
    assert data["LogGroups"] == "120"
    assert all(FILTER in filters(aws, f"/ecs/batch-{i:03d}") for i in range(120))


def test_a_prefix_never_selects_the_pipelines_own_log_groups(aws: dict[str, Any]) -> None:
    data = app.apply(aws["logs"], request("Create", props(aws, "/aws/lambda/*", "/aws-glue/*")), no_sleep)
    assert subscribed(aws) == {"/aws/lambda/orders-api", "/aws/lambda/orders-worker", "/aws/lambda/payments"}
    assert data["Skipped"] == "/aws/lambda/opsanalytics-log-transformer, /aws-glue/jobs/output"


def test_naming_a_pipeline_log_group_fails_before_anything_is_subscribed(aws: dict[str, Any]) -> None:
    given = props(aws, "/ecs/checkout", "/aws/lambda/opsanalytics-log-transformer")
    with pytest.raises(app.SubscriptionError, match="/aws/lambda/opsanalytics-log-transformer is one of the pipeline"):
        app.apply(aws["logs"], request("Create", given), no_sleep)
    assert subscribed(aws) == set()


def test_a_log_group_with_two_filters_of_others_is_named_in_the_error(aws: dict[str, Any]) -> None:
    fill_with_filters_of_others(aws, "/aws/lambda/payments")
    given = props(aws, "/ecs/checkout", "/aws/lambda/payments")
    with pytest.raises(app.SubscriptionError) as raised:
        app.apply(aws["logs"], request("Create", given), no_sleep)
    assert "log group /aws/lambda/payments already has 2 subscription filters (team-a, team-b)" in str(raised.value)
    assert subscribed(aws) == set(), "nothing changes when one group cannot be subscribed"


def test_a_missing_log_group_is_named_in_the_error(aws: dict[str, Any]) -> None:
    with pytest.raises(app.SubscriptionError, match="log group /ecs/nowhere does not exist"):
        app.apply(aws["logs"], request("Create", props(aws, "/ecs/nowhere")), no_sleep)


@pytest.mark.parametrize("entry", ["*", "/aws/*/orders", "/ecs/*-api*"])
def test_only_names_and_trailing_star_prefixes_are_accepted(aws: dict[str, Any], entry: str) -> None:
    with pytest.raises(app.SubscriptionError):
        app.apply(aws["logs"], request("Create", props(aws, entry)), no_sleep)


def test_an_empty_list_subscribes_nothing(aws: dict[str, Any]) -> None:
    data = app.apply(aws["logs"], request("Create", props(aws)), no_sleep)
    assert data["LogGroups"] == "0"
    assert subscribed(aws) == set()


def test_update_moves_the_filter_to_the_new_list(aws: dict[str, Any]) -> None:
    old = props(aws, "/aws/lambda/orders-*", "/aws/lambda/payments")
    app.apply(aws["logs"], request("Create", old), no_sleep)
    new = props(aws, "/aws/lambda/payments", "/ecs/checkout", FilterPattern="ERROR")
    data = app.apply(aws["logs"], request("Update", new, old), no_sleep)
    assert subscribed(aws) == {"/aws/lambda/payments", "/ecs/checkout"}
    assert filters(aws, "/aws/lambda/payments")[FILTER]["filterPattern"] == "ERROR"
    assert data["Removed"] == "2"


def test_an_unchanged_filter_is_left_alone(aws: dict[str, Any]) -> None:
    # moto reports every filter as ByLogStream: with that distribution an identical filter is recognised
    given = props(aws, "/ecs/checkout", Distribution="ByLogStream")
    app.apply(aws["logs"], request("Create", given), no_sleep)
    data = app.apply(aws["logs"], request("Update", given, given), no_sleep)
    assert data["Put"] == "0"
    assert subscribed(aws) == {"/ecs/checkout"}


def test_delete_removes_only_its_own_filters_and_tolerates_what_is_gone(aws: dict[str, Any]) -> None:
    given = props(aws, "/aws/lambda/orders-*", "/ecs/checkout")
    app.apply(aws["logs"], request("Create", given), no_sleep)
    aws["logs"].put_subscription_filter(
        logGroupName="/ecs/checkout", filterName="team-a", filterPattern="", destinationArn=aws["stream_arn"]
    )
    aws["logs"].delete_log_group(logGroupName="/aws/lambda/orders-worker")
    data = app.apply(aws["logs"], request("Delete", given), no_sleep)
    assert data == {"Removed": "2"}
    assert filters(aws, "/ecs/checkout").keys() == {"team-a"}
    assert app.apply(aws["logs"], request("Delete", given), no_sleep) == {"Removed": "0"}


def test_delete_and_rollback_get_through_properties_that_create_refused(aws: dict[str, Any]) -> None:
    refused = props(aws, "*", "/ecs/*-api*")
    assert app.apply(aws["logs"], request("Delete", refused), no_sleep) == {"Removed": "0"}
    data = app.apply(aws["logs"], request("Update", props(aws, "/ecs/checkout"), refused), no_sleep)
    assert data["Put"] == "1"


class RoleNotUsableYet:
    """The logs client, refusing the first PutSubscriptionFilter the way CloudWatch Logs does while a new role
    propagates through IAM."""

    def __init__(self, logs: Any) -> None:
        self._logs = logs
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)

    def put_subscription_filter(self, **kwargs: Any) -> Any:
        if not self.refused:
            self.refused += 1
            error = {"Code": "InvalidParameterException", "Message": "Could not deliver test message to destination"}
            raise ClientError({"Error": error}, "PutSubscriptionFilter")
        return self._logs.put_subscription_filter(**kwargs)


class RefusingPuts:
    """The logs client, refusing every PutSubscriptionFilter on one log group (as for a filter someone else put
    on it a moment ago: the group is full)."""

    def __init__(self, logs: Any, refused: str) -> None:
        self._logs = logs
        self.refused = refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)

    def put_subscription_filter(self, **kwargs: Any) -> Any:
        if kwargs["logGroupName"] == self.refused:
            error = {"Code": "LimitExceededException", "Message": "Resource limit exceeded."}
            raise ClientError({"Error": error}, "PutSubscriptionFilter")
        return self._logs.put_subscription_filter(**kwargs)


def test_a_role_that_is_not_usable_yet_is_retried(aws: dict[str, Any]) -> None:
    client, waits = RoleNotUsableYet(aws["logs"]), []
    app.apply(client, request("Create", props(aws, "/ecs/checkout")), waits.append)
    assert client.refused == 1
    assert waits == [app.TEST_MESSAGE_RETRY_SECONDS[0]]
    assert subscribed(aws) == {"/ecs/checkout"}


def test_a_rollback_skips_a_group_gone_since_instead_of_failing(aws: dict[str, Any]) -> None:
    """The rollback's Update goes back to the old list; a group deleted since must not leave the stack in
    UPDATE_ROLLBACK_FAILED. Outside a rollback the same request fails, naming the group."""
    old = props(aws, "/ecs/checkout", "/ecs/nowhere")
    with pytest.raises(app.SubscriptionError, match="/ecs/nowhere does not exist"):
        app.apply(aws["logs"], request("Update", old, props(aws)), no_sleep, rolling_back=lambda: False)
    data = app.apply(aws["logs"], request("Update", old, props(aws)), no_sleep, rolling_back=lambda: True)
    assert data["Put"] == "1"
    assert subscribed(aws) == {"/ecs/checkout"}


def test_handle_asks_the_stack_whether_it_rolls_back_and_keeps_the_physical_id(aws: dict[str, Any]) -> None:
    event = {
        "RequestType": "Update",
        "ResourceProperties": props(aws, "/ecs/checkout", "/ecs/nowhere"),
        "OldResourceProperties": props(aws),
        "PhysicalResourceId": FILTER,
        "StackId": STACK_ID,
    }
    given = CustomResourceRequest.from_event(event)
    with pytest.raises(app.SubscriptionError, match="/ecs/nowhere does not exist"):
        app.handle(given, logs=aws["logs"], cloudformation=Stack("UPDATE_IN_PROGRESS"), sleep=no_sleep)
    outcome = app.handle(given, logs=aws["logs"], cloudformation=Stack("UPDATE_ROLLBACK_IN_PROGRESS"), sleep=no_sleep)
    assert outcome.physical_id == "", "the request's"
    assert outcome.data == {"LogGroups": "2", "Put": "1", "Removed": "0", "Skipped": ""}


# --- the scheduled pass -----------------------------------------------------------------------------------------


def environment(aws: dict[str, Any]) -> dict[str, str]:
    """The function's environment as the template sets it (with the distribution moto reports, so that current
    filters are recognised)."""
    given = props(aws, Distribution="ByLogStream")
    variables = {
        variable: ",".join(value) if isinstance(value := given[name], list) else value
        for name, variable in app.SETTINGS_FROM_ENVIRONMENT.items()
    }
    return {"STACK_ID": STACK_ID, "SUBSCRIPTIONS_RESOURCE": "LogSubscriptions", **variables}


class Stack:
    """A CloudFormation client for the one stack: its status (one per DescribeStacks call, the last one
    repeated), its LogGroupNames and LogFilterPattern parameters, and when the LogSubscriptions resource last
    ran (``applied_ms``). The stack itself was created and updated long before that."""

    def __init__(self, *statuses: str, applied_ms: int = 0, names: tuple[str, ...] = ()) -> None:
        self.statuses = list(statuses)
        self.applied = datetime.fromtimestamp(applied_ms / 1000, UTC)
        self.parameters = [
            {"ParameterKey": "LogGroupNames", "ParameterValue": ",".join(names)},
            {"ParameterKey": "LogFilterPattern", "ParameterValue": ""},
        ]

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        long_ago = datetime(2020, 1, 1, tzinfo=UTC)
        stack = {"StackId": StackName, "StackStatus": status, "CreationTime": long_ago, "LastUpdatedTime": long_ago}
        return {"Stacks": [{**stack, "Parameters": self.parameters}]}

    def describe_stack_resource(self, StackName: str, LogicalResourceId: str) -> dict[str, Any]:
        assert (StackName, LogicalResourceId) == (STACK_ID, "LogSubscriptions")
        return {"StackResourceDetail": {"LogicalResourceId": LogicalResourceId, "LastUpdatedTimestamp": self.applied}}


def applied_before(created_ms: int) -> int:
    """When the custom resource ran if log groups created at or after ``created_ms`` count as created since."""
    return created_ms + app.CREATED_SINCE_MARGIN_MS


def test_the_schedule_subscribes_log_groups_created_under_a_prefix_since_the_deploy(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    deployed = props(aws, "/aws/lambda/*", "/ecs/checkout", Distribution="ByLogStream")
    app.apply(aws["logs"], request("Create", deployed), no_sleep)
    aws["logs"].delete_subscription_filter(logGroupName="/aws/lambda/payments", filterName=FILTER)  # by hand
    time.sleep(0.01)
    since = int(time.time() * 1000)
    aws["logs"].create_log_group(logGroupName="/aws/lambda/orders-new")
    aws["logs"].create_log_group(logGroupName="/aws/lambda/opsanalytics-metrics-processor")  # the pipeline's own
    stack = Stack("UPDATE_COMPLETE", applied_ms=applied_before(since), names=("/aws/lambda/*", "/ecs/checkout"))
    real_client = boto3.client
    monkeypatch.setattr(
        boto3, "client", lambda service, **kw: stack if service == "cloudformation" else real_client(service, **kw)
    )

    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    function = LocalFunction("log_subscriptions", environment={**environment(aws), "AWS_REGION": REGION})
    result = function.invoke(scheduled)

    assert result["put"] == ["/aws/lambda/orders-new"]
    assert result["skipped"] == ["/aws/lambda/opsanalytics-metrics-processor"]
    assert FILTER in filters(aws, "/aws/lambda/orders-new")
    assert FILTER not in filters(aws, "/aws/lambda/opsanalytics-metrics-processor")
    assert FILTER not in filters(aws, "/aws/lambda/payments"), "older groups are the deploy's: removed stays removed"
    again = app.scheduled_pass(aws["logs"], stack, environment(aws))
    assert (again["put"], again["unchanged"]) == ([], 1), "a second pass finds nothing to do"


def test_the_schedule_warns_about_log_groups_it_cannot_subscribe_and_subscribes_the_others(
    aws: dict[str, Any],
) -> None:
    fill_with_filters_of_others(aws, "/aws/lambda/orders-worker")
    spec = app.SubscriptionSpec.from_properties(props(aws, "/aws/lambda/orders-*", "/ecs/checkout"))
    refusing = RefusingPuts(aws["logs"], refused="/ecs/checkout")
    result = app.subscribe_new_log_groups(refusing, spec, since_ms=0, sleep=no_sleep)
    assert result["put"] == ["/aws/lambda/orders-api"]
    full, refused = result["problems"]
    assert full.startswith("log group /aws/lambda/orders-worker already has 2 subscription filters")
    assert refused.startswith("log group /ecs/checkout: LimitExceededException")


def test_the_schedule_stops_when_the_stack_starts_to_change(aws: dict[str, Any]) -> None:
    """A pass that runs into a deploy stops putting filters: the deploy may be removing them."""
    stack = Stack("UPDATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", names=("/aws/lambda/orders-*",))
    result = app.scheduled_pass(aws["logs"], stack, environment(aws))
    assert result["put"] == ["/aws/lambda/orders-api"]
    assert subscribed(aws) == {"/aws/lambda/orders-api"}


@pytest.mark.parametrize(
    "status",
    ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS", "DELETE_COMPLETE", "UPDATE_FAILED"],
)
def test_the_schedule_waits_while_the_stack_changes_or_is_gone(aws: dict[str, Any], status: str) -> None:
    """A pass during an update or a delete could put back a filter CloudFormation just removed."""
    stack = Stack(status, names=("/aws/lambda/orders-*",))
    assert app.scheduled_pass(aws["logs"], stack, environment(aws)) == {"skipped_while": status}
    assert subscribed(aws) == set()


class Countdown:
    """Time left that shrinks by `step` seconds each time it is asked."""

    def __init__(self, start: float, step: float) -> None:
        self.left = start + step
        self.step = step

    def __call__(self) -> float:
        self.left -= self.step
        return self.left


def test_a_deploy_out_of_time_fails_with_what_was_done_before_lambda_times_out(aws: dict[str, Any]) -> None:
    properties = props(aws, "/aws/lambda/orders-*", "/ecs/checkout")
    time_left = Countdown(start=app.DEADLINE_MARGIN_SECONDS + 5, step=10)  # enough for one put
    with pytest.raises(app.SubscriptionError, match="out of time after putting 1 of 3 subscription filters"):
        app.apply(aws["logs"], request("Create", properties), sleep=no_sleep, time_left=time_left)
    assert len(subscribed(aws)) == 1


def test_a_scheduled_pass_out_of_time_stops_and_leaves_the_rest_to_the_next(aws: dict[str, Any]) -> None:
    spec = app.SubscriptionSpec.from_properties(props(aws, "/aws/lambda/orders-*", "/ecs/checkout"))
    time_left = Countdown(start=app.DEADLINE_MARGIN_SECONDS + 5, step=10)
    result = app.subscribe_new_log_groups(aws["logs"], spec, since_ms=0, sleep=no_sleep, time_left=time_left)
    assert len(result["put"]) == 1
    assert len(subscribed(aws)) == 1
    app.subscribe_new_log_groups(aws["logs"], spec, since_ms=0, sleep=no_sleep)
    assert subscribed(aws) == {"/aws/lambda/orders-api", "/aws/lambda/orders-worker", "/ecs/checkout"}
