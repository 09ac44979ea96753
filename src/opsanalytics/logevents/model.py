"""Versioned records that cross stage boundaries.

A `LogEvent` is what the Firehose transformer writes to S3 ``events/`` and what the Flink decoder emits. It is
a ``TypedDict`` rather than a class: millions of them are built per minute and serialised with orjson, and a
plain dict is the cheapest shape for both.
"""

from __future__ import annotations

from typing import Final, Literal, NotRequired, TypedDict

LOG_EVENT_SCHEMA_VERSION: Final = 1

LogFormat = Literal["json", "lambda_report", "lambda_platform", "access_log", "text"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("json", "lambda_report", "lambda_platform", "access_log", "text")

Level = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "CRITICAL"]
LEVELS: Final[tuple[Level, ...]] = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "CRITICAL")
ERROR_LEVELS: Final = frozenset({"ERROR", "FATAL", "CRITICAL"})


class LogEvent(TypedDict):
    """One CloudWatch log event, parsed and normalised (schema version 1)."""

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
