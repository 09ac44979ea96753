"""Amazon Data Firehose, locally: buffers stream records, invokes the transformer, delivers to the bucket.

Mirrors the delivery stream the template defines:
- records are buffered up to the processor's buffer size (1 MiB by default) and sent to the transformer
  Lambda as a Firehose transformation event (record ids, Kinesis metadata);
- the response is checked as Firehose checks it (every record id once, an allowed result, size limit);
- ``Ok`` data goes to ``events/dt=<dt>/hour=<hour>/`` by the partition keys the transformer returned (gzip);
- every source record is kept untouched under ``raw/`` (S3BackupMode Enabled), here as gzip files of
  base64 lines, the local stream format, so they can be replayed;
- ``ProcessingFailed`` records go to ``errors/processing-failed/`` as Firehose's error records (JSON lines
  with the raw data), with the transformer's reason added.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from opsanalytics.storage import DirectoryStore
from opsanalytics.transform.firehose import RESPONSE_LIMIT_BYTES, RESULTS, response_size, transform_record

# The processor buffer the template gives Firehose: parsed NDJSON is often 10x its gzip input, and 0.25 MB of
# input keeps most responses under the 6 MB limit (the rest is delivered out of band).
DEFAULT_BUFFER_BYTES: Final = 250_000
DEFAULT_STREAM_NAME: Final = "opsanalytics-logs"
ACCOUNT: Final = "123456789012"
REGION: Final = "us-east-1"


class FirehoseContractError(RuntimeError):
    """The transformer's response breaks Firehose's contract (a missing or repeated record id, ...)."""


@dataclass
class FailedRecord:
    record_id: str
    reason: str
    location: str


@dataclass
class FirehoseReport:
    records_in: int = 0
    bytes_in: int = 0
    invocations: int = 0
    results: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))
    log_events_delivered: int = 0
    objects: dict[str, int] = field(default_factory=lambda: {"events": 0, "raw": 0, "errors": 0})
    failed: list[FailedRecord] = field(default_factory=list)
    max_response_bytes: int = 0
    seconds: float = 0.0


def firehose_event(records: list[tuple[str, str, int]], stream_name: str) -> dict[str, Any]:
    """A Firehose data-transformation event for a Kinesis-stream source."""
    return {
        "invocationId": hashlib.sha256("".join(r[0] for r in records).encode()).hexdigest()[:36],
        "deliveryStreamArn": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{stream_name}",
        "sourceKinesisStreamArn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream_name}",
        "region": REGION,
        "records": [
            {
                "recordId": record_id,
                "approximateArrivalTimestamp": arrival,
                "data": data,
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": hashlib.md5(data[:64].encode(), usedforsecurity=False).hexdigest(),
                    "approximateArrivalTimestamp": arrival,
                    "sequenceNumber": record_id,
                    "subsequenceNumber": 0,
                },
            }
            for record_id, data, arrival in records
        ],
    }


def check_response(event: dict[str, Any], response: Any) -> dict[str, dict[str, Any]]:
    """Validate a transformer response as Firehose does; return entries by record id."""
    if not isinstance(response, dict) or not isinstance(response.get("records"), list):
        raise FirehoseContractError("response is not an object with a 'records' list")
    size = response_size(response)
    if size > RESPONSE_LIMIT_BYTES:
        raise FirehoseContractError(f"response is {size} bytes, over the {RESPONSE_LIMIT_BYTES}-byte limit")
    expected = [r["recordId"] for r in event["records"]]
    by_id: dict[str, dict[str, Any]] = {}
    for entry in response["records"]:
        record_id = entry.get("recordId")
        if record_id in by_id:
            raise FirehoseContractError(f"record id {record_id} returned twice")
        if entry.get("result") not in RESULTS:
            raise FirehoseContractError(f"record {record_id}: result {entry.get('result')!r} is not allowed")
        by_id[record_id] = entry
    missing = [r for r in expected if r not in by_id]
    extra = [r for r in by_id if r not in set(expected)]
    if missing or extra:
        raise FirehoseContractError(f"record ids missing: {missing[:3]}, unexpected: {extra[:3]}")
    return by_id


class LocalFirehose:
    """Drives a transformer handler over stream records and delivers its output to a bucket directory."""

    def __init__(
        self,
        transformer: Callable[[dict[str, Any]], Any],
        bucket: Path,
        *,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        stream_name: str = DEFAULT_STREAM_NAME,
        events_prefix: str = "events/",
        raw_prefix: str = "raw/",
        error_prefix: str = "errors/",
        progress: Callable[[FirehoseReport], None] | None = None,
    ) -> None:
        self.transformer = transformer
        self.sink = DirectoryStore(bucket)
        self.buffer_bytes = buffer_bytes
        self.stream_name = stream_name
        self.events_prefix = events_prefix
        self.raw_prefix = raw_prefix
        self.error_prefix = error_prefix
        self.progress = progress

    def run(self, records: Iterable[tuple[str, str]]) -> FirehoseReport:
        report = FirehoseReport()
        started = time.perf_counter()
        buffer: list[tuple[str, str, int]] = []
        buffered = 0
        for record_id, data in records:
            buffer.append((record_id, data, int(time.time() * 1000)))
            buffered += len(data) * 3 // 4
            if buffered >= self.buffer_bytes:
                self._deliver_batch(buffer, report)
                buffer, buffered = [], 0
        if buffer:
            self._deliver_batch(buffer, report)
        report.seconds = time.perf_counter() - started
        return report

    def _deliver_batch(self, batch: list[tuple[str, str, int]], report: FirehoseReport) -> None:
        event = firehose_event(batch, self.stream_name)
        batch_id = event["invocationId"][:16]
        report.invocations += 1
        report.records_in += len(batch)
        report.bytes_in += sum(len(data) * 3 // 4 for _, data, _ in batch)
        self._backup_raw(batch, batch_id, report)
        try:
            response = self.transformer(event)
            entries = check_response(event, response)
            report.max_response_bytes = max(report.max_response_bytes, response_size(response))
        except Exception as exc:  # Firehose retries, then sends the whole batch to the error prefix
            failed = [
                (record_id, data, f"Lambda.InvokeFailed: {type(exc).__name__}: {exc}") for record_id, data, _ in batch
            ]
            self._write_errors(failed, batch_id, report)
            report.results["ProcessingFailed"] += len(batch)
            return
        by_partition: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        failed = []
        for record_id, data, _ in batch:
            entry = entries[record_id]
            result = entry["result"]
            report.results[result] += 1
            if result == "Ok":
                payload = base64.b64decode(entry["data"])
                keys = (entry.get("metadata") or {}).get("partitionKeys") or {}
                by_partition[(keys.get("dt", "unknown"), keys.get("hour", "00"))].append(payload)
                report.log_events_delivered += payload.count(b"\n")
            elif result == "ProcessingFailed":
                failed.append((record_id, data, _failure_reason(record_id, data)))
        for (dt, hour), payloads in sorted(by_partition.items()):
            key = f"{self.events_prefix}dt={dt}/hour={hour}/{self.stream_name}-1-{batch_id}.gz"
            self.sink.put_object(key, gzip.compress(b"".join(payloads), compresslevel=6, mtime=0))
            report.objects["events"] += 1
        if failed:
            self._write_errors(failed, batch_id, report)
        if self.progress:
            self.progress(report)

    def _backup_raw(self, batch: list[tuple[str, str, int]], batch_id: str, report: FirehoseReport) -> None:
        arrival = time.strftime("%Y/%m/%d/%H", time.gmtime(batch[0][2] / 1000))
        body = "".join(f"{data}\n" for _, data, _ in batch).encode("ascii", errors="replace")
        self.sink.put_object(
            f"{self.raw_prefix}{arrival}/{self.stream_name}-raw-{batch_id}.gz", gzip.compress(body, mtime=0)
        )
        report.objects["raw"] += 1

    def _write_errors(self, failed: list[tuple[str, str, str]], batch_id: str, report: FirehoseReport) -> None:
        now = int(time.time() * 1000)
        when = time.strftime("%Y/%m/%d/%H", time.gmtime(now / 1000))
        key = f"{self.error_prefix}processing-failed/{when}/{self.stream_name}-failed-{batch_id}.gz"
        lines = [
            orjson.dumps(
                {
                    "attemptsMade": 1,
                    "arrivalTimestamp": now,
                    "errorCode": "Lambda.ProcessingFailed",
                    "errorMessage": reason,
                    "attemptEndingTimestamp": now,
                    "rawData": data,
                    "recordId": record_id,
                }
            )
            for record_id, data, reason in failed
        ]
        uri = self.sink.put_object(key, gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
        report.objects["errors"] += 1
        report.failed.extend(FailedRecord(record_id, reason, uri) for record_id, _, reason in failed)


def _failure_reason(record_id: str, data: str) -> str:
    """Why the transformer failed a record (its log says the same; this puts it beside the data)."""
    outcome = transform_record(record_id, data)
    if outcome.result == "ProcessingFailed":
        return f"{outcome.reason}: {outcome.detail}"
    return "response-size-limit: did not fit in the Firehose response and could not be written out of band"
