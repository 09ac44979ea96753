"""The CloudFormation custom resource protocol, shared by the stack's custom resource functions.

CloudFormation sends a request (``RequestType`` Create, Update or Delete, ``ResourceProperties``, a pre-signed
``ResponseURL``) and waits (up to the resource's ``ServiceTimeout``) for a response PUT to that URL. Every request
is answered, failures included: `respond` runs a handler's logic and answers ``SUCCESS`` with its `Outcome`, or
``FAILED`` with the exception as the reason. The response is limited to 4 KB, so ``Reason`` and ``Data`` are kept
short. Standard library only: the functions get this module from the shared layer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

RESPONSE_TIMEOUT_SECONDS: Final = 10
# CloudFormation refuses a response over 4 KB: keep Reason and each Data value well under it
MAX_TEXT: Final = 600

Status = Literal["SUCCESS", "FAILED"]
RequestType = Literal["Create", "Update", "Delete"]


class EventLog(Protocol):
    """What `answer` logs through: the functions' Powertools Logger (or a `logging.Logger`)."""

    def info(self, msg: object, *, extra: Mapping[str, object] | None = None) -> None: ...

    def warning(self, msg: object, *, extra: Mapping[str, object] | None = None) -> None: ...

    def error(self, msg: object, *, extra: Mapping[str, object] | None = None) -> None: ...

    def exception(self, msg: object, *, extra: Mapping[str, object] | None = None) -> None: ...


class ResponseNotDelivered(Exception):
    """CloudFormation could not be answered (no usable URL, or the PUT failed)."""


@dataclass(frozen=True, slots=True)
class CustomResourceRequest:
    """The parts of a CloudFormation custom resource request a handler acts on."""

    request_type: RequestType
    properties: Mapping[str, Any]
    old_properties: Mapping[str, Any] = field(default_factory=dict)
    physical_id: str = ""
    """Empty on Create; afterwards what the previous response returned."""
    stack_id: str = ""

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> CustomResourceRequest:
        request_type = event.get("RequestType")
        if request_type not in ("Create", "Update", "Delete"):
            raise ValueError(f"unknown RequestType {request_type!r}")
        return cls(
            request_type=request_type,
            properties=dict(event.get("ResourceProperties") or {}),
            old_properties=dict(event.get("OldResourceProperties") or {}),
            physical_id=str(event.get("PhysicalResourceId") or ""),
            stack_id=str(event.get("StackId") or ""),
        )


def describe_stack(cloudformation: Any, stack_id: str) -> Mapping[str, Any]:
    """The stack's description (status, parameters, ...); by id, a deleted stack still answers."""
    (stack,) = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    stack_description: Mapping[str, Any] = stack
    return stack_description


def stack_status(cloudformation: Any, stack_id: str) -> str:
    """The stack's status (``UPDATE_COMPLETE``, ``DELETE_IN_PROGRESS``, ...); by id, a deleted stack answers
    ``DELETE_COMPLETE``."""
    return str(describe_stack(cloudformation, stack_id)["StackStatus"])


def stack_is_rolling_back(cloudformation: Any, stack_id: str) -> bool:
    """Whether the stack is rolling back (its status names a rollback). A custom resource must not fail then:
    CloudFormation would leave the stack in UPDATE_ROLLBACK_FAILED."""
    if not stack_id:
        return False
    return "ROLLBACK" in stack_status(cloudformation, stack_id)


def string_list(properties: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list property, stripped, without empty entries (an empty CommaDelimitedList arrives as ``[""]``)."""
    raw = properties.get(name) or ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"{name} must be a list, got {type(raw).__name__}")
    return tuple(text for text in (str(item).strip() for item in items) if text)


def required_string(properties: Mapping[str, Any], name: str) -> str:
    value = str(properties.get(name) or "").strip()
    if not value:
        raise ValueError(f"the resource property {name} is required")
    return value


def build_response(
    event: Mapping[str, Any],
    status: Status,
    physical_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "Status": status,
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "Data": {key: value[:MAX_TEXT] for key, value in (data or {}).items()},
    }
    if reason:
        response["Reason"] = reason[:MAX_TEXT]
    return response


def send_response(url: str, response: Mapping[str, Any]) -> int:
    """PUT the response to CloudFormation's pre-signed URL; the HTTP status, or `ResponseNotDelivered`."""
    if not url.startswith(("https://", "http://")):
        raise ResponseNotDelivered(f"no usable ResponseURL: {url[:200]!r}")
    body = json.dumps(response).encode()
    # the pre-signed S3 URL is signed without a content type: send none
    put = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    try:
        with urllib.request.urlopen(put, timeout=RESPONSE_TIMEOUT_SECONDS) as reply:  # noqa: S310 (http(s) only)
            return int(reply.status)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ResponseNotDelivered(str(exc)) from exc


def answer(event: Mapping[str, Any], response: dict[str, Any], log: EventLog) -> dict[str, Any]:
    """Send `response` to the request's ResponseURL and log how CloudFormation took it; return the response.
    An undeliverable response is logged, not raised: nothing else could receive the error."""
    try:
        http_status = send_response(str(event.get("ResponseURL", "")), response)
        log.info("CloudFormation answered", extra={"status": response["Status"], "http_status": http_status})
    except ResponseNotDelivered as exc:
        log.error("could not answer CloudFormation", extra={"error": str(exc), "status": response["Status"]})
    return response


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a custom resource's logic did: the physical id to answer (empty: the request's, else the default),
    a short reason and the ``Data`` other resources can ``!GetAtt``."""

    physical_id: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


def respond(
    event: Mapping[str, Any],
    logic: Callable[[CustomResourceRequest], Outcome],
    log: EventLog,
    *,
    default_physical_id: str,
) -> dict[str, Any]:
    """Run `logic` on the request and answer CloudFormation: ``SUCCESS`` with its outcome, or ``FAILED`` with the
    exception (any failure must reach CloudFormation). The physical id is the outcome's, else the request's, else
    `default_physical_id`; a failed Create answers the default, so its rollback Delete can tell nothing exists."""
    physical_id = str(event.get("PhysicalResourceId") or default_physical_id)
    try:
        outcome = logic(CustomResourceRequest.from_event(event))
        response = build_response(event, "SUCCESS", outcome.physical_id or physical_id, outcome.reason, outcome.data)
    except Exception as exc:
        log.exception("custom resource failed", extra={"request_type": event.get("RequestType")})
        response = build_response(event, "FAILED", physical_id, f"{type(exc).__name__}: {exc}")
    return answer(event, response, log)
