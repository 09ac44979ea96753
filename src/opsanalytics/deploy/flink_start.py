"""The FlinkStarter custom resource: start the Managed Flink application after CloudFormation created or updated it.

CloudFormation creates a Managed Service for Apache Flink application READY, not RUNNING, and has no property to
start it. On Create and Update `handle` looks at the application (``ApplicationName``):

- RUNNING, or on its way there or busy while running (STARTING, UPDATING, AUTOSCALING, MAINTENANCE): nothing to
  do; an update of a running application is applied by Managed Flink itself, with a snapshot;
- READY: ``StartApplication``, restoring from the latest snapshot when there is one (a stopped application took
  one), then waits for RUNNING. Back to READY means the job could not start: the stack operation fails and names
  the application's log group. Still STARTING when the function's time runs out is reported, not failed;
- any other state (STOPPING, FORCE_STOPPING, DELETING, ROLLING_BACK, ROLLED_BACK): the stack operation fails
  with the state in the reason.

While the stack rolls back, nothing fails: a failure there would leave the stack in UPDATE_ROLLBACK_FAILED.
Delete does nothing: CloudFormation deletes the application itself (which stops it).

Other resource properties (the code's key) are only there so that a new application zip sends an Update.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from opsanalytics.deploy.custom_resource import (
    CustomResourceRequest,
    EventLog,
    Outcome,
    required_string,
    stack_is_rolling_back,
)

LOG: Final = logging.getLogger(__name__)
ALREADY_RUNNING: Final = frozenset({"RUNNING", "STARTING", "UPDATING", "AUTOSCALING", "MAINTENANCE"})
POLL_SECONDS: Final = 10
# time kept back from the function's timeout to answer CloudFormation
RESPONSE_MARGIN_SECONDS: Final = 30


class ApplicationNotStarted(RuntimeError):
    """The application is in a state it cannot be started from, or did not start."""


@dataclass(frozen=True, slots=True)
class StartOutcome:
    status: str
    action: str

    def data(self) -> dict[str, str]:
        return {"Status": self.status, "Action": self.action}


def application_status(client: Any, name: str) -> str:
    detail = client.describe_application(ApplicationName=name)["ApplicationDetail"]
    return str(detail["ApplicationStatus"])


def has_snapshot(client: Any, name: str) -> bool:
    """Whether the application has a snapshot to restore from (a stopped application took one)."""
    request: dict[str, Any] = {"ApplicationName": name, "Limit": 50}
    while True:
        page = client.list_application_snapshots(**request)
        if any(s.get("SnapshotStatus") == "READY" for s in page.get("SnapshotSummaries", [])):
            return True
        if not page.get("NextToken"):
            return False
        request["NextToken"] = page["NextToken"]


def ensure_running(
    client: Any,
    name: str,
    *,
    seconds_left: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    log_group: str = "",
    log: EventLog = LOG,
) -> StartOutcome:
    status = application_status(client, name)
    if status in ALREADY_RUNNING:
        return StartOutcome(status, "none")
    if status != "READY":
        raise ApplicationNotStarted(
            f"the Managed Flink application {name} is {status}; it can be started only from READY. "
            "Wait for it to settle (or stop it) and deploy again"
        )
    restore = "RESTORE_FROM_LATEST_SNAPSHOT" if has_snapshot(client, name) else "SKIP_RESTORE_FROM_SNAPSHOT"
    client.start_application(
        ApplicationName=name,
        RunConfiguration={
            "ApplicationRestoreConfiguration": {"ApplicationRestoreType": restore},
            "FlinkRunConfiguration": {"AllowNonRestoredState": False},
        },
    )
    log.info("StartApplication sent", extra={"application": name, "restore": restore})
    action = "started" if restore == "SKIP_RESTORE_FROM_SNAPSHOT" else "started from the latest snapshot"
    status = "STARTING"
    while True:
        if seconds_left() < POLL_SECONDS:
            return StartOutcome(status, f"{action}; still {status} when this deploy step ended")
        sleep(POLL_SECONDS)  # first, so that a status read right after the request cannot be the old READY
        status = application_status(client, name)
        if status == "RUNNING":
            return StartOutcome(status, action)
        if status == "READY":
            raise ApplicationNotStarted(
                f"the Managed Flink application {name} did not start (it is READY again): "
                f"see {log_group or 'its CloudWatch log group'}"
            )
        if status not in ALREADY_RUNNING:
            raise ApplicationNotStarted(f"the Managed Flink application {name} is {status} after StartApplication")


def handle(
    request: CustomResourceRequest,
    *,
    kinesisanalytics: Any,
    cloudformation: Any,
    seconds_left: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    log: EventLog = LOG,
) -> Outcome:
    """Create and Update: the application running, or a clear failure (never during a rollback). Delete: nothing,
    CloudFormation deletes the application."""
    if request.request_type == "Delete":
        return Outcome(reason="CloudFormation deletes the application")
    name = required_string(request.properties, "ApplicationName")
    log_group = str(request.properties.get("LogGroupName") or "")
    try:
        started = ensure_running(
            kinesisanalytics, name, seconds_left=seconds_left, sleep=sleep, log_group=log_group, log=log
        )
        log.info("Flink application checked", extra={"application": name})
        return Outcome(data=started.data())
    except ApplicationNotStarted as exc:
        if stack_is_rolling_back(cloudformation, request.stack_id):
            log.warning("the application is not running; not failing a rollback", extra={"reason": str(exc)})
            return Outcome(data=StartOutcome("unknown", f"not started during the rollback: {exc}").data())
        raise
