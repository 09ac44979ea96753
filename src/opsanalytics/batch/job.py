"""The batch job: archive → roll-ups, error signatures, SLO and Lambda reports → OpenSearch and Parquet.

`run` is the whole job, the same in Glue and locally; the entry point (``glue/batch_job.py``) only builds
the settings, the Spark session and, in Glue, the bookmark and job commit. Steps:

1. list ``events/``, take the new objects (bookmark, ``--full``; none for ``--from/--to``) and check that
   every gzip object read can be decompressed; unreadable ones are reported by path and left out;
2. read the new objects with the explicit LogEvent schema (PERMISSIVE: unparsable lines are counted per
   file), keeping only what the aggregates read (`transforms.for_aggregation`, `keep`), and plan from the event
   times inside them: their UTC hours are recomputed, and the days that have closed are finalized
   (`inputs.plan_hours`);
3. read the other objects that hold events of those hours (their partition, or the straggler index says so);
4. aggregate (five concurrent Spark jobs): hourly roll-ups and per-minute counts for the hours, daily roll-ups,
   error signatures, SLO and Lambda reports for the finalized days;
5. compare the per-minute counts with the realtime windows of the hours (`opsanalytics.batch.accuracy`);
6. write Parquet (dynamic partition overwrite; the hours of a day not recomputed are carried over) and the
   documents (deterministic ids, so a rerun overwrites); then save the plan state and commit the bookmark.

Every event read is accounted for in the report: counted in the hours recomputed, read with an object of those
hours but of another hour (counted when its own hour is), or an unusable line.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from opensearchpy.exceptions import OpenSearchException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.util import inheritable_thread_target

from opsanalytics.batch import transforms as tx
from opsanalytics.batch.accuracy import (
    Accuracy,
    HourAccuracy,
    RealtimeWindowCounts,
    WindowCounts,
    WindowKey,
    compare,
)
from opsanalytics.batch.declared import INDEX_FAMILY as DECLARED_INDEX_FAMILY
from opsanalytics.batch.declared import declared_metrics
from opsanalytics.batch.inputs import (
    HOUR_MS,
    CorruptFile,
    HourPlan,
    NoBookmark,
    PlanState,
    PlanStore,
    StateFileBookmark,
    day_of,
    files_for_hours,
    find_corrupt_files,
    inventory_for,
    list_inputs,
    new_input,
    plan_hours,
)
from opsanalytics.batch.settings import BatchSettings, Keep
from opsanalytics.batch.sinks import NoSink
from opsanalytics.batch.slo import SloConfig, SloCounts, load_slo_config, slo_report
from opsanalytics.opensearch.bulk import BulkOperation, document_id
from opsanalytics.ports import Bookmark, DocumentSink, ObjectStore, SinkResult, StoredObject
from opsanalytics.realtime.declared import (
    NO_METRICS,
    DeclaredMetric,
    MetricsConfig,
    declared_document_id,
    read_metrics,
)
from opsanalytics.timestamps import iso_utc, parse_iso_ms

INSIGHTS_SCHEMA_VERSION: Final = 1
SPARK_SQL_CONF: Final = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    # belt and braces: the pre-scan already leaves unreadable gzip objects out of the read
    "spark.sql.files.ignoreCorruptFiles": "true",
}
_T = TypeVar("_T")
OUTPUTS: Final = ("rollups_hour", "rollups_day", "error_signatures", "slo", "lambda_efficiency", "declared_metrics")


@dataclass(slots=True)
class BatchReport:
    bucket: str
    days: list[str] = field(default_factory=list)
    """the days whose daily outputs the run wrote (closed days the new input touched or that closed since)"""
    hours: list[str] = field(default_factory=list)
    """the hours whose hourly outputs the run wrote"""
    open_days: list[str] = field(default_factory=list)
    """days with hourly outputs whose daily outputs wait for the day to close"""
    files_listed: int = 0
    files_new: int = 0
    files_read: int = 0
    corrupt_files: list[CorruptFile] = field(default_factory=list)
    invalid_rows: dict[str, int] = field(default_factory=dict)
    invalid_examples: dict[str, str] = field(default_factory=dict)
    """the first unparsable line of a file, when it has one (a line may also just lack key fields)"""
    unpartitioned: list[str] = field(default_factory=list)
    events: int = 0
    """events counted in the hours recomputed"""
    events_read: int = 0
    """usable events read: ``events`` plus those of other hours read with the same objects"""
    events_new: int = 0
    """usable events of the new objects"""
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTPUTS, 0))
    parquet_location: str | None = None
    sink: str = "none"
    documents: SinkResult = field(default_factory=SinkResult)
    accuracy: Accuracy = field(default_factory=lambda: Accuracy(not_compared="no hours recomputed"))
    """the realtime windows' counts against this run's, per hour recomputed"""
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.documents.failed

    def summary(self) -> str:
        days = ", ".join(self.days[:5]) + (" ..." if len(self.days) > 5 else "")
        hours = f"{self.hours[0]} .. {self.hours[-1]}" if self.hours else ""
        lines = [
            f"Batch analytics over {self.bucket}",
            f"  hours recomputed    {len(self.hours):>10}  {hours}",
            f"  days finalized      {len(self.days):>10}  {days}",
            f"  days still open     {len(self.open_days):>10}  (daily outputs once they close)",
            f"  files listed        {self.files_listed:>10}  ({self.files_new} new)",
            f"  files read          {self.files_read:>10}",
            f"  corrupt files       {len(self.corrupt_files):>10}  (left out, listed below)",
            f"  events read         {self.events_read:>10}  ({self.events_new} in new files)",
            f"    counted           {self.events:>10}  in the hours recomputed",
            f"    of other hours    {self.events_read - self.events:>10}  (counted when their own hour is)",
            f"  unusable lines      {sum(self.invalid_rows.values()):>10}  in {len(self.invalid_rows)} files",
        ]
        lines.extend(f"  rows {name:<15}{count:>10}" for name, count in self.rows.items())
        lines.extend(self.accuracy.summary_lines())
        if self.parquet_location:
            lines.append(f"  Parquet             {self.parquet_location}")
        lines.append(f"  documents ({self.sink}){'':<{max(0, 9 - len(self.sink))}}{self.documents.written:>10}")
        lines.extend(f"    {index:<34}{count:>8}" for index, count in self.documents.by_index.items())
        for item in self.documents.failed[:10]:
            lines.append(
                f"  failed document {item.index}/{item.doc_id}: {item.status} {item.error_type}: {item.reason}"
            )
        if len(self.documents.failed) > 10:
            lines.append(f"  ... and {len(self.documents.failed) - 10} more failed documents")
        lines.extend(f"  corrupt file {c.uri}: {c.reason}" for c in self.corrupt_files)
        for uri, rows in sorted(self.invalid_rows.items()):
            lines.append(f"  unusable lines in {uri}: {rows}")
            if uri in self.invalid_examples:
                lines.append(f"    first unparsable: {self.invalid_examples[uri]}")
        lines.extend(f"  not in a dt=/hour= partition (skipped): {uri}" for uri in self.unpartitioned)
        lines.append("Time per stage")
        lines.extend(f"  {name:<20}{seconds:>9.2f} s" for name, seconds in self.seconds.items())
        return "\n".join(lines)


def configure(spark: SparkSession) -> None:
    for key, value in SPARK_SQL_CONF.items():
        spark.conf.set(key, value)


def read_events(spark: SparkSession, uris: Sequence[str], *, corrupt_record: bool = False) -> DataFrame:
    """The objects at ``uris`` as rows of the LogEvent schema plus ``input_file`` (PERMISSIVE mode).

    With ``corrupt_record`` the rows also carry ``_corrupt_record``, the text of a line that did not parse.
    The main read leaves it out: keeping it makes Spark's JSON reader about twice as slow (measured), and
    a line that is not JSON already reads as a row without key fields. Files with such rows are read again
    with it, to show the lines.
    """
    reader = spark.read.schema(tx.log_event_schema(with_corrupt_record=corrupt_record)).option("mode", "PERMISSIVE")
    if corrupt_record:
        reader = reader.option("columnNameOfCorruptRecord", tx.CORRUPT_COLUMN)
    return reader.json(list(uris)).withColumn(tx.INPUT_FILE_COLUMN, F.input_file_name())


def accuracy_operations(hours: Iterable[HourAccuracy], suffix: str) -> list[BulkOperation]:
    """One ``realtime_accuracy`` document per hour compared, in the hour's ``log-insights`` index."""
    operations = []
    for hour in hours:
        document = {"schema_version": INSIGHTS_SCHEMA_VERSION, "kind": "realtime_accuracy", **hour.document()}
        doc_id = document_id("realtime_accuracy", document["period_start"])
        operations.append(BulkOperation(index_name("log-insights", hour.hour_start_ms, suffix), doc_id, document))
    return operations


def realtime_accuracy(
    realtime: RealtimeWindowCounts | None, minute_rows: Iterable[dict[str, Any]], hours: Sequence[int]
) -> Accuracy:
    """`compare` of the realtime windows of ``hours`` with the batch minute counts; a failed read is reported
    in the summary, never fails the run (the batch outputs do not depend on it)."""
    if realtime is None:
        return Accuracy(not_compared="no OpenSearch to read the realtime windows from")
    batch: dict[WindowKey, WindowCounts] = {
        (row["minute_start"], row["service"], row["log_group"]): WindowCounts(row["events"], row["errors"])
        for row in minute_rows
    }
    try:
        counts = realtime.counts(min(hours), max(hours) + HOUR_MS)
    except OpenSearchException as error:  # refused, unreachable, timed out: reported, the run goes on
        return Accuracy(not_compared=f"reading the realtime windows failed: {type(error).__name__}: {error}"[:300])
    return Accuracy(hours=compare(batch, counts, hours), other_spans=counts.other_spans)


def _submit(pool: ThreadPoolExecutor, task: Callable[[], _T]) -> Future[_T]:
    """``task`` on a pool thread that inherits the calling thread's Spark local properties (job tags among
    them: plain threads start without)."""
    wrapped: Callable[[], _T] = inheritable_thread_target(task)
    return pool.submit(wrapped)


def keep(frame: DataFrame, how: Keep = "rows") -> DataFrame:
    """``frame`` computed once and kept for the queries that follow.

    ``rows`` (local runs): computed now and kept as rows by the executors (memory, then local disk). Building
    and scanning Spark's compressed columnar cache cost more than the aggregations it served (1M events on 2
    cores: the run took about 10 % longer with it). Kept rows have no lineage: an executor lost before the run
    ends fails the run, which the next run repeats (outputs are overwritten by id, the bookmark moves only after
    they are written). ``cache`` (Glue): Spark's columnar cache, several times smaller than rows, and what an
    executor held is recomputed from the input when it is lost.
    """
    return frame.cache() if how == "cache" else frame.localCheckpoint(eager=True)


def index_name(family: str, epoch_ms: int, suffix: str = "") -> str:
    """``<family>-YYYY.MM`` of the period's month, with ``-<suffix>`` when given."""
    month = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y.%m")
    return f"{family}-{month}" + (f"-{suffix}" if suffix else "")


def _rows(frame: DataFrame) -> list[dict[str, Any]]:
    return [row.asDict(recursive=True) for row in frame.collect()]


def rollup_operations(rows: Iterable[dict[str, Any]], suffix: str) -> list[BulkOperation]:
    operations = []
    for row in rows:
        start_ms, end_ms = row.pop("period_start_ms"), row.pop("period_end_ms")
        document = {
            **{k: v for k, v in row.items() if k not in ("period_start", "period_end", "dt")},
            "period_start": iso_utc(start_ms),
            "period_end": iso_utc(end_ms),
        }
        doc_id = document_id("rollup", row["granularity"], row["service"], row["log_group"], document["period_start"])
        operations.append(BulkOperation(index_name("metrics-batch", start_ms, suffix), doc_id, document))
    return operations


def _day_bounds(day_start: int) -> dict[str, str]:
    return {"period_start": iso_utc(day_start), "period_end": iso_utc(day_start + tx.DAY_MS)}


def signature_operations(rows: Iterable[dict[str, Any]], suffix: str) -> list[BulkOperation]:
    operations = []
    for row in rows:
        document = {
            "schema_version": INSIGHTS_SCHEMA_VERSION,
            "kind": "error_signature",
            **_day_bounds(row["day_start"]),
            "signature": row["signature"],
            "signature_id": row["signature_id"],
            "rank": row["rank"],
            "count": row["count"],
            "first_seen": iso_utc(row["first_seen_ms"]),
            "last_seen": iso_utc(row["last_seen_ms"]),
            "example": row["example"],
            "services": row["services"],
            "log_groups": row["log_groups"],
        }
        doc_id = document_id("error_signature", row["dt"], row["signature_id"])
        operations.append(BulkOperation(index_name("log-insights", row["day_start"], suffix), doc_id, document))
    return operations


def slo_operations(rows: Iterable[dict[str, Any]], config: SloConfig, suffix: str) -> list[BulkOperation]:
    operations = []
    for row in rows:
        counts = SloCounts(requests=row["requests"], failed=row["failed"], timed=row["timed"], fast=row["fast"])
        document = {
            "schema_version": INSIGHTS_SCHEMA_VERSION,
            "kind": "slo",
            **_day_bounds(row["day_start"]),
            "service": row["service"],
            **slo_report(counts, config.for_service(row["service"])),
        }
        doc_id = document_id("slo", row["service"], row["dt"])
        operations.append(BulkOperation(index_name("log-insights", row["day_start"], suffix), doc_id, document))
    return operations


def lambda_operations(rows: Iterable[dict[str, Any]], suffix: str) -> list[BulkOperation]:
    operations = []
    for row in rows:
        day_start, dt = row.pop("day_start"), row.pop("dt")
        document = {
            "schema_version": INSIGHTS_SCHEMA_VERSION,
            "kind": "lambda_efficiency",
            **_day_bounds(day_start),
            "function": row["service"],
            **row,
        }
        doc_id = document_id("lambda_efficiency", row["service"], row["log_group"], row["memory_size_mb"], dt)
        operations.append(BulkOperation(index_name("log-insights", day_start, suffix), doc_id, document))
    return operations


def load_declared(settings: BatchSettings) -> tuple[str, MetricsConfig]:
    """The metrics file's text (for the Spark tasks) and its definitions; `MetricsFileError` names each mistake."""
    if settings.metrics_config is None:
        return "", NO_METRICS
    return read_metrics(str(settings.metrics_config))


def declared_operations(docs: Iterable[DeclaredMetric], suffix: str) -> list[BulkOperation]:
    """The declared metrics' documents, under the ids the realtime job's documents have."""
    operations = []
    for doc in docs:
        doc_id = declared_document_id(doc["owner"], doc["metric"], doc["window_start"], doc["group"])
        index = index_name(DECLARED_INDEX_FAMILY, parse_iso_ms(doc["window_start"]), suffix)
        operations.append(BulkOperation(index, doc_id, dict(doc)))
    return operations


def _default_bookmark(settings: BatchSettings, inventory: ObjectStore) -> Bookmark:
    if settings.bookmark == "state-file":
        return StateFileBookmark(inventory)
    if settings.bookmark == "none":
        return NoBookmark()
    raise ValueError("bookmark 'glue' is provided by the Glue entry point (glue/glue_runtime.py)")


@dataclass(slots=True)
class PreparedRun:
    """What a run reads first, decided before Spark is needed: the listing, the new objects (gzip-checked) and
    the plan state."""

    bookmark: Bookmark
    inventory: ObjectStore
    state: PlanState
    partitioned: list[StoredObject]
    new_files: list[StoredObject]
    new_readable: list[StoredObject]
    report: BatchReport


def prepare(
    settings: BatchSettings,
    *,
    inventory: ObjectStore | None = None,
    bookmark: Bookmark | None = None,
    progress: Callable[[str], None] | None = None,
) -> PreparedRun:
    """Step 1 of the job (plain Python: runs while a Spark session starts, see `run_local_batch`)."""
    say = progress or (lambda _message: None)
    inventory = inventory or inventory_for(settings)
    bookmark = bookmark or _default_bookmark(settings, inventory)
    report = BatchReport(bucket=settings.bucket)
    started = time.perf_counter()
    files = list_inputs(inventory, settings.events_prefix)
    partitioned, new, unpartitioned = new_input(settings, files, bookmark)
    state = PlanStore(inventory).load()
    report.files_listed, report.files_new = len(files), len(new)
    report.unpartitioned = [item.uri for item in unpartitioned]
    say(f"  {len(files)} files listed, {len(new)} new")
    report.seconds["plan"] = time.perf_counter() - started

    started = time.perf_counter()
    report.corrupt_files = find_corrupt_files(inventory, new)
    corrupt = {item.uri for item in report.corrupt_files}
    readable = [item for item in new if item.uri not in corrupt]
    say(f"  {len(readable)} new files to read, {len(corrupt)} unreadable")
    report.seconds["pre-scan"] = time.perf_counter() - started
    return PreparedRun(bookmark, inventory, state, partitioned, new, readable, report)


@dataclass(slots=True)
class _Scan:
    """The kept rows of the objects read, and the event hours found in each object (with counts)."""

    rows: DataFrame | None = None
    hours_by_file: dict[str, dict[int, int]] = field(default_factory=dict)

    def add(self, rows: DataFrame) -> None:
        for row in tx.hours_by_file(rows).collect():
            self.hours_by_file.setdefault(row[tx.INPUT_FILE_COLUMN], {})[row["hour_start"]] = row["events"]
        self.rows = rows if self.rows is None else self.rows.unionByName(rows)

    def events(self, uris: Iterable[str] | None = None, hours: Iterable[int] | None = None) -> int:
        wanted_uris = None if uris is None else set(uris)
        wanted_hours = None if hours is None else set(hours)
        return sum(
            count
            for uri, by_hour in self.hours_by_file.items()
            if wanted_uris is None or uri in wanted_uris
            for hour, count in by_hour.items()
            if wanted_hours is None or hour in wanted_hours
        )


def _read(
    spark: SparkSession, settings: BatchSettings, files: Sequence[StoredObject], report: BatchReport
) -> DataFrame:
    """``files`` read once and kept (see `keep`), their unusable lines counted in ``report``."""
    kept = keep(tx.for_aggregation(read_events(spark, [item.uri for item in files])), settings.keep)
    invalid = {row[tx.INPUT_FILE_COLUMN]: row["rows"] for row in tx.unusable_rows_by_file(kept).collect()}
    if invalid:
        report.invalid_rows.update(invalid)
        bad = read_events(spark, sorted(invalid), corrupt_record=True).cache()
        examples = tx.first_corrupt_lines(bad).collect()
        report.invalid_examples.update({row[tx.INPUT_FILE_COLUMN]: row["line"][:200] for row in examples})
        bad.unpersist()
    report.files_read += len(files)
    return kept


def _carried_hours(
    spark: SparkSession, settings: BatchSettings, inventory: ObjectStore, plan: HourPlan, schema: Any
) -> DataFrame | None:
    """The hourly roll-up rows already in Parquet for the days of ``plan.hours`` whose other hours are not
    recomputed: written again with the new ones, since a (granularity, dt) partition is overwritten whole.
    Only those days' partitions are read."""
    partial = sorted({day_of(hour) for hour in plan.hours} - set(plan.days))
    folders = [f"{settings.curated_prefix}granularity=hour/dt={day.isoformat()}/" for day in partial]
    present = [folder for folder in folders if inventory.list_files(folder, (".parquet",))]
    if not present:
        return None
    existing = (
        spark.read.option("basePath", settings.uri(settings.curated_prefix))
        .parquet(*(settings.uri(folder) for folder in present))
        .filter(~F.unix_millis("period_start").isin(plan.hours))
    )
    # a few rows per service, log group and hour: collected, so that the overwrite reads nothing it replaces
    rows = existing.select(*tx.ROLLUP_COLUMNS).collect()
    return spark.createDataFrame(rows, schema) if rows else None


def run(
    spark: SparkSession,
    settings: BatchSettings,
    *,
    inventory: ObjectStore | None = None,
    bookmark: Bookmark | None = None,
    sink: DocumentSink | None = None,
    realtime: RealtimeWindowCounts | None = None,
    progress: Callable[[str], None] | None = None,
    prepared: PreparedRun | None = None,
) -> BatchReport:
    """Run the batch job once. ``sink`` None means Parquet only (sink 'none'); ``realtime`` is where the realtime
    windows are read for the accuracy figures (None: not compared); ``prepared`` is the result of `prepare` when
    the caller ran it already (then ``inventory`` and ``bookmark`` are its)."""
    say = progress or (lambda _message: None)
    if prepared is None:
        prepared = prepare(settings, inventory=inventory, bookmark=bookmark, progress=progress)
    bookmark, state, report = prepared.bookmark, prepared.state, prepared.report
    sink = sink or NoSink()
    report.sink = sink.name
    metrics_text, metrics = load_declared(settings)  # a bad file stops the run before it reads anything
    configure(spark)
    corrupt = {item.uri for item in report.corrupt_files}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[stage] = now - clock
        clock = now

    scan = _Scan()
    kept_frames: list[DataFrame] = []  # unpersisted however the run ends (``keep`` "cache")
    try:
        if prepared.new_readable:
            new_rows = _read(spark, settings, prepared.new_readable, report)
            kept_frames.append(new_rows)
            scan.add(new_rows)
        new_uris = [item.uri for item in prepared.new_readable]
        new_hours = {hour for uri in new_uris for hour in scan.hours_by_file.get(uri, {})}
        # a range or a full run is asked for: its days are finalized whether or not they have closed
        explicit = settings.range_days() or ({day_of(hour) for hour in new_hours} if settings.full else ())
        plan = plan_hours(
            new_hours,
            state,
            now_ms=settings.now_ms(),
            close_delay_ms=settings.close_delay_minutes * 60_000,
            explicit_days=explicit,
        )
        report.hours = [iso_utc(hour) for hour in plan.hours]
        report.days = [day.isoformat() for day in plan.days]
        report.open_days = sorted(day.isoformat() for day in plan.open_days)
        report.events_new = scan.events(new_uris)
        say(
            f"  {report.events_new} new events in {len(plan.hours)} hours; "
            f"finalizing {len(plan.days)} days, {len(plan.open_days)} left open"
        )
        new_keys = {item.key for item in prepared.new_files}
        others = [item for item in files_for_hours(prepared.partitioned, plan.hours, state) if item.key not in new_keys]
        if others:
            more_corrupt = find_corrupt_files(prepared.inventory, others)
            report.corrupt_files.extend(more_corrupt)
            corrupt |= {item.uri for item in more_corrupt}
            readable = [item for item in others if item.uri not in corrupt]
            if readable:
                old_rows = _read(spark, settings, readable, report)
                kept_frames.append(old_rows)
                scan.add(old_rows)
            say(f"  {len(readable)} more files hold events of those hours")
        read_files = [*prepared.new_readable, *(item for item in others if item.uri not in corrupt)]
        state.index({uri: set(hours) for uri, hours in scan.hours_by_file.items()}, read_files)
        report.events_read = scan.events()
        report.events = scan.events(hours=plan.hours)
        lap("read")
        if not plan.hours or scan.rows is None:
            _commit(prepared, state, plan, corrupt)
            return report
        events = tx.usable_rows(scan.rows)
        hour_events = tx.in_hours(events, plan.hours)
        day_events = tx.in_days(events, plan.days)

        config = load_slo_config(settings.slo_config)
        thresholds = {name: objective.latency_threshold_ms for name, objective in config.services.items()}
        tag = f"opsanalytics-batch-{uuid.uuid4().hex}"
        spark.sparkContext.addJobTag(tag)  # the pool threads inherit it (`_submit`)
        try:
            # six independent Spark jobs at once: while one is planned and compiled on the driver, the others run
            with ThreadPoolExecutor(max_workers=6, thread_name_prefix="batch-aggregate") as pool:
                rollups_job = _submit(
                    pool,
                    lambda: keep(
                        tx.rollups(hour_events, "hour").unionByName(tx.rollups(day_events, "day")), settings.keep
                    ),
                )
                signatures_job = _submit(pool, lambda: _rows(tx.error_signatures(day_events, settings.top_signatures)))
                slo_job = _submit(
                    pool, lambda: _rows(tx.slo_counts(day_events, thresholds, config.defaults.latency_threshold_ms))
                )
                lambda_job = _submit(pool, lambda: _rows(tx.lambda_efficiency(day_events)))
                # the per-minute counts serve only the comparison with the realtime windows
                minutes_job = _submit(
                    pool, lambda: _rows(tx.minute_counts(hour_events)) if realtime is not None else []
                )
                read_uris = [item.uri for item in read_files]
                declared_job = _submit(
                    pool, lambda: declared_metrics(spark, read_uris, metrics, metrics_text, plan.hours)
                )
                try:
                    rollups = rollups_job.result()
                    kept_frames.append(rollups)
                    rollup_rows = _rows(
                        rollups.select(
                            *tx.ROLLUP_COLUMNS,
                            F.unix_millis("period_start").alias("period_start_ms"),
                            F.unix_millis("period_end").alias("period_end_ms"),
                        )
                    )
                    signature_rows, slo_rows = signatures_job.result(), slo_job.result()
                    lambda_rows, minute_rows = lambda_job.result(), minutes_job.result()
                    declared_docs = declared_job.result()
                except BaseException:
                    spark.sparkContext.cancelJobsWithTag(tag)  # the others would run on for nothing
                    raise
        finally:
            spark.sparkContext.removeJobTag(tag)
        report.rows["rollups_hour"] = sum(1 for row in rollup_rows if row["granularity"] == "hour")
        report.rows["rollups_day"] = len(rollup_rows) - report.rows["rollups_hour"]
        report.rows.update(
            error_signatures=len(signature_rows),
            slo=len(slo_rows),
            lambda_efficiency=len(lambda_rows),
            declared_metrics=len(declared_docs),
        )
        say(f"  {report.events} events → {len(rollup_rows)} roll-up rows")
        lap("aggregate")

        if settings.write_parquet:
            report.parquet_location = settings.uri(settings.curated_prefix)
            written = rollups.select(*tx.ROLLUP_COLUMNS)
            carried = _carried_hours(spark, settings, prepared.inventory, plan, written.schema)
            if carried is not None:
                written = written.unionByName(carried)
            # a few rows per service, log group and hour: one task writes one file per (granularity, dt)
            written.coalesce(1).write.mode("overwrite").partitionBy("granularity", "dt").parquet(
                report.parquet_location
            )
            lap("parquet")
    finally:
        for frame in kept_frames:
            frame.unpersist()

    report.accuracy = realtime_accuracy(realtime, minute_rows, plan.hours)
    if report.accuracy.hours:
        say(f"  realtime windows counted {100 * report.accuracy.counted_share:.2f} % of the events")
    lap("accuracy")

    operations = [
        *accuracy_operations(report.accuracy.hours, settings.index_suffix),
        *rollup_operations(rollup_rows, settings.index_suffix),
        *signature_operations(signature_rows, settings.index_suffix),
        *slo_operations(slo_rows, config, settings.index_suffix),
        *lambda_operations(lambda_rows, settings.index_suffix),
        *declared_operations(declared_docs, settings.index_suffix),
    ]
    report.documents = sink.write(operations)
    say(f"  {report.documents.written} documents written ({sink.name}), {len(report.documents.failed)} failed")
    lap("opensearch")

    if report.ok:  # a failed write leaves the state and files as they were: the next run recomputes their hours
        _commit(prepared, state, plan, corrupt)
    return report


def _commit(prepared: PreparedRun, state: PlanState, plan: HourPlan, corrupt: set[str]) -> None:
    """The plan state first, then the bookmark: a state saved for files the bookmark still calls new only makes
    the next run read them again (its outputs overwrite), never lose their index."""
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = {item.key for item in prepared.partitioned}
    state.stragglers = {key: hours for key, hours in state.stragglers.items() if key in listed}  # expired objects
    state.open_days = set(plan.open_days)
    state.final_days.update(dict.fromkeys(plan.days, finished))
    PlanStore(prepared.inventory).save(state)
    prepared.bookmark.commit(prepared.new_files, corrupt)
