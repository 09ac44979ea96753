"""A Kinesis event source mapping, locally: metric documents from a directory → the metrics handler.

Reads a local metrics directory (JSON lines files of window and late-events documents, e.g. the realtime
job's output) and invokes a handler the way the mapping the template defines does:

- batches of up to ``batch_size`` records, each with base64 data, a partition key and a sequence number
  that grows with stream order, in the event shape Lambda sends (``eventSource: aws:kinesis``);
- a partial batch response (``ReportBatchItemFailures``): the batch is retried from the lowest failed
  sequence number, as Lambda checkpoints there; an invocation that raises, or reports an id that is not
  in the batch, fails the whole batch;
- after ``max_retries`` retries the records still failing go to the on-failure destination, here
  ``<workdir>/dlq/metrics.jsonl`` (one JSON line per record, with its data, so it can be replayed).

Window documents go before late-events documents, as the streaming job emits a window before reporting
late events for it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

DEFAULT_STREAM_NAME: Final = "opsanalytics-metrics"
ACCOUNT: Final = "123456789012"
REGION: Final = "us-east-1"
SHARD_ID: Final = "shardId-000000000000"
_SEQUENCE_BASE: Final = 4965 * 10**52  # 56 digits, like a real shard's


@dataclass(frozen=True, slots=True)
class KinesisRecord:
    sequence_number: str
    partition_key: str
    data: bytes
    arrival_seconds: float


def sequence_number(position: int) -> str:
    """A Kinesis-like sequence number (56 digits) that sorts the same as ``position``."""
    return f"{_SEQUENCE_BASE + position:056d}"


def kinesis_record(position: int, data: bytes, arrival_seconds: float) -> KinesisRecord:
    partition_key = hashlib.md5(data[:256], usedforsecurity=False).hexdigest()
    return KinesisRecord(sequence_number(position), partition_key, data, arrival_seconds)


def kinesis_event(records: Sequence[KinesisRecord], stream_name: str = DEFAULT_STREAM_NAME) -> dict[str, Any]:
    """The event Lambda sends for ``records`` of one shard of the stream."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key,
                    "sequenceNumber": record.sequence_number,
                    "data": base64.b64encode(record.data).decode("ascii"),
                    "approximateArrivalTimestamp": record.arrival_seconds,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD_ID}:{record.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/opsanalytics-metrics-processor",
                "awsRegion": REGION,
                "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream_name}",
            }
            for record in records
        ]
    }


def metric_documents(directory: Path) -> Iterator[bytes]:
    """Every non-empty line of the committed files under ``directory`` (hidden and ``_`` files skipped), as the
    metrics stream carries them in AWS: window documents in the order of their window start (a streaming job
    emits them as the watermark passes; a bounded local run in batch mode writes them per key, when its input
    ends), then version 1 late-events documents, each in file order. Lines that are not JSON pass through first,
    as they are (the handler must reject them, not the driver)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"metrics directory {directory} does not exist")
    # rejected/ holds the realtime job's rejected input records (logged, never put on the stream) and
    # first-emissions/ a local measurement: neither is on the metrics stream in AWS
    files = [
        p
        for p in sorted(directory.rglob("*"))
        if p.is_file()
        and not p.name.startswith((".", "_"))
        and not {"rejected", "first-emissions"} & set(p.relative_to(directory).parts)
    ]
    windows: list[tuple[str, int, int, bytes]] = []
    late: list[bytes] = []
    for path in files:
        with path.open("rb") as handle:
            for raw in handle:
                line = raw.strip()
                if not line:
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError:
                    doc = None
                if not isinstance(doc, dict) or not isinstance(doc.get("window_start"), str):
                    yield line
                elif doc.get("record_type") == "late_events":
                    late.append(line)
                else:
                    revision = doc.get("revision")
                    windows.append(
                        (doc["window_start"], revision if isinstance(revision, int) else 0, len(windows), line)
                    )
    windows.sort()
    yield from (line for *_, line in windows)
    yield from late


@dataclass(slots=True)
class KinesisDriveReport:
    records: int = 0
    batches: int = 0
    """Batches read from the stream (each is invoked once, plus once per retry)."""
    invocations: int = 0
    failures: int = 0
    """Record failures reported, retries included."""
    retries: int = 0
    dlq: int = 0
    dlq_path: Path | None = None
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.records / self.seconds if self.seconds else 0.0
        return (
            f"metrics stream: {self.records} records in {self.batches} batches, {self.invocations} invocations "
            f"({self.retries} retries), {self.failures} record failures, {self.dlq} to the DLQ; "
            f"{self.seconds:.1f} s ({rate:,.0f} records/s)"
        )


def _failed_ids(batch: Sequence[KinesisRecord], response: Any) -> tuple[set[str], str | None]:
    """The failed sequence numbers of a response; every record when the response breaks the contract."""
    every = {record.sequence_number for record in batch}
    if response is None:
        return set(), None
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not isinstance(failures, list):
        return every, f"invalid partial batch response: {response!r:.200}"
    ids = {item.get("itemIdentifier") for item in failures if isinstance(item, dict)}
    if len(ids) != len(failures) or not ids <= every:
        return every, f"batchItemFailures names records not in the batch: {sorted(map(str, ids - every))[:3]}"
    return {str(i) for i in ids}, None


def drive_records(
    handler: Callable[[dict[str, Any]], Any],
    documents: Iterable[bytes],
    workdir: Path,
    *,
    batch_size: int = 100,
    max_retries: int = 2,
    stream_name: str = DEFAULT_STREAM_NAME,
    clock: Callable[[], float] = time.time,
) -> KinesisDriveReport:
    """Send ``documents`` (one record's data each) through ``handler`` in stream order; see the module."""
    if batch_size < 1 or max_retries < 0:
        raise ValueError("batch_size must be >= 1 and max_retries >= 0")
    report = KinesisDriveReport(dlq_path=workdir / "dlq" / "metrics.jsonl")
    started = time.monotonic()
    batch: list[KinesisRecord] = []
    for position, data in enumerate(documents):
        batch.append(kinesis_record(position, data, clock()))
        if len(batch) == batch_size:
            _deliver(handler, batch, report, max_retries, stream_name)
            batch = []
    if batch:
        _deliver(handler, batch, report, max_retries, stream_name)
    report.seconds = time.monotonic() - started
    return report


def _deliver(
    handler: Callable[[dict[str, Any]], Any],
    batch: list[KinesisRecord],
    report: KinesisDriveReport,
    max_retries: int,
    stream_name: str,
) -> None:
    report.records += len(batch)
    report.batches += 1
    pending = batch
    for attempt in range(max_retries + 1):
        report.invocations += 1
        try:
            response = handler(kinesis_event(pending, stream_name))
            failed, error = _failed_ids(pending, response)
        except Exception as exc:  # a function error fails the whole batch, as in Lambda
            failed, error = {record.sequence_number for record in pending}, f"{type(exc).__name__}: {exc}"
        if error:
            report.errors.append(error)
        if not failed:
            return
        report.failures += len(failed)
        if attempt == max_retries:
            dead = [record for record in pending if record.sequence_number in failed]
            _to_dlq(report, dead, attempt + 1, error, stream_name)
            return
        report.retries += 1
        lowest = min(failed)  # Lambda resumes the shard from the lowest failed sequence number
        pending = [record for record in pending if record.sequence_number >= lowest]


def _to_dlq(
    report: KinesisDriveReport, records: list[KinesisRecord], attempts: int, error: str | None, stream_name: str
) -> None:
    path = report.dlq_path or Path("dlq") / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for record in records:
            entry = {
                "streamArn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream_name}",
                "shardId": SHARD_ID,
                "sequenceNumber": record.sequence_number,
                "partitionKey": record.partition_key,
                "data": base64.b64encode(record.data).decode("ascii"),
                "attempts": attempts,
                "error": error,
            }
            handle.write(orjson.dumps(entry) + b"\n")
    report.dlq += len(records)


def drive_metrics_directory(
    handler: Callable[[dict[str, Any]], Any],
    metrics_dir: Path,
    workdir: Path,
    *,
    batch_size: int = 100,
    max_retries: int = 2,
    stream_name: str = DEFAULT_STREAM_NAME,
) -> KinesisDriveReport:
    """Replay a local metrics directory through ``handler`` (e.g. ``LocalFunction("metrics_processor").invoke``)."""
    return drive_records(
        handler,
        metric_documents(metrics_dir),
        workdir,
        batch_size=batch_size,
        max_retries=max_retries,
        stream_name=stream_name,
    )
