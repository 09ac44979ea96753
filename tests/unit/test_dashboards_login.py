"""The DashboardsLogin custom resource (`opsanalytics.deploy.dashboards_login`) against Cognito as botocore stubs:
it finds the app client OpenSearch made, waits for it, sets the identity pool's roles whole, and fails clearly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from opsanalytics.deploy import dashboards_login as app
from opsanalytics.deploy.custom_resource import CustomResourceRequest
from opsanalytics.local.lambda_runtime import LocalFunction

REGION = "us-east-1"
USER_POOL = "us-east-1_AbCdEfGhI"
IDENTITY_POOL = "us-east-1:0f3c9a52-7b1e-4d2a-8c6f-1e2d3c4b5a69"
VIEWER = "arn:aws:iam::123456789012:role/opsanalytics-dashboards-viewer"
CLIENT = {"ClientId": "4r6q1s2t3u4v5w6x7y8z9a0b1c", "UserPoolId": USER_POOL, "ClientName": "AWSOpenSearch-logs-abc"}


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def cognito() -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    idp, identity = _client("cognito-idp"), _client("cognito-identity")
    with Stubber(idp) as idp_stub, Stubber(identity) as identity_stub:
        yield idp, idp_stub, identity, identity_stub
        idp_stub.assert_no_pending_responses()
        identity_stub.assert_no_pending_responses()


def _request(request_type: str = "Create") -> CustomResourceRequest:
    properties = {"UserPoolId": USER_POOL, "IdentityPoolId": IDENTITY_POOL, "ViewerRoleArn": VIEWER}
    return CustomResourceRequest.from_event({"RequestType": request_type, "ResourceProperties": properties})


def _clients(stub: Stubber, *clients: dict[str, str]) -> None:
    stub.add_response(
        "list_user_pool_clients", {"UserPoolClients": list(clients)}, {"UserPoolId": USER_POOL, "MaxResults": 60}
    )


def _roles_set(stub: Stubber) -> None:
    expected = {
        "IdentityPoolId": IDENTITY_POOL,
        "Roles": {"authenticated": VIEWER},
        "RoleMappings": {
            f"cognito-idp.{REGION}.amazonaws.com/{USER_POOL}:{CLIENT['ClientId']}": {
                "Type": "Token",
                "AmbiguousRoleResolution": "AuthenticatedRole",
            }
        },
    }
    stub.add_response("set_identity_pool_roles", {}, expected)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_the_roles_are_set_for_the_client_opensearch_made(
    cognito: tuple[Any, Stubber, Any, Stubber], request_type: str
) -> None:
    idp, idp_stub, identity, identity_stub = cognito
    other = {"ClientId": "someoneelse0000000000000000", "UserPoolId": USER_POOL, "ClientName": "my-app"}
    _clients(idp_stub, other, CLIENT)
    _roles_set(identity_stub)
    outcome = app.handle(_request(request_type), cognito_idp=idp, cognito_identity=identity, region=REGION)
    assert outcome.physical_id == IDENTITY_POOL
    assert outcome.data == {
        "AppClientId": CLIENT["ClientId"],
        "ProviderName": f"cognito-idp.{REGION}.amazonaws.com/{USER_POOL}",
    }


def test_it_waits_until_the_domain_has_made_its_client(cognito: tuple[Any, Stubber, Any, Stubber]) -> None:
    idp, idp_stub, identity, identity_stub = cognito
    _clients(idp_stub)
    _clients(idp_stub)
    _clients(idp_stub, {**CLIENT, "ClientName": "a-name-it-may-give"})  # the pool's only client
    _roles_set(identity_stub)
    clock = Clock()
    app.handle(_request(), cognito_idp=idp, cognito_identity=identity, region=REGION, sleep=clock.sleep, clock=clock)
    assert clock.now == 2 * app.POLL_SECONDS


def test_no_client_in_time_fails_with_what_to_check(cognito: tuple[Any, Stubber, Any, Stubber]) -> None:
    idp, idp_stub, identity, _ = cognito
    clock = Clock()
    for _ in range(int(app.MAX_WAIT_SECONDS / app.POLL_SECONDS) + 1):
        _clients(idp_stub)
    with pytest.raises(app.AppClientNotFound, match=r"no app client made by OpenSearch .* Cognito authentication"):
        app.handle(
            _request(), cognito_idp=idp, cognito_identity=identity, region=REGION, sleep=clock.sleep, clock=clock
        )


def test_of_two_clients_opensearch_made_the_newest_is_the_domains(
    cognito: tuple[Any, Stubber, Any, Stubber],
) -> None:
    """A replaced domain: CloudFormation makes the new one (and its client) before it deletes the old one."""
    idp, idp_stub, identity, identity_stub = cognito
    old = {**CLIENT, "ClientId": "old00000000000000000000000", "ClientName": "AWSOpenSearch-old"}
    _clients(idp_stub, old, CLIENT)
    for client, day in ((old, 1), (CLIENT, 3)):
        described = {"UserPoolClient": {**client, "CreationDate": datetime(2026, 12, day, tzinfo=UTC)}}
        idp_stub.add_response(
            "describe_user_pool_client", described, {"UserPoolId": USER_POOL, "ClientId": client["ClientId"]}
        )
    _roles_set(identity_stub)
    outcome = app.handle(_request("Update"), cognito_idp=idp, cognito_identity=identity, region=REGION)
    assert outcome.data["AppClientId"] == CLIENT["ClientId"]


def test_delete_leaves_the_identity_pool_to_cloudformation(cognito: tuple[Any, Stubber, Any, Stubber]) -> None:
    idp, _, identity, _ = cognito
    outcome = app.handle(_request("Delete"), cognito_idp=idp, cognito_identity=identity, region=REGION)
    assert outcome.physical_id == IDENTITY_POOL  # and no call: the stubs hold none


def test_the_sample_delete_event_is_answered_without_aws() -> None:
    import json

    from opsanalytics.paths import project_root

    event = json.loads((project_root() / "events" / "dashboards_login" / "delete.json").read_text())
    function = LocalFunction("dashboards_login")
    try:
        response = function.invoke(event)
    finally:
        function.close()
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", event["PhysicalResourceId"])


def test_it_retries_while_the_identity_pool_has_no_provider_for_the_client(
    cognito: tuple[Any, Stubber, Any, Stubber],
) -> None:
    idp, idp_stub, identity, identity_stub = cognito
    _clients(idp_stub, CLIENT)
    identity_stub.add_client_error("set_identity_pool_roles", "InvalidParameterException", "no such provider")
    _roles_set(identity_stub)
    clock = Clock()
    outcome = app.handle(
        _request(), cognito_idp=idp, cognito_identity=identity, region=REGION, sleep=clock.sleep, clock=clock
    )
    assert outcome.data["AppClientId"] == CLIENT["ClientId"]
    assert clock.now == app.POLL_SECONDS
