"""Table-driven tests of the line shapes real services write, one table per family, and of every field kept.

The lines are written for these tests in the formats the named loggers and runtimes produce.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from opsanalytics.logevents.attributes import (
    MAX_ATTRIBUTE_CHARS,
    MAX_ATTRIBUTES,
    TOO_DEEP,
    trace_context,
)
from opsanalytics.logevents.model import LOG_EVENT_SCHEMA_VERSION, OPTIONAL_LOG_EVENT_FIELDS, REQUIRED_LOG_EVENT_FIELDS
from opsanalytics.logevents.parsing import LogEventParser, logfmt_fields

CW_TS = 1_767_261_600_000  # 2026-01-01T10:00:00Z
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
REQUEST = "c7e6f1d2-3b4a-4c5d-8e9f-0a1b2c3d4e5f"
JAVA_LINE = "2026-01-01 10:00:03,120 ERROR [http-nio-8080-exec-3] c.e.orders.OrderService - payment declined"

Case = tuple[str, str, str, dict[str, Any]]


def parse(message: str, log_group: str = "/aws/lambda/orders") -> dict[str, Any]:
    return dict(LogEventParser(log_group, "stream-1", "123456789012").parse("e" * 56, CW_TS, message))


def check(name: str, log_group: str, message: str, expected: dict[str, Any]) -> dict[str, Any]:
    event = parse(message, log_group)
    assert event.keys() >= REQUIRED_LOG_EVENT_FIELDS
    assert event.keys() <= REQUIRED_LOG_EVENT_FIELDS | OPTIONAL_LOG_EVENT_FIELDS, name
    assert event["schema_version"] == LOG_EVENT_SCHEMA_VERSION
    for field, value in expected.items():
        if value is None:
            assert field not in event, f"{name}: {field} = {event.get(field)!r}"
        elif field == "attributes_include":
            assert event.get("attributes", {}).items() >= value.items(), f"{name}: {event.get('attributes')}"
        else:
            assert event.get(field) == value, f"{name}: {field}"
    return event


def k8s_line(inner: str, **labels: str) -> str:
    """A record as Fluent Bit's kubernetes filter sends it to CloudWatch (Container Insights' setup)."""
    return orjson.dumps(
        {
            "time": "2026-01-01T10:00:03.123456789Z",
            "stream": "stderr",
            "_p": "F",
            "log": inner,
            "kubernetes": {
                "pod_name": "orders-7d9f8b6c5-x2k4q",
                "namespace_name": "shop",
                "pod_id": "0f0e6a6e-9d1c-4c47-a8c1-6f5f6b1b2c3d",
                "labels": {"pod-template-hash": "7d9f8b6c5", **labels},
                "host": "ip-10-0-1-23.ec2.internal",
                "container_name": "orders-api",
                "docker_id": "5d1f8e2b9c",
                "container_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders:1.4.2",
            },
        }
    ).decode()


CONTAINER_ENVELOPES: list[Case] = [
    (
        "fluent bit kubernetes, text line inside, app label names the service",
        "/aws/containerinsights/prod/application",
        k8s_line(f"{JAVA_LINE}\n", app="orders"),
        {
            "format": "text",
            "level": "ERROR",
            "error": True,
            "message": JAVA_LINE,
            "service": "orders",
            "timestamp": CW_TS + 3123,
            "k8s_namespace": "shop",
            "k8s_pod": "orders-7d9f8b6c5-x2k4q",
            "container": "orders-api",
            "attributes_include": {
                "stream": "stderr",
                "kubernetes.host": "ip-10-0-1-23.ec2.internal",
                "kubernetes.labels.pod-template-hash": "7d9f8b6c5",
            },
        },
    ),
    (
        "fluent bit kubernetes, JSON line inside: its own fields and time win",
        "/aws/containerinsights/prod/application",
        k8s_line(
            '{"level":"info","msg":"order placed","order_id":"A-17","amount":12.5,"ts":1767261601.5}\n',
            **{"app.kubernetes.io/name": "checkout"},
        ),
        {
            "format": "json",
            "level": "INFO",
            "message": "order placed",
            "service": "checkout",
            "timestamp": CW_TS + 1500,
            "k8s_namespace": "shop",
            "attributes_include": {"order_id": "A-17", "amount": 12.5, "stream": "stderr"},
        },
    ),
    (
        "fluent bit kubernetes without labels: the container names the service",
        "/aws/containerinsights/prod/application",
        k8s_line("listening on :8080"),
        {"service": "orders-api", "container": "orders-api", "level": "INFO", "format": "text"},
    ),
    (
        "docker json-file",
        "/ec2/docker/web",
        '{"log":"GET /health 200 1ms\\n","stream":"stdout","time":"2026-01-01T10:00:00.5Z"}',
        {
            "format": "text",
            "message": "GET /health 200 1ms",
            "service": "web",
            "timestamp": CW_TS + 500,
            "attributes": {"stream": "stdout"},
        },
    ),
    (
        "ecs firelens, an access log inside",
        "/ecs/firelens/web",
        orjson.dumps(
            {
                "container_id": "0a1b2c3d4e5f",
                "container_name": "web",
                "ecs_cluster": "prod",
                "ecs_task_arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/0f1e2d3c4b5a",
                "ecs_task_definition": "web:12",
                "log": '10.0.0.5 - - [01/Jan/2026:10:00:00 +0000] "GET /cart HTTP/1.1" 502 173 "-" "curl/8.5" 0.031',
                "source": "stdout",
            }
        ).decode(),
        {
            "format": "access_log",
            "status": 502,
            "error": True,
            "latency_ms": 31.0,
            "container": "web",
            "service": "web",
            "attributes_include": {"ecs_cluster": "prod", "ecs_task_definition": "web:12", "source": "stdout"},
        },
    ),
]

LOGFMT: list[Case] = [
    (
        "logfmt with status and duration",
        "/ecs/gateway",
        f'level=error msg="upstream timeout" status=504 duration_ms=3001 path=/api/checkout upstream=payments '
        f"trace_id={TRACE}",
        {
            "format": "logfmt",
            "level": "ERROR",
            "error": True,
            "message": "upstream timeout",
            "status": 504,
            "latency_ms": 3001.0,
            "path": "/api/checkout",
            "trace_id": TRACE,
            "attributes": {"upstream": "payments"},
        },
    ),
    (
        "go slog text handler, a duration with its unit",
        "/ecs/inventory",
        'time=2026-01-01T10:00:05.000Z level=WARN msg="slow query" duration=1.25s table=orders',
        {
            "format": "logfmt",
            "level": "WARN",
            "timestamp": CW_TS + 5000,
            "latency_ms": 1250.0,
            "attributes": {"table": "orders"},
        },
    ),
    (
        "logrus text formatter, escaped quotes",
        "/ecs/cart",
        r'time="2026-01-01T10:00:06Z" level=info msg="cache \"hot\" warmed" entries=1200',
        {"format": "logfmt", "message": 'cache "hot" warmed', "attributes": {"entries": "1200"}},
    ),
    (
        "a text line with one key=value is not logfmt",
        "/ecs/cart",
        "Starting server port=8080",
        {"format": "text", "attributes": None},
    ),
    (
        "a text line that only starts like logfmt is not logfmt",
        "/ecs/cart",
        "user=alice logged in from 10.0.0.7",
        {"format": "text", "message": "user=alice logged in from 10.0.0.7"},
    ),
]

ECS: list[Case] = [
    (
        "ecs-logging python: dotted keys and nested objects",
        "/ecs/payments-task",
        orjson.dumps(
            {
                "@timestamp": "2026-01-01T10:00:02.000Z",
                "log.level": "error",
                "message": "payment failed",
                "ecs.version": "1.6.0",
                "log": {
                    "logger": "payments.api",
                    "origin": {"file": {"line": 42, "name": "api.py"}, "function": "charge"},
                },
                "process": {"name": "MainProcess", "pid": 1},
                "service.name": "payments",
                "event.duration": 1_534_000_000,
                "trace.id": TRACE,
                "span.id": SPAN,
                "http.response.status_code": 502,
            }
        ).decode(),
        {
            "format": "json",
            "level": "ERROR",
            "service": "payments",
            "timestamp": CW_TS + 2000,
            "latency_ms": 1534.0,
            "status": 502,
            "trace_id": TRACE,
            "span_id": SPAN,
            "attributes": {
                "ecs.version": "1.6.0",
                "log.logger": "payments.api",
                "log.origin.file.line": 42,
                "log.origin.file.name": "api.py",
                "log.origin.function": "charge",
                "process.name": "MainProcess",
                "process.pid": 1,
            },
        },
    ),
    (
        "ecs logback encoder: nested service and log objects",
        "/ecs/inventory",
        '{"@timestamp":"2026-01-01T10:00:04.000Z","log":{"level":"WARN","logger":"c.e.Sync"},"message":"retrying",'
        '"service":{"name":"inventory","version":"2.1"},"ecs":{"version":"1.2.0"},"process":{"thread":{"name":"main"}}}',
        {
            "level": "WARN",
            "service": "inventory",
            "attributes": {
                "log.logger": "c.e.Sync",
                "service.version": "2.1",
                "ecs.version": "1.2.0",
                "process.thread.name": "main",
            },
        },
    ),
]

OPENTELEMETRY: list[Case] = [
    (
        "collector's CloudWatch exporter record",
        "/otel/payments",
        orjson.dumps(
            {
                "body": "charge declined",
                "severity_number": 17,
                "severity_text": "ERROR",
                "flags": 1,
                "trace_id": TRACE,
                "span_id": SPAN,
                "attributes": {"http.response.status_code": 402, "customer.tier": "gold"},
                "resource": {
                    "service.name": "payments",
                    "k8s.namespace.name": "shop",
                    "k8s.pod.name": "payments-0",
                    "telemetry.sdk.language": "java",
                },
            }
        ).decode(),
        {
            "format": "json",
            "level": "ERROR",
            "message": "charge declined",
            "service": "payments",
            "status": 402,
            "trace_id": TRACE,
            "span_id": SPAN,
            "k8s_namespace": "shop",
            "k8s_pod": "payments-0",
            "attributes": {
                "severity_number": 17,
                "flags": 1,
                "customer.tier": "gold",
                "resource.telemetry.sdk.language": "java",
            },
        },
    ),
    (
        "collector's exporter record with a severity number only",
        "/otel/payments",
        '{"body":"disk almost full","severity_number":13,"resource":{"service.name":"storage"}}',
        {"level": "WARN", "service": "storage", "message": "disk almost full"},
    ),
    (
        "OTLP/JSON log record",
        "/otel/orders",
        orjson.dumps(
            {
                "timeUnixNano": "1767261602500000000",
                "observedTimeUnixNano": "1767261602600000000",
                "severityNumber": 9,
                "severityText": "INFO",
                "body": {"stringValue": "order placed"},
                "attributes": [
                    {"key": "order.id", "value": {"stringValue": "A-17"}},
                    {"key": "amount", "value": {"doubleValue": 12.5}},
                    {"key": "items", "value": {"intValue": "3"}},
                    {"key": "gift", "value": {"boolValue": False}},
                ],
                "traceId": TRACE,
                "spanId": SPAN,
            }
        ).decode(),
        {
            "level": "INFO",
            "message": "order placed",
            "timestamp": CW_TS + 2500,
            "trace_id": TRACE,
            "span_id": SPAN,
            "attributes_include": {"order.id": "A-17", "amount": 12.5, "items": 3, "gift": False},
        },
    ),
]

RUNTIME_CONSOLE: list[Case] = [
    (
        ".NET console fail",
        "/ecs/orders-dotnet",
        "fail: Orders.Api.CheckoutController[0]\n      Payment gateway returned 502 for order A-17",
        {"level": "ERROR", "error": True, "format": "text"},
    ),
    (
        ".NET console crit",
        "/ecs/orders-dotnet",
        "crit: Microsoft.AspNetCore.Hosting.Diagnostics[6]\n      Application startup exception",
        {"level": "CRITICAL", "error": True},
    ),
    (
        ".NET console warn",
        "/ecs/orders-dotnet",
        "warn: Microsoft.AspNetCore.HttpsPolicy.HttpsRedirectionMiddleware[3]\n      Failed to determine the port",
        {"level": "WARN", "error": False},
    ),
    (
        ".NET console info that mentions an error",
        "/ecs/orders-dotnet",
        "info: Orders.Api.Retry[0]\n      Retried after error: timeout",
        {"level": "INFO"},
    ),
    (
        ".NET console dbug",
        "/ecs/orders-dotnet",
        "dbug: Orders.Api.Cache[0]\n      cache hit",
        {"level": "DEBUG"},
    ),
    (
        "glog/klog error",
        "/aws/eks/prod/cluster",
        "E1203 16:39:33.123456       1 reflector.go:138] failed to list *v1.Pod: connection refused",
        {"level": "ERROR", "error": True, "service": "prod"},
    ),
    (
        "glog/klog warning",
        "/aws/eks/prod/cluster",
        "W1203 16:39:33.123456       1 warnings.go:70] metadata.name: this is used in the Pod's hostname",
        {"level": "WARN"},
    ),
    (
        "python logging default format",
        "/ecs/worker",
        "ERROR:orders.api:payment failed for order A-17",
        {"level": "ERROR"},
    ),
    (
        "node.js lambda runtime",
        "/aws/lambda/orders-node",
        '2026-01-01T10:00:00.000Z\t3f1c2b4a-1d2e-4f5a-9b8c-7d6e5f4a3b2c\tERROR\tInvoke Error \t{"errorType":"Error"}',
        {"level": "ERROR", "service": "orders-node"},
    ),
    (
        "spring boot 3",
        "/ecs/orders-java",
        "2026-01-01T10:00:00.000Z  WARN 1 --- [orders] [nio-8080-exec-1] c.e.orders.Api : slow downstream",
        {"level": "WARN"},
    ),
    (
        "go panic",
        "/ecs/api-go",
        "panic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 1 [running]:",
        {"level": "FATAL", "error": True},
    ),
    (
        "ruby logger",
        "/ecs/rails",
        "E, [2026-01-01T10:00:00.123456 #1] ERROR -- : ActiveRecord::ConnectionTimeoutError",
        {"level": "ERROR"},
    ),
]

API_GATEWAY_EXECUTION: list[Case] = [
    (
        "method completed with a 5xx",
        "API-Gateway-Execution-Logs_a1b2c3d4e5/prod",
        f"({REQUEST}) Method completed with status: 502",
        {"status": 502, "level": "ERROR", "error": True, "request_id": REQUEST, "service": "a1b2c3d4e5"},
    ),
    (
        "method completed with a 2xx",
        "API-Gateway-Execution-Logs_a1b2c3d4e5/prod",
        f"({REQUEST}) Method completed with status: 200",
        {"status": 200, "level": "INFO", "error": False},
    ),
    (
        "execution failed",
        "API-Gateway-Execution-Logs_a1b2c3d4e5/prod",
        f"({REQUEST}) Execution failed due to configuration error: Malformed Lambda proxy response",
        {"level": "ERROR", "error": True, "status": None, "request_id": REQUEST},
    ),
    (
        "a step of the request",
        "API-Gateway-Execution-Logs_a1b2c3d4e5/prod",
        f"({REQUEST}) Method request path: {{}}",
        {"level": "INFO", "error": False, "status": None},
    ),
]

FIELDS_KEPT: list[Case] = [
    (
        "the issue's order line",
        "/ecs/orders",
        '{"level":"INFO","message":"order placed","order_id":"A-17","amount":12.5,"customer_tier":"gold"}',
        {"attributes": {"order_id": "A-17", "amount": 12.5, "customer_tier": "gold"}, "attributes_truncated": None},
    ),
    (
        "every JSON type keeps its type; lists of scalars stay lists, lists of objects become their JSON text",
        "/ecs/orders",
        '{"msg":"x","n":3,"f":0.5,"b":true,"z":null,"tags":["a","b"],"lines":[{"sku":"S1"}],"empty":{}}',
        {
            "attributes": {
                "n": 3,
                "f": 0.5,
                "b": True,
                "z": None,
                "tags": ["a", "b"],
                "lines": '[{"sku":"S1"}]',
                "empty": {},
            }
        },
    ),
    (
        "objects deeper than four levels are kept as their JSON text",
        "/ecs/orders",
        '{"msg":"x","a":{"b":{"c":{"d":{"e":1}}}}}',
        {"attributes": {"a.b.c.d": '{"e":1}'}},
    ),
    (
        "a known field that does not parse is kept as an attribute",
        "/ecs/orders",
        '{"msg":"health","status":"ok","level":"audit","latency":"fast"}',
        {"status": None, "level": "INFO", "attributes": {"status": "ok", "level": "audit", "latency": "fast"}},
    ),
    (
        "powertools: x-ray trace id, the rest kept",
        "/aws/lambda/orders",
        '{"level":"INFO","message":"ok","service":"orders","cold_start":true,"function_memory_size":"128",'
        '"xray_trace_id":"1-5759e988-bd862e3fe1be46a994272793","sampling_rate":0.1}',
        {
            "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
            "attributes": {"cold_start": True, "function_memory_size": "128", "sampling_rate": 0.1},
        },
    ),
    (
        "w3c traceparent",
        "/ecs/orders",
        f'{{"msg":"x","traceparent":"00-{TRACE}-{SPAN}-01"}}',
        {"trace_id": TRACE, "span_id": SPAN, "attributes": None},
    ),
    (
        "lambda json platform report with tracing",
        "/aws/lambda/orders",
        '{"time":"2026-01-01T10:00:00.000Z","type":"platform.report","record":{"requestId":"r-1","metrics":'
        '{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":70},"tracing":'
        '{"spanId":"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"Root=1-5759e988-bd862e3fe1be46a994272793;'
        'Parent=53995c3f42cd8ad8;Sampled=1"},"status":"success"}}',
        {
            "format": "lambda_report",
            "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
            "span_id": "54565fb41ac79632",
        },
    ),
]

FAMILIES = {
    "container envelopes": CONTAINER_ENVELOPES,
    "logfmt": LOGFMT,
    "elastic common schema": ECS,
    "opentelemetry": OPENTELEMETRY,
    "runtime console formats": RUNTIME_CONSOLE,
    "api gateway execution logs": API_GATEWAY_EXECUTION,
    "every field kept": FIELDS_KEPT,
}
ALL_CASES = [(family, *case) for family, cases in FAMILIES.items() for case in cases]


@pytest.mark.parametrize(
    ("family", "name", "log_group", "message", "expected"), ALL_CASES, ids=[f"{c[0]}: {c[1]}" for c in ALL_CASES]
)
def test_line_shapes(family: str, name: str, log_group: str, message: str, expected: dict[str, Any]) -> None:
    check(f"{family}: {name}", log_group, message, expected)


def test_attribute_count_is_bounded_with_a_marker() -> None:
    doc = {"msg": "wide"} | {f"k{i:03d}": i for i in range(MAX_ATTRIBUTES + 10)}
    event = parse(orjson.dumps(doc).decode())
    assert len(event["attributes"]) == MAX_ATTRIBUTES
    assert event["attributes"]["k000"] == 0
    assert event["attributes_truncated"] is True


def test_long_values_are_cut_with_a_marker() -> None:
    long = "x" * (MAX_ATTRIBUTE_CHARS + 500)
    event = parse(orjson.dumps({"msg": "big", "payload": long, "ids": [long]}).decode())
    assert event["attributes"]["payload"] == long[:MAX_ATTRIBUTE_CHARS]
    assert event["attributes"]["ids"] == [long[:MAX_ATTRIBUTE_CHARS]]
    assert event["attributes_truncated"] is True


def test_total_attribute_size_is_bounded() -> None:
    doc = {"msg": "many"} | {f"field_{i}": "v" * 1000 for i in range(20)}
    event = parse(orjson.dumps(doc).decode())
    kept = event["attributes"]
    assert 0 < len(kept) < 20
    assert sum(len(k) + len(v) for k, v in kept.items()) <= 8192
    assert event["attributes_truncated"] is True


def test_a_long_line_within_bounds_is_not_marked() -> None:
    doc = {"msg": "m" * 2000, "order_id": "A-17"}
    event = parse(orjson.dumps(doc).decode())
    assert event["attributes"] == {"order_id": "A-17"}
    assert "attributes_truncated" not in event


def test_nesting_deeper_than_any_encoder_writes_is_marked() -> None:
    deep = '{"message":"x","a":' + '{"a":' * 1000 + "1" + "}" * 1001
    event = parse(deep)
    assert event["attributes"] == {"a.a.a.a": TOO_DEEP}
    assert event["attributes_truncated"] is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1-5759e988-bd862e3fe1be46a994272793", ("1-5759e988-bd862e3fe1be46a994272793", None)),
        (
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            (
                "1-5759e988-bd862e3fe1be46a994272793",
                "53995c3f42cd8ad8",
            ),
        ),
        (f"00-{TRACE}-{SPAN}-01", (TRACE, SPAN)),
        (TRACE, (TRACE, None)),
        ("", (None, None)),
        (None, (None, None)),
        ({"id": 1}, (None, None)),
    ],
)
def test_trace_context(value: object, expected: tuple[str | None, str | None]) -> None:
    assert trace_context(value) == expected


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ('a=1 b="two words"', {"a": "1", "b": "two words"}),
        ("a= b=2", {"a": "", "b": "2"}),
        ("a=1", None),
        ("a=1 b", None),
        ('a=1 b="unterminated', None),
        ("a=1 b=2x=3", {"a": "1", "b": "2x=3"}),
    ],
)
def test_logfmt_fields(line: str, fields: dict[str, str] | None) -> None:
    assert logfmt_fields(line) == fields
