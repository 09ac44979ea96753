"""The local pipeline: the stages of the AWS data flow, run in order on this machine."""

from __future__ import annotations

import gzip
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cloudwatch import control_message_payload
from .firehose import DEFAULT_BUFFER_BYTES, FirehoseReport, LocalFirehose
from .lambda_runtime import LocalFunction
from .stream import read_stream, write_stream


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def count_delivered_events(bucket: Path, events_prefix: str = "events/") -> int:
    """Log events stored under the events prefix (Firehose objects and out-of-band records alike)."""
    total = 0
    for path in (bucket / events_prefix).rglob("*"):
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                total += sum(1 for line in handle if line.strip())
        elif path.suffix == ".ndjson":
            with path.open("rb") as handle:
                total += sum(1 for line in handle if line.strip())
    return total


@dataclass
class TransformStageReport:
    bucket: Path
    firehose: FirehoseReport
    events_stored: int

    def summary(self) -> str:
        f = self.firehose
        lines = [
            "Firehose transformer",
            f"  records in          {f.records_in:>10}  ({f.bytes_in / 1e6:.2f} MB gzip, {f.invocations} invocations)",
            f"  Ok                  {f.results['Ok']:>10}",
            f"  Dropped             {f.results['Dropped']:>10}  (control messages, out-of-band deliveries)",
            f"  ProcessingFailed    {f.results['ProcessingFailed']:>10}  → {self.bucket / 'errors'}",
            f"  log events stored   {self.events_stored:>10}  → {self.bucket / 'events'}",
            f"  largest response    {f.max_response_bytes:>10} bytes (limit 6000000)",
            f"  time                {f.seconds:>10.2f} s",
        ]
        for failed in f.failed[:10]:
            lines.append(f"  failed record {failed.record_id}: {failed.reason}\n    in {failed.location}")
        if len(f.failed) > 10:
            lines.append(f"  ... and {len(f.failed) - 10} more failed records under {self.bucket / 'errors'}")
        return "\n".join(lines)


def run_transform_stage(
    stream_dir: Path, bucket: Path, *, buffer_bytes: int = DEFAULT_BUFFER_BYTES, logs_dir: Path | None = None
) -> TransformStageReport:
    """Logs stream directory → transformer Lambda (driven as Firehose drives it) → bucket directory."""
    bucket.mkdir(parents=True, exist_ok=True)
    function = LocalFunction(
        "log_transformer",
        environment={"OVERFLOW_BUCKET": str(bucket.resolve()), "EVENTS_PREFIX": "events/"},
        logs_dir=logs_dir or bucket.parent / "logs",
    )
    last = [0.0]

    def progress(report: FirehoseReport) -> None:
        now = time.perf_counter()
        if now - last[0] > 2:
            last[0] = now
            _progress(f"  transformer: {report.records_in} records, {report.log_events_delivered} events")

    try:
        firehose = LocalFirehose(function.invoke, bucket, buffer_bytes=buffer_bytes, progress=progress)
        report = firehose.run(read_stream(stream_dir))
    finally:
        function.close()
    return TransformStageReport(bucket=bucket, firehose=report, events_stored=count_delivered_events(bucket))


@dataclass
class DemoReport:
    events_generated: int
    records_generated: int
    stages: dict[str, float] = field(default_factory=dict)
    transform: TransformStageReport | None = None

    def summary(self) -> str:
        lines = [
            "Sample traffic",
            f"  log events          {self.events_generated:>10}",
            f"  subscription records{self.records_generated:>10}  (+1 control message, +2 malformed records)",
        ]
        if self.transform is not None:
            lines.append(self.transform.summary())
        lines.append("Time per stage")
        lines.extend(f"  {name:<20}{seconds:>9.2f} s" for name, seconds in self.stages.items())
        return "\n".join(lines)


def run_demo(workdir: Path, *, minutes: int = 45, scale: float = 1.0, seed: int = 7) -> DemoReport:
    """Sample traffic → local logs stream → Firehose transformer → bucket."""
    from ..samples import generate_sample_batches

    if workdir.exists():
        shutil.rmtree(workdir)
    stream_dir = workdir / "streams" / "logs"
    bucket = workdir / "bucket"

    started = time.perf_counter()
    _progress(f"[1/2] generating {minutes} minutes of sample traffic → {stream_dir}")
    events = 0
    records: list[bytes] = [control_message_payload()]
    for batch in generate_sample_batches(minutes=minutes, scale=scale, seed=seed):
        events += len(batch.events)
        records.append(batch.payload())
    # What a misbehaving producer can put on the stream: they must end up in errors/, not vanish.
    records.append(b"this is not gzip")
    records.append(records[1][: len(records[1]) // 2])
    write_stream(stream_dir, records, records_per_file=2000)
    report = DemoReport(events_generated=events, records_generated=len(records) - 3)
    report.stages["samples"] = time.perf_counter() - started

    started = time.perf_counter()
    _progress(f"[2/2] Firehose transformer → {bucket}")
    report.transform = run_transform_stage(stream_dir, bucket, logs_dir=workdir / "logs")
    report.stages["transform"] = time.perf_counter() - started
    return report
