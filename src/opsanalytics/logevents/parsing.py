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

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from opsanalytics.logevents.attributes import (
    MAX_ATTRIBUTE_CHARS,
    MAX_ATTRIBUTES,
    SPAN_KEYS,
    TRACE_KEYS,
    bounded_attributes,
    flatten,
    may_nest,
    trace_context,
)
from opsanalytics.logevents.cloudwatch import check_log_event
from opsanalytics.logevents.model import ERROR_LEVELS, LOG_EVENT_SCHEMA_VERSION, LogEvent, is_error
from opsanalytics.logevents.rules import LATENCY_UNITS, NO_RULES, ParserConfig, ParserRule
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

_LEVEL_KEYS: Final = (
    "level",
    "levelname",
    "severity",
    "log_level",
    "loglevel",
    "lvl",
    "levelName",
    "@l",
    "log.level",  # ECS
    "severity_text",  # OpenTelemetry (the collector's CloudWatch exporter; OTLP JSON below)
    "severityText",
    "severity_number",
    "severityNumber",
)
_SEVERITY_NUMBER_KEYS: Final = frozenset({"severity_number", "severityNumber"})
_MESSAGE_KEYS: Final = ("message", "msg", "@message", "@m", "event", "text", "body", "log")
_SERVICE_KEYS: Final = (
    "service",
    "service_name",
    "serviceName",
    "service.name",  # ECS
    "resource.service.name",  # OpenTelemetry resource
    "app",
    "application",
    # Kubernetes metadata as Fluent Bit's kubernetes filter writes it: the app label, else the container
    "kubernetes.labels.app.kubernetes.io/name",
    "kubernetes.labels.app",
    "kubernetes.labels.k8s-app",
    "kubernetes.container_name",
    "container_name",  # ECS FireLens
)
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
    ("responseTime", 1.0),  # pino-http
    ("ElapsedMilliseconds", 1.0),  # Serilog request logging
    ("Elapsed", 1.0),
    ("request_time", 1000.0),  # nginx JSON access logs: seconds
    ("event.duration", 1e-6),  # ECS: nanoseconds
)
_STATUS_KEYS: Final = (
    "status",
    "status_code",
    "statusCode",
    "http_status",
    "httpStatus",
    "response_status",
    "StatusCode",  # Serilog request logging
    "res.statusCode",  # pino-http
    "http.response.status_code",  # ECS, OpenTelemetry semantic conventions
    "attributes.http.response.status_code",
    "attributes.http.status_code",
)
_TIMESTAMP_KEYS: Final = (
    "timestamp",
    "time",
    "ts",
    "@timestamp",
    "@t",
    "requestTimeEpoch",
    "datetime",
    "timeUnixNano",  # OTLP JSON
)
_METHOD_KEYS: Final = (
    "method",
    "http_method",
    "httpMethod",
    "request_method",
    "RequestMethod",
    "req.method",
    "http.request.method",
    "attributes.http.request.method",
    "attributes.http.method",
)
_PATH_KEYS: Final = (
    "path",
    "resourcePath",
    "route",
    "uri",
    "url",
    "request_uri",
    "RequestPath",  # Serilog request logging
    "req.url",  # pino-http
    "url.path",
    "url.original",
    "attributes.url.path",
    "attributes.http.route",
    "attributes.http.target",
)
_BYTES_KEYS: Final = (
    "bytes",
    "responseLength",
    "bytes_sent",
    "body_bytes_sent",
    "response_size",
    "http.response.body.bytes",
)
_REQUEST_ID_KEYS: Final = ("request_id", "requestId", "aws_request_id", "function_request_id", "http.request.id")
_CLIENT_IP_KEYS: Final = (
    "client_ip",
    "ip",
    "sourceIp",
    "remote_addr",
    "clientIp",
    "client.ip",
    "source.ip",
    "attributes.client.address",
)
_USER_AGENT_KEYS: Final = ("user_agent", "userAgent", "http_user_agent", "user_agent.original")
_NAMESPACE_KEYS: Final = ("kubernetes.namespace_name", "k8s.namespace.name", "resource.k8s.namespace.name")
_POD_KEYS: Final = ("kubernetes.pod_name", "k8s.pod.name", "resource.k8s.pod.name")
_CONTAINER_KEYS: Final = (
    "kubernetes.container_name",
    "container_name",
    "k8s.container.name",
    "resource.k8s.container.name",
    "container.name",
)
# A container runtime's envelope around the line the process wrote (Docker json-file, Fluent Bit, FireLens):
# {"log": "<line>", "stream": "stdout", ...}. Its "log" is parsed as a line of its own.
_ENVELOPE_KEYS: Final = frozenset({"stream", "source", "container_id", "container_name"})

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
    r"(?:^|[\[<(\s|])(trace|debug|info|notice|warn|warning|error|err|severe|fatal|panic|critical|crit|emerg|alert)"
    r"(?:[\]>):|]|\s*:)"
)
_DELIMITED_LEVEL = re.compile(_DELIMITED_LEVEL_PATTERN, re.IGNORECASE)
_DELIMITED_LEVEL_LOWER = re.compile(_DELIMITED_LEVEL_PATTERN)  # for lower-cased ASCII text
# Every level word of the two patterns above starts with one of these (WARNING with WARN, ERROR with ERR, ...).
_UPPER_LEVEL_STEMS = re.compile("TRACE|DEBUG|INFO|NOTICE|WARN|ERR|SEVERE|FATAL|PANIC|CRIT|EMERG|ALERT")
_LOWER_LEVEL_STEMS = re.compile("trace|debug|info|notice|warn|err|severe|fatal|panic|crit|emerg|alert")
_KV_LEVEL = re.compile(r"\blevel=\"?(\w+)", re.IGNORECASE)
# A stack trace: Python's and Java's headers, an indented "at frame(" line, or an exception name first.
_TRACE_HEADERS: Final = ("Traceback (most recent call last)", "Exception in thread")
_INDENTED_FRAME = re.compile(r"\n\s+at \S+\(")
_EXCEPTION_FIRST = re.compile(r"\w+(?:\.\w+)*Exception: ")
# Levels a runtime writes as the first characters of a line: .NET's console logger ("fail: Orders.Api[0]"),
# and glog/klog, as Kubernetes components write ("E1203 16:39:33.123456    1 reflector.go:42] ...").
_DOTNET_LEVELS: Final = {
    "trce": "TRACE",
    "dbug": "DEBUG",
    "info": "INFO",
    "warn": "WARN",
    "fail": "ERROR",
    "crit": "CRITICAL",
}
_GLOG_LEVELS: Final = {"I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL"}
_GLOG = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6}\s+\d+ [^\s:\]]+:\d+\] ")
# logfmt: key=value pairs, values bare or double-quoted with backslash escapes
_LOGFMT_START = re.compile(r"[A-Za-z_@][\w.\-/@]*=")
_LOGFMT_KEY: Final = r"[A-Za-z_@][\w.\-/@]*"
# a quoted value as an unrolled loop (a run of plain characters per step, not an alternation per character)
_LOGFMT_VALUE: Final = r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]*'
_LOGFMT_PAIR = re.compile(rf"({_LOGFMT_KEY})=({_LOGFMT_VALUE})")
# the whole line as two or more pairs; no capturing groups (a capture inside a repeat costs on every iteration)
_LOGFMT_LINE = re.compile(rf"{_LOGFMT_KEY}=(?:{_LOGFMT_VALUE})(?:\s+{_LOGFMT_KEY}=(?:{_LOGFMT_VALUE}))+")
# API Gateway execution logs: "(<request id>) Method completed with status: 502"
_API_GATEWAY_REQUEST = re.compile(r"\(([0-9a-f-]{36})\) ")
_API_GATEWAY_STATUS = re.compile(r"Method completed with status: (\d{3})")
# Only the start of a text line is searched for a level: the words "error" and "info" also appear in prose.
_LEVEL_SEARCH_CHARS: Final = 160


# Log groups AWS services write to, most specific first: the prefix, then the segment that names the resource.
_NAMED_LOG_GROUP_PREFIXES: Final = (
    "/aws/lambda/",
    "/aws/ecs/containerinsights/",  # /aws/ecs/containerinsights/<cluster>/performance
    "/aws/ecs/",
    "/ecs/",
    "/aws/rds/instance/",  # /aws/rds/instance/<instance>/<log type>
    "/aws/rds/cluster/",
    "/aws/rds/proxy/",
    "/aws/docdb/",
    "/aws/neptune/",
    "/aws/eks/",  # /aws/eks/<cluster>/cluster
    "/aws/containerinsights/",  # /aws/containerinsights/<cluster>/application
    "/aws/codebuild/",
    "/aws/elasticbeanstalk/",  # /aws/elasticbeanstalk/<environment>/var/log/...
    "/aws/apprunner/",
    "/aws/kinesisfirehose/",
    "/aws/OpenSearchService/domains/",
    "/aws/aes/domains/",
    "/aws/appsync/apis/",
    "/aws/sagemaker/Endpoints/",
    "/aws/vendedlogs/states/",  # Step Functions: <state machine>-Logs
)
_API_GATEWAY_EXECUTION_LOGS: Final = "API-Gateway-Execution-Logs_"  # API-Gateway-Execution-Logs_<api id>/<stage>
_LAMBDA_EDGE_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d\.")  # /aws/lambda/us-east-1.<function>


def service_from_log_group(log_group: str) -> str:
    """DESIGN's rule, extended to the log groups AWS services write: the resource a vended log group names
    (/aws/lambda/<name>, /aws/rds/instance/<name>/<log type>, API-Gateway-Execution-Logs_<api id>/<stage>,
    ...), else the last segment of the name."""
    for prefix in _NAMED_LOG_GROUP_PREFIXES:
        if log_group.startswith(prefix):
            name = log_group[len(prefix) :].split("/", 1)[0]
            if prefix == "/aws/lambda/" and (edge := _LAMBDA_EDGE_REGION.match(name)):
                name = name[edge.end() :]
            elif prefix == "/aws/vendedlogs/states/" and name.endswith("-Logs"):
                name = name[: -len("-Logs")]
            if name:
                return name
    if log_group.startswith(_API_GATEWAY_EXECUTION_LOGS):
        name = log_group[len(_API_GATEWAY_EXECUTION_LOGS) :].split("/", 1)[0]
        if name:
            return name
    if log_group.startswith("/aws-glue/"):  # /aws-glue/jobs/output, /aws-glue/jobs/error
        return "glue"
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
    if text[4:6] == ": " and (dotnet := _DOTNET_LEVELS.get(text[:4])) is not None:
        return dotnet
    if text[:1] in _GLOG_LEVELS and text[1:5].isdigit() and _GLOG.match(text):
        return _GLOG_LEVELS[text[0]]
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
    """Epoch milliseconds from an ISO-8601 string or an epoch number in seconds, milli-, micro- or nanoseconds."""
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
    if not 0 < number < 1e20:  # also rejects NaN
        return None
    if number < 1e11:  # seconds
        return int(number * 1000)
    if number < 1e14:  # milliseconds
        return int(number)
    if number < 1e17:  # microseconds
        return int(number / 1000)
    return int(number / 1_000_000)  # nanoseconds (OpenTelemetry)


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
    """Parses the events of one log group and stream (the unit of a subscription payload), with the declared
    rules of ``config`` (`opsanalytics.logevents.rules`): the log group's parser rule first, auto-detection for
    the lines it does not parse, and the masking on every event."""

    __slots__ = ("_config", "_head", "_masking", "_rule", "log_group", "log_stream", "owner")

    def __init__(self, log_group: str, log_stream: str, owner: str, config: ParserConfig = NO_RULES) -> None:
        self.log_group = log_group
        self.log_stream = log_stream
        self.owner = owner
        self._config = config
        self._rule = config.rule_for(log_group) if config.rules else None
        self._masking = config.masking if config.masking.active else None
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
        rule, masking = self._rule, self._masking
        by_first_character = _PARSERS_BY_FIRST_CHARACTER
        events: list[LogEvent] = []
        parsed = missed = masked = 0
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
            if rule is not None and _apply_rule(event, rule, text):
                parsed += 1
            else:
                if rule is not None:
                    missed += 1  # the line falls back to auto-detection
                first = text[:1]
                parse_format = by_first_character.get(first) or (_parse_access_log if first.isdigit() else None)
                if parse_format is None or not parse_format(event, text):
                    _parse_text(event, text)
            if masking is not None:
                masked += masking.apply(event)
            events.append(event)  # type: ignore[arg-type]
        if rule is not None or masking is not None:
            stats = self._config.stats
            if rule is not None:
                stats.parsed[rule.name] += parsed
                if missed:
                    stats.missed[rule.name] += missed
            stats.masked += masked
        return events

    def parse(self, event_id: str, timestamp: int, message: str) -> LogEvent:
        """One event (`parse_events` parses a payload's)."""
        return self.parse_events([{"id": event_id, "timestamp": timestamp, "message": message}])[0]


def _rule_fields(rule: ParserRule, text: str) -> dict[str, Any] | None:
    """The line's fields by a declared rule's format, or None when the line is not in it."""
    if rule.format == "regex":
        match = rule.regex.fullmatch(text)
        if match is None:
            return None
        return {name: value for name, value in match.groupdict().items() if value is not None}
    if rule.format == "json":
        if text[:1] != "{":
            return None
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if type(doc) is not dict:
            return None
        return flatten(doc) if may_nest(text) else doc
    if rule.format == "logfmt":
        return logfmt_fields(text)
    parts = text.split(rule.delimiter, len(rule.columns) - 1)
    if len(parts) != len(rule.columns):
        return None
    return {column: part.strip() for column, part in zip(rule.columns, parts, strict=True)}


def _rule_timestamp(value: object, timestamp_format: str) -> int | None:
    """Epoch milliseconds of a declared timestamp field, or None when it is not in the declared format."""
    if timestamp_format == "auto":
        return parse_timestamp(value)
    if timestamp_format in ("epoch_s", "epoch_ms"):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if not math.isfinite(number):
            return None
        return int(number * 1000) if timestamp_format == "epoch_s" else int(number)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.strptime(value.strip(), timestamp_format)
    except ValueError:
        return None
    if moment.tzinfo is None:  # a time without an offset is UTC, as everywhere in the pipeline
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _rule_latency_ms(value: object, unit: str) -> float | None:
    """A declared latency field in milliseconds: a number in the rule's ``latency_unit``; with ``auto`` a number of
    milliseconds or a duration with its own unit, read as auto-detection reads one (`_duration_ms`)."""
    number = _duration_ms(value, 1.0) if unit == "auto" else _to_float(value)
    if number is None or not math.isfinite(number):
        return None
    return number if unit == "auto" else number * LATENCY_UNITS[unit]


def _apply_rule(event: dict[str, Any], rule: ParserRule, text: str) -> bool:
    """The line through a declared rule into ``event``; False (``event`` untouched) when the line is not in the
    rule's format."""
    fields = _rule_fields(rule, text)
    if fields is None:
        return False
    mapping = rule.fields
    taken: set[str] = set()

    def take(target: str) -> Any:
        source = mapping[target]
        value = fields.get(source)
        if value is None or value == "":
            return None
        taken.add(source)
        return value

    message = take("message")
    event["message"] = text if message is None else (message if type(message) is str else str(message))
    event["format"] = rule.format
    event["parser"] = rule.name
    status = _to_int(take("status"))
    if status is not None:
        event["status"] = status
    level = normalise_level(take("level"))
    if level is None:
        level = _level_from_status(status) if status is not None and status >= 400 else detect_text_level(text)
    event["level"] = level
    event["error"] = is_error(level, status)
    timestamp = take("timestamp")
    if timestamp is not None and (epoch_ms := _rule_timestamp(timestamp, rule.timestamp_format)) is not None:
        event["timestamp"] = epoch_ms
    latency = take("latency")
    if latency is not None and (latency_ms := _rule_latency_ms(latency, rule.latency_unit)) is not None:
        event["latency_ms"] = latency_ms
    for name in ("service", "request_id", "trace_id", "method", "path", "client_ip", "user_agent"):
        value = take(name)
        if value is not None:
            _set_str(event, name, value if type(value) is str else str(value))
    size = _to_int(take("bytes"))
    if size is not None:
        event["bytes"] = size
    rest = [name for name in fields if name not in taken]
    if rest:
        attributes, truncated = bounded_attributes(tuple(rest), tuple(fields[name] for name in rest))
        if attributes:
            event["attributes"] = attributes
        if truncated:
            event["attributes_truncated"] = True
    return True


def _parse_json(event: dict[str, Any], text: str) -> bool:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if type(doc) is not dict:
        return False
    if "type" in doc:
        record_type = doc["type"]
        if isinstance(record_type, str) and record_type.startswith("platform."):
            _lambda_json_platform(event, doc, record_type, text)
            event["error"] = event["level"] == "ERROR"
            return True
    if may_nest(text):
        if type(doc.get("body")) is dict and ("severityNumber" in doc or "timeUnixNano" in doc):
            doc = _from_otlp_json(doc)
        doc = flatten(doc)
    _parse_structured(event, doc, text, "json")
    return True


def _parse_structured(event: dict[str, Any], doc: dict[Any, Any], text: str, line_format: str) -> None:
    """The fields of a structured line (a flat JSON object or logfmt pairs) into ``event``; the rest kept as
    its attributes."""
    layout = _JSON_LAYOUTS.get(keys := tuple(doc)) or _json_layout(keys)
    doc[_ABSENT] = None  # the getter reads this for the fields the layout lacks
    values = layout.getter(doc)
    factor = layout.latency_factor
    for position, _ in layout.alternatives:
        if values[position] is None or values[position] == "":
            values, factor = _first_non_empty(doc, values, layout)
            break
    (
        level,
        message,
        service,
        status,
        timestamp,
        method,
        path,
        size,
        request_id,
        client_ip,
        user_agent,
        trace,
        span,
        namespace,
        pod,
        container,
        latency,
    ) = values
    # Values of known fields that do not parse ("status": "ok"), kept as attributes under their own keys.
    unparsed: dict[str, Any] | None = None

    if type(service) is str and service:
        event["service"] = service
    if timestamp is not None:
        parsed_ts = parse_timestamp(timestamp)
        if parsed_ts is not None:
            event["timestamp"] = parsed_ts
        else:
            unparsed = _keep(unparsed, layout.keys[_TIMESTAMP_POSITION], timestamp)
    if namespace is not None or pod is not None or container is not None:
        _set_str(event, "k8s_namespace", namespace)
        _set_str(event, "k8s_pod", pod)
        _set_str(event, "container", container)
    if layout.envelope and type(message) is str:
        _parse_envelope_line(event, message, layout, doc, text, unparsed=unparsed)
        return
    if type(trace) is str and len(trace) != _TRACEPARENT_LENGTH and trace[:5] != "Root=" and trace.strip() == trace:
        if trace:  # the usual case inline: an id as it is (an X-Ray or OpenTelemetry id)
            event["trace_id"] = trace
        if type(span) is str and span:
            event["span_id"] = span
    elif trace is not None or span is not None:
        trace_id, span_from_trace = trace_context(trace)
        _set_str(event, "trace_id", trace_id)
        _set_str(event, "span_id", span if type(span) is str else span_from_trace)
    if type(message) is not str or not message:
        message = text
    event["message"] = message
    event["format"] = layout.format if line_format == "json" else line_format

    # The usual types first, inline: most structured lines give an integer status and a string level.
    if status is not None and (type(status) is not int or not _INT_MIN <= status <= _INT_MAX):
        raw_status, status = status, _to_int(status)
        if status is None:
            unparsed = _keep(unparsed, layout.keys[_STATUS_POSITION], raw_status)
    raw_level = level
    if type(level) is str:
        level = _LEVEL_SPELLINGS.get(level) or _LEVEL_ALIASES.get(level.strip().upper())
    else:
        level = layout.numeric_levels.get(level) if type(level) is int else None
    if level is None:
        if raw_level is not None:
            unparsed = _keep(unparsed, layout.keys[_LEVEL_POSITION], raw_level)
        level = _level_from_status(status) if status is not None else detect_text_level(message)
    event["level"] = level

    if status is not None:
        event["status"] = status
    if latency is not None:
        number = float(latency) if type(latency) is float or type(latency) is int else _duration_ms(latency, factor)
        if number is not None:
            event["latency_ms"] = number * factor
        else:
            unparsed = _keep(unparsed, layout.keys[_LATENCY_POSITION], latency)
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
    if unparsed is None and layout.short_line_attributes and len(text) <= MAX_ATTRIBUTE_CHARS:
        # the usual case inline: a short line cannot exceed any bound (no value is longer than the line)
        if layout.consumed_keys is not None:  # fewer keys to remove from the line's own dict than to copy
            for key in layout.consumed_keys:
                del doc[key]
            event["attributes"] = doc
        else:
            event["attributes"] = dict(zip(layout.attribute_names, layout.attribute_getter(doc), strict=True))  # type: ignore[misc]
    else:
        _set_attributes(event, layout, doc, text, unparsed)


def _set_attributes(
    event: dict[str, Any], layout: _JsonLayout, doc: dict[Any, Any], text: str, unparsed: dict[str, Any] | None
) -> None:
    """The line's other fields as ``event["attributes"]``, within their bounds."""
    truncated = False
    if layout.attribute_getter is None:
        attributes = {}
    elif len(text) <= MAX_ATTRIBUTE_CHARS and len(layout.attribute_names) <= MAX_ATTRIBUTES:
        # A short line cannot exceed any bound: no value is longer than the line.
        attributes = dict(zip(layout.attribute_names, layout.attribute_getter(doc), strict=True))
    else:
        attributes, truncated = bounded_attributes(layout.attribute_names, layout.attribute_getter(doc))
    if unparsed:
        more, cut = bounded_attributes(tuple(unparsed), tuple(unparsed.values()))
        attributes.update(more)
        truncated = truncated or cut
    if attributes:
        event["attributes"] = attributes
    if truncated:
        event["attributes_truncated"] = True


def _keep(unparsed: dict[str, Any] | None, key: str | None, value: object) -> dict[str, Any] | None:
    if key is None:
        return unparsed
    if unparsed is None:
        unparsed = {}
    unparsed[key] = value
    return unparsed


def _set_str(event: dict[str, Any], field: str, value: object) -> None:
    if type(value) is str and value:
        event[field] = value


def _parse_envelope_line(
    event: dict[str, Any],
    line: str,
    layout: _JsonLayout,
    doc: dict[Any, Any],
    text: str,
    *,
    unparsed: dict[str, Any] | None,
) -> None:
    """A container runtime's envelope: the line inside is parsed as a line of its own (its own service and
    time, when it has them, win over the envelope's); the envelope's other fields join its attributes."""
    _set_attributes(event, layout, doc, text, unparsed)
    envelope = event.pop("attributes", None)
    truncated = event.pop("attributes_truncated", False)
    inner = line.strip()
    first = inner[:1]
    parse_format = _PARSERS_BY_FIRST_CHARACTER.get(first) or (_parse_access_log if first.isdigit() else None)
    if parse_format is None or not parse_format(event, inner):
        _parse_text(event, inner)
    if envelope:
        inner_attributes = event.get("attributes")
        if inner_attributes:
            names = (*envelope, *inner_attributes)
            merged, cut = bounded_attributes(names, (*envelope.values(), *inner_attributes.values()))
            envelope, truncated = merged, truncated or cut
        event["attributes"] = envelope
    if truncated:
        event["attributes_truncated"] = True


# OpenTelemetry's severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
_OTEL_SEVERITY_LEVELS: Final[dict[int, str]] = {
    number: ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")[(number - 1) // 4] for number in range(1, 25)
}


def _from_otlp_json(record: dict[str, Any]) -> dict[str, Any]:
    """An OTLP/JSON log record (``body: {"stringValue": ...}``, ``attributes: [{"key", "value"}]``) in the
    shape the collector's CloudWatch exporter writes: plain values, attributes as an object."""
    converted = dict(record)
    converted["body"] = _otlp_value(record["body"])
    attributes = record.get("attributes")
    if type(attributes) is list:
        converted["attributes"] = _otlp_key_values(attributes)
    resource = record.get("resource")
    if type(resource) is dict and type(resource.get("attributes")) is list:
        converted["resource"] = _otlp_key_values(resource["attributes"])
    return converted


def _otlp_key_values(pairs: list[Any]) -> dict[str, Any]:
    return {
        pair["key"]: _otlp_value(pair.get("value"))
        for pair in pairs
        if type(pair) is dict and type(pair.get("key")) is str
    }


def _otlp_value(value: object) -> object:
    """The plain value of an OTLP AnyValue (int64 is a string in OTLP/JSON)."""
    if type(value) is not dict or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "intValue":
        number = _to_int(inner)
        return number if number is not None else inner
    if kind == "arrayValue" and type(inner) is dict:
        return [_otlp_value(item) for item in inner.get("values", [])]
    if kind == "kvlistValue" and type(inner) is dict:
        return _otlp_key_values(inner.get("values", []))
    return inner


# Go-style durations in text fields ("1.5s", "300ms"), with the factor of a unitless value of the same key.
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m)")
_DURATION_UNITS_MS: Final = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(value: object, factor: float) -> float | None:
    """A latency value that is not a number: a number in a string (in the key's unit), or a duration with a
    unit; the result is in the key's unit, which the caller scales by ``factor``."""
    number = _to_float(value)
    if number is not None or type(value) is not str:
        return number
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        return None
    return float(match.group(1)) * _DURATION_UNITS_MS[match.group(2)] / factor


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
    ("trace_id", TRACE_KEYS),
    ("span_id", SPAN_KEYS),
    ("k8s_namespace", _NAMESPACE_KEYS),
    ("k8s_pod", _POD_KEYS),
    ("container", _CONTAINER_KEYS),
    ("latency_ms", tuple(key for key, _ in _LATENCY_KEYS)),
)
_FIELD_POSITIONS: Final = {name: position for position, (name, _) in enumerate(_JSON_FIELDS)}
_LEVEL_POSITION: Final = _FIELD_POSITIONS["level"]
_MESSAGE_POSITION: Final = _FIELD_POSITIONS["message"]
_STATUS_POSITION: Final = _FIELD_POSITIONS["status"]
_TIMESTAMP_POSITION: Final = _FIELD_POSITIONS["timestamp"]
_LATENCY_POSITION: Final = len(_JSON_FIELDS) - 1
_LATENCY_FACTORS: Final = dict(_LATENCY_KEYS)
# A key no JSON object can have (JSON keys are strings): the getter's stand-in for a field a layout lacks.
_ABSENT: Final = None
_OTEL_ATTRIBUTES_PREFIX: Final = "attributes."
_TRACEPARENT_LENGTH: Final = 55


@dataclass(frozen=True, slots=True)
class _JsonLayout:
    """How to read the fields of a structured line with one key layout. One service logs the same keys line
    after line, so a layout is resolved once; later lines cost one lookup and one C-level getter call."""

    getter: Callable[[dict[Any, Any]], tuple[Any, ...]]  # the best key's value per field, `_JSON_FIELDS` order
    keys: tuple[str | None, ...]  # the best key per field (None: absent), `_JSON_FIELDS` order
    # fields with several keys present: (field position, the other keys, best first), for empty best values
    alternatives: tuple[tuple[int, tuple[str, ...]], ...]
    latency_factor: float  # to milliseconds, of the best latency key
    format: str  # "access_log" for API Gateway access logs, else "json"
    numeric_levels: Mapping[int, str]  # pino/bunyan's 10-60, or OpenTelemetry's severity numbers
    envelope: bool  # a container runtime's envelope: its "log" is the line
    # the keys that are no field of their own, and their names as attributes
    attribute_getter: Callable[[dict[Any, Any]], tuple[Any, ...]] | None
    attribute_names: tuple[str, ...]
    short_line_attributes: bool  # has attributes, and few enough to keep them all from a short line
    # the keys to delete from a line's dict to leave its attributes, when that is cheaper than copying them
    consumed_keys: tuple[str | None, ...] | None


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
    latency_key = best[_LATENCY_POSITION]
    is_access = "requestId" in present and "httpMethod" in present and ("status" in present or "statusCode" in present)
    is_otel = "body" in present and not present.isdisjoint(("severity_text", "severity_number", "severityText"))
    envelope = best[_MESSAGE_POSITION] == "log" and (
        not present.isdisjoint(_ENVELOPE_KEYS) or any(key.startswith("kubernetes.") for key in keys)
    )
    used = frozenset(best)
    other = tuple(key for key in keys if key not in used)
    consumed = (*(key for key in keys if key in used), _ABSENT)
    names = tuple(
        key[len(_OTEL_ATTRIBUTES_PREFIX) :] if is_otel and key.startswith(_OTEL_ATTRIBUTES_PREFIX) else key
        for key in other
    )
    layout = _JsonLayout(
        getter=operator.itemgetter(*best),
        keys=tuple(best),
        alternatives=tuple(alternatives),
        latency_factor=_LATENCY_FACTORS[latency_key] if latency_key is not None else 1.0,
        format="access_log" if is_access else "json",
        numeric_levels=_OTEL_SEVERITY_LEVELS if best[_LEVEL_POSITION] in _SEVERITY_NUMBER_KEYS else _NUMERIC_LEVELS,
        envelope=envelope,
        attribute_getter=_tuple_getter(other),
        attribute_names=names,
        short_line_attributes=0 < len(other) <= MAX_ATTRIBUTES,
        consumed_keys=consumed if names == other and len(consumed) < len(other) else None,
    )
    if len(_JSON_LAYOUTS) >= _JSON_LAYOUTS_SIZE:
        _JSON_LAYOUTS.clear()
    _JSON_LAYOUTS[keys] = layout
    return layout


def _tuple_getter(keys: tuple[str, ...]) -> Callable[[dict[Any, Any]], tuple[Any, ...]] | None:
    """An itemgetter that returns a tuple for any number of keys (``itemgetter(k)`` returns the bare value)."""
    if not keys:
        return None
    if len(keys) == 1:
        (key,) = keys
        return lambda doc: (doc[key],)
    return operator.itemgetter(*keys)


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
    tracing = record.get("tracing")
    if type(tracing) is dict:  # {"type": "X-Amzn-Trace-Id", "value": "Root=...;Parent=...;Sampled=1"}
        trace_id, span_id = trace_context(tracing.get("value"))
        _set_str(event, "trace_id", trace_id)
        _set_str(event, "span_id", tracing.get("spanId") if type(tracing.get("spanId")) is str else span_id)
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
    if "=" in text and _LOGFMT_START.match(text):
        fields = logfmt_fields(text)
        if fields is not None:
            _parse_structured(event, fields, text, "logfmt")
            return
    event["format"] = "text"
    event["message"] = text
    if text[:1] == "(" and _parse_api_gateway_execution(event, text):
        return
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


def logfmt_fields(text: str) -> dict[str, Any] | None:
    """The key=value pairs of a logfmt line, or None unless the whole line is such pairs (at least two)."""
    if _LOGFMT_LINE.fullmatch(text) is None:
        return None
    fields: dict[str, Any] = {}
    for key, value in _LOGFMT_PAIR.findall(text):
        if value[:1] != '"':
            fields[key] = value
        elif "\\" not in value:
            fields[key] = value[1:-1]
        else:
            try:
                fields[key] = orjson.loads(value)
            except orjson.JSONDecodeError:  # an escape JSON lacks: kept as written
                fields[key] = value[1:-1]
    return fields


def _parse_api_gateway_execution(event: dict[str, Any], text: str) -> bool:
    """An API Gateway execution log line: its request id, the method's status, and failures as errors."""
    request = _API_GATEWAY_REQUEST.match(text)
    if request is None:
        return False
    event["request_id"] = request.group(1)
    status_match = _API_GATEWAY_STATUS.search(text, request.end())
    if status_match is not None:
        status = int(status_match.group(1))
        event["status"] = status
        level = _level_from_status(status)
    elif text.startswith("Execution failed", request.end()):
        level = "ERROR"
    else:
        level = detect_text_level(text[request.end() :])
    event["level"] = level
    event["error"] = level in ERROR_LEVELS
    return True


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
