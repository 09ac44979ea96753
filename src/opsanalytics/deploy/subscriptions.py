"""The LogSubscriptions custom resource: the CloudWatch Logs subscription filters that feed the logs stream.

``LogGroupNames`` lists log groups by name, or by prefix with a trailing ``*`` (``/aws/lambda/orders-*``), any
number of them. Prefixes are expanded with DescribeLogGroups when the stack is deployed (`handle`), and again on a
schedule (an EventBridge rule invokes the same function): a log group created later under a prefix is subscribed by
the next scheduled pass (`scheduled_pass`), which reads the same settings (stack parameters and the function's
environment), only adds filters to log groups created since this resource last ran, and runs only while the stack
is in a stable state. Each log group gets one subscription filter named ``FilterName`` (one name per stack) that
sends ``FilterPattern`` matches to ``DestinationArn`` through ``RoleArn``, spread ``Distribution``.

Recursion guard: the pipeline's own log groups (``PipelineLogGroups``, names or prefixes: its functions', Firehose's,
Flink's, Glue's, the OpenSearch domain's) are never subscribed. Their lines would flow through the pipeline, which
logs while processing them, which makes more lines, without end. Naming one of them is an error; a prefix that
covers some of them skips them (``Skipped`` attribute). The function's IAM policy denies subscribing them as well.

Create and Update check every log group before changing any: a group that does not exist, or that already has the
two subscription filters CloudWatch Logs allows from someone else, fails the stack operation with its name (during a
rollback it is skipped with a warning instead: a failure then would leave the stack UPDATE_ROLLBACK_FAILED). Update
removes the filter from groups no longer listed and puts it on the listed ones (unchanged filters are left alone).
Delete removes the filter from every group the properties select; groups gone or without the filter are skipped.
The ``Data`` attributes are ``LogGroups``, ``Put``, ``Removed`` and ``Skipped`` (Delete: ``Removed``). A deploy that
would run past the function's time fails with what it did first. The ``Revision`` property is not read: changing it
makes CloudFormation send an Update, which expands the prefixes again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from opsanalytics.deploy.custom_resource import (
    CustomResourceRequest,
    EventLog,
    Outcome,
    describe_stack,
    required_string,
    stack_is_rolling_back,
    stack_status,
    string_list,
)

LOG: Final = logging.getLogger(__name__)
MAX_FILTERS_PER_LOG_GROUP: Final = 2
DISTRIBUTIONS: Final = frozenset({"Random", "ByLogStream"})
# CloudWatch Logs sends a test record through the role when a filter is put: a role created moments ago may not
# be usable yet (IAM is eventually consistent), so that one error is retried for about a minute.
TEST_MESSAGE_RETRY_SECONDS: Final = (5.0, 10.0, 15.0, 30.0)
# The scheduled pass: the stack parameters behind the custom resource's LogGroupNames and FilterPattern (read
# from DescribeStacks, which the pass calls anyway, so that no list has to fit in the 4 KB of a function's
# environment), and the environment variables behind the other properties (the template sets both).
SETTINGS_FROM_PARAMETERS: Final = {"LogGroupNames": "LogGroupNames", "FilterPattern": "LogFilterPattern"}
SETTINGS_FROM_ENVIRONMENT: Final = {
    "PipelineLogGroups": "PIPELINE_LOG_GROUPS",
    "FilterName": "FILTER_NAME",
    "DestinationArn": "DESTINATION_ARN",
    "RoleArn": "ROLE_ARN",
    "Distribution": "DISTRIBUTION",
}
# a pass while CloudFormation changes or deletes the stack could put back filters it just removed
STABLE_STACK_STATUSES: Final = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
)
# The pass looks at log groups created since the custom resource last ran (it expanded the prefixes then), from
# this long before: the resource's timestamp is when it finished, after it listed the log groups.
CREATED_SINCE_MARGIN_MS: Final = 3_600_000

# Stop with this much of the function's time left: a Lambda timeout would leave CloudFormation without an answer.
DEADLINE_MARGIN_SECONDS: Final = 30.0
TimeLeft = Callable[[], float]
"""seconds the invocation has left (LambdaContext.get_remaining_time_in_millis, in seconds)"""


def unlimited() -> float:
    return float("inf")


class SubscriptionError(ValueError):
    """A listed log group cannot be subscribed; the message names it."""


@dataclass(frozen=True, slots=True)
class LogGroupSelector:
    """A log group name, or a prefix (written with a trailing ``*``)."""

    text: str
    is_prefix: bool

    @classmethod
    def parse(cls, entry: str) -> LogGroupSelector:
        if "*" in entry[:-1]:
            raise SubscriptionError(f"{entry!r}: only a trailing * (a name prefix) is supported")
        if entry.endswith("*"):
            if len(entry) == 1:
                raise SubscriptionError(
                    "'*' alone would subscribe every log group of the account: list names or prefixes"
                )
            return cls(entry[:-1], True)
        return cls(entry, False)

    def matches(self, log_group: str) -> bool:
        return log_group.startswith(self.text) if self.is_prefix else log_group == self.text

    def __str__(self) -> str:
        return f"{self.text}*" if self.is_prefix else self.text


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """The resource properties, validated."""

    selectors: tuple[LogGroupSelector, ...]
    pipeline_log_groups: tuple[LogGroupSelector, ...]
    filter_name: str
    filter_pattern: str
    destination_arn: str
    role_arn: str
    distribution: str

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> SubscriptionSpec:
        distribution = str(properties.get("Distribution") or "ByLogStream")
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"Distribution must be one of {sorted(DISTRIBUTIONS)}, got {distribution!r}")
        return cls(
            selectors=tuple(LogGroupSelector.parse(e) for e in string_list(properties, "LogGroupNames")),
            pipeline_log_groups=tuple(LogGroupSelector.parse(e) for e in string_list(properties, "PipelineLogGroups")),
            filter_name=required_string(properties, "FilterName"),
            filter_pattern=str(properties.get("FilterPattern") or ""),
            destination_arn=required_string(properties, "DestinationArn"),
            role_arn=required_string(properties, "RoleArn"),
            distribution=distribution,
        )

    def is_pipeline_log_group(self, log_group: str) -> bool:
        return any(selector.matches(log_group) for selector in self.pipeline_log_groups)


@dataclass(frozen=True, slots=True)
class Selection:
    log_groups: tuple[str, ...]
    skipped: tuple[str, ...]
    """Pipeline log groups a prefix covered, left out by the recursion guard."""


def describe_log_groups(logs: Any, prefix: str) -> Iterable[Mapping[str, Any]]:
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        yield from page.get("logGroups", [])


def log_groups_with_prefix(logs: Any, prefix: str) -> Iterable[str]:
    return (str(group["logGroupName"]) for group in describe_log_groups(logs, prefix))


def select_log_groups(logs: Any, spec: SubscriptionSpec) -> Selection:
    """The log groups the selectors name, in order, without the pipeline's own: naming one of those is an error,
    a prefix that covers some skips them."""
    chosen: dict[str, None] = {}
    skipped: dict[str, None] = {}
    for selector in spec.selectors:
        names = log_groups_with_prefix(logs, selector.text) if selector.is_prefix else (selector.text,)
        for name in names:
            if not spec.is_pipeline_log_group(name):
                chosen[name] = None
            elif not selector.is_prefix:
                raise SubscriptionError(
                    f"{name} is one of the pipeline's own log groups: subscribing it would feed the pipeline's "
                    "logs back into the pipeline without end. Remove it from LogGroupNames"
                )
            else:
                skipped[name] = None
    return Selection(tuple(chosen), tuple(skipped))


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_current(existing: Mapping[str, Any], spec: SubscriptionSpec) -> bool:
    return (
        existing.get("filterPattern", "") == spec.filter_pattern
        and existing.get("destinationArn") == spec.destination_arn
        and existing.get("roleArn") == spec.role_arn
        and existing.get("distribution", "ByLogStream") == spec.distribution
    )


def plan_subscriptions(
    logs: Any, spec: SubscriptionSpec, log_groups: Iterable[str]
) -> tuple[list[str], int, list[str]]:
    """The log groups whose filter must be put, the number already current, and one problem per group that does
    not exist or is full (those are not in the first list)."""
    to_put, current, problems = [], 0, []
    for name in log_groups:
        try:
            filters = logs.describe_subscription_filters(logGroupName=name).get("subscriptionFilters", [])
        except ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                problems.append(f"log group {name} does not exist")
                continue
            raise
        ours = [f for f in filters if f.get("filterName") == spec.filter_name]
        others = [str(f.get("filterName")) for f in filters if f.get("filterName") != spec.filter_name]
        if ours and _is_current(ours[0], spec):
            current += 1
        elif not ours and len(others) >= MAX_FILTERS_PER_LOG_GROUP:
            problems.append(
                f"log group {name} already has {len(others)} subscription filters ({', '.join(others)}), "
                f"the most CloudWatch Logs allows: remove one or take {name} out of LogGroupNames"
            )
        else:
            to_put.append(name)
    return to_put, current, problems


def put_subscription(
    logs: Any, spec: SubscriptionSpec, log_group: str, sleep: Callable[[float], None], *, log: EventLog = LOG
) -> None:
    for delay in (*TEST_MESSAGE_RETRY_SECONDS, None):
        try:
            logs.put_subscription_filter(
                logGroupName=log_group,
                filterName=spec.filter_name,
                filterPattern=spec.filter_pattern,
                destinationArn=spec.destination_arn,
                roleArn=spec.role_arn,
                distribution=spec.distribution,
            )
            return
        except ClientError as exc:
            if delay is None or _error_code(exc) != "InvalidParameterException" or "test message" not in str(exc):
                raise
            log.info("the destination refused the test message; retrying", extra={"log_group": log_group})
            sleep(delay)


def removal_targets(logs: Any, properties: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The filter name and the log groups that `properties` (of an earlier Create or Update) may have subscribed.

    Never fails on properties that Create or Update refused: Delete and rollbacks must get through.
    """
    filter_name = str(properties.get("FilterName") or "").strip()
    try:
        entries = string_list(properties, "LogGroupNames")
    except ValueError:
        entries = ()
    groups: dict[str, None] = {}
    for entry in entries if filter_name else ():
        try:
            selector = LogGroupSelector.parse(entry)
        except SubscriptionError:
            continue  # refused when it was given: nothing was subscribed through it
        names = log_groups_with_prefix(logs, selector.text) if selector.is_prefix else (selector.text,)
        groups.update(dict.fromkeys(names))
    return filter_name, list(groups)


def remove_subscriptions(logs: Any, filter_name: str, log_groups: Iterable[str]) -> list[str]:
    """Delete the filter from each log group that has it; the groups it was removed from."""
    removed = []
    for name in log_groups:
        try:
            logs.delete_subscription_filter(logGroupName=name, filterName=filter_name)
        except ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":  # no such group, or no such filter on it
                continue
            raise
        removed.append(name)
    return removed


def apply(
    logs: Any,
    request: CustomResourceRequest,
    sleep: Callable[[float], None] = time.sleep,
    rolling_back: Callable[[], bool] = lambda: False,
    time_left: TimeLeft = unlimited,
    *,
    log: EventLog = LOG,
) -> dict[str, str]:
    """Bring the subscriptions to what the request asks; the resource's attributes.

    A log group that does not exist or is full fails Create and Update before anything changes, except while
    the stack rolls back (`rolling_back`, asked only then): the rollback's Update, back to the old list, skips
    such groups with a warning, since a failure would leave the stack in UPDATE_ROLLBACK_FAILED."""
    removed: list[str] = []
    if request.request_type == "Delete":
        removed = remove_subscriptions(logs, *removal_targets(logs, request.properties))
        log.info("subscriptions removed", extra={"log_groups": removed})
        return {"Removed": str(len(removed))}
    spec = SubscriptionSpec.from_properties(request.properties)
    selection = select_log_groups(logs, spec)
    to_put, current, problems = plan_subscriptions(logs, spec, selection.log_groups)
    if problems and not rolling_back():
        raise SubscriptionError("; ".join(problems))
    if problems:
        log.warning("log groups skipped during a rollback", extra={"problems": problems})
    if request.request_type == "Update":
        old_name, old_groups = removal_targets(logs, request.old_properties)
        keep = set(selection.log_groups) if old_name == spec.filter_name else set()
        removed = remove_subscriptions(logs, old_name, [g for g in old_groups if g not in keep])
    for done, name in enumerate(to_put):
        if time_left() < DEADLINE_MARGIN_SECONDS:
            raise SubscriptionError(
                f"out of time after putting {done} of {len(to_put)} subscription filters (the others are not put "
                "yet): deploy again to carry on, with fewer log groups per prefix or a longer function timeout"
            )
        put_subscription(logs, spec, name, sleep, log=log)
    log.info(
        "subscriptions applied",
        extra={"put": to_put, "unchanged": current, "removed": removed, "skipped": list(selection.skipped)},
    )
    return {
        "LogGroups": str(len(selection.log_groups)),
        "Put": str(len(to_put)),
        "Removed": str(len(removed)),
        "Skipped": ", ".join(selection.skipped),
    }


def log_groups_created_since(logs: Any, spec: SubscriptionSpec, since_ms: int) -> Selection:
    """The selected log groups created at or after ``since_ms`` (epoch ms), without the pipeline's own."""
    chosen: dict[str, None] = {}
    skipped: dict[str, None] = {}
    for selector in spec.selectors:
        for group in describe_log_groups(logs, selector.text):
            name = str(group["logGroupName"])
            if not selector.matches(name) or int(group.get("creationTime", 0)) < since_ms:
                continue
            if spec.is_pipeline_log_group(name):
                skipped[name] = None
            else:
                chosen[name] = None
    return Selection(tuple(chosen), tuple(skipped))


def subscribe_new_log_groups(
    logs: Any,
    spec: SubscriptionSpec,
    since_ms: int,
    *,
    still_stable: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
    time_left: TimeLeft = unlimited,
    log: EventLog = LOG,
) -> dict[str, Any]:
    """The scheduled pass: put the filter on the selected log groups created since ``since_ms`` that lack it.
    Older log groups are the deploy's: a filter someone removed from one stays removed (from a newer one, the
    pass puts it back).
    Never removes a filter, and never fails on a log group it cannot subscribe (missing, full, refused): those
    are logged as a warning, on every pass while they are new. Stops when ``still_stable`` (asked before each
    put) says CloudFormation has started to change the stack."""
    selection = log_groups_created_since(logs, spec, since_ms)
    to_put, current, problems = plan_subscriptions(logs, spec, selection.log_groups)
    put: list[str] = []
    for name in to_put:
        if not still_stable():
            log.info("the stack started to change: pass stopped", extra={"not_done": to_put[len(put) :]})
            break
        if time_left() < DEADLINE_MARGIN_SECONDS:
            log.warning("out of time: the next pass carries on", extra={"not_done": to_put[len(put) :]})
            break
        try:
            put_subscription(logs, spec, name, sleep, log=log)
        except ClientError as exc:
            problems.append(f"log group {name}: {_error_code(exc)}: {exc}")
            continue
        put.append(name)
    if problems:
        log.warning("log groups that cannot be subscribed", extra={"problems": problems})
    log.info("scheduled pass", extra={"put": put, "unchanged": current, "skipped": list(selection.skipped)})
    return {"put": put, "unchanged": current, "problems": problems, "skipped": list(selection.skipped)}


def settings_of(stack: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The custom resource's properties as the scheduled pass sees them: stack parameters and environment."""
    parameters = {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])}
    settings = {name: parameters.get(key, "") for name, key in SETTINGS_FROM_PARAMETERS.items()}
    settings.update({name: environ.get(variable, "") for name, variable in SETTINGS_FROM_ENVIRONMENT.items()})
    return settings


def last_applied_ms(cloudformation: Any, stack_id: str, logical_id: str) -> int:
    """When the custom resource last finished a Create or Update (epoch ms): when it last expanded the prefixes.
    A deploy that does not change its properties does not run it and leaves this time alone."""
    detail = cloudformation.describe_stack_resource(StackName=stack_id, LogicalResourceId=logical_id)
    return int(detail["StackResourceDetail"]["LastUpdatedTimestamp"].timestamp() * 1000)


def scheduled_pass(
    logs: Any,
    cloudformation: Any,
    environ: Mapping[str, str],
    time_left: TimeLeft = unlimited,
    *,
    log: EventLog = LOG,
) -> dict[str, Any]:
    """`subscribe_new_log_groups` with the stack's settings, while the stack is stable, for the log groups
    created since the custom resource (``SUBSCRIPTIONS_RESOURCE``) last ran."""
    stack_id = environ["STACK_ID"]
    stack = describe_stack(cloudformation, stack_id)
    status = str(stack["StackStatus"])
    if status not in STABLE_STACK_STATUSES:
        if status.endswith("_FAILED"):
            log.warning("the stack needs attention: no scheduled pass until it is stable", extra={"status": status})
        else:
            log.info("the stack is changing: no scheduled pass", extra={"stack_status": status})
        return {"skipped_while": status}
    since_ms = last_applied_ms(cloudformation, stack_id, environ["SUBSCRIPTIONS_RESOURCE"]) - CREATED_SINCE_MARGIN_MS
    spec = SubscriptionSpec.from_properties(settings_of(stack, environ))
    return subscribe_new_log_groups(
        logs,
        spec,
        since_ms,
        still_stable=lambda: stack_status(cloudformation, stack_id) in STABLE_STACK_STATUSES,
        time_left=time_left,
        log=log,
    )


def handle(
    request: CustomResourceRequest,
    *,
    logs: Any,
    cloudformation: Any,
    time_left: TimeLeft = unlimited,
    sleep: Callable[[float], None] = time.sleep,
    log: EventLog = LOG,
) -> Outcome:
    """Create, Update and Delete: `apply`, its counts as the ``Data``, under the request's physical id (a new one
    would make CloudFormation delete "the old" filters). Whether the stack rolls back is asked only on a problem."""
    data = apply(
        logs,
        request,
        sleep,
        rolling_back=lambda: stack_is_rolling_back(cloudformation, request.stack_id),
        time_left=time_left,
        log=log,
    )
    return Outcome(data=data)
