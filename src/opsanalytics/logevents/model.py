"""Versioned records that cross stage boundaries.

A `LogEvent` is what the Firehose transformer writes to S3 ``events/`` and what the Flink decoder emits. It is
a ``TypedDict`` rather than a class: millions of them are built per minute and serialised with orjson, and a
plain dict is the cheapest shape for both.
"""

from __future__ import annotations

from typing import Final, Literal, NotRequired, TypedDict

LOG_EVENT_SCHEMA_VERSION: Final = 3
# Versions every reader of `LogEvent` documents accepts. Version 2 added `attributes`, `attributes_truncated`,
# `trace_id`, `span_id`, `k8s_namespace`, `k8s_pod`, `container` and the ``logfmt`` format; version 3 `parser`
# and the ``regex`` and ``delimited`` formats of declared rules. All optional: an earlier document reads as a
# later one without them.
READABLE_LOG_EVENT_SCHEMA_VERSIONS: Final = frozenset({1, 2, 3})

LogFormat = Literal["json", "logfmt", "lambda_report", "lambda_platform", "access_log", "text", "regex", "delimited"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = (
    "json",
    "logfmt",
    "lambda_report",
    "lambda_platform",
    "access_log",
    "text",
    "regex",
    "delimited",
)

# An attribute's value: a JSON scalar or a list of them (deeper structures are kept as their JSON text).
AttributeValue = str | int | float | bool | None | list[str | int | float | bool | None]

Level = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "CRITICAL"]
LEVELS: Final[tuple[Level, ...]] = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "CRITICAL")
ERROR_LEVELS: Final = frozenset({"ERROR", "FATAL", "CRITICAL"})


class LogEvent(TypedDict):
    """One CloudWatch log event, parsed and normalised (schema version 3)."""

    schema_version: int
    event_id: str
    timestamp: int  # UTC epoch milliseconds: the line's own time when it has one, else CloudWatch's
    log_group: str
    log_stream: str
    owner: str
    service: str
    level: Level
    message: str
    format: LogFormat
    error: bool  # level is ERROR/FATAL/CRITICAL or HTTP status >= 500
    status: NotRequired[int]
    latency_ms: NotRequired[float]
    method: NotRequired[str]
    path: NotRequired[str]
    bytes: NotRequired[int]
    client_ip: NotRequired[str]
    user_agent: NotRequired[str]
    request_id: NotRequired[str]
    billed_ms: NotRequired[float]
    memory_size_mb: NotRequired[int]
    memory_used_mb: NotRequired[int]
    init_ms: NotRequired[float]
    lambda_status: NotRequired[str]
    # version 2
    trace_id: NotRequired[str]  # X-Ray (1-...), W3C/OpenTelemetry (32 hex digits), as the line wrote it
    span_id: NotRequired[str]
    k8s_namespace: NotRequired[str]
    k8s_pod: NotRequired[str]
    container: NotRequired[str]
    # the structured line's other fields, flattened to dotted keys (`opsanalytics.logevents.attributes`)
    attributes: NotRequired[dict[str, AttributeValue]]
    attributes_truncated: NotRequired[bool]  # present (true) when attributes were cut to their bounds
    # version 3
    parser: NotRequired[str]  # the declared parser rule that parsed the line (`opsanalytics.logevents.rules`)


# Spelled out: with postponed annotations, TypedDict cannot see NotRequired at runtime.
REQUIRED_LOG_EVENT_FIELDS: Final = frozenset(
    {
        "schema_version",
        "event_id",
        "timestamp",
        "log_group",
        "log_stream",
        "owner",
        "service",
        "level",
        "message",
        "format",
        "error",
    }
)
OPTIONAL_LOG_EVENT_FIELDS: Final = frozenset(LogEvent.__annotations__) - REQUIRED_LOG_EVENT_FIELDS


def is_error(level: str, status: int | None) -> bool:
    """DESIGN's error rule: an error level, or an HTTP status of 500 or more."""
    return level in ERROR_LEVELS or (status is not None and status >= 500)
