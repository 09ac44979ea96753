"""Table-driven parser tests on real-format lines of every supported format."""

from __future__ import annotations

from typing import Any

import pytest

from opsanalytics.logevents.model import LOG_EVENT_SCHEMA_VERSION, REQUIRED_LOG_EVENT_FIELDS
from opsanalytics.logevents.parsing import (
    LogEventParser,
    detect_text_level,
    normalise_level,
    parse_timestamp,
    service_from_log_group,
)

CW_TS = 1_767_261_600_000  # 2026-01-01T10:00:00Z


def parse(message: str, log_group: str = "/aws/lambda/orders") -> dict[str, Any]:
    return dict(LogEventParser(log_group, "stream-1", "123456789012").parse("e" * 56, CW_TS, message))


CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "powertools json",
        "/aws/lambda/orders",
        '{"level":"INFO","location":"handler:10","message":"order placed","timestamp":"2026-01-01 10:00:01,250+0000",'
        '"service":"order-service","status_code":201,"latency_ms":87.5,"request_id":"r-1"}',
        {
            "format": "json",
            "level": "INFO",
            "message": "order placed",
            "service": "order-service",
            "timestamp": CW_TS + 1250,
            "status": 201,
            "latency_ms": 87.5,
            "request_id": "r-1",
            "error": False,
        },
    ),
    (
        "json WARNING level and duration key",
        "/ecs/payments",
        '{"levelname":"WARNING","msg":"slow upstream","duration_ms":"1200.5","time":"2026-01-01T10:00:02Z"}',
        {"format": "json", "level": "WARN", "message": "slow upstream", "service": "payments", "latency_ms": 1200.5},
    ),
    (
        "json without level, 5xx status is an error",
        "/ecs/payments",
        '{"message":"upstream failed","status":503}',
        {"level": "ERROR", "status": 503, "error": True},
    ),
    (
        "json numeric pino level and epoch ms time",
        "/ecs/web",
        '{"level":50,"time":1767261605000,"msg":"db down","service":{"name":"web-api"}}',
        {"level": "ERROR", "timestamp": 1_767_261_605_000, "service": "web-api", "error": True},
    ),
    (
        "json request_time in seconds (nginx json)",
        "/ec2/nginx/edge",
        '{"request_time":"0.250","status":"200","method":"GET","uri":"/x"}',
        {"latency_ms": 250.0, "status": 200, "method": "GET", "path": "/x", "level": "INFO"},
    ),
    (
        "api gateway json access log",
        "/aws/apigateway/orders-api",
        '{"requestId":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","ip":"203.0.113.5",'
        '"requestTime":"01/Jan/2026:10:00:00 +0000",'
        '"requestTimeEpoch":1767261600123,"httpMethod":"POST","resourcePath":"/orders","status":"502",'
        '"protocol":"HTTP/1.1","responseLength":"122","responseLatency":2950}',
        {
            "format": "access_log",
            "status": 502,
            "method": "POST",
            "path": "/orders",
            "latency_ms": 2950.0,
            "bytes": 122,
            "client_ip": "203.0.113.5",
            "timestamp": 1_767_261_600_123,
            "level": "ERROR",
            "error": True,
            "service": "orders-api",
        },
    ),
    (
        "lambda REPORT with init duration",
        "/aws/lambda/thumbnailer",
        "REPORT RequestId: 3f1c2a9e-1111-2222-3333-444455556666\tDuration: 1234.56 ms\tBilled Duration: 1235 ms\t"
        "Memory Size: 512 MB\tMax Memory Used: 187 MB\tInit Duration: 312.40 ms\t\n",
        {
            "format": "lambda_report",
            "latency_ms": 1234.56,
            "billed_ms": 1235.0,
            "memory_size_mb": 512,
            "memory_used_mb": 187,
            "init_ms": 312.4,
            "request_id": "3f1c2a9e-1111-2222-3333-444455556666",
            "level": "INFO",
            "service": "thumbnailer",
            "error": False,
        },
    ),
    (
        "lambda REPORT of a timed-out invocation",
        "/aws/lambda/thumbnailer",
        "REPORT RequestId: abc\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 64 MB\tStatus: timeout",
        {"format": "lambda_report", "lambda_status": "timeout", "level": "ERROR", "error": True},
    ),
    (
        "lambda START",
        "/aws/lambda/thumbnailer",
        "START RequestId: 3f1c2a9e-1111 Version: $LATEST\n",
        {"format": "lambda_platform", "request_id": "3f1c2a9e-1111", "level": "INFO"},
    ),
    (
        "lambda END",
        "/aws/lambda/thumbnailer",
        "END RequestId: 3f1c2a9e-1111\n",
        {"format": "lambda_platform", "level": "INFO"},
    ),
    (
        "lambda INIT_START",
        "/aws/lambda/thumbnailer",
        "INIT_START Runtime Version: python:3.11.v40\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc\n",
        {"format": "lambda_platform", "level": "INFO"},
    ),
    (
        "lambda JSON log format platform.report",
        "/aws/lambda/thumbnailer",
        '{"time":"2026-01-01T10:00:03.000Z","type":"platform.report","record":{"requestId":"r-9",'
        '"metrics":{"durationMs":45.2,"billedDurationMs":46,"memorySizeMB":256,"maxMemoryUsedMB":80},'
        '"status":"success"}}',
        {"format": "lambda_report", "latency_ms": 45.2, "billed_ms": 46.0, "memory_used_mb": 80, "level": "INFO"},
    ),
    (
        "nginx combined with request time",
        "/ec2/nginx/web-frontend",
        '198.51.100.7 - - [01/Jan/2026:10:00:00 +0000] "GET /api/cart?x=1 HTTP/1.1" 200 5120 "-" '
        '"Mozilla/5.0 (X11; Linux x86_64)" 0.042',
        {
            "format": "access_log",
            "status": 200,
            "method": "GET",
            "path": "/api/cart?x=1",
            "bytes": 5120,
            "latency_ms": 42.0,
            "client_ip": "198.51.100.7",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "level": "INFO",
            "service": "web-frontend",
        },
    ),
    (
        "apache combined with %D microseconds",
        "/ec2/apache/shop",
        '192.0.2.1 - frank [10/Oct/2025:13:55:36 -0700] "POST /checkout HTTP/1.1" 500 2326 "http://x/" '
        '"curl/8.4.0" 183000',
        {"format": "access_log", "status": 500, "latency_ms": 183.0, "level": "ERROR", "error": True},
    ),
    (
        "apache common without request time, 404 is a warning",
        "/ec2/apache/shop",
        '192.0.2.1 - - [10/Oct/2025:13:55:36 -0700] "GET /missing HTTP/1.0" 404 -',
        {"format": "access_log", "status": 404, "level": "WARN", "error": False},
    ),
    (
        "python lambda text error",
        "/aws/lambda/thumbnailer",
        "[ERROR]\t2026-01-01T10:00:00.000Z\t3f1c2a9e\tSomething failed\n",
        {
            "format": "text",
            "level": "ERROR",
            "error": True,
            "message": "[ERROR]\t2026-01-01T10:00:00.000Z\t3f1c2a9e\tSomething failed",
        },
    ),
    (
        "node lambda text warning",
        "/aws/lambda/api",
        "2026-01-01T10:00:00.000Z\t3f1c2a9e\tWARN\tretrying call\n",
        {"format": "text", "level": "WARN"},
    ),
    (
        "java multi-line stack trace stays one event",
        "/ec2/inventory-worker",
        "2026-01-01T10:00:00.000Z ERROR [worker-3] c.e.SyncJob - sync failed\n"
        "java.sql.SQLTransientConnectionException: pool exhausted\n"
        "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n"
        "\tat com.example.SyncJob.run(SyncJob.java:88)",
        {"format": "text", "level": "ERROR", "error": True, "service": "inventory-worker"},
    ),
    (
        "python traceback without a level word is an error",
        "/ec2/worker",
        'Traceback (most recent call last):\n  File "app.py", line 1, in <module>\nValueError: bad',
        {"format": "text", "level": "ERROR"},
    ),
    (
        "apache error log bracketed level",
        "/ec2/apache/errors",
        "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
        {"format": "text", "level": "ERROR"},
    ),
    (
        "apache error log notice maps to INFO",
        "/ec2/apache/errors",
        "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
        {"format": "text", "level": "INFO"},
    ),
    (
        "syslog line without a level defaults to INFO",
        "/ec2/syslog",
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
        {"format": "text", "level": "INFO"},
    ),
    (
        "key=value level",
        "/ecs/gateway",
        'time="2026-01-01T10:00:00Z" level=warning msg="retrying" attempt=2',
        {
            "format": "logfmt",
            "level": "WARN",
            "message": "retrying",
            "timestamp": CW_TS,
            "attributes": {"attempt": "2"},
        },
    ),
    (
        "openstack wsgi request inside a text line",
        "/ec2/nova-api",
        "nova-api.log 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b] "
        '10.11.10.1 "GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1" status: 200 len: 1893 '
        "time: 0.2477829",
        {"format": "text", "level": "INFO", "status": 200, "method": "GET", "bytes": 1893, "latency_ms": 247.7829},
    ),
    (
        "text that is JSON-like but broken falls back to text",
        "/ecs/payments",
        '{"level": "ERROR", "message": "truncated',
        {"format": "text", "level": "ERROR"},
    ),
    (
        "JSON array is not a structured log",
        "/ecs/payments",
        "[1, 2, 3]",
        {"format": "text", "level": "INFO"},
    ),
]


@pytest.mark.parametrize(("name", "log_group", "message", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parses_every_supported_format(name: str, log_group: str, message: str, expected: dict[str, Any]) -> None:
    event = parse(message, log_group)
    assert event.keys() >= REQUIRED_LOG_EVENT_FIELDS
    assert event["schema_version"] == LOG_EVENT_SCHEMA_VERSION
    assert event["event_id"] == "e" * 56
    assert event["log_group"] == log_group
    for field, value in expected.items():
        assert event[field] == value, f"{name}: {field}"
    assert event["error"] == (event["level"] in {"ERROR", "FATAL", "CRITICAL"} or event.get("status", 0) >= 500)


@pytest.mark.parametrize(
    ("log_group", "service"),
    [
        ("/aws/lambda/checkout", "checkout"),
        ("/aws/lambda/checkout/extra", "checkout"),
        ("/ecs/payments", "payments"),
        ("/aws/ecs/payments", "payments"),
        ("/aws/ecs/containerinsights/prod/performance", "prod"),
        ("/ec2/nginx/web-frontend", "web-frontend"),
        ("API-Gateway-Execution-Logs_abc123/prod", "abc123"),
        ("/aws/rds/instance/orders-db/postgresql", "orders-db"),
        ("/aws/rds/cluster/aurora-main/slowquery", "aurora-main"),
        ("/aws/rds/proxy/orders-proxy", "orders-proxy"),
        ("/aws/docdb/catalog/audit", "catalog"),
        ("/aws/eks/prod-cluster/cluster", "prod-cluster"),
        ("/aws/containerinsights/prod-cluster/application", "prod-cluster"),
        ("/aws/codebuild/web-build", "web-build"),
        ("/aws/elasticbeanstalk/web-env/var/log/nginx/access.log", "web-env"),
        ("/aws/kinesisfirehose/clickstream", "clickstream"),
        ("/aws/OpenSearchService/domains/search/application-logs", "search"),
        ("/aws/vendedlogs/states/OrderFlow-Logs", "OrderFlow"),
        ("/aws/lambda/us-east-1.edge-auth", "edge-auth"),
        ("/aws-glue/jobs/output", "glue"),
        ("plain", "plain"),
        ("/", "unknown"),
    ],
)
def test_service_from_log_group(log_group: str, service: str) -> None:
    assert service_from_log_group(log_group) == service


def test_own_service_field_wins_over_log_group() -> None:
    assert parse('{"service":"cart","message":"x"}', "/aws/lambda/other")["service"] == "cart"


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("warning", "WARN"),
        ("Warn", "WARN"),
        ("err", "ERROR"),
        ("CRIT", "CRITICAL"),
        ("fatal", "FATAL"),
        (30, "INFO"),
        (60, "FATAL"),
        ("nonsense", None),
        (True, None),
        (None, None),
    ],
)
def test_normalise_level(value: object, level: str | None) -> None:
    assert normalise_level(value) == level


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2026-01-01 10:00:00,081 - reports.builder - WARNING - slow query", "WARN"),
        ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6", "ERROR"),
        ("[Sun Dec 04 04:47:44 2005] [error] caf\u00e9 n\u2019est pas ouvert", "ERROR"),  # not ASCII
        ("<crit> disk full", "CRITICAL"),
        ("info: Orders.Api.Services.PaymentClient[3]", "INFO"),
        ('time="2026-01-01T10:00:00Z" level=warning msg="retrying"', "WARN"),
        ('time="2026-01-01T10:00:00Z" LEVEL="error" msg="caf\u00e9"', "ERROR"),
        ("warnings: none, errors: none", "INFO"),  # words of prose, not levels
        ("XERROR: not a level word", "INFO"),
        ('job failed\nTraceback (most recent call last):\n  File "x.py", line 1', "ERROR"),
        ("sync stopped\n\tat com.example.Sync.run(Sync.java:88)", "ERROR"),
        ("java.lang.IllegalStateException: pool exhausted\nmore", "ERROR"),
        ("a line\nand another with Exception: in the middle", "INFO"),
    ],
)
def test_detect_text_level(line: str, level: str) -> None:
    assert detect_text_level(line) == level


def test_text_level_only_near_the_start() -> None:
    assert detect_text_level("user clicked " + "x" * 300 + " ERROR in prose far away") == "INFO"
    assert detect_text_level("for more info see the docs") == "INFO"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T10:00:00Z", CW_TS),
        ("2026-01-01T10:00:00.123+00:00", CW_TS + 123),
        ("2026-01-01T12:00:00+02:00", CW_TS),
        ("2026-01-01 10:00:00,500+0000", CW_TS + 500),
        ("2026-01-01T10:00:00", CW_TS),  # naive: UTC
        (1_767_261_600, CW_TS),
        (1_767_261_600.5, CW_TS + 500),
        (1_767_261_600_000, CW_TS),
        (1_767_261_600_000_000, CW_TS),
        ("1767261600", CW_TS),
        ("yesterday", None),
        ("2026-13-45T99:00:00Z", None),
        (-5, None),
        (float("nan"), None),
        (True, None),
    ],
)
def test_parse_timestamp(value: object, expected: int | None) -> None:
    assert parse_timestamp(value) == expected


def test_iso_timestamps_give_exact_milliseconds() -> None:
    # through float seconds this came out 1 ms early (as 1 in 200 whole-millisecond times do)
    assert parse_timestamp("2004-03-01T02:42:52.853Z") == 1_078_108_972_853
    assert parse_timestamp("2026-01-01T10:00:00.123456Z") == CW_TS + 123
    assert parse_timestamp("1969-12-31T23:59:59.999Z") == -1


def test_unparseable_json_timestamp_keeps_cloudwatch_time() -> None:
    assert parse('{"timestamp":"not a time","message":"x"}')["timestamp"] == CW_TS


def test_empty_preferred_key_falls_back_to_next_spelling() -> None:
    event = parse('{"message":"","msg":"real message","level":"","severity":"error"}')
    assert event["message"] == "real message"
    assert event["level"] == "ERROR"


def test_non_string_fields_are_not_copied() -> None:
    event = parse('{"message":"x","method":{"a":1},"path":5,"status":"abc"}')
    assert "method" not in event
    assert "path" not in event
    assert "status" not in event
