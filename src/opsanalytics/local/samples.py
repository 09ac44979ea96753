"""Deterministic sample traffic: several services, every supported log format, and one clear incident.

The same seed always gives the same log lines, ids and payload bytes, so sample events, tests and
benchmarks are reproducible. During the incident window one service (``checkout``) has an error spike and
a latency spike, which the realtime alert rules are meant to catch and then see resolve.
"""

from __future__ import annotations

import base64
import gzip
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from opsanalytics.logevents.cloudwatch import encode_subscription_payload
from opsanalytics.transform.firehose import transform_record

DEFAULT_START_MS: Final = 1_767_261_600_000  # 2026-01-01T10:00:00Z
MINUTE_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class SampleService:
    name: str
    log_group: str
    log_stream: str
    kind: str  # powertools | lambda_text | apigw | nginx | java_text
    requests_per_minute: int
    base_latency_ms: float
    base_error_rate: float


SERVICES: Final[tuple[SampleService, ...]] = (
    SampleService(
        "checkout",
        "/aws/lambda/checkout",
        "2026/01/01/[$LATEST]5b4f1e8c9d2a4b6f8e1d3c5a7b9f0e2d",
        "powertools",
        60,
        120,
        0.01,
    ),
    SampleService(
        "payments",
        "/ecs/payments",
        "ecs/payments/0f6c2a9b8e7d4c3ba1f0e9d8c7b6a5f4",
        "powertools",
        40,
        80,
        0.005,
    ),
    SampleService(
        "orders-api",
        "/aws/apigateway/orders-api",
        "9f3c2b1a0e8d7c6b5a4f3e2d1c0b9a88",
        "apigw",
        50,
        60,
        0.002,
    ),
    SampleService("web-frontend", "/ec2/nginx/web-frontend", "i-0a1b2c3d4e5f67890", "nginx", 80, 35, 0.001),
    SampleService("inventory-worker", "/ec2/inventory-worker", "i-0f9e8d7c6b5a43210/app.log", "java_text", 20, 0, 0.02),
    SampleService(
        "thumbnailer",
        "/aws/lambda/thumbnailer",
        "2026/01/01/[$LATEST]c0ffee00c0ffee00c0ffee00c0ffee00",
        "lambda_text",
        15,
        900,
        0.01,
    ),
)

_PATHS: Final = ("/api/cart", "/api/checkout", "/api/orders", "/api/orders/{id}", "/health", "/api/items")
_ERRORS: Final = (
    "Timeout calling payment gateway after {n} ms (order {uuid})",
    "Database connection refused: host db-{n}.internal port 5432",
    "KeyError: 'customer_id' while handling order {uuid}",
    "Upstream returned 503 for request {hex}",
)
_USER_AGENTS: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.4.0",
    "okhttp/4.12.0",
)


@dataclass(slots=True)
class SampleBatch:
    """The events one subscription delivery carries: one log group and stream, time-ordered."""

    log_group: str
    log_stream: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def payload(self, owner: str = "123456789012") -> bytes:
        return encode_subscription_payload(
            log_group=self.log_group, log_stream=self.log_stream, log_events=self.events, owner=owner
        )

    @property
    def newest_ms(self) -> int:
        return max(int(event["timestamp"]) for event in self.events)


@dataclass(frozen=True, slots=True)
class Incident:
    service: str = "checkout"
    start_minute: int = 20
    minutes: int = 6
    error_rate: float = 0.35
    latency_factor: float = 12.0


def cloudwatch_event_id(timestamp_ms: int, stream_index: int, sequence: int) -> str:
    """A 56-digit id shaped like CloudWatch's, unique per (time, stream, sequence)."""
    return f"{timestamp_ms:020d}{stream_index:06d}{sequence:030d}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clf_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class _LineFactory:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        r = self.rng.getrandbits(128)
        h = f"{r:032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def error_text(self) -> str:
        template = self.rng.choice(_ERRORS)
        return template.format(n=self.rng.randint(1, 9999), uuid=self.uuid(), hex=f"{self.rng.getrandbits(64):016x}")

    def request(self, svc: SampleService, ts: int, failing: bool, latency: float) -> list[str]:
        rng = self.rng
        path = rng.choice(_PATHS).replace("{id}", str(rng.randint(1000, 99999)))
        method = "POST" if path in ("/api/checkout", "/api/orders") else "GET"
        status = rng.choice((500, 502, 503, 504)) if failing else rng.choice((200, 200, 200, 201, 204, 404))
        request_id = self.uuid()
        if svc.kind == "powertools":
            level = "ERROR" if failing else ("WARNING" if status == 404 else "INFO")
            # The keys Powertools Logger writes, with its Lambda context keys where it runs in Lambda.
            doc: dict[str, Any] = {
                "level": level,
                "location": "handle_request:42",
                "message": self.error_text() if failing else f"{method} {path} completed",
                "timestamp": datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S,")
                + f"{ts % 1000:03d}+0000",
                "service": svc.name,
                "status_code": status,
                "latency_ms": round(latency, 2),
                "method": method,
                "path": path,
                "request_id": request_id,
                "cold_start": rng.random() < 0.02,
                "function_name": svc.name,
                "function_memory_size": "512",
                "function_arn": f"arn:aws:lambda:us-east-1:123456789012:function:{svc.name}",
                "function_request_id": request_id,
                "customer_id": f"cus_{rng.getrandbits(48):012x}",
                "xray_trace_id": f"1-{ts // 1000:08x}-{rng.getrandbits(96):024x}",
                "sampling_rate": 0.1,
                # request context appended with logger.append_keys, as handlers commonly do
                "http": {
                    "user_agent": rng.choice(_USER_AGENTS),
                    "source_ip": f"198.51.100.{rng.randint(1, 254)}",
                    "query": f"session={rng.getrandbits(128):032x}&ref={rng.getrandbits(64):016x}",
                    "x_amzn_trace_id": f"Root=1-{ts // 1000:08x}-{rng.getrandbits(96):024x}",
                    "content_length": rng.randint(0, 4096),
                },
                "cart": {"items": rng.randint(1, 9), "total_cents": rng.randint(100, 99999)},
            }
            if failing:  # logger.exception adds the traceback
                doc["exception_name"] = "TimeoutError"
                doc["exception"] = (
                    "Traceback (most recent call last):\n"
                    '  File "/var/task/app.py", line 58, in handle_request\n'
                    "    receipt = gateway.charge(order)\n"
                    '  File "/opt/python/payments/client.py", line 211, in charge\n'
                    "    raise TimeoutError(f'gateway timeout after {elapsed} ms')\n"
                    f"TimeoutError: gateway timeout after {rng.randint(3000, 9000)} ms"
                )
            if svc.log_group.startswith("/ecs/"):
                for key in (
                    "cold_start",
                    "function_name",
                    "function_memory_size",
                    "function_arn",
                    "function_request_id",
                ):
                    doc.pop(key)
                doc["task_arn"] = f"arn:aws:ecs:us-east-1:123456789012:task/prod/{rng.getrandbits(128):032x}"
            lines = [orjson.dumps(doc).decode()]
            if svc.log_group.startswith("/aws/lambda/"):
                lines = [f"START RequestId: {request_id} Version: $LATEST", *lines]
                lines += self.lambda_tail(request_id, latency, failing=False)
            return lines
        if svc.kind == "apigw":
            return [
                orjson.dumps(
                    {
                        "requestId": request_id,
                        "ip": f"203.0.113.{rng.randint(1, 254)}",
                        "requestTime": _clf_time(ts),
                        "requestTimeEpoch": ts,
                        "httpMethod": method,
                        "resourcePath": path,
                        "status": str(status),
                        "protocol": "HTTP/1.1",
                        "responseLength": str(rng.randint(80, 4000)),
                        "responseLatency": int(latency),
                        "integrationLatency": int(latency * 0.8),
                    }
                ).decode()
            ]
        if svc.kind == "nginx":
            ip = f"198.51.100.{rng.randint(1, 254)}"
            size = rng.randint(200, 20000)
            return [
                f'{ip} - - [{_clf_time(ts)}] "{method} {path} HTTP/1.1" {status} {size} "-" '
                f'"{rng.choice(_USER_AGENTS)}" {latency / 1000:.3f}'
            ]
        if svc.kind == "lambda_text":
            lines = [f"START RequestId: {request_id} Version: $LATEST"]
            if failing:
                lines.append(
                    f"[ERROR]\t{_iso(ts)}\t{request_id}\tUnhandled exception: {self.error_text()}\n"
                    "Traceback (most recent call last):\n"
                    '  File "/var/task/app.py", line 31, in lambda_handler\n'
                    "    image = resize(event['key'])\n"
                    "RuntimeError: resize failed"
                )
            else:
                lines.append(f"[INFO]\t{_iso(ts)}\t{request_id}\tresized {path} in {latency:.0f} ms")
            return lines + self.lambda_tail(request_id, latency, failing=failing)
        # java_text: a worker with no request semantics, levels in the text and occasional stack traces
        if failing:
            return [
                f"{_iso(ts)} ERROR [worker-{rng.randint(1, 8)}] c.e.inventory.SyncJob - {self.error_text()}\n"
                "java.sql.SQLTransientConnectionException: pool exhausted\n"
                "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n"
                "\tat com.example.inventory.SyncJob.run(SyncJob.java:88)"
            ]
        level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARN"))
        worker = rng.randint(1, 8)
        return [f"{_iso(ts)} {level} [worker-{worker}] c.e.inventory.SyncJob - synced {rng.randint(1, 500)} items"]

    def lambda_tail(self, request_id: str, latency: float, failing: bool) -> list[str]:
        billed = int(latency) + 1
        memory = 512
        used = self.rng.randint(70, 200)
        init = f"\tInit Duration: {self.rng.uniform(150, 450):.2f} ms" if self.rng.random() < 0.05 else ""
        status = "\tStatus: error\tError Type: Runtime.Unknown" if failing else ""
        return [
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {latency:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {memory} MB\tMax Memory Used: {used} MB{init}{status}",
        ]


def generate_sample_batches(
    *,
    minutes: int = 45,
    start_ms: int = DEFAULT_START_MS,
    seed: int = 7,
    scale: float = 1.0,
    incident: Incident | None = Incident(),
    events_per_batch: int = 50,
) -> Iterator[SampleBatch]:
    """Yield subscription batches minute by minute, every service, time-ordered within each batch."""
    rng = random.Random(seed)
    factory = _LineFactory(rng)
    sequences = [0] * len(SERVICES)
    for minute in range(minutes):
        minute_start = start_ms + minute * MINUTE_MS
        for index, svc in enumerate(SERVICES):
            in_incident = (
                incident is not None
                and svc.name == incident.service
                and incident.start_minute <= minute < incident.start_minute + incident.minutes
            )
            error_rate = incident.error_rate if in_incident and incident else svc.base_error_rate
            latency_factor = incident.latency_factor if in_incident and incident else 1.0
            requests = max(1, int(svc.requests_per_minute * scale))
            stamps = sorted(minute_start + rng.randrange(MINUTE_MS) for _ in range(requests))
            batch = SampleBatch(svc.log_group, svc.log_stream)
            for ts in stamps:
                failing = rng.random() < error_rate
                latency = (svc.base_latency_ms or 5.0) * latency_factor * rng.lognormvariate(0, 0.35)
                for offset, line in enumerate(factory.request(svc, ts, failing, latency)):
                    stamp = ts + offset
                    batch.events.append(
                        {
                            "id": cloudwatch_event_id(stamp, index, sequences[index]),
                            "timestamp": stamp,
                            "message": line,
                        }
                    )
                    sequences[index] += 1
                    if len(batch.events) >= events_per_batch:
                        yield _time_ordered(batch)
                        batch = SampleBatch(svc.log_group, svc.log_stream)
            if batch.events:
                yield _time_ordered(batch)


def _time_ordered(batch: SampleBatch) -> SampleBatch:
    batch.events.sort(key=lambda event: int(event["timestamp"]))
    return batch


SAMPLE_EVENTS_PER_MINUTE: Final = 490
"""log lines per minute of the sample services at ``scale=1``"""


def write_event_archive(
    root: Path, *, events: int, scale: float = 20.0, seed: int = 3, records_per_object: int = 400
) -> int:
    """Sample traffic through the real transformer into ``root/events/dt=/hour=/`` as Firehose-like gzip
    objects (``records_per_object`` records of 50 events, about Firehose's 1 MiB processor buffer);
    returns the events written (about ``events``: whole minutes of traffic)."""
    minutes = max(1, round(events / (SAMPLE_EVENTS_PER_MINUTE * scale)))
    pending: dict[tuple[str, str], list[bytes]] = {}
    objects: dict[tuple[str, str], int] = {}
    written = 0

    def flush(dt: str, hour: str) -> None:
        folder = root / "events" / f"dt={dt}" / f"hour={hour}"
        folder.mkdir(parents=True, exist_ok=True)
        number = objects.get((dt, hour), 0)
        body = b"".join(pending.pop((dt, hour)))
        (folder / f"opsanalytics-logs-1-{number:05d}.gz").write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
        objects[(dt, hour)] = number + 1

    for index, batch in enumerate(generate_sample_batches(minutes=minutes, scale=scale, seed=seed)):
        outcome = transform_record(str(index), base64.b64encode(batch.payload()))
        if outcome.result != "Ok" or outcome.partition_keys is None:
            continue
        keys = (outcome.partition_keys["dt"], outcome.partition_keys["hour"])
        pending.setdefault(keys, []).append(outcome.data)
        written += outcome.log_events
        if len(pending[keys]) >= records_per_object:
            flush(*keys)
    for keys in list(pending):
        flush(*keys)
    return written
