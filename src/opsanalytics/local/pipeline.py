"""The local pipeline: the stages of the AWS data flow, run in order on this machine."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from opsanalytics.alerting.local import KinesisDriveReport, drive_metrics_directory
from opsanalytics.dashboards import RenderReport, render_dashboard
from opsanalytics.local import opensearch_node
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.logevents.cloudwatch import control_message_payload
from opsanalytics.logindex.local import LogIndexDriveReport, drive_log_indexer
from opsanalytics.logindex.settings import DEFAULT_NUMERIC_ATTRIBUTES
from opsanalytics.opensearch import OpenSearchSettings, apply_index_templates, create_client
from opsanalytics.paths import default_metrics, default_parser_rules, project_root
from opsanalytics.realtime.local import RealtimeReport
from opsanalytics.streams import read_stream, write_stream
from opsanalytics.transform.local import DEFAULT_BUFFER_BYTES, FirehoseReport, LocalFirehose

if TYPE_CHECKING:  # PySpark is imported only when the batch stage runs
    from opsanalytics.batch.job import BatchReport


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
    stream_dir: Path,
    bucket: Path,
    *,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    logs_dir: Path | None = None,
    rules: Path | None = None,
) -> TransformStageReport:
    """Logs stream directory → transformer Lambda (driven as Firehose drives it) → bucket directory, with the
    declared rules of ``rules`` (default: the checkout's ``config/parsers.yaml``)."""
    bucket.mkdir(parents=True, exist_ok=True)
    function = LocalFunction(
        "log_transformer",
        environment={
            "OVERFLOW_LOCATION": str(bucket.resolve()),
            "EVENTS_PREFIX": "events/",
            "PARSER_RULES": str(rules or default_parser_rules() or ""),
        },
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
    source: str = "Sample traffic"
    extra_records: str = "(+1 control message, +2 malformed records)"
    stages: dict[str, float] = field(default_factory=dict)
    transform: TransformStageReport | None = None
    realtime: RealtimeReport | None = None
    metrics: KinesisDriveReport | None = None
    log_index: LogIndexDriveReport | None = None
    log_index_level: str = "all"
    batch: BatchReport | None = None
    dashboard: RenderReport | None = None
    opensearch_url: str = ""
    documents: dict[str, int] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    outbox: Path | None = None

    def alerts(self, kind: str) -> list[str]:
        """Distinct alerts ("rule on service") with a notification of `kind` (firing or resolved)."""
        seen: dict[str, str] = {}
        for message in self.notifications:
            if message.get("kind") == kind and message.get("subject"):  # SMS messages have no subject
                # subjects read "[SEVERITY] FIRING <rule> on <service>: <metric> <value>"
                subject = str(message.get("subject", ""))
                what = subject.split("] ", 1)[-1].split(":", 1)[0].removeprefix(kind.upper() + " ")
                seen.setdefault(str(message.get("alert_id")), what)
        return list(seen.values())

    def summary(self) -> str:
        lines = [
            self.source,
            f"  log events          {self.events_generated:>10}",
            f"  subscription records{self.records_generated:>10}  {self.extra_records}",
        ]
        if self.transform is not None:
            lines.append(self.transform.summary())
        if self.realtime is not None:
            lines.append("Realtime metrics (Flink)")
            lines.extend("  " + line for line in self.realtime.summary().splitlines())
        if self.metrics is not None:
            lines.append("Metrics Lambda")
            lines.append("  " + self.metrics.summary())
        if self.log_index is not None:
            lines.append(f"Log indexer (level {self.log_index_level})")
            lines.append("  " + self.log_index.summary())
        if self.batch is not None:
            lines.extend(self.batch.summary().splitlines())
        if self.documents:
            lines.append(f"OpenSearch ({self.opensearch_url})")
            lines.extend(f"  {index:<28}{count:>8} documents" for index, count in sorted(self.documents.items()))
        if self.outbox is not None:
            fired, resolved = self.alerts("firing"), self.alerts("resolved")
            lines.append(f"Alerts ({len(self.notifications)} notifications in {self.outbox})")
            lines.append(f"  fired     {len(fired):>3}  {', '.join(fired)}")
            lines.append(f"  resolved  {len(resolved):>3}  {', '.join(resolved)}")
        if self.dashboard is not None:
            lines.append(self.dashboard.summary())
        lines.append("Time per stage")
        lines.extend(f"  {name:<20}{seconds:>9.2f} s" for name, seconds in self.stages.items())
        return "\n".join(lines)


@dataclass(frozen=True)
class LocalIndices:
    """The indices of one local run (`demo` or `replay`): their names carry the tag, so a run replaces only
    its own indices and never touches others on the cluster."""

    tag: str

    @property
    def metrics_prefix(self) -> str:
        return f"metrics-realtime-{self.tag}-"

    @property
    def declared_prefix(self) -> str:
        return f"metrics-declared-realtime-{self.tag}-"

    @property
    def alerts_prefix(self) -> str:
        return f"alerts-{self.tag}-"

    @property
    def log_prefix(self) -> str:
        return f"events-{self.tag}-"

    @property
    def dashboard_patterns(self) -> dict[str, str]:
        """Patterns per dashboard section; the batch job names its indices <family>-<YYYY.MM>-<tag>."""
        return {
            "realtime": f"{self.metrics_prefix}*",
            "declared": f"{self.declared_prefix}*",
            "alerts": f"{self.alerts_prefix}*",
            "batch": f"metrics-batch-*-{self.tag}",
            "insights": f"log-insights-*-{self.tag}",
            "logs": f"{self.log_prefix}*",
        }

    @property
    def patterns(self) -> tuple[str, ...]:
        """Every index of the run: the dashboards' and the batch job's declared metrics."""
        return (*self.dashboard_patterns.values(), f"metrics-declared-batch-*-{self.tag}")


def _timed(report: DemoReport, stage: str, started: float) -> None:
    report.stages[stage] = time.perf_counter() - started


def run_demo(
    workdir: Path,
    *,
    minutes: int = 45,
    scale: float = 1.0,
    seed: int = 7,
    opensearch_url: str | None = None,
    opensearch_port: int = 9200,
    keep_opensearch: bool = False,
    log_index_level: str = "all",
) -> DemoReport:
    """Sample traffic → logs stream → Firehose transformer → bucket, and → Flink → metrics stream →
    metrics Lambda → OpenSearch + alert outbox; then the bucket → the batch job → OpenSearch + Parquet."""
    from opsanalytics.local.samples import generate_sample_batches

    if workdir.exists():
        shutil.rmtree(workdir)
    stream_dir = workdir / "streams" / "logs"

    started = time.perf_counter()
    _progress(f"[1/{STAGES}] generating {minutes} minutes of sample traffic → {stream_dir}")
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
    _timed(report, "samples", started)
    return run_pipeline(
        report,
        workdir,
        tag="demo",
        opensearch_url=opensearch_url,
        opensearch_port=opensearch_port,
        keep_opensearch=keep_opensearch,
        log_index_level=log_index_level,
        numeric_attributes=DEMO_NUMERIC_ATTRIBUTES,
    )


def run_replay(
    paths: list[Path],
    workdir: Path,
    *,
    log_group: str | None = None,
    start_ms: int | None = None,
    interval_ms: int = 100,
    opensearch_url: str | None = None,
    opensearch_port: int = 9200,
    keep_opensearch: bool = False,
    log_index_level: str = "all",
    numeric_attributes: tuple[str, ...] = DEFAULT_NUMERIC_ATTRIBUTES,
) -> DemoReport:
    """The user's own log files, packed as a subscription filter would, through the same stages."""
    from opsanalytics.local.replay import read_log_file, subscription_payloads

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such log file: {', '.join(missing)}")
    if workdir.exists():
        shutil.rmtree(workdir)
    stream_dir = workdir / "streams" / "logs"
    started = time.perf_counter()
    _progress(f"[1/{STAGES}] packing {len(paths)} file(s) into subscription payloads → {stream_dir}")
    start = int(time.time() * 1000) if start_ms is None else start_ms
    records: list[bytes] = []
    events = 0
    for index, path in enumerate(paths):
        replay = read_log_file(path, start_ms=start, interval_ms=interval_ms, file_index=index)
        group = log_group or f"/replay/{path.stem}"
        for stream, stream_events in replay.streams.items():
            for payload, count in subscription_payloads(group, stream, stream_events):
                records.append(payload)
                events += count
        _progress(f"  {path}: {replay.events} log events → log group {group}")
    write_stream(stream_dir, records, records_per_file=2000)
    report = DemoReport(
        events_generated=events, records_generated=len(records), source="Replayed logs", extra_records=""
    )
    _timed(report, "pack", started)
    return run_pipeline(
        report,
        workdir,
        tag="replay",
        opensearch_url=opensearch_url,
        opensearch_port=opensearch_port,
        keep_opensearch=keep_opensearch,
        log_index_level=log_index_level,
        numeric_attributes=numeric_attributes,
    )


STAGES: Final = 8
# the sample services' numeric attributes (local/samples.py), promoted for sums and percentiles in the log indices
DEMO_NUMERIC_ATTRIBUTES: Final = ("cart.total_cents", "cart.items", "http.content_length", "integrationLatency")


def run_pipeline(
    report: DemoReport,
    workdir: Path,
    *,
    tag: str,
    opensearch_url: str | None = None,
    opensearch_port: int = 9200,
    keep_opensearch: bool = False,
    log_index_level: str = "all",
    numeric_attributes: tuple[str, ...] = DEFAULT_NUMERIC_ATTRIBUTES,
) -> DemoReport:
    """Stages 2 to 8 over the logs stream in ``workdir/streams/logs``."""
    indices = LocalIndices(tag)
    stream_dir = workdir / "streams" / "logs"
    bucket = workdir / "bucket"
    stages = STAGES

    started = time.perf_counter()
    _progress(f"[2/{stages}] Firehose transformer → {bucket}")
    report.transform = run_transform_stage(stream_dir, bucket, logs_dir=workdir / "logs")
    _timed(report, "transform", started)

    started = time.perf_counter()
    _progress(f"[3/{stages}] realtime metrics on Flink → {workdir / 'streams' / 'metrics'}")
    report.realtime = run_realtime_isolated(stream_dir, workdir / "streams" / "metrics")
    _timed(report, "realtime (flink)", started)

    started = time.perf_counter()
    _progress(f"[4/{stages}] OpenSearch")
    with opensearch_node.cluster_url(
        "opensearch", url=opensearch_url, port=opensearch_port, keep=keep_opensearch, progress=_progress
    ) as url:
        report.opensearch_url = url
        client = create_client(OpenSearchSettings.for_url(url))
        apply_index_templates(client, replicas=0)
        for pattern in indices.patterns:  # a fresh run: this run's own indices only
            client.indices.delete(index=pattern, ignore_unavailable=True, allow_no_indices=True)
        _timed(report, "opensearch", started)

        started = time.perf_counter()
        _progress(f"[5/{stages}] metrics Lambda (driven as a Kinesis event source) → OpenSearch + alert outbox")
        report.outbox = workdir / "alerts-outbox.jsonl"
        function = LocalFunction(
            "metrics_processor",
            environment={
                "OPENSEARCH_URL": url,
                "METRICS_INDEX_PREFIX": indices.metrics_prefix,
                "DECLARED_INDEX_PREFIX": indices.declared_prefix,
                "ALERTS_INDEX_PREFIX": indices.alerts_prefix,
                "ALERT_RULES": str(project_root() / "config" / "alert-rules.yaml"),
                "ALERT_OUTBOX": str(report.outbox),
                # no Dashboards locally: messages link to the local page the demo writes
                "DASHBOARD_URL": (workdir / "dashboard.html").resolve().as_uri(),
            },
            logs_dir=workdir / "logs",
        )
        try:
            report.metrics = drive_metrics_directory(
                function.invoke, workdir / "streams" / "metrics", workdir / "metrics-lambda"
            )
        finally:
            function.close()
        if report.outbox.exists():
            report.notifications = [json.loads(line) for line in report.outbox.read_text().splitlines() if line.strip()]
        _timed(report, "metrics lambda", started)

        started = time.perf_counter()
        _progress(
            f"[6/{stages}] log indexer (driven as an SQS event source, level {log_index_level}) → {indices.log_prefix}*"
        )
        report.log_index_level = log_index_level
        report.log_index = run_log_index_stage(
            bucket, workdir, url, indices.log_prefix, level=log_index_level, numeric_attributes=numeric_attributes
        )
        _timed(report, "log indexer", started)

        started = time.perf_counter()
        _progress(f"[7/{stages}] batch analytics on Spark → OpenSearch + {bucket / 'curated'}")
        from opsanalytics.batch.local import run_local_batch
        from opsanalytics.batch.settings import BatchSettings

        slo_config = project_root() / "config" / "slo.yaml"
        report.batch = run_local_batch(
            BatchSettings(
                bucket=str(bucket.resolve()),
                full=True,
                sink="bulk",
                opensearch_url=url,
                index_suffix=indices.tag,
                realtime_index_prefix=indices.metrics_prefix,
                slo_config=slo_config if slo_config.is_file() else None,
                metrics_config=default_metrics(),
            )
        )
        _timed(report, "batch (spark)", started)

        client.indices.refresh(index=",".join(indices.patterns))
        for pattern in indices.patterns:
            counts = client.cat.indices(index=pattern, format="json", h="index,docs.count")
            for row in counts:
                report.documents[row["index"]] = int(row["docs.count"])

        started = time.perf_counter()
        _progress(f"[8/{stages}] dashboard page → {workdir / 'dashboard.html'}")
        report.dashboard = render_dashboard(
            client,
            workdir / "dashboard.html",
            index_patterns=indices.dashboard_patterns,
            title=f"opsanalytics {indices.tag}",
        )
        _timed(report, "dashboard", started)
    return report


def run_log_index_stage(
    bucket: Path,
    workdir: Path,
    opensearch_url: str,
    index_prefix: str,
    *,
    level: str = "all",
    numeric_attributes: tuple[str, ...] = DEFAULT_NUMERIC_ATTRIBUTES,
) -> LogIndexDriveReport:
    """The bucket's ``events/`` objects → the log indexer Lambda (driven as its SQS queue drives it) → OpenSearch."""
    function = LocalFunction(
        "log_indexer",
        environment={
            "OPENSEARCH_URL": opensearch_url,
            "ARCHIVE_LOCATION": str(bucket.resolve()),
            "LOG_INDEX_PREFIX": index_prefix,
            "LOG_INDEX_LEVEL": level,
            "LOG_INDEX_NUMERIC_ATTRIBUTES": ",".join(numeric_attributes),
        },
        logs_dir=workdir / "logs",
    )
    try:
        return drive_log_indexer(function.invoke, bucket, workdir)
    finally:
        function.close()


def _realtime_client(input_dir: Path, output: Path) -> RealtimeReport:
    from opsanalytics.realtime.local import run_realtime

    # A process that ran a PyFlink job before hosted its Python workers (loopback mode), which copy the worker
    # environment into os.environ, PYFLINK_GATEWAY_DISABLED included; a child inherits it and PyFlink would then
    # refuse to start the client's gateway. This process is a client.
    os.environ.pop("PYFLINK_GATEWAY_DISABLED", None)
    return run_realtime(input_dir, output)


def run_realtime_isolated(input_dir: Path, output: Path) -> RealtimeReport:
    """The Flink stage in a fresh interpreter. PyFlink leaves gRPC threads running in the process that ran
    it, and a later fork in that process (Spark starting its JVM, in the batch stage) can then fail."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_realtime_client, (input_dir, output))
