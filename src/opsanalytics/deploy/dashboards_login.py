"""The DashboardsLogin custom resource: the identity pool's roles, once OpenSearch has made its app client.

With Amazon Cognito authentication for OpenSearch Dashboards, OpenSearch Service creates an app client in the user
pool and adds the user pool to the identity pool as an authentication provider; CloudFormation cannot reference
that client (aws-cloudformation/cloudformation-coverage-roadmap#2155). Without a role mapping for it, every
signed-in user gets the identity pool's default authenticated role. On Create and Update `handle` finds the app
client OpenSearch made (`find_app_client`, waiting while the domain finishes configuring it) and sets the identity
pool's roles in one call: ``ViewerRoleArn`` as the authenticated role, and for OpenSearch's provider a ``Token``
mapping, so that a member of a user pool group with a role (the admins' group) gets that group's role and everyone
else the viewer role. SetIdentityPoolRoles replaces the pool's roles whole, so this resource owns them: the template
attaches none itself. Delete does nothing: the identity pool goes with the stack.

``Data``: ``AppClientId`` and ``ProviderName`` (``cognito-idp.<region>.amazonaws.com/<user pool id>``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from opsanalytics.deploy.custom_resource import CustomResourceRequest, EventLog, Outcome, required_string

LOG: Final = logging.getLogger(__name__)
# the names OpenSearch Service gives the app clients it creates (older domains: Elasticsearch)
CLIENT_NAME_PREFIXES: Final = ("AWSOpenSearch-", "AWSElasticsearch-")
POLL_SECONDS: Final = 10.0
MAX_WAIT_SECONDS: Final = 600.0


class AppClientNotFound(RuntimeError):
    """The user pool holds no app client OpenSearch made."""


def user_pool_clients(cognito_idp: Any, user_pool_id: str) -> list[dict[str, str]]:
    clients: list[dict[str, str]] = []
    request: dict[str, Any] = {"UserPoolId": user_pool_id, "MaxResults": 60}
    while True:
        page = cognito_idp.list_user_pool_clients(**request)
        clients += [{"id": c["ClientId"], "name": c.get("ClientName", "")} for c in page.get("UserPoolClients", [])]
        if not page.get("NextToken"):
            return clients
        request["NextToken"] = page["NextToken"]


def opensearch_client(cognito_idp: Any, clients: Sequence[dict[str, str]], user_pool_id: str) -> str | None:
    """The id of the app client OpenSearch made: the one named as OpenSearch names them (the newest, when a replaced
    domain's is still there: CloudFormation deletes the old domain after it made the new one), or, in a pool that
    holds a single client, that one (the stack's pool has no other). None when there is none yet."""
    named = [c for c in clients if c["name"].startswith(CLIENT_NAME_PREFIXES)]
    if len(named) > 1:
        created = {
            c["id"]: cognito_idp.describe_user_pool_client(UserPoolId=user_pool_id, ClientId=c["id"])["UserPoolClient"][
                "CreationDate"
            ]
            for c in named
        }
        return max(created, key=lambda client_id: created[client_id])
    if named:
        return named[0]["id"]
    if len(clients) == 1:
        return clients[0]["id"]
    return None


def find_app_client(
    cognito_idp: Any,
    user_pool_id: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_wait_seconds: float = MAX_WAIT_SECONDS,
) -> str:
    deadline = clock() + max_wait_seconds
    while True:
        clients = user_pool_clients(cognito_idp, user_pool_id)
        found = opensearch_client(cognito_idp, clients, user_pool_id)
        if found is not None:
            return found
        if clock() >= deadline:
            raise AppClientNotFound(
                f"no app client made by OpenSearch in user pool {user_pool_id} after {max_wait_seconds:.0f} s "
                f"({len(clients)} other clients); check the domain's Cognito authentication settings"
            )
        sleep(POLL_SECONDS)


def provider_name(region: str, user_pool_id: str) -> str:
    return f"cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def set_roles(
    cognito_identity: Any, identity_pool_id: str, viewer_role_arn: str, provider: str, client_id: str
) -> None:
    cognito_identity.set_identity_pool_roles(
        IdentityPoolId=identity_pool_id,
        Roles={"authenticated": viewer_role_arn},
        RoleMappings={
            f"{provider}:{client_id}": {"Type": "Token", "AmbiguousRoleResolution": "AuthenticatedRole"},
        },
    )


def handle(
    request: CustomResourceRequest,
    *,
    cognito_idp: Any,
    cognito_identity: Any,
    region: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: EventLog = LOG,
) -> Outcome:
    properties = request.properties
    identity_pool_id = required_string(properties, "IdentityPoolId")
    if request.request_type == "Delete":
        return Outcome(physical_id=identity_pool_id, reason="the identity pool goes with the stack")
    user_pool_id = required_string(properties, "UserPoolId")
    viewer_role_arn = required_string(properties, "ViewerRoleArn")
    deadline = clock() + MAX_WAIT_SECONDS
    client_id = find_app_client(cognito_idp, user_pool_id, sleep=sleep, clock=clock)
    provider = provider_name(region, user_pool_id)
    while True:
        try:
            set_roles(cognito_identity, identity_pool_id, viewer_role_arn, provider, client_id)
            break
        except Exception as exc:
            # the client can be listed before OpenSearch has added its provider to the identity pool
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code != "InvalidParameterException" or clock() >= deadline:
                raise
            log.warning("the identity pool has no provider for the client yet", extra={"error": str(exc)})
            sleep(POLL_SECONDS)
    log.info("identity pool roles set", extra={"identity_pool": identity_pool_id, "app_client": client_id})
    return Outcome(physical_id=identity_pool_id, data={"AppClientId": client_id, "ProviderName": provider})
