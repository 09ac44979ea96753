"""A benchmark workload of application-log messages of 100 to 1,000 bytes, in the shapes services write.

Written for this project (no copied log data): the JSON encoders of common runtimes (Powertools / structlog,
pino, zap, logback's JSON encoder, Serilog's compact JSON) and their text layouts (Spring Boot, Python
logging, .NET console, logfmt), with stack traces on errors. Message lengths are spread over 100-1,000 bytes,
the range most application lines fall in; the same seed gives the same lines.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from opsanalytics.local.samples import SampleBatch, cloudwatch_event_id

START_MS = 1_767_261_600_000  # 2026-01-01T10:00:00Z
MIN_BYTES = 100
MAX_BYTES = 1_000

_WORDS = (
    "order",
    "customer",
    "payment",
    "invoice",
    "cart",
    "item",
    "shipment",
    "warehouse",
    "stock",
    "reservation",
    "session",
    "token",
    "user",
    "account",
    "request",
    "response",
    "upstream",
    "downstream",
    "cache",
    "database",
    "query",
    "connection",
    "pool",
    "retry",
    "timeout",
    "batch",
    "queue",
    "message",
    "consumer",
    "producer",
    "partition",
    "offset",
    "commit",
    "checkpoint",
    "snapshot",
    "index",
    "document",
    "search",
    "result",
    "page",
    "report",
)
_LOG_GROUPS = (
    ("/ecs/orders-api", "ecs/orders-api/6a1f0c2e9b8d4f7a"),
    ("/aws/lambda/payment-webhook", "2026/01/01/[$LATEST]0d9c8b7a6f5e4d3c2b1a"),
    ("/eks/prod/application", "checkout-7d9f8c6b5-x2k4q"),
    ("/ec2/billing-worker", "i-0123456789abcdef0/app.log"),
    ("/aws/lambda/report-builder", "2026/01/01/[$LATEST]f1e2d3c4b5a697887766"),
)
_LEVELS = ("INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")


class _Lines:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self, length: int) -> str:
        """Prose of about `length` characters."""
        words: list[str] = []
        size = 0
        while size < length:
            word = self.rng.choice(_WORDS)
            if self.rng.random() < 0.15:
                word = f"{word}={self.rng.randint(0, 99999)}"
            words.append(word)
            size += len(word) + 1
        return " ".join(words)[:length]

    def hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def trace(self, language: str) -> str:
        if language == "java":
            frames = self.rng.randint(2, 8)
            return (
                "java.lang.IllegalStateException: "
                + self.text(40)
                + "".join(
                    f"\n\tat com.example.{self.rng.choice(_WORDS)}.{self.rng.choice(_WORDS).title()}Service"
                    f".handle({self.rng.choice(_WORDS).title()}.java:{self.rng.randint(10, 900)})"
                    for _ in range(frames)
                )
            )
        frames = self.rng.randint(1, 5)
        return (
            "Traceback (most recent call last):"
            + "".join(
                f'\n  File "/var/task/{self.rng.choice(_WORDS)}.py", line {self.rng.randint(5, 400)}, in handle\n'
                f"    {self.rng.choice(_WORDS)}()"
                for _ in range(frames)
            )
            + f"\nValueError: {self.text(30)}"
        )

    def line(self, ts: int, target: int) -> str:
        rng = self.rng
        level = rng.choice(_LEVELS)
        shape: Callable[[int, str, int], str] = rng.choice(
            (
                self.structlog,
                self.pino,
                self.zap,
                self.logback_json,
                self.serilog,
                self.spring,
                self.python,
                self.dotnet,
                self.logfmt,
            )
        )
        line = shape(ts, level, target)
        return line if len(line) <= MAX_BYTES else line[:MAX_BYTES]

    def _json(self, doc: dict[str, Any], message_key: str, target: int) -> str:
        base = len(orjson.dumps(doc))
        doc[message_key] = self.text(max(10, target - base - 20))
        return orjson.dumps(doc).decode()

    def structlog(self, ts: int, level: str, target: int) -> str:
        doc: dict[str, Any] = {
            "level": level.lower(),
            "timestamp": _iso(ts),
            "logger": "orders.api",
            "request_id": self.hex(64),
            "customer_tier": self.rng.choice(("gold", "silver", "free")),
            "order_id": f"A-{self.rng.randint(1, 99999)}",
            "amount": round(self.rng.uniform(1, 500), 2),
            "latency_ms": round(self.rng.lognormvariate(4, 0.6), 1),
        }
        if level == "ERROR":
            doc["exception"] = self.trace("python")[: max(0, target - 250)]
        return self._json(doc, "event", target)

    def pino(self, ts: int, level: str, target: int) -> str:
        number = {"DEBUG": 20, "INFO": 30, "WARN": 40, "ERROR": 50}[level]
        doc: dict[str, Any] = {
            "level": number,
            "time": ts,
            "pid": self.rng.randint(1, 64),
            "hostname": f"ip-10-0-{self.rng.randint(0, 255)}-{self.rng.randint(0, 255)}",
            "reqId": f"req-{self.rng.randint(1, 9999)}",
            "res": {"statusCode": 500 if level == "ERROR" else 200},
            "responseTime": round(self.rng.lognormvariate(3, 0.8), 3),
        }
        return self._json(doc, "msg", target)

    def zap(self, ts: int, level: str, target: int) -> str:
        doc: dict[str, Any] = {
            "level": level.lower(),
            "ts": ts / 1000,
            "caller": f"server/{self.rng.choice(_WORDS)}.go:{self.rng.randint(10, 400)}",
            "trace_id": self.hex(128),
            "span_id": self.hex(64),
            "status": 503 if level == "ERROR" else 200,
            "duration": round(self.rng.lognormvariate(3, 0.7), 2),
        }
        return self._json(doc, "msg", target)

    def logback_json(self, ts: int, level: str, target: int) -> str:
        doc: dict[str, Any] = {
            "@timestamp": _iso(ts),
            "@version": "1",
            "logger_name": "com.example.billing.InvoiceService",
            "thread_name": f"pool-2-thread-{self.rng.randint(1, 16)}",
            "level": level,
            "level_value": 20000,
        }
        if level == "ERROR":
            doc["stack_trace"] = self.trace("java")[: max(0, target - 300)]
        return self._json(doc, "message", target)

    def serilog(self, ts: int, level: str, target: int) -> str:
        doc: dict[str, Any] = {
            "@t": _iso(ts),
            "@l": {"INFO": "Information", "WARN": "Warning", "ERROR": "Error", "DEBUG": "Debug"}[level],
            "SourceContext": "Orders.Api.Controllers.OrdersController",
            "RequestPath": f"/api/orders/{self.rng.randint(1, 9999)}",
            "ElapsedMilliseconds": round(self.rng.lognormvariate(4, 0.5), 3),
        }
        return self._json(doc, "@m", target)

    def spring(self, ts: int, level: str, target: int) -> str:
        head = (
            f"{_iso(ts, sep=' ')} {level:>5} 1 --- [nio-8080-exec-{self.rng.randint(1, 10)}] "
            f"c.e.orders.web.OrderController          : "
        )
        body = self.text(max(10, target - len(head)))
        if level == "ERROR":
            body = f"{body[: max(10, target - len(head) - 400)]}\n{self.trace('java')}"
        return head + body

    def python(self, ts: int, level: str, target: int) -> str:
        head = f"{_iso(ts, sep=' ')[:-1].replace('.', ',')} - reports.builder - {level.replace('WARN', 'WARNING')} - "
        body = self.text(max(10, target - len(head)))
        if level == "ERROR":
            body = f"{body[: max(10, target - len(head) - 300)]}\n{self.trace('python')}"
        return head + body

    def dotnet(self, ts: int, level: str, target: int) -> str:
        word = {"INFO": "info", "WARN": "warn", "ERROR": "fail", "DEBUG": "dbug"}[level]
        head = f"{word}: Orders.Api.Services.PaymentClient[{self.rng.randint(0, 20)}]\n      "
        return head + self.text(max(10, target - len(head)))

    def logfmt(self, ts: int, level: str, target: int) -> str:
        head = (
            f'time="{_iso(ts)}" level={level.lower()} status={503 if level == "ERROR" else 200} '
            f"duration_ms={self.rng.randint(1, 3000)} "
        )
        return head + f'msg="{self.text(max(10, target - len(head) - 7))}"'


def _iso(ms: int, sep: str = "T") -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(sep=sep, timespec="milliseconds").replace("+00:00", "Z")


def application_log_batches(*, records: int, events_per_record: int = 50, seed: int = 5) -> Iterator[SampleBatch]:
    """`records` subscription batches of application-log lines of 100-1,000 bytes, one log group each."""
    rng = random.Random(seed)
    lines = _Lines(rng)
    ts = START_MS
    for number in range(records):
        stream_index = number % len(_LOG_GROUPS)
        log_group, log_stream = _LOG_GROUPS[stream_index]
        batch = SampleBatch(log_group, log_stream)
        for sequence in range(events_per_record):
            ts += rng.randint(1, 40)
            message = lines.line(ts, rng.randint(MIN_BYTES, MAX_BYTES))
            event_id = cloudwatch_event_id(ts, stream_index, number * events_per_record + sequence)
            batch.events.append({"id": event_id, "timestamp": ts, "message": message})
        yield batch
