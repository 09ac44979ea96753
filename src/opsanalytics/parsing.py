"""Turn CloudWatch log events into normalised `LogEvent`s.

Formats, tried in this order:
- ``json``: structured application logs (Powertools, structlog, pino, Lambda's JSON log format, ...), and
  API Gateway JSON access logs (classified ``access_log``);
- ``lambda_report`` / ``lambda_platform``: the Lambda runtime's REPORT, START, END, INIT_START... lines;
- ``access_log``: Apache / nginx common and combined formats, with a trailing request time when present;
- ``text``: anything else, with the level detected from the text.

A CloudWatch event is never split: a multi-line stack trace is one event.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from .models import LOG_EVENT_SCHEMA_VERSION, LogEvent, is_error

# Canonical levels for the spellings seen in the wild.
_LEVEL_ALIASES: Final[dict[str, str]] = {
    "TRACE": "TRACE",
    "FINEST": "TRACE",
    "FINER": "TRACE",
    "DEBUG": "DEBUG",
    "FINE": "DEBUG",
    "VERBOSE": "DEBUG",
    "INFO": "INFO",
    "INFORMATION": "INFO",
    "NOTICE": "INFO",
    "LOG": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "SEVERE": "ERROR",
    "FATAL": "FATAL",
    "PANIC": "FATAL",
    "CRITICAL": "CRITICAL",
    "CRIT": "CRITICAL",
    "ALERT": "CRITICAL",
    "EMERG": "CRITICAL",
    "EMERGENCY": "CRITICAL",
}
# Numeric levels: syslog severities are not used (ambiguous); pino/bunyan use 10..60.
_NUMERIC_LEVELS: Final[dict[int, str]] = {
    10: "TRACE",
    20: "DEBUG",
    30: "INFO",
    40: "WARN",
    50: "ERROR",
    60: "FATAL",
}

_LEVEL_KEYS: Final = ("level", "levelname", "severity", "log_level", "loglevel", "lvl", "levelName", "@l")
_MESSAGE_KEYS: Final = ("message", "msg", "@message", "@m", "event", "text", "log")
_SERVICE_KEYS: Final = ("service", "service_name", "serviceName", "app", "application")
# (key, factor to milliseconds)
_LATENCY_KEYS: Final = (
    ("latency_ms", 1.0),
    ("duration_ms", 1.0),
    ("latency", 1.0),
    ("duration", 1.0),
    ("elapsed_ms", 1.0),
    ("response_time_ms", 1.0),
    ("responseLatency", 1.0),
    ("durationMs", 1.0),
    ("latencyMs", 1.0),
    ("took_ms", 1.0),
    ("request_time", 1000.0),  # nginx JSON access logs: seconds
)
_STATUS_KEYS: Final = ("status", "status_code", "statusCode", "http_status", "httpStatus", "response_status")
_TIMESTAMP_KEYS: Final = ("timestamp", "time", "ts", "@timestamp", "@t", "requestTimeEpoch", "datetime")
_METHOD_KEYS: Final = ("method", "http_method", "httpMethod", "request_method")
_PATH_KEYS: Final = ("path", "resourcePath", "route", "uri", "url", "request_uri")
_BYTES_KEYS: Final = ("bytes", "responseLength", "bytes_sent", "body_bytes_sent", "response_size")
_REQUEST_ID_KEYS: Final = ("request_id", "requestId", "aws_request_id", "function_request_id")
_CLIENT_IP_KEYS: Final = ("client_ip", "ip", "sourceIp", "remote_addr", "clientIp")
_USER_AGENT_KEYS: Final = ("user_agent", "userAgent", "http_user_agent")

_LAMBDA_REPORT = re.compile(
    r"REPORT RequestId: (?P<rid>\S+)\s+Duration: (?P<dur>[\d.]+) ms\s+Billed Duration: (?P<billed>[\d.]+) ms"
    r"\s+Memory Size: (?P<mem>\d+) MB\s+Max Memory Used: (?P<used>\d+) MB"
    r"(?:\s+Init Duration: (?P<init>[\d.]+) ms)?(?:.*?Status: (?P<status>\w+))?"
)
_LAMBDA_PLATFORM_PREFIXES: Final = (
    "START RequestId:",
    "END RequestId:",
    "INIT_START",
    "INIT_REPORT",
    "EXTENSION",
)
_LAMBDA_REQUEST_ID = re.compile(r"RequestId: (\S+)")

# Apache/nginx common or combined log format; optional trailing request time (nginx $request_time in seconds
# with a decimal point, or Apache %D in microseconds as an integer), optionally as rt=/request_time=.
_ACCESS_LOG = re.compile(
    r'(?P<ip>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: [^"]*)?" (?P<status>\d{3}) '
    r'(?P<bytes>\d+|-)(?: "[^"]*" "(?P<ua>[^"]*)")?(?:.*?\s(?:(?:rt|request_time)=)?"?(?P<rt>\d+(?:\.\d+)?)"?)?\s*$'
)
# A request line inside a larger text line, e.g. OpenStack wsgi:
# '"GET /v2/servers HTTP/1.1" status: 200 len: 1893 time: 0.2477829'
_EMBEDDED_REQUEST = re.compile(
    r'"(?P<method>GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (?P<path>\S+) HTTP/[\d.]+"\s+(?:status:?\s*)?'
    r"(?P<status>\d{3})(?:\s+len:?\s*(?P<bytes>\d+))?(?:\s+time:?\s*(?P<time>[\d.]+))?"
)
_UPPER_LEVEL = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|PANIC|CRITICAL|CRIT|EMERG|ALERT)\b"
)
_DELIMITED_LEVEL = re.compile(
    r"(?:^|[\[<(\s|])(trace|debug|info|notice|warn|warning|error|err|severe|fatal|critical|crit|emerg|alert)"
    r"(?:[\]>):|]|\s*:)",
    re.IGNORECASE,
)
_KV_LEVEL = re.compile(r"\blevel=\"?(\w+)", re.IGNORECASE)
_STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)|Exception in thread|\n\s+at \S+\(|^\w+(?:\.\w+)*Exception: "
)
# Only the start of a text line is searched for a level: the words "error" and "info" also appear in prose.
_LEVEL_SEARCH_CHARS: Final = 160


def service_from_log_group(log_group: str) -> str:
    """DESIGN's rule: /aws/lambda/<name> and /ecs|/aws/ecs/<name> give <name>; else the last segment."""
    for prefix in ("/aws/lambda/", "/aws/ecs/", "/ecs/"):
        if log_group.startswith(prefix):
            name = log_group[len(prefix) :].split("/", 1)[0]
            if name:
                return name
    segments = [s for s in log_group.split("/") if s]
    return segments[-1] if segments else "unknown"


def normalise_level(value: object) -> str | None:
    """Canonical upper-case level for a level value of any spelling, or None if it is not one."""
    if isinstance(value, str):
        return _LEVEL_ALIASES.get(value.strip().upper())
    if isinstance(value, int) and not isinstance(value, bool):
        return _NUMERIC_LEVELS.get(value)
    return None


def detect_text_level(text: str) -> str:
    """Level of a plain-text line: an explicit level word near the start, else a stack trace means ERROR."""
    head = text[:_LEVEL_SEARCH_CHARS]
    match = _UPPER_LEVEL.search(head) or _DELIMITED_LEVEL.search(head) or _KV_LEVEL.search(head)
    if match:
        level = _LEVEL_ALIASES.get(match.group(1).upper())
        if level:
            return level
    if "\n" in text and _STACK_TRACE.search(text):
        return "ERROR"
    return "INFO"


def parse_timestamp(value: object) -> int | None:
    """Epoch milliseconds from an ISO-8601 string or an epoch number in seconds, milliseconds or microseconds."""
    cls = value.__class__
    if cls is str:
        text = value.strip()  # type: ignore[attr-defined]
        if len(text) >= 10 and text[4] == "-":
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
            if parsed.tzinfo is None:  # naive timestamps in logs are UTC by convention (Lambda, Powertools)
                parsed = parsed.replace(tzinfo=UTC)
            return int(parsed.timestamp() * 1000)
        try:
            number = float(text)
        except ValueError:
            return None
    elif cls is int or cls is float:
        number = float(value)  # type: ignore[arg-type]
    else:
        return None
    if not 0 < number < 1e18:  # also rejects NaN
        return None
    if number < 1e11:  # seconds
        return int(number * 1000)
    if number < 1e14:  # milliseconds
        return int(number)
    return int(number / 1000)  # microseconds


def _to_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _to_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class LogEventParser:
    """Parses the events of one log group and stream (the unit of a subscription payload)."""

    __slots__ = ("_base_service", "log_group", "log_stream", "owner")

    def __init__(self, log_group: str, log_stream: str, owner: str) -> None:
        self.log_group = log_group
        self.log_stream = log_stream
        self.owner = owner
        self._base_service = service_from_log_group(log_group)

    def parse(self, event_id: str, timestamp: int, message: str) -> LogEvent:
        event: dict[str, Any] = {
            "schema_version": LOG_EVENT_SCHEMA_VERSION,
            "event_id": event_id,
            "timestamp": timestamp,
            "log_group": self.log_group,
            "log_stream": self.log_stream,
            "owner": self.owner,
            "service": self._base_service,
        }
        stripped = message.strip()
        first = stripped[:1]
        if (
            (first == "{" and self._parse_json(event, stripped))
            or (first in ("S", "E", "R", "I") and _parse_lambda_platform(event, stripped))
            or (first.isdigit() and _parse_access_log(event, stripped))
        ):
            pass
        else:
            _parse_text(event, stripped)
        event["error"] = is_error(event["level"], event.get("status"))
        return event  # type: ignore[return-value]

    def _parse_json(self, event: dict[str, Any], text: str) -> bool:
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        if type(doc) is not dict:
            return False
        record_type = doc.get("type")
        if isinstance(record_type, str) and record_type.startswith("platform."):
            _lambda_json_platform(event, doc, record_type, text)
            return True
        fields = _pick_json_fields(doc)

        service = fields.get("service")
        if type(service) is dict:  # ECS: {"service": {"name": ...}}
            service = service.get("name")
        if isinstance(service, str) and service:
            event["service"] = service

        timestamp = fields.get("timestamp")
        if timestamp is not None:
            parsed_ts = parse_timestamp(timestamp)
            if parsed_ts is not None:
                event["timestamp"] = parsed_ts

        message = fields.get("message")
        if type(message) is not str:
            message = text
        event["message"] = message
        is_access = "requestId" in doc and "httpMethod" in doc and ("status" in doc or "statusCode" in doc)
        event["format"] = "access_log" if is_access else "json"

        status = _to_int(fields.get("status"))
        level = normalise_level(fields.get("level"))
        if level is None and isinstance(doc.get("log"), dict):  # ECS: {"log": {"level": ...}}
            level = normalise_level(doc["log"].get("level"))
        if level is None:
            level = _level_from_status(status) if status is not None else detect_text_level(message)
        event["level"] = level

        if status is not None:
            event["status"] = status
        latency = fields.get("latency_ms")
        if latency is not None:
            number = _to_float(latency)
            if number is not None:
                event["latency_ms"] = number * fields.get("latency_factor", 1.0)
        for name in ("method", "path", "request_id", "client_ip", "user_agent"):
            value = fields.get(name)
            if type(value) is str:
                event[name] = value
        size = _to_int(fields.get("bytes"))
        if size is not None:
            event["bytes"] = size
        return True


def _build_json_key_roles() -> dict[str, tuple[str, int, float]]:
    """JSON key → (field, priority, factor to ms)."""
    roles: dict[str, tuple[str, int, float]] = {}
    for field, keys in (
        ("level", _LEVEL_KEYS),
        ("message", _MESSAGE_KEYS),
        ("service", _SERVICE_KEYS),
        ("status", _STATUS_KEYS),
        ("timestamp", _TIMESTAMP_KEYS),
        ("method", _METHOD_KEYS),
        ("path", _PATH_KEYS),
        ("bytes", _BYTES_KEYS),
        ("request_id", _REQUEST_ID_KEYS),
        ("client_ip", _CLIENT_IP_KEYS),
        ("user_agent", _USER_AGENT_KEYS),
    ):
        for priority, key in enumerate(keys):
            roles.setdefault(key, (field, priority, 1.0))
    for priority, (key, factor) in enumerate(_LATENCY_KEYS):
        roles.setdefault(key, ("latency_ms", priority, factor))
    return roles


_JSON_KEY_ROLES: Final = _build_json_key_roles()


# Key layout → how to pick the fields. One service logs the same keys line after line, so a layout is
# resolved once; later lines cost one lookup and one C-level itemgetter call.
@dataclass(frozen=True, slots=True)
class _FieldPlan:
    fields: tuple[str, ...]  # field names, in the order `getter` returns their values
    getter: Callable[[dict[str, Any]], tuple[Any, ...]]  # values of each field's best key
    candidates: tuple[tuple[str, tuple[str, ...]], ...]  # every key per field, best first (for empty values)
    latency_factor: float


_PLAN_CACHE: dict[tuple[str, ...], _FieldPlan] = {}
_PLAN_CACHE_SIZE: Final = 512


def _field_plan(layout: tuple[str, ...]) -> _FieldPlan:
    plan = _PLAN_CACHE.get(layout)
    if plan is None:
        found: dict[str, list[tuple[int, str, float]]] = {}
        for key in layout:
            role = _JSON_KEY_ROLES.get(key)
            if role is not None:
                found.setdefault(role[0], []).append((role[1], key, role[2]))
        ranked = {field: sorted(keys) for field, keys in found.items()}
        fields = tuple(ranked)
        best = tuple(keys[0][1] for keys in ranked.values())
        getter = operator.itemgetter(*best) if len(best) > 1 else (lambda doc: tuple(doc[k] for k in best))
        latency = ranked.get("latency_ms")
        plan = _FieldPlan(
            fields=fields,
            getter=getter,
            candidates=tuple((field, tuple(key for _, key, _ in keys)) for field, keys in ranked.items()),
            latency_factor=latency[0][2] if latency else 1.0,
        )
        if len(_PLAN_CACHE) >= _PLAN_CACHE_SIZE:
            _PLAN_CACHE.clear()
        _PLAN_CACHE[layout] = plan
    return plan


def _pick_json_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The value of each known field: of the keys present, the highest-priority non-empty one."""
    plan = _field_plan(tuple(doc))
    values = plan.getter(doc)
    if None not in values and "" not in values:
        fields = dict(zip(plan.fields, values, strict=True))
        fields["latency_factor"] = plan.latency_factor
        return fields
    fields = {}
    for field, keys in plan.candidates:
        for key in keys:
            value = doc[key]
            if value is not None and value != "":
                fields[field] = value
                if field == "latency_ms":
                    fields["latency_factor"] = _JSON_KEY_ROLES[key][2]
                break
    return fields


def _level_from_status(status: int) -> str:
    if status >= 500:
        return "ERROR"
    if status >= 400:
        return "WARN"
    return "INFO"


def _lambda_json_platform(event: dict[str, Any], doc: Mapping[str, Any], record_type: str, text: str) -> None:
    """Lambda's JSON log format: {"time": ..., "type": "platform.report", "record": {...}}."""
    record: dict[str, Any] = doc["record"] if isinstance(doc.get("record"), dict) else {}
    timestamp = parse_timestamp(doc.get("time"))
    if timestamp is not None:
        event["timestamp"] = timestamp
    request_id = record.get("requestId")
    if isinstance(request_id, str):
        event["request_id"] = request_id
    event["message"] = text
    status = record.get("status")
    if record_type == "platform.report":
        metrics: dict[str, Any] = record["metrics"] if isinstance(record.get("metrics"), dict) else {}
        event["format"] = "lambda_report"
        _set_float(event, "latency_ms", metrics.get("durationMs"))
        _set_float(event, "billed_ms", metrics.get("billedDurationMs"))
        _set_float(event, "init_ms", metrics.get("initDurationMs"))
        _set_int(event, "memory_size_mb", metrics.get("memorySizeMB"))
        _set_int(event, "memory_used_mb", metrics.get("maxMemoryUsedMB"))
    else:
        event["format"] = "lambda_platform"
    if isinstance(status, str) and status != "success":
        event["lambda_status"] = status
        event["level"] = "ERROR"
    else:
        event["level"] = "INFO"


def _set_float(event: dict[str, Any], field: str, value: object) -> None:
    number = _to_float(value)
    if number is not None:
        event[field] = number


def _set_int(event: dict[str, Any], field: str, value: object) -> None:
    number = _to_int(value)
    if number is not None:
        event[field] = number


def _parse_lambda_platform(event: dict[str, Any], text: str) -> bool:
    if text.startswith("REPORT RequestId:"):
        match = _LAMBDA_REPORT.match(text)
        if match is None:
            return False
        event["format"] = "lambda_report"
        event["message"] = text
        event["request_id"] = match["rid"]
        event["latency_ms"] = float(match["dur"])
        event["billed_ms"] = float(match["billed"])
        event["memory_size_mb"] = int(match["mem"])
        event["memory_used_mb"] = int(match["used"])
        if match["init"]:
            event["init_ms"] = float(match["init"])
        lambda_status = match["status"]
        if lambda_status and lambda_status.lower() != "success":
            event["lambda_status"] = lambda_status.lower()
            event["level"] = "ERROR"
        else:
            event["level"] = "INFO"
        return True
    if text.startswith(_LAMBDA_PLATFORM_PREFIXES):
        event["format"] = "lambda_platform"
        event["message"] = text
        event["level"] = "INFO"
        match = _LAMBDA_REQUEST_ID.search(text)
        if match:
            event["request_id"] = match.group(1)
        return True
    return False


def _parse_access_log(event: dict[str, Any], text: str) -> bool:
    if "\n" in text:
        return False
    match = _ACCESS_LOG.match(text)
    if match is None:
        return False
    status = int(match["status"])
    event["format"] = "access_log"
    event["message"] = text
    event["level"] = _level_from_status(status)
    event["status"] = status
    event["method"] = match["method"]
    event["path"] = match["path"]
    event["client_ip"] = match["ip"]
    if match["bytes"] != "-":
        event["bytes"] = int(match["bytes"])
    if match["ua"] is not None:
        event["user_agent"] = match["ua"]
    request_time = match["rt"]
    if request_time is not None:
        # nginx $request_time is seconds with a decimal point; Apache %D is an integer in microseconds.
        event["latency_ms"] = float(request_time) * 1000.0 if "." in request_time else int(request_time) / 1000.0
    return True


def _parse_text(event: dict[str, Any], text: str) -> None:
    event["format"] = "text"
    event["message"] = text
    level = detect_text_level(text)
    match = _EMBEDDED_REQUEST.search(text) if '" ' in text else None
    if match is not None:
        status = int(match["status"])
        event["status"] = status
        event["method"] = match["method"]
        event["path"] = match["path"]
        if match["bytes"]:
            event["bytes"] = int(match["bytes"])
        if match["time"]:
            event["latency_ms"] = float(match["time"]) * 1000.0
        if level == "INFO" and status >= 400:
            level = _level_from_status(status)
    event["level"] = level


def parse_log_event(cloudwatch_event: Mapping[str, Any], *, log_group: str, log_stream: str, owner: str) -> LogEvent:
    """Parse one ``logEvents`` entry of a subscription payload (convenience for one-off use)."""
    parser = LogEventParser(log_group, log_stream, owner)
    return parser.parse(cloudwatch_event["id"], cloudwatch_event["timestamp"], cloudwatch_event["message"])
