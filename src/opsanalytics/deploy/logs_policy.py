"""The LogsResourcePolicy custom resource: a CloudWatch Logs resource policy, answered only once it is served.

With ``AWS::Logs::ResourcePolicy`` and ``DependsOn``, an OpenSearch domain created right after the policy can
still fail with "The Resource Access Policy specified for the CloudWatch Logs log group ... does not grant
sufficient permissions" (aws-cloudformation/cloudformation-coverage-roadmap#1769): the domain's check does not
see the new policy yet. Create and Update put ``PolicyDocument`` under ``PolicyName``, read it back with
DescribeResourcePolicies until the same document is listed, then wait ``SettleSeconds`` more before answering.
Delete removes the policy (one already gone is fine). The physical id is the policy name, so a new name makes
CloudFormation create the new policy and then delete the old one. A Create that fails answers the policy name, or
`NO_POLICY` when there is none: the Delete of its rollback then removes nothing and calls no AWS API.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from botocore.exceptions import ClientError

from opsanalytics.deploy.custom_resource import CustomResourceRequest, EventLog, Outcome, required_string

LOG: Final = logging.getLogger(__name__)
POLL_SECONDS: Final = 2.0
MAX_WAIT_SECONDS: Final = 120.0
MAX_SETTLE_SECONDS: Final = 60
NO_POLICY: Final = "none"  # the physical id of a Create that failed before any policy was put


def served_document(logs: Any, name: str) -> Any | None:
    """The parsed document CloudWatch Logs lists under `name`, or None."""
    token: str | None = None
    while True:
        page = logs.describe_resource_policies(**({"nextToken": token} if token else {}))
        for policy in page.get("resourcePolicies", []):
            if policy.get("policyName") == name:
                return json.loads(policy["policyDocument"])
        token = page.get("nextToken")
        if not token:
            return None


def put_and_wait(
    logs: Any,
    properties: Mapping[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, str]:
    name = required_string(properties, "PolicyName")
    document = json.loads(required_string(properties, "PolicyDocument"))
    settle = min(max(int(properties.get("SettleSeconds") or 0), 0), MAX_SETTLE_SECONDS)
    logs.put_resource_policy(policyName=name, policyDocument=json.dumps(document))
    deadline = clock() + MAX_WAIT_SECONDS
    while served_document(logs, name) != document:
        if clock() >= deadline:
            waited = f"{MAX_WAIT_SECONDS:.0f} s"
            raise TimeoutError(f"CloudWatch Logs did not list the resource policy {name} within {waited}")
        sleep(POLL_SECONDS)
    sleep(settle)
    return {"PolicyName": name}


def delete_policy(logs: Any, name: str) -> None:
    try:
        logs.delete_resource_policy(policyName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise


def physical_id_of(properties: Mapping[str, Any]) -> str:
    """The physical id of a request that has none yet: the policy name, else `NO_POLICY`."""
    return str(properties.get("PolicyName") or NO_POLICY)


def handle(
    request: CustomResourceRequest,
    *,
    logs: Any,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: EventLog = LOG,
) -> Outcome:
    """Create and Update: the policy put and served, its name as the physical id and ``PolicyName`` attribute.
    Delete: the policy the physical id names removed (none for `NO_POLICY`)."""
    if request.request_type == "Delete":
        name = request.physical_id or physical_id_of(request.properties)
        if name != NO_POLICY:  # the rollback of a failed Create has nothing to remove
            delete_policy(logs, name)
            log.info("resource policy deleted", extra={"policy_name": name})
        return Outcome()
    data = put_and_wait(logs, request.properties, sleep=sleep, clock=clock)
    log.info("resource policy served", extra={"policy_name": data["PolicyName"]})
    return Outcome(physical_id=data["PolicyName"], data=data)
