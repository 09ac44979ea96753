"""The logs resource policy custom resource: put, read back until served, settle; delete; fail with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsanalytics.deploy import logs_policy as app
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.paths import project_root

function = LocalFunction("logs_resource_policy")

DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "es.amazonaws.com"},
            "Action": ["logs:PutLogEvents", "logs:CreateLogStream"],
            "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/opensearch/stack/*",
        }
    ],
}
PROPERTIES = {"PolicyName": "stack-opensearch-logs", "PolicyDocument": json.dumps(DOCUMENT), "SettleSeconds": "30"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_the_policy_is_put_read_back_and_settled(mocked_aws: str) -> None:
    import boto3

    logs = boto3.client("logs")
    clock = Clock()
    assert app.put_and_wait(logs, PROPERTIES, sleep=clock.sleep, clock=clock) == {"PolicyName": "stack-opensearch-logs"}
    assert app.served_document(logs, "stack-opensearch-logs") == DOCUMENT
    assert clock.slept == [30]  # listed at once: only the settle time
    app.delete_policy(logs, "stack-opensearch-logs")
    assert app.served_document(logs, "stack-opensearch-logs") is None
    app.delete_policy(logs, "stack-opensearch-logs")  # already gone: fine


class LaggingLogs:
    """CloudWatch Logs that lists a put policy only after `lag` describe calls (or never)."""

    def __init__(self, lag: int | None) -> None:
        self.lag = lag
        self.document: str | None = None

    def put_resource_policy(self, policyName: str, policyDocument: str) -> None:
        self.document = policyDocument

    def describe_resource_policies(self, **_: Any) -> dict[str, Any]:
        if self.lag is None or self.lag > 0:
            self.lag = None if self.lag is None else self.lag - 1
            return {"resourcePolicies": []}
        return {"resourcePolicies": [{"policyName": "stack-opensearch-logs", "policyDocument": self.document}]}


def test_it_waits_until_the_policy_is_listed() -> None:
    clock = Clock()
    app.put_and_wait(LaggingLogs(lag=3), PROPERTIES, sleep=clock.sleep, clock=clock)
    assert clock.slept == [app.POLL_SECONDS] * 3 + [30]


def test_a_policy_never_listed_fails_with_a_reason() -> None:
    clock = Clock()
    with pytest.raises(TimeoutError, match="did not list the resource policy stack-opensearch-logs"):
        app.put_and_wait(LaggingLogs(lag=None), PROPERTIES, sleep=clock.sleep, clock=clock)
    assert clock.now >= app.MAX_WAIT_SECONDS


DELETE_EVENT = json.loads((project_root() / "events" / "logs_resource_policy" / "delete.json").read_text())


def _delete(monkeypatch: pytest.MonkeyPatch, physical_id: str) -> tuple[dict[str, Any], list[str]]:
    deleted: list[str] = []
    monkeypatch.setattr(app, "delete_policy", lambda logs, name: deleted.append(name))
    response = function.invoke({**DELETE_EVENT, "PhysicalResourceId": physical_id})
    return response, deleted


def test_the_rollback_of_a_failed_create_removes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample Delete follows a Create that failed before putting a policy: SUCCESS, and no call to AWS."""
    response, deleted = _delete(monkeypatch, DELETE_EVENT["PhysicalResourceId"])
    assert (response["Status"], response["PhysicalResourceId"], deleted) == ("SUCCESS", "none", [])


def test_a_delete_removes_the_named_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    response, deleted = _delete(monkeypatch, "stack-opensearch-log-publishing")
    assert (response["Status"], deleted) == ("SUCCESS", ["stack-opensearch-log-publishing"])
