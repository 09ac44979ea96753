"""The batch job on Spark local mode against a real OpenSearch node, checked against pure Python.

One SparkSession and one job run serve the module. The bucket spans midnight at a month end (two days, two
monthly indices, events of one day in the previous day's ``hour=23`` partition) and holds one unreadable
gzip object, one overflow object with bad lines and the usual Firehose objects. Every output is compared
with an independent computation from the same NDJSON.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import shutil
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from opsanalytics.alerting.history import realtime_index
from opsanalytics.batch.accuracy import OpenSearchWindowCounts
from opsanalytics.batch.inputs import list_inputs
from opsanalytics.batch.job import BatchReport, run
from opsanalytics.batch.local import local_spark_session, run_local_batch
from opsanalytics.batch.reconcile import batch_minute_counts, iter_archive_events, reconcile, reference_minute_counts
from opsanalytics.batch.settings import BatchSettings
from opsanalytics.batch.slo import SloCounts, load_slo_config, slo_report
from opsanalytics.local.samples import Incident, generate_sample_batches
from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.signatures import normalise_message, signature_id
from opsanalytics.opensearch.bulk import BulkOperation, BulkWriter
from opsanalytics.paths import project_root
from opsanalytics.ports import SinkResult
from opsanalytics.realtime.declared import compute_declared, declared_document_id, load_metrics_file
from opsanalytics.realtime.windows import compute_windows, percentile, window_document_id
from opsanalytics.storage import DirectoryStore
from opsanalytics.timestamps import iso_utc
from opsanalytics.transform.firehose import transform_record
from tests.integration.conftest import IndexNames

pytestmark = pytest.mark.integration

START_MS = 1_769_903_280_000  # 2026-01-31T23:48:00Z
MINUTES = 24
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
TOP_SIGNATURES = 5
SLO_CONFIG = project_root() / "config" / "slo.yaml"
METRICS_CONFIG = project_root() / "config" / "metrics.yaml"


def _records(seed: int, minutes: int, start_ms: int) -> Iterator[tuple[dict[str, str], bytes]]:
    batches = generate_sample_batches(
        minutes=minutes, start_ms=start_ms, seed=seed, scale=0.4, incident=Incident(start_minute=9, minutes=5)
    )
    for index, batch in enumerate(batches):
        outcome = transform_record(f"{seed}-{index}", base64.b64encode(batch.payload()))
        assert outcome.result == "Ok", outcome.reason
        assert outcome.partition_keys is not None
        yield outcome.partition_keys, outcome.data


@dataclass
class Bucket:
    root: Path
    corrupt_uri: str
    bad_lines_uri: str

    def events_in_previous_days_partition(self) -> int:
        folder = self.root / "events" / "dt=2026-01-31" / "hour=23"
        lines = [line for path in folder.glob("*.gz") for line in gzip.decompress(path.read_bytes()).splitlines()]
        return sum(1 for line in lines if orjson.loads(line)["timestamp"] >= START_MS + 12 * 60_000)


def build_bucket(root: Path) -> Bucket:
    """Firehose-like objects (gzip, 25 records each) per partition, one overflow object per partition."""
    by_partition: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for keys, data in _records(seed=11, minutes=MINUTES, start_ms=START_MS):
        by_partition[(keys["dt"], keys["hour"])].append(data)
    # a record delivered with the previous hour's keys (its earliest event was at 23:59): the next day's
    # events in the previous day's partition
    by_partition[("2026-01-31", "23")].insert(0, by_partition[("2026-02-01", "00")].pop(0))
    for (dt, hour), records in by_partition.items():
        folder = root / "events" / f"dt={dt}" / f"hour={hour}"
        folder.mkdir(parents=True, exist_ok=True)
        *firehose, overflow = records
        for number, start in enumerate(range(0, len(firehose), 25)):
            body = b"".join(firehose[start : start + 25])
            (folder / f"opsanalytics-logs-1-{number:04d}.gz").write_bytes(gzip.compress(body, mtime=0))
        (folder / f"overflow-{dt}-{hour}.ndjson").write_bytes(overflow)
    # events that must not be counted: a truncated gzip object of other traffic
    other = b"".join(data for _, data in _records(seed=99, minutes=2, start_ms=START_MS + 13 * 60_000))
    broken = root / "events" / "dt=2026-02-01" / "hour=00" / "opsanalytics-logs-1-broken.gz"
    compressed = gzip.compress(other, mtime=0)
    broken.write_bytes(compressed[: len(compressed) // 2])
    # an overflow object with two unusable lines between good ones
    good = next(data for keys, data in _records(seed=5, minutes=1, start_ms=START_MS) if keys["hour"] == "23")
    lines = good.splitlines()
    no_timestamp = orjson.loads(lines[0])
    del no_timestamp["timestamp"]
    bad = root / "events" / "dt=2026-01-31" / "hour=23" / "overflow-bad-lines.ndjson"
    bad.write_bytes(b"\n".join([*lines[:2], b"{not json", orjson.dumps(no_timestamp), *lines[2:]]) + b"\n")
    return Bucket(root, f"file://{broken}", f"file://{bad}")


def archive_events(root: Path) -> list[LogEvent]:
    inventory = DirectoryStore(root)
    return list(iter_archive_events(inventory, list_inputs(inventory, "events/")))


# ---- independent reference computations -------------------------------------------------------------


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def assert_documents_equal(actual: dict[Any, dict[str, Any]], expected: dict[Any, dict[str, Any]]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, fields in expected.items():
        for name, value in fields.items():
            assert _close(actual[key][name], value), (key, name, actual[key][name], value)


def reference_rollups(events: list[LogEvent]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    groups: dict[tuple[str, str, str, int], list[LogEvent]] = defaultdict(list)
    for event in events:
        for granularity, size in (("hour", HOUR_MS), ("day", DAY_MS)):
            start = event["timestamp"] - event["timestamp"] % size
            groups[(granularity, event["service"], event["log_group"], start)].append(event)
    result = {}
    for (granularity, service, log_group, start), members in groups.items():
        latencies = sorted(e["latency_ms"] for e in members if e.get("latency_ms") is not None)
        errors = sum(1 for e in members if e["error"])
        size = HOUR_MS if granularity == "hour" else DAY_MS
        result[(granularity, service, log_group, iso_utc(start))] = {
            "period_end": iso_utc(start + size),
            "events": len(members),
            "errors": errors,
            "error_rate": errors / len(members),
            "latency_count": len(latencies),
            "latency_p50_ms": percentile(latencies, 0.5) if latencies else None,
            "latency_p95_ms": percentile(latencies, 0.95) if latencies else None,
            "latency_p99_ms": percentile(latencies, 0.99) if latencies else None,
            "latency_max_ms": max(latencies) if latencies else None,
            "bytes": sum(e.get("bytes", 0) for e in members),
        }
    return result


def reference_signatures(events: list[LogEvent]) -> dict[tuple[str, str], dict[str, Any]]:
    groups: dict[tuple[int, str], list[LogEvent]] = defaultdict(list)
    for event in events:
        if event["error"]:
            groups[(event["timestamp"] - event["timestamp"] % DAY_MS, normalise_message(event["message"]))].append(
                event
            )
    by_day: dict[int, list[tuple[str, list[LogEvent]]]] = defaultdict(list)
    for (day, signature), members in groups.items():
        by_day[day].append((signature, members))
    result = {}
    for day, entries in by_day.items():
        entries.sort(key=lambda entry: (-len(entry[1]), entry[0]))
        for rank, (signature, members) in enumerate(entries[:TOP_SIGNATURES], start=1):
            first = min(members, key=lambda e: (e["timestamp"], e["event_id"]))
            result[(iso_utc(day), signature_id(signature))] = {
                "signature": signature,
                "rank": rank,
                "count": len(members),
                "first_seen": iso_utc(first["timestamp"]),
                "last_seen": iso_utc(max(e["timestamp"] for e in members)),
                "example": first["message"],
                "services": sorted({e["service"] for e in members}),
                "log_groups": sorted({e["log_group"] for e in members}),
            }
    return result


def reference_slo(events: list[LogEvent]) -> dict[tuple[str, str], dict[str, Any]]:
    config = load_slo_config(SLO_CONFIG)
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for event in events:
        if event.get("status") is None:
            continue
        entry = counts[(event["timestamp"] - event["timestamp"] % DAY_MS, event["service"])]
        latency = event.get("latency_ms")
        entry[0] += 1
        entry[1] += int(event["error"])
        entry[2] += int(latency is not None)
        threshold = config.for_service(event["service"]).latency_threshold_ms
        entry[3] += int(latency is not None and latency <= threshold)
    return {
        (iso_utc(day), service): slo_report(SloCounts(*values), config.for_service(service))
        for (day, service), values in counts.items()
    }


def reference_lambda(events: list[LogEvent]) -> dict[tuple[str, str, int], dict[str, Any]]:
    groups: dict[tuple[int, str, int], list[LogEvent]] = defaultdict(list)
    for event in events:
        if event["format"] == "lambda_report":
            day = event["timestamp"] - event["timestamp"] % DAY_MS
            groups[(day, event["service"], event["memory_size_mb"])].append(event)
    result = {}
    for (day, service, memory), members in groups.items():
        durations = sorted(e["latency_ms"] for e in members)
        billed = sum(e["billed_ms"] for e in members)
        used = max(e["memory_used_mb"] for e in members)
        result[(iso_utc(day), service, memory)] = {
            "invocations": len(members),
            "errors": sum(1 for e in members if e["error"]),
            "cold_starts": sum(1 for e in members if e.get("init_ms") is not None),
            "avg_duration_ms": sum(durations) / len(durations),
            "p95_duration_ms": percentile(durations, 0.95),
            "avg_billed_ms": billed / len(members),
            "max_memory_used_mb": used,
            "memory_utilisation": used / memory,
            "billed_gb_seconds": billed / 1000 * memory / 1024,
        }
    return result


# ---- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session(app_name="opsanalytics-tests", cores=2, shuffle_partitions=4)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def names(opensearch_client: OpenSearch, index_templates: None) -> Iterator[IndexNames]:
    names = IndexNames()
    yield names
    existing = opensearch_client.indices.get(index=names.pattern, expand_wildcards="all")
    if existing:
        opensearch_client.indices.delete(index=",".join(sorted(existing)))


@dataclass
class JobRun:
    bucket: Bucket
    settings: BatchSettings
    report: BatchReport
    events: list[LogEvent]
    realtime_missed: dict[tuple[str, str, str], tuple[int, int | None]]
    """the windows the stored realtime windows get wrong: (start, service, log group) → (batch, realtime events)"""


def store_realtime_windows(
    client: OpenSearch, prefix: str, events: list[LogEvent]
) -> dict[tuple[str, str, str], tuple[int, int | None]]:
    """The realtime windows of ``events`` as the metrics function stores them, but one window without 3 of its
    events (they came after the allowed lateness) and one window never written (the stream lost it)."""
    windows = compute_windows(events)
    busiest = sorted(windows, key=lambda window: (-window["events"], window["window_start"]))
    short, lost = busiest[0], busiest[1]
    short.update(events=short["events"] - 3, late_events=3, revision=2)
    operations = [
        BulkOperation(
            realtime_index(prefix, window["window_start"]),
            window_document_id(window["service"], window["log_group"], window["window_start"], window["owner"]),
            dict(window),
        )
        for window in windows
        if window is not lost
    ]
    result = BulkWriter.for_client(client).write(operations)
    assert not result.failed
    client.indices.refresh(index=f"{prefix}*")
    return {
        (short["window_start"], short["service"], short["log_group"]): (short["events"] + 3, short["events"]),
        (lost["window_start"], lost["service"], lost["log_group"]): (lost["events"], None),
    }


@pytest.fixture(scope="module")
def job(
    spark: Any,
    tmp_path_factory: pytest.TempPathFactory,
    opensearch_url: str,
    opensearch_client: OpenSearch,
    names: IndexNames,
) -> Iterator[JobRun]:
    bucket = build_bucket(tmp_path_factory.mktemp("batch") / "bucket")
    events = archive_events(bucket.root)
    realtime_prefix = f"metrics-realtime-{names.token}-"
    missed = store_realtime_windows(opensearch_client, realtime_prefix, events)
    settings = BatchSettings(
        bucket=str(bucket.root),
        sink="bulk",
        opensearch_url=opensearch_url,
        index_suffix=names.token,
        realtime_index_prefix=realtime_prefix,
        slo_config=SLO_CONFIG,
        metrics_config=METRICS_CONFIG,
        top_signatures=TOP_SIGNATURES,
    )
    report = run_local_batch(settings, spark=spark)
    yield JobRun(bucket, settings, report, events, missed)
    existing = opensearch_client.indices.get(index=f"{realtime_prefix}*", expand_wildcards="all")
    if existing:
        opensearch_client.indices.delete(index=",".join(sorted(existing)))


def _search(client: OpenSearch, pattern: str, kind: str | None = None) -> list[dict[str, Any]]:
    client.indices.refresh(index=pattern)
    query = {"term": {"kind": kind}} if kind else {"match_all": {}}
    hits = client.search(index=pattern, body={"query": query, "size": 10_000})["hits"]["hits"]
    return [hit["_source"] | {"_index": hit["_index"]} for hit in hits]


def _count(client: OpenSearch, names: IndexNames) -> int:
    client.indices.refresh(index=names.pattern)
    return int(client.count(index=names.pattern)["count"])


# ---- tests -----------------------------------------------------------------------------------------


def test_job_reads_two_days_and_writes_every_output(job: JobRun) -> None:
    report = job.report
    assert report.ok, report.summary()
    assert report.days == ["2026-01-31", "2026-02-01"]
    assert job.bucket.events_in_previous_days_partition() > 0
    assert report.events == len(job.events)
    assert all(count > 0 for count in report.rows.values()), report.rows
    assert sorted(report.documents.by_index) == [
        f"{family}-{month}-{job.settings.index_suffix}"
        for family in ("log-insights", "metrics-batch", "metrics-declared-batch")
        for month in ("2026.01", "2026.02")
    ]


def test_rollups_equal_the_reference(job: JobRun, opensearch_client: OpenSearch, names: IndexNames, spark: Any) -> None:
    expected = reference_rollups(job.events)
    documents = _search(opensearch_client, f"metrics-batch-*-{names.token}")
    actual = {(d["granularity"], d["service"], d["log_group"], d["period_start"]): d for d in documents}
    assert len(actual) == len(documents)  # no two documents for one period
    assert_documents_equal(actual, expected)
    for document in documents:  # monthly index of the period
        assert document["_index"].startswith(
            f"metrics-batch-{document['period_start'][:4]}.{document['period_start'][5:7]}"
        )

    from pyspark.sql import functions as F

    parquet = spark.read.parquet(job.report.parquet_location)
    rows = parquet.select("*", F.unix_millis("period_start").alias("start_ms")).collect()
    from_parquet = {(r["granularity"], r["service"], r["log_group"], iso_utc(r["start_ms"])): r.asDict() for r in rows}
    assert len(from_parquet) == len(rows)
    assert_documents_equal(
        from_parquet, {key: {k: v for k, v in fields.items() if k != "period_end"} for key, fields in expected.items()}
    )
    assert {(r["dt"], r["start_ms"] - r["start_ms"] % DAY_MS) for r in rows} == {
        ("2026-01-31", 1_769_817_600_000),
        ("2026-02-01", 1_769_904_000_000),
    }


def test_declared_metrics_equal_the_reference(job: JobRun, opensearch_client: OpenSearch, names: IndexNames) -> None:
    """config/metrics.yaml over the archive: the documents the realtime job's core computes from the same events
    (`compute_declared`), under the same ids, in the month of their window."""
    expected = compute_declared(load_metrics_file(str(METRICS_CONFIG)), job.events)
    assert {doc["metric"] for doc in expected} >= {"checkout_value", "server_error_ratio", "payment_gateway_timeouts"}
    stored = _search(opensearch_client, f"metrics-declared-batch-*-{names.token}")
    assert job.report.rows["declared_metrics"] == len(expected) == len(stored)
    by_id = {declared_document_id(d["owner"], d["metric"], d["window_start"], d["group"]): d for d in stored}
    for want in expected:
        got = by_id[declared_document_id(want["owner"], want["metric"], want["window_start"], want["group"])]
        assert got["_index"].startswith("metrics-declared-batch-" + want["window_start"][:7].replace("-", "."))
        for name, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[name], value, rel_tol=1e-9), (want, name)  # type: ignore[literal-required]
            else:
                assert got[name] == value, (want, name)  # type: ignore[literal-required]


def test_error_signatures_equal_the_reference(job: JobRun, opensearch_client: OpenSearch, names: IndexNames) -> None:
    documents = _search(opensearch_client, f"log-insights-*-{names.token}", "error_signature")
    actual = {(d["period_start"], d["signature_id"]): d for d in documents}
    expected = reference_signatures(job.events)
    assert_documents_equal(actual, expected)
    signatures = {d["signature"] for d in documents}
    assert "Timeout calling payment gateway after <num> ms (order <uuid>)" in signatures


def test_slo_reports_equal_the_reference(job: JobRun, opensearch_client: OpenSearch, names: IndexNames) -> None:
    documents = _search(opensearch_client, f"log-insights-*-{names.token}", "slo")
    actual = {(d["period_start"], d["service"]): d for d in documents}
    assert_documents_equal(actual, reference_slo(job.events))
    checkout = [d for d in documents if d["service"] == "checkout"]
    assert checkout and all(d["availability_target"] == 0.999 for d in checkout)


def test_lambda_efficiency_equals_the_reference(job: JobRun, opensearch_client: OpenSearch, names: IndexNames) -> None:
    documents = _search(opensearch_client, f"log-insights-*-{names.token}", "lambda_efficiency")
    actual = {(d["period_start"], d["function"], d["memory_size_mb"]): d for d in documents}
    assert_documents_equal(actual, reference_lambda(job.events))


def test_corrupt_inputs_are_reported_and_do_not_stop_the_job(job: JobRun) -> None:
    report = job.report
    assert [c.uri for c in report.corrupt_files] == [job.bucket.corrupt_uri]
    assert report.invalid_rows == {job.bucket.bad_lines_uri: 2}
    assert report.invalid_examples == {job.bucket.bad_lines_uri: "{not json"}
    summary = report.summary()
    assert job.bucket.corrupt_uri in summary
    assert job.bucket.bad_lines_uri in summary
    state = json.loads((job.bucket.root / "_state" / "batch-bookmark.json").read_text())
    assert state["files"]["events/dt=2026-02-01/hour=00/opsanalytics-logs-1-broken.gz"]["corrupt"] is True


def test_reconcile_minute_counts_with_the_realtime_reference(job: JobRun, spark: Any) -> None:
    inventory = DirectoryStore(job.bucket.root)
    start, end = START_MS + 5 * 60_000, START_MS + 20 * 60_000  # across midnight
    batch = batch_minute_counts(spark, inventory, list_inputs(inventory, "events/"), start, end)
    realtime = reference_minute_counts(job.events, start, end)
    assert len(realtime) >= 15 * 5
    assert reconcile(batch, realtime) == []


def test_the_share_of_events_the_realtime_windows_counted_is_reported_per_hour(
    job: JobRun, opensearch_client: OpenSearch, names: IndexNames
) -> None:
    """Against the stored realtime windows (one short of 3 events, one never written): the summary and one
    ``realtime_accuracy`` document per hour recomputed say how many events the realtime windows counted and which
    windows differ."""
    accuracy = job.report.accuracy
    missed = sum(batch - (realtime or 0) for batch, realtime in job.realtime_missed.values())
    assert accuracy.batch_events == len(job.events)
    assert accuracy.counted_events == len(job.events) - missed
    documents = _search(opensearch_client, f"log-insights-*-{names.token}", "realtime_accuracy")
    # the hours recomputed that have events: the last of the first day and the first of the second
    assert sorted(d["period_start"] for d in documents) == ["2026-01-31T23:00:00Z", "2026-02-01T00:00:00Z"]
    assert sum(d["batch_events"] for d in documents) == len(job.events)
    assert sum(d["late_events"] for d in documents) == 3
    assert sum(d["windows_missing"] for d in documents) == 1
    differences = {
        (item["window_start"], item["service"], item["log_group"]): (item["batch_events"], item["realtime_events"])
        for d in documents
        for item in d["differences"]
    }
    assert differences == job.realtime_missed
    assert all(d["windows_differing"] == len(d["differences"]) for d in documents)
    assert sum(d["windows"] for d in documents) == len(compute_windows(job.events))
    share = f"{100 * (len(job.events) - missed) / len(job.events):.2f} %"
    assert f"realtime accuracy   {share:>11}  of {len(job.events)} events" in job.report.summary()
    assert "windows differing          2" in job.report.summary()


def test_second_run_does_no_work_and_full_rerun_writes_no_duplicates(
    job: JobRun, spark: Any, opensearch_client: OpenSearch, names: IndexNames
) -> None:
    documents = _count(opensearch_client, names)
    assert documents == job.report.documents.written

    again = run_local_batch(job.settings, spark=spark)
    assert again.files_new == 0
    assert again.days == []
    assert again.documents.written == 0

    full = BatchSettings(**{**_fields(job.settings), "full": True})
    rerun = run_local_batch(full, spark=spark)
    assert rerun.ok
    assert rerun.documents.written == job.report.documents.written
    assert _count(opensearch_client, names) == documents
    assert spark.read.parquet(job.report.parquet_location).count() == sum(
        job.report.rows[name] for name in ("rollups_hour", "rollups_day")
    )


class CapturingSink:
    """Keeps the documents instead of writing them."""

    name = "capture"

    def __init__(self) -> None:
        self.operations: list[BulkOperation] = []

    def write(self, operations: Sequence[BulkOperation]) -> SinkResult:
        self.operations = list(operations)
        return SinkResult(written=len(self.operations))


def test_rows_or_the_columnar_cache_give_the_same_documents(
    job: JobRun, spark: Any, opensearch_client: OpenSearch
) -> None:
    """Local runs keep the input scan as rows, Glue runs in Spark's columnar cache (`keep`): the documents are
    the same either way, including the corrupt-line and overflow cases of the bucket."""
    documents = {}
    for how in ("rows", "cache"):
        settings = BatchSettings(
            **{**_fields(job.settings), "keep": how, "full": True, "bookmark": "none", "write_parquet": False}
        )
        sink = CapturingSink()
        realtime = OpenSearchWindowCounts(opensearch_client, job.settings.realtime_index_prefix)
        report = run(spark, settings, sink=sink, realtime=realtime)
        assert report.invalid_rows == job.report.invalid_rows
        documents[how] = sorted(
            (op.index, op.doc_id, orjson.dumps(op.document, option=orjson.OPT_SORT_KEYS)) for op in sink.operations
        )
    assert len(documents["rows"]) == job.report.documents.written
    assert documents["rows"] == documents["cache"]


def test_new_file_recomputes_only_its_day(job: JobRun, spark: Any, tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    shutil.copytree(job.bucket.root, root)
    extra = b"".join(data for keys, data in _records(seed=23, minutes=1, start_ms=START_MS + 15 * 60_000))
    (root / "events" / "dt=2026-02-01" / "hour=00" / "opsanalytics-logs-1-late.gz").write_bytes(gzip.compress(extra))
    settings = BatchSettings(bucket=str(root), sink="none", slo_config=SLO_CONFIG)
    report = run_local_batch(settings, spark=spark)
    assert report.files_new == 1
    assert report.days == ["2026-02-01"]

    from pyspark.sql import functions as F

    expected = reference_rollups(archive_events(root))
    rows = spark.read.parquet(str(root / "curated" / "rollups")).select("*", F.unix_millis("period_start").alias("ms"))
    actual = {(r["granularity"], r["service"], r["log_group"], iso_utc(r["ms"])): r.asDict() for r in rows.collect()}
    assert_documents_equal(actual, {k: {"events": v["events"], "errors": v["errors"]} for k, v in expected.items()})


def _fields(settings: BatchSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def test_catalog_table_matches_the_parquet_schema(job: JobRun, spark: Any) -> None:
    table = json.loads((project_root() / "glue" / "catalog" / "rollups_table.json").read_text())
    descriptor = table["StorageDescriptor"]
    root = job.bucket.root / "curated" / "rollups"
    part = next(root.glob("granularity=*/dt=*/*.parquet"))
    # the data files alone (no partition discovery): the columns the catalog must declare
    written = [(f.name, f.dataType.simpleString()) for f in spark.read.parquet(f"file://{part}").schema.fields]
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == written
    assert [c["Name"] for c in table["PartitionKeys"]] == [
        part.parent.parent.name.split("=")[0],
        part.parent.name.split("=")[0],
    ]
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert descriptor["Location"].endswith("/" + job.settings.curated_prefix)
    assert table["Parameters"]["projection.granularity.values"] == "hour,day"


def test_read_schema_covers_the_log_event_contract() -> None:
    from opsanalytics.batch.transforms import CORRUPT_COLUMN, LOG_EVENT_SPARK_TYPES, log_event_schema

    assert list(LOG_EVENT_SPARK_TYPES) == list(LogEvent.__annotations__)
    assert log_event_schema().fieldNames() == [*LogEvent.__annotations__, CORRUPT_COLUMN]


def test_connector_options_for_an_aws_domain() -> None:
    from opsanalytics.batch.sinks import connector_options
    from opsanalytics.opensearch import OpenSearchSettings

    url = "https://search-ops-abc123.eu-west-1.es.amazonaws.com"
    options = connector_options(OpenSearchSettings.from_env({"OPENSEARCH_URL": url}))
    assert options["opensearch.nodes"] == "https://search-ops-abc123.eu-west-1.es.amazonaws.com"
    assert options["opensearch.port"] == "443"
    assert options["opensearch.aws.sigv4.enabled"] == "true"
    assert options["opensearch.aws.sigv4.region"] == "eu-west-1"
    assert options["opensearch.mapping.id"] == "doc_id"
    assert options["opensearch.write.operation"] == "index"
    assert options["opensearch.batch.write.refresh"] == "false", "opsanalytics_batch may not refresh an index"


def test_connector_check_on_a_real_spark_classpath(spark: Any) -> None:
    """Plain PySpark has no opensearch-spark jar: the Glue entry point then refuses ``--sink connector``."""
    from opsanalytics.batch.sinks import connector_available

    assert connector_available(spark) is False


def test_the_glue_entry_point_runs_as_glue_runs_it(
    spark: Any,
    tmp_path: Path,
    opensearch_url: str,
    opensearch_client: OpenSearch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``glue/batch_job.py``'s `main` with Glue's arguments, its ``glue_runtime.py`` beside it and the Glue library
    (``tests/support/glue_libs``, over this Spark): it resolves the arguments, initialises and commits the Job,
    and writes through the sink the arguments name."""
    from opsanalytics.batch.local import glue_entry_point

    root = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(root / "tests" / "support" / "glue_libs"))
    monkeypatch.syspath_prepend(str(root / "glue"))  # Glue ships glue_runtime.py with --extra-py-files
    from awsglue.job import Job

    bucket = build_bucket(tmp_path / "bucket")
    names = IndexNames()
    argv = [
        "--JOB_NAME", "opsanalytics-batch",
        "--bucket", str(bucket.root),
        "--bookmark", "state-file",
        "--opensearch_url", opensearch_url,
        "--index_suffix", names.token,
        "--extra-py-files", "s3://artifacts/glue/glue_runtime.py",
    ]  # fmt: skip
    try:
        assert glue_entry_point().main(argv) == 0
        (run,) = Job.runs
        assert (run.name, run.commits) == ("opsanalytics-batch", 1)
        assert _count(opensearch_client, names) > 0
        assert (bucket.root / "_state" / "batch-bookmark.json").is_file()
    finally:
        Job.runs.clear()
        existing = opensearch_client.indices.get(index=names.pattern, expand_wildcards="all")
        if existing:
            opensearch_client.indices.delete(index=",".join(sorted(existing)))
