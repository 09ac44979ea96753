"""Every AWS and OpenSearch call the pipeline's code made in this test session, against the IAM policies the
template gives the principal that made it (tests/support/iam.py): an ungranted call fails here, not in a
user's stack. It runs last (tests/conftest.py) and checks what the tests before it recorded; both OpenSearch
routes are checked (a domain the stack creates, and one it is given by name)."""

from __future__ import annotations

import copy

import pytest

from tests.support.cloudformation import ACCOUNT, REGION, Stack
from tests.support.iam import RECORDER, Call, principal_statements, ungranted

ROUTES = {
    "created domain": {},
    "existing domain": {
        "CreateOpenSearchDomain": "false",
        "OpenSearchUrl": "https://search-logs-abc.us-east-1.es.amazonaws.com",
        "OpenSearchDomainName": "logs",
    },
}
# What the whole suite must have exercised, for this check to mean something.
EXPECTED_PRINCIPALS = {
    "LogSubscriptionsFunction",
    "DeployArtifactsFunction",
    "FlinkStarterFunction",
    "DashboardsLoginFunction",
    "LogsResourcePolicyFunction",
    "MetricsProcessorFunction",
    "OpenSearchSetupFunction",
    "BatchJob",
    "LogIndexerFunction",
}


def recorded() -> list[Call]:
    calls = list(RECORDER.calls)
    if not calls:
        pytest.skip("no calls recorded: run this check with the other tests (pytest tests)")
    return calls


def domain_arn(stack: Stack) -> str:
    if stack.conditions["CreatesOpenSearchDomain"]:
        return stack.arn("OpenSearchDomain")
    return f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{stack.values['OpenSearchDomainName']}"


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_recorded_call_is_granted(route: str) -> None:
    calls = recorded()
    stack = Stack(ROUTES[route], any_names=True)
    statements = principal_statements(stack, {call.principal for call in calls})
    assert ungranted(stack, calls, statements, domain_arn(stack)) == []


def test_the_suite_exercised_every_principal(request: pytest.FixtureRequest) -> None:
    layers = {part for item in request.session.items for part in item.path.parts}
    if not {"unit", "functional", "integration"} <= layers:
        pytest.skip("the unit, functional and integration layers did not all run in this session")
    principals = {call.principal for call in recorded()}
    assert principals >= EXPECTED_PRINCIPALS, sorted(EXPECTED_PRINCIPALS - principals)


@pytest.mark.parametrize(
    ("principal", "action"),
    [
        ("MetricsProcessorFunction", "es:ESHttpPost"),
        ("LogSubscriptionsFunction", "logs:PutSubscriptionFilter"),
        ("DeployArtifactsFunction", "s3:PutObject"),
        ("DashboardsLoginFunction", "iam:PassRole"),
        ("LogIndexerFunction", "s3:GetObject"),
        ("LogIndexerFunction", "s3:PutObject"),
    ],
)
def test_removing_a_needed_permission_fails_the_check(principal: str, action: str) -> None:
    calls = [call for call in recorded() if call.principal == principal]
    if not calls:
        pytest.skip(f"no calls of {principal} recorded")
    stack = Stack(any_names=True)
    statements = principal_statements(stack, {principal})
    assert ungranted(stack, calls, statements, domain_arn(stack)) == []
    without = copy.deepcopy(statements)
    for statement in without[principal]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action] or ["none:None"]
    problems = ungranted(stack, calls, without, domain_arn(stack))
    assert problems and all(f"{principal}: {action} on " in p for p in problems), problems
