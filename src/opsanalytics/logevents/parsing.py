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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from opsanalytics.logevents.cloudwatch import check_log_event
from opsanalytics.logevents.model import ERROR_LEVELS, LOG_EVENT_SCHEMA_VERSION, LogEvent
from opsanalytics.timestamps import parse_iso_ms

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
# The spellings as they are written (upper, lower, capitalised), so most level values need no normalising.
_LEVEL_SPELLINGS: Final[dict[str, str]] = {
    spelling: level
    for alias, level in _LEVEL_ALIASES.items()
    for spelling in (alias, alias.lower(), alias.capitalize())
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
_DELIMITED_LEVEL_PATTERN: Final = (
    r"(?:^|[\[<(\s|])(trace|debug|info|notice|warn|warning|error|err|severe|fatal|critical|crit|emerg|alert)"
    r"(?:[\]>):|]|\s*:)"
)
_DELIMITED_LEVEL = re.compile(_DELIMITED_LEVEL_PATTERN, re.IGNORECASE)
_DELIMITED_LEVEL_LOWER = re.compile(_DELIMITED_LEVEL_PATTERN)  # for lower-cased ASCII text
# Every level word of the two patterns above starts with one of these (WARNING with WARN, ERROR with ERR, ...).
_UPPER_LEVEL_STEMS = re.compile("TRACE|DEBUG|INFO|NOTICE|WARN|ERR|SEVERE|FATAL|PANIC|CRIT|EMERG|ALERT")
_LOWER_LEVEL_STEMS = re.compile("trace|debug|info|notice|warn|err|severe|fatal|crit|emerg|alert")
_KV_LEVEL = re.compile(r"\blevel=\"?(\w+)", re.IGNORECASE)
# A stack trace: Python's and Java's headers, an indented "at frame(" line, or an exception name first.
_TRACE_HEADERS: Final = ("Traceback (most recent call last)", "Exception in thread")
_INDENTED_FRAME = re.compile(r"\n\s+at \S+\(")
_EXCEPTION_FIRST = re.compile(r"\w+(?:\.\w+)*Exception: ")
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
        level = _LEVEL_SPELLINGS.get(value)
        return level if level is not None else _LEVEL_ALIASES.get(value.strip().upper())
    if isinstance(value, int) and not isinstance(value, bool):
        return _NUMERIC_LEVELS.get(value)
    return None


def detect_text_level(text: str) -> str:
    """Level of a plain-text line: an explicit level word near the start, else a stack trace means ERROR."""
    head = text[:_LEVEL_SEARCH_CHARS]
    match = _search_from_word(_UPPER_LEVEL, _UPPER_LEVEL_STEMS, head)
    if match is None:
        if head.isascii():
            # ASCII needs no Unicode case folding: a case-sensitive search of the lower-cased head finds what
            # the case-insensitive patterns would, at a fraction of the cost.
            lower = head.lower()
            match = _search_from_word(_DELIMITED_LEVEL_LOWER, _LOWER_LEVEL_STEMS, lower, before=1) or (
                _KV_LEVEL.search(head) if "level=" in lower else None
            )
        else:
            match = _DELIMITED_LEVEL.search(head) or _KV_LEVEL.search(head)
    if match:
        level = _LEVEL_ALIASES.get(match.group(1).upper())
        if level:
            return level
    if "\n" in text and _has_stack_trace(text):
        return "ERROR"
    return "INFO"


def _search_from_word(
    pattern: re.Pattern[str], stems: re.Pattern[str], text: str, before: int = 0
) -> re.Match[str] | None:
    """`pattern.search(text)`, started where the first stem of a level word is (`before` characters earlier,
    for a delimiter the pattern takes in): no match can start sooner, and most lines have no stem at all,
    which the plain alternation of `stems` finds out several times faster than `pattern` would."""
    stem = stems.search(text)
    return None if stem is None else pattern.search(text, max(stem.start() - before, 0))


def _has_stack_trace(text: str) -> bool:
    """Whether a multi-line text holds a stack trace. The substring tests come first: a search with the
    patterns alone costs more than the rest of the line's parsing."""
    return (
        any(header in text for header in _TRACE_HEADERS)
        or ("at " in text and _INDENTED_FRAME.search(text) is not None)
        or ("Exception: " in text and _EXCEPTION_FIRST.match(text) is not None)
    )


def parse_timestamp(value: object) -> int | None:
    """Epoch milliseconds from an ISO-8601 string or an epoch number in seconds, milliseconds or microseconds."""
    cls = value.__class__
    if cls is str:
        text = value.strip()  # type: ignore[attr-defined]
        if len(text) >= 10 and text[4] == "-":
            try:
                return parse_iso_ms(text)
            except ValueError:
                return None
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


# Integers an event may carry: a signed 64-bit range, what JSON serialisation and OpenSearch's long both take.
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1


def _to_int(value: object) -> int | None:
    """An integer in the signed 64-bit range from a JSON number or a string of digits, else None."""
    if isinstance(value, str):  # the usual case: a number in a string ("502")
        number = int(value) if value.isdecimal() else None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = int(value)  # a float is finite: JSON has no infinities
    else:
        return None
    return number if number is not None and _INT_MIN <= number <= _INT_MAX else None


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

    __slots__ = ("_head", "log_group", "log_stream", "owner")

    def __init__(self, log_group: str, log_stream: str, owner: str) -> None:
        self.log_group = log_group
        self.log_stream = log_stream
        self.owner = owner
        # The fields every event of the payload starts with, in the order they are written.
        self._head: dict[str, Any] = {
            "schema_version": LOG_EVENT_SCHEMA_VERSION,
            "event_id": "",
            "timestamp": 0,
            "log_group": log_group,
            "log_stream": log_stream,
            "owner": owner,
            "service": service_from_log_group(log_group),
        }

    def parse_events(self, log_events: Iterable[object]) -> list[LogEvent]:
        """The ``logEvents`` of one payload, parsed; `InvalidEnvelopeError` naming the first entry without a
        string id, an integer timestamp and a string message (a payload is used whole or not at all)."""
        head = self._head
        by_first_character = _PARSERS_BY_FIRST_CHARACTER
        events: list[LogEvent] = []
        for index, entry in enumerate(log_events):
            try:
                event_id = entry["id"]  # type: ignore[index]
                timestamp = entry["timestamp"]  # type: ignore[index]
                message = entry["message"]  # type: ignore[index]
            except (KeyError, TypeError):
                event_id = timestamp = message = None
            if type(event_id) is not str or type(timestamp) is not int or type(message) is not str:
                check_log_event(entry, index)  # raises, naming the entry
            event = head.copy()
            event["event_id"] = event_id
            event["timestamp"] = timestamp
            text = message.strip()
            first = text[:1]
            parse_format = by_first_character.get(first) or (_parse_access_log if first.isdigit() else None)
            if parse_format is None or not parse_format(event, text):
                _parse_text(event, text)
            events.append(event)  # type: ignore[arg-type]
        return events

    def parse(self, event_id: str, timestamp: int, message: str) -> LogEvent:
        """One event (`parse_events` parses a payload's)."""
        return self.parse_events([{"id": event_id, "timestamp": timestamp, "message": message}])[0]


def _parse_json(event: dict[str, Any], text: str) -> bool:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if type(doc) is not dict:
        return False
    layout = _JSON_LAYOUTS.get(keys := tuple(doc)) or _json_layout(keys)
    if layout.typed:
        record_type = doc["type"]
        if isinstance(record_type, str) and record_type.startswith("platform."):
            _lambda_json_platform(event, doc, record_type, text)
            event["error"] = event["level"] == "ERROR"
            return True
    doc[_ABSENT] = None  # the getter reads this for the fields the layout lacks
    values = layout.getter(doc)
    factor = layout.latency_factor
    for position, _ in layout.alternatives:
        if values[position] is None or values[position] == "":
            values, factor = _first_non_empty(doc, values, layout)
            break
    level, message, service, status, timestamp, method, path, size, request_id, client_ip, user_agent, latency = values

    if service is not None:
        if type(service) is dict:  # ECS: {"service": {"name": ...}}
            service = service.get("name")
        if isinstance(service, str) and service:
            event["service"] = service
    if timestamp is not None:
        parsed_ts = parse_timestamp(timestamp)
        if parsed_ts is not None:
            event["timestamp"] = parsed_ts
    if type(message) is not str or not message:
        message = text
    event["message"] = message
    event["format"] = layout.format

    # The usual types first, inline: most structured lines give an integer status and a string level.
    if status is not None and (type(status) is not int or not _INT_MIN <= status <= _INT_MAX):
        status = _to_int(status)
    if type(level) is str:
        level = _LEVEL_SPELLINGS.get(level) or _LEVEL_ALIASES.get(level.strip().upper())
    else:
        level = _NUMERIC_LEVELS.get(level) if type(level) is int else None
    if level is None and layout.nested_log and type(doc["log"]) is dict:  # ECS: {"log": {"level": ...}}
        level = normalise_level(doc["log"].get("level"))
    if level is None:
        level = _level_from_status(status) if status is not None else detect_text_level(message)
    event["level"] = level

    if status is not None:
        event["status"] = status
    if latency is not None:
        number = float(latency) if type(latency) is float or type(latency) is int else _to_float(latency)
        if number is not None:
            event["latency_ms"] = number * factor
    if type(method) is str and method:
        event["method"] = method
    if type(path) is str and path:
        event["path"] = path
    if type(request_id) is str and request_id:
        event["request_id"] = request_id
    if type(client_ip) is str and client_ip:
        event["client_ip"] = client_ip
    if type(user_agent) is str and user_agent:
        event["user_agent"] = user_agent
    if size is not None:
        size = size if type(size) is int and _INT_MIN <= size <= _INT_MAX else _to_int(size)
        if size is not None:
            event["bytes"] = size
    event["error"] = level in ERROR_LEVELS or (status is not None and status >= 500)
    return True


# The fields a structured line can carry, in the order `_JsonLayout.getter` returns their values.
_JSON_FIELDS: Final = (
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
    ("latency_ms", tuple(key for key, _ in _LATENCY_KEYS)),
)
_LATENCY_FACTORS: Final = dict(_LATENCY_KEYS)
# A key no JSON object can have (JSON keys are strings): the getter's stand-in for a field a layout lacks.
_ABSENT: Final = None


@dataclass(frozen=True, slots=True)
class _JsonLayout:
    """How to read the fields of a structured line with one key layout. One service logs the same keys line
    after line, so a layout is resolved once; later lines cost one lookup and one C-level getter call."""

    getter: Callable[[dict[Any, Any]], tuple[Any, ...]]  # the best key's value per field, `_JSON_FIELDS` order
    # fields with several keys present: (field position, the other keys, best first), for empty best values
    alternatives: tuple[tuple[int, tuple[str, ...]], ...]
    latency_factor: float  # to milliseconds, of the best latency key
    format: str  # "access_log" for API Gateway access logs, else "json"
    typed: bool  # has a "type" key (Lambda's JSON platform records)
    nested_log: bool  # has a "log" key (ECS: {"log": {"level": ...}})


_JSON_LAYOUTS: dict[tuple[str, ...], _JsonLayout] = {}
_JSON_LAYOUTS_SIZE: Final = 512


def _json_layout(keys: tuple[str, ...]) -> _JsonLayout:
    present = frozenset(keys)
    best: list[str | None] = []
    alternatives: list[tuple[int, tuple[str, ...]]] = []
    for position, (_, candidates) in enumerate(_JSON_FIELDS):
        found = tuple(key for key in dict.fromkeys(candidates) if key in present)
        best.append(found[0] if found else _ABSENT)
        if len(found) > 1:
            alternatives.append((position, found[1:]))
    latency_key = best[-1]
    is_access = "requestId" in present and "httpMethod" in present and ("status" in present or "statusCode" in present)
    layout = _JsonLayout(
        getter=operator.itemgetter(*best),
        alternatives=tuple(alternatives),
        latency_factor=_LATENCY_FACTORS[latency_key] if latency_key is not None else 1.0,
        format="access_log" if is_access else "json",
        typed="type" in present,
        nested_log="log" in present,
    )
    if len(_JSON_LAYOUTS) >= _JSON_LAYOUTS_SIZE:
        _JSON_LAYOUTS.clear()
    _JSON_LAYOUTS[keys] = layout
    return layout


def _first_non_empty(
    doc: dict[Any, Any], values: tuple[Any, ...], layout: _JsonLayout
) -> tuple[tuple[Any, ...], float]:
    """Where the best key of a field holds null or an empty string, the next key of that field that does not."""
    factor = layout.latency_factor
    chosen = list(values)
    for position, others in layout.alternatives:
        value = chosen[position]
        if value is None or value == "":
            value = None
            for key in others:
                candidate = doc[key]
                if candidate is not None and candidate != "":
                    value = candidate
                    if position == _LATENCY_POSITION:
                        factor = _LATENCY_FACTORS[key]
                    break
            chosen[position] = value
    return tuple(chosen), factor


_LATENCY_POSITION: Final = len(_JSON_FIELDS) - 1


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


def _parse_lambda_report(event: dict[str, Any], text: str) -> bool:
    match = _LAMBDA_REPORT.match(text) if text.startswith("REPORT RequestId:") else None
    if match is None:
        return False
    request_id, duration, billed, memory_size, memory_used, init, lambda_status = match.groups()
    try:  # [\d.]+ also takes "1.2.3": such a line is not the runtime's, and stays a text line
        numbers = float(duration), float(billed), int(memory_size), int(memory_used), float(init) if init else None
    except ValueError:
        return False
    if max(numbers[2], numbers[3]) > _INT_MAX:
        return False
    event["format"] = "lambda_report"
    event["message"] = text
    event["request_id"] = request_id
    event["latency_ms"], event["billed_ms"], event["memory_size_mb"], event["memory_used_mb"], init_ms = numbers
    if init_ms is not None:
        event["init_ms"] = init_ms
    if lambda_status and lambda_status.lower() != "success":
        event["lambda_status"] = lambda_status.lower()
        event["level"] = "ERROR"
        event["error"] = True
    else:
        event["level"] = "INFO"
        event["error"] = False
    return True


def _parse_lambda_platform(event: dict[str, Any], text: str) -> bool:
    if not text.startswith(_LAMBDA_PLATFORM_PREFIXES):
        return False
    event["format"] = "lambda_platform"
    event["message"] = text
    event["level"] = "INFO"
    match = _LAMBDA_REQUEST_ID.search(text)
    if match:
        event["request_id"] = match.group(1)
    event["error"] = False
    return True


def _parse_access_log(event: dict[str, Any], text: str) -> bool:
    if "\n" in text:
        return False
    match = _ACCESS_LOG.match(text)
    if match is None:
        return False
    client_ip, method, path, status_text, size, user_agent, request_time = match.groups()
    status = int(status_text)
    event["format"] = "access_log"
    event["message"] = text
    event["level"] = _level_from_status(status)
    event["status"] = status
    event["method"] = method
    event["path"] = path
    event["client_ip"] = client_ip
    if size != "-":
        size_bytes = _to_int(size)
        if size_bytes is not None:
            event["bytes"] = size_bytes
    if user_agent is not None:
        event["user_agent"] = user_agent
    if request_time is not None:
        # nginx $request_time is seconds with a decimal point; Apache %D is an integer in microseconds.
        event["latency_ms"] = float(request_time) * 1000.0 if "." in request_time else int(request_time) / 1000.0
    event["error"] = status >= 500
    return True


def _parse_text(event: dict[str, Any], text: str) -> None:
    event["format"] = "text"
    event["message"] = text
    level = detect_text_level(text)
    match = _EMBEDDED_REQUEST.search(text) if '" ' in text else None
    if match is not None:
        method, path, status_text, size, request_time = match.groups()
        status = int(status_text)
        event["status"] = status
        event["method"] = method
        event["path"] = path
        size_bytes = _to_int(size) if size else None
        if size_bytes is not None:
            event["bytes"] = size_bytes
        seconds = _to_float(request_time) if request_time else None  # [\d.]+ also takes "1.2.3"
        if seconds is not None:
            event["latency_ms"] = seconds * 1000.0
        if level == "INFO" and status >= 400:
            level = _level_from_status(status)
        event["level"] = level
        event["error"] = level in ERROR_LEVELS or status >= 500
        return
    event["level"] = level
    event["error"] = level in ERROR_LEVELS


# Which format a line may be, by its first character: JSON objects, the Lambda runtime's lines, access logs
# (an address first; `LogEventParser.parse` also tries them for non-ASCII digits). The rest is text.
_PARSERS_BY_FIRST_CHARACTER: Final[dict[str, Callable[[dict[str, Any], str], bool]]] = {
    "{": _parse_json,
    "R": _parse_lambda_report,
    **{prefix[0]: _parse_lambda_platform for prefix in _LAMBDA_PLATFORM_PREFIXES},
    **dict.fromkeys("0123456789", _parse_access_log),
}


def parse_log_event(cloudwatch_event: Mapping[str, Any], *, log_group: str, log_stream: str, owner: str) -> LogEvent:
    """Parse one ``logEvents`` entry of a subscription payload (convenience for one-off use)."""
    parser = LogEventParser(log_group, log_stream, owner)
    return parser.parse(cloudwatch_event["id"], cloudwatch_event["timestamp"], cloudwatch_event["message"])
