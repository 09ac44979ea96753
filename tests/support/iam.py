"""IAM coverage: the AWS and OpenSearch calls the pipeline's code makes in the tests, and whether the roles the
template gives it allow each one.

`CallRecorder` wraps botocore's ``BaseClient._make_api_call`` and opensearch-py's ``Transport.perform_request``
for the whole test session. A call is attributed to the principal whose code is on the stack: a function's
``functions/<dir>/app.py`` (its role), the deploy-time core module that handler alone imports
(``src/opsanalytics/deploy/<module>.py``), the Glue entry point or the batch job's core (the Glue job's role); calls
the tests make themselves (moto set-up, fixtures) are not recorded. `RequiredPermission` says which IAM action on
which resource ARN a call needs; an operation without an entry fails the coverage test until it is given one.

`allowed` evaluates statements as IAM does for one identity policy set: an explicit Deny wins, then any Allow;
``*`` and ``?`` in actions (case-insensitive) and resources (per ARN segment, the last one may hold colons);
conditions on the context keys a call has (iam:PassedToService); a statement whose condition names another key
does not apply. Not modelled: resource policies, permission boundaries, SCPs, session policies, KMS grants.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tests.support.cloudformation import ACCOUNT, REGION, ROOT, Stack, function_directories

BATCH_CORE: Final = str(ROOT / "src" / "opsanalytics" / "batch") + "/"
GLUE_SHELLS: Final = str(ROOT / "glue") + "/"
DEPLOY_CORE: Final = ROOT / "src" / "opsanalytics" / "deploy"
_DEPLOY_IMPORT: Final = re.compile(r"from opsanalytics\.deploy(?:\.(\w+))? import (\w+)")


def deploy_owners(functions: Mapping[str, str]) -> dict[str, str]:
    """src/opsanalytics/deploy/<module>.py → the function directory whose handler imports it, for the modules
    exactly one handler imports (the shared protocol, imported by all, belongs to none)."""
    importers: dict[str, set[str]] = {}
    for directory in functions:
        source = (ROOT / "functions" / directory / "app.py").read_text()
        for submodule, name in _DEPLOY_IMPORT.findall(source):
            module = submodule or name
            if (DEPLOY_CORE / f"{module}.py").is_file():
                importers.setdefault(str(DEPLOY_CORE / f"{module}.py"), set()).add(directory)
    return {path: next(iter(owners)) for path, owners in importers.items() if len(owners) == 1}


@dataclass(frozen=True, slots=True)
class Call:
    principal: str  # logical id of the function or job
    service: str  # botocore service name, or "opensearch"
    operation: str  # API operation, or the HTTP method
    params: Mapping[str, Any]  # API parameters, or {"path": ...}
    where: str  # file:line of the call in the pipeline's code


@dataclass(frozen=True, slots=True)
class RequiredPermission:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def _principal_on_stack(
    frames: list[traceback.FrameSummary], functions: Mapping[str, str], owners: Mapping[str, str]
) -> tuple[str, str] | None:
    for frame in frames:
        path = frame.filename
        parts = Path(path).parts
        if "functions" in parts and path.endswith("app.py"):
            directory = Path(path).parent.name
            if directory in functions:
                return functions[directory], f"{Path(path).relative_to(ROOT)}:{frame.lineno}"
    for frame in frames:
        if frame.filename in owners:
            return functions[owners[frame.filename]], f"{Path(frame.filename).relative_to(ROOT)}:{frame.lineno}"
    for frame in frames:
        if frame.filename.startswith((BATCH_CORE, GLUE_SHELLS)):
            return "BatchJob", f"{Path(frame.filename).relative_to(ROOT)}:{frame.lineno}"
    return None


class CallRecorder:
    """Session-wide record of the pipeline's calls (thread-safe: the batch job writes from threads)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._functions = function_directories()
        self._owners = deploy_owners(self._functions)

    def record(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        found = _principal_on_stack(traceback.extract_stack(), self._functions, self._owners)
        if found is None:
            return
        principal, where = found
        with self._lock:
            self.calls.append(Call(principal, service, operation, dict(params), where))

    @contextmanager
    def installed(self) -> Iterator[CallRecorder]:
        import botocore.client
        from opensearchpy.transport import Transport

        make_api_call = botocore.client.BaseClient._make_api_call
        perform_request = Transport.perform_request
        recorder = self

        def recording_api_call(client: Any, operation: str, params: Mapping[str, Any]) -> Any:
            recorder.record(client.meta.service_model.service_name, operation, params)
            return make_api_call(client, operation, params)

        def recording_request(transport: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            recorder.record("opensearch", method.upper(), {"path": url})
            return perform_request(transport, method, url, *args, **kwargs)

        botocore.client.BaseClient._make_api_call = recording_api_call  # type: ignore[method-assign]
        Transport.perform_request = recording_request  # type: ignore[method-assign]
        try:
            yield self
        finally:
            botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
            Transport.perform_request = perform_request  # type: ignore[method-assign]


RECORDER: Final = CallRecorder()


# --- what each call needs ---------------------------------------------------------------------------------------


def _log_group(stack: Stack, params: Mapping[str, Any]) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{params['logGroupName']}"


def _object(stack: Stack, params: Mapping[str, Any]) -> str:
    return f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"


def _bucket(stack: Stack, params: Mapping[str, Any]) -> str:
    return f"arn:aws:s3:::{params['Bucket']}"


def _stack(stack: Stack, params: Mapping[str, Any]) -> str:
    return str(stack.values["AWS::StackId"])


def _application(stack: Stack, params: Mapping[str, Any]) -> str:
    return f"arn:aws:kinesisanalytics:{REGION}:{ACCOUNT}:application/{params['ApplicationName']}"


def _anything(stack: Stack, params: Mapping[str, Any]) -> str:
    return "*"


Resource = Callable[[Stack, Mapping[str, Any]], str]
# (service, operation) → the IAM action and the resource it is authorised on
ACTIONS: Final[dict[tuple[str, str], tuple[str, Resource]]] = {
    ("logs", "DescribeLogGroups"): (
        "logs:DescribeLogGroups",
        lambda s, p: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*",
    ),
    ("logs", "DescribeSubscriptionFilters"): ("logs:DescribeSubscriptionFilters", _log_group),
    ("logs", "PutSubscriptionFilter"): ("logs:PutSubscriptionFilter", _log_group),
    ("logs", "DeleteSubscriptionFilter"): ("logs:DeleteSubscriptionFilter", _log_group),
    ("logs", "PutResourcePolicy"): ("logs:PutResourcePolicy", _anything),
    ("logs", "DeleteResourcePolicy"): ("logs:DeleteResourcePolicy", _anything),
    ("logs", "DescribeResourcePolicies"): ("logs:DescribeResourcePolicies", _anything),
    ("s3", "HeadObject"): ("s3:GetObject", _object),
    ("s3", "GetObject"): ("s3:GetObject", _object),
    ("s3", "PutObject"): ("s3:PutObject", _object),
    ("s3", "CreateMultipartUpload"): ("s3:PutObject", _object),
    ("s3", "UploadPart"): ("s3:PutObject", _object),
    ("s3", "CompleteMultipartUpload"): ("s3:PutObject", _object),
    ("s3", "AbortMultipartUpload"): ("s3:AbortMultipartUpload", _object),
    ("s3", "ListObjectsV2"): ("s3:ListBucket", _bucket),
    ("cloudformation", "DescribeStacks"): ("cloudformation:DescribeStacks", _stack),
    ("cloudformation", "DescribeStackResource"): ("cloudformation:DescribeStackResource", _stack),
    ("kinesisanalyticsv2", "DescribeApplication"): ("kinesisanalytics:DescribeApplication", _application),
    ("kinesisanalyticsv2", "StartApplication"): ("kinesisanalytics:StartApplication", _application),
    ("kinesisanalyticsv2", "ListApplicationSnapshots"): ("kinesisanalytics:ListApplicationSnapshots", _application),
    ("cognito-idp", "ListUserPoolClients"): (
        "cognito-idp:ListUserPoolClients",
        lambda s, p: f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{p['UserPoolId']}",
    ),
    ("cognito-idp", "DescribeUserPoolClient"): (
        "cognito-idp:DescribeUserPoolClient",
        lambda s, p: f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{p['UserPoolId']}",
    ),
    ("cognito-identity", "SetIdentityPoolRoles"): (
        "cognito-identity:SetIdentityPoolRoles",
        lambda s, p: f"arn:aws:cognito-identity:{REGION}:{ACCOUNT}:identitypool/{p['IdentityPoolId']}",
    ),
    ("sns", "Publish"): ("sns:Publish", lambda s, p: str(p.get("TopicArn") or p.get("TargetArn"))),
    ("sqs", "SendMessage"): ("sqs:SendMessage", lambda s, p: str(p["QueueUrl"])),
}


def required(stack: Stack, call: Call, domain_arn: str) -> list[RequiredPermission]:
    """The permissions `call` needs; KeyError for an operation not in `ACTIONS`."""
    if call.service == "opensearch":
        path = str(call.params["path"]).split("?", 1)[0]
        action = "es:ESHttp" + call.operation.capitalize()
        return [RequiredPermission(action, f"{domain_arn}{path}")]
    action, resource = ACTIONS[(call.service, call.operation)]
    needed = [RequiredPermission(action, resource(stack, call.params))]
    if (call.service, call.operation) == ("logs", "PutSubscriptionFilter") and call.params.get("roleArn"):
        role = str(call.params["roleArn"])
        needed.append(RequiredPermission("iam:PassRole", role, {"iam:PassedToService": "logs.amazonaws.com"}))
    if (call.service, call.operation) == ("cognito-identity", "SetIdentityPoolRoles"):
        passed = {"iam:PassedToService": "cognito-identity.amazonaws.com"}
        needed += [RequiredPermission("iam:PassRole", str(role), passed) for role in call.params["Roles"].values()]
    return needed


# --- evaluation -------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def resource_matches(pattern: str, resource: str) -> bool:
    """IAM's matching of a resource ARN: ``*`` alone matches all; otherwise segment by segment (the first five
    colons), the last segment taking the rest, wildcards within a segment."""
    if pattern == "*":
        return True
    want, have = pattern.split(":", 5), resource.split(":", 5)
    if len(want) != len(have):
        return False
    return all(fnmatch.fnmatchcase(h, w) for w, h in zip(want, have, strict=True))


def _condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if key not in context:
                return False
            values = [str(v) for v in _as_list(expected)]
            if operator in ("StringEquals", "ArnEquals"):
                ok = context[key] in values
            elif operator in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(context[key], v) for v in values)
            else:
                return False
            if not ok:
                return False
    return True


def _applies(statement: Mapping[str, Any], permission: RequiredPermission) -> bool:
    actions = _as_list(statement.get("Action", []))
    resources = _as_list(statement.get("Resource", []))
    return (
        any(action_matches(str(a), permission.action) for a in actions)
        and any(resource_matches(str(r), permission.resource) for r in resources)
        and _condition_holds(statement.get("Condition", {}), permission.context)
    )


def allowed(statements: list[Mapping[str, Any]], permission: RequiredPermission) -> bool:
    if any(s["Effect"] == "Deny" and _applies(s, permission) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, permission) for s in statements)


def ungranted(
    stack: Stack, calls: list[Call], statements_by_principal: Mapping[str, list[Mapping[str, Any]]], domain_arn: str
) -> list[str]:
    """One line per call the principal's statements do not allow (or that `ACTIONS` does not know)."""
    problems: dict[str, None] = {}
    for call in calls:
        try:
            permissions = required(stack, call, domain_arn)
        except KeyError:
            problems[f"{call.principal}: {call.service} {call.operation} ({call.where}) has no entry in ACTIONS"] = None
            continue
        for permission in permissions:
            if not allowed(list(statements_by_principal[call.principal]), permission):
                problems[f"{call.principal}: {permission.action} on {permission.resource} ({call.where})"] = None
    return list(problems)


def principal_statements(stack: Stack, principals: set[str]) -> dict[str, list[dict[str, Any]]]:
    return {p: stack.statements_of(stack.role_of(p)) for p in principals}
