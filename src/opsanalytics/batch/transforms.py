"""DataFrame-in, DataFrame-out steps of the batch job (PySpark 3.5).

Times: event ``timestamp`` is UTC epoch milliseconds; periods are computed with integer arithmetic on it
(hour = ``ts - ts % 3_600_000``), so no step depends on the session time zone. Percentiles use Spark's
exact ``percentile`` (linear interpolation, type 7), the same definition as `opsanalytics.realtime.windows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Final

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from opsanalytics.logevents.model import LOG_EVENT_SCHEMA_VERSION, READABLE_LOG_EVENT_SCHEMA_VERSIONS, LogEvent
from opsanalytics.logevents.signatures import (
    MAX_SIGNATURE_CHARS,
    PORTABLE_CHARACTERS,
    SIGNATURE_ID_CHARS,
    SIGNATURE_RULES,
    WHITESPACE_RULE,
    normalise_message,
)
from opsanalytics.realtime.windows import PERCENTILES

CORRUPT_COLUMN: Final = "_corrupt_record"
INPUT_FILE_COLUMN: Final = "input_file"
USABLE_COLUMN: Final = "usable"
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000
MINUTE_MS: Final = 60_000
ROLLUP_SCHEMA_VERSION: Final = 1

# Spark type of each LogEvent field; a unit test checks the keys against the TypedDict.
LOG_EVENT_SPARK_TYPES: Final[Mapping[str, T.DataType]] = {
    "schema_version": T.IntegerType(),
    "event_id": T.StringType(),
    "timestamp": T.LongType(),
    "log_group": T.StringType(),
    "log_stream": T.StringType(),
    "owner": T.StringType(),
    "service": T.StringType(),
    "level": T.StringType(),
    "message": T.StringType(),
    "format": T.StringType(),
    "error": T.BooleanType(),
    "status": T.IntegerType(),
    "latency_ms": T.DoubleType(),
    "method": T.StringType(),
    "path": T.StringType(),
    "bytes": T.LongType(),
    "client_ip": T.StringType(),
    "user_agent": T.StringType(),
    "request_id": T.StringType(),
    "billed_ms": T.DoubleType(),
    "memory_size_mb": T.IntegerType(),
    "memory_used_mb": T.IntegerType(),
    "init_ms": T.DoubleType(),
    "lambda_status": T.StringType(),
    "trace_id": T.StringType(),
    "span_id": T.StringType(),
    "k8s_namespace": T.StringType(),
    "k8s_pod": T.StringType(),
    "container": T.StringType(),
    # The JSON text of the attributes object, as written: a string column keeps every value's JSON type, which
    # a map column (one value type) would not. Read one with get_json_object(attributes, "$['order.id']").
    "attributes": T.StringType(),
    "attributes_truncated": T.BooleanType(),
    "parser": T.StringType(),
}
KEY_FIELDS: Final = ("event_id", "timestamp", "log_group", "service", "error")


def log_event_schema(*, with_corrupt_record: bool = True) -> T.StructType:
    """The explicit read schema: every LogEvent field (in the TypedDict's order), plus the corrupt-record
    column Spark's PERMISSIVE mode fills with lines it cannot parse."""
    fields = [T.StructField(name, LOG_EVENT_SPARK_TYPES[name], True) for name in LogEvent.__annotations__]
    if with_corrupt_record:
        fields.append(T.StructField(CORRUPT_COLUMN, T.StringType(), True))
    return T.StructType(fields)


def _key_fields_present() -> Column:
    condition = F.lit(True)
    for name in KEY_FIELDS:
        condition = condition & F.col(name).isNotNull()
    return condition


def _usable(raw: DataFrame) -> Column:
    """A line that parsed, is of a schema version this job reads, and carries every key field."""
    condition = _key_fields_present() & F.col("schema_version").isin(*sorted(READABLE_LOG_EVENT_SCHEMA_VERSIONS))
    if CORRUPT_COLUMN in raw.columns:
        condition = condition & F.col(CORRUPT_COLUMN).isNull()
    return condition


def valid_events(raw: DataFrame) -> DataFrame:
    """Rows that parsed and carry the fields every aggregate needs. Without a corrupt-record column a line
    that is not JSON reads as a row of nulls, so the key-field check covers it."""
    return raw.filter(_usable(raw))


def first_corrupt_lines(raw: DataFrame) -> DataFrame:
    """(input_file, line) with the first unparsable line of each file (``raw`` read with the corrupt-record
    column and cached: Spark refuses queries on raw JSON that reference only that column)."""
    corrupt = raw.filter(F.col(CORRUPT_COLUMN).isNotNull())
    return corrupt.groupBy(INPUT_FILE_COLUMN).agg(F.min(CORRUPT_COLUMN).alias("line"))


def _period_start(size_ms: int) -> Column:
    return F.col("timestamp") - F.col("timestamp") % F.lit(size_ms)


def _day_string(epoch_ms: Column) -> Column:
    """``YYYY-MM-DD`` of a UTC epoch-millisecond column, without the session time zone."""
    return F.date_format(F.date_from_unix_date((epoch_ms / F.lit(DAY_MS)).cast("int")), "yyyy-MM-dd")


def with_periods(events: DataFrame) -> DataFrame:
    """Adds ``minute_start``, ``hour_start``, ``day_start`` (epoch ms) and ``dt`` (the UTC day)."""
    return events.select(
        "*",
        _period_start(MINUTE_MS).alias("minute_start"),
        _period_start(HOUR_MS).alias("hour_start"),
        _period_start(DAY_MS).alias("day_start"),
        _day_string(_period_start(DAY_MS)).alias("dt"),
    )


def _with_dt(frame: DataFrame, epoch_ms_column: str) -> DataFrame:
    """Adds ``dt``, the UTC day of an epoch-millisecond column: on aggregates, not on every event."""
    return frame.withColumn("dt", _day_string(F.col(epoch_ms_column)))


def in_days(events: DataFrame, days: Sequence[date]) -> DataFrame:
    """Events whose UTC day is one of ``days`` (after `with_periods` or `for_aggregation`)."""
    day_starts = [(day - date(1970, 1, 1)).days * DAY_MS for day in days]
    return events.filter(F.col("day_start").isin(day_starts))


def for_aggregation(raw: DataFrame) -> DataFrame:
    """The lines of `read_events` (with ``input_file``) reduced to what the aggregates and the plan read, small
    enough to keep in memory: ``hour_start`` and ``day_start``; ``event_id`` and ``message`` only on error events
    (only the signatures read them); ``input_file``, and ``usable`` (the line parsed, is of a readable schema
    version and has every key field). Select the usable ones with `usable_rows`."""
    return raw.select(
        "timestamp",
        _period_start(HOUR_MS).alias("hour_start"),
        _period_start(DAY_MS).alias("day_start"),
        "service",
        "log_group",
        "format",
        "error",
        "status",
        "latency_ms",
        "bytes",
        "billed_ms",
        "memory_size_mb",
        "memory_used_mb",
        "init_ms",
        F.when(F.col("error"), F.col("event_id")).alias("event_id"),
        F.when(F.col("error"), F.col("message")).alias("message"),
        INPUT_FILE_COLUMN,
        _usable(raw).alias(USABLE_COLUMN),
    )


def usable_rows(prepared: DataFrame) -> DataFrame:
    """The usable events of a `for_aggregation` frame."""
    return prepared.filter(F.col(USABLE_COLUMN)).drop(USABLE_COLUMN, INPUT_FILE_COLUMN)


def hours_by_file(prepared: DataFrame) -> DataFrame:
    """(input_file, hour_start, events): the usable events of each file of a `for_aggregation` frame, by hour."""
    usable = prepared.filter(F.col(USABLE_COLUMN))
    return usable.groupBy(INPUT_FILE_COLUMN, "hour_start").agg(F.count(F.lit(1)).alias("events"))


def in_hours(events: DataFrame, hour_starts: Sequence[int]) -> DataFrame:
    """Events whose UTC hour (epoch ms of its start) is one of ``hour_starts``."""
    return events.filter(F.col("hour_start").isin(list(hour_starts)))


def unusable_rows_by_file(prepared: DataFrame) -> DataFrame:
    """(input_file, rows) of a `for_aggregation` frame's lines that did not parse or lack a key field."""
    unusable = prepared.filter(~F.col(USABLE_COLUMN))
    return unusable.groupBy(INPUT_FILE_COLUMN).agg(F.count(F.lit(1)).alias("rows"))


def _latency_columns() -> list[Column]:
    quantiles = F.percentile("latency_ms", list(PERCENTILES))
    return [
        F.count("latency_ms").alias("latency_count"),
        quantiles.getItem(0).alias("latency_p50_ms"),
        quantiles.getItem(1).alias("latency_p95_ms"),
        quantiles.getItem(2).alias("latency_p99_ms"),
        F.max("latency_ms").alias("latency_max_ms"),
    ]


ROLLUP_COLUMNS: Final = (
    "schema_version",
    "service",
    "log_group",
    "period_start",
    "period_end",
    "events",
    "errors",
    "error_rate",
    "latency_count",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "bytes",
    "granularity",
    "dt",
)


def rollups(events: DataFrame, granularity: str) -> DataFrame:
    """Hourly or daily roll-ups per service and log group, in the Parquet table's column order
    (``granularity`` and ``dt`` last: they are its partition keys)."""
    size_ms = {"hour": HOUR_MS, "day": DAY_MS}[granularity]
    start_column = {"hour": "hour_start", "day": "day_start"}[granularity]
    grouped = events.groupBy(F.col(start_column).alias("start_ms"), "service", "log_group").agg(
        F.count(F.lit(1)).alias("events"),
        F.sum(F.col("error").cast("long")).alias("errors"),
        *_latency_columns(),
        F.coalesce(F.sum("bytes"), F.lit(0)).cast("long").alias("bytes"),
    )
    return grouped.select(
        F.lit(ROLLUP_SCHEMA_VERSION).alias("schema_version"),
        "service",
        "log_group",
        F.timestamp_millis("start_ms").alias("period_start"),
        F.timestamp_millis(F.col("start_ms") + F.lit(size_ms)).alias("period_end"),
        "events",
        "errors",
        (F.col("errors") / F.col("events")).alias("error_rate"),
        *(F.col(name) for name in ROLLUP_COLUMNS[8:13]),
        "bytes",
        F.lit(granularity).alias("granularity"),
        _day_string(F.col("start_ms")).alias("dt"),
    )


def minute_counts(events: DataFrame) -> DataFrame:
    """Events and errors per minute (``minute_start``, epoch ms), service and log group: what the realtime job's
    60 s windows count."""
    minute = (F.col("timestamp") - F.col("timestamp") % F.lit(MINUTE_MS)).alias("minute_start")
    return events.groupBy(minute, "service", "log_group").agg(
        F.count(F.lit(1)).alias("events"), F.sum(F.col("error").cast("long")).alias("errors")
    )


def signature_column(message: Column) -> Column:
    """`normalise_message` in Spark SQL: the same `SIGNATURE_RULES` strings through ``regexp_replace``.
    Equal to it only on messages of `PORTABLE_CHARACTERS` (see `opsanalytics.logevents.signatures`)."""
    text = F.regexp_replace(F.coalesce(message, F.lit("")), r"\A\s+|\s+\z", "")  # str.strip()
    text = F.substring_index(text, "\n", 1)
    for pattern, placeholder in SIGNATURE_RULES:
        text = F.regexp_replace(text, pattern, placeholder)
    # after the collapse the only whitespace left is " ", which is all F.trim removes
    text = F.trim(F.regexp_replace(text, *WHITESPACE_RULE))
    return F.substring(text, 1, MAX_SIGNATURE_CHARS)


def signature_id_column(signature: Column) -> Column:
    """`opsanalytics.logevents.signatures.signature_id`: SHA-256 of the UTF-8 text, the first hex digits."""
    return F.substring(F.sha2(signature, 256), 1, SIGNATURE_ID_CHARS)


def with_signatures(errors: DataFrame) -> DataFrame:
    """Adds ``signature`` (`normalise_message` of ``message``): in Spark SQL for portable messages, through
    a Python UDF for the others. Runs a small job to learn whether there are others: Python workers start
    only then."""
    portable = ~F.coalesce(F.col("message"), F.lit("")).rlike(f"[^{PORTABLE_CHARACTERS}]")
    signed = errors.filter(portable).withColumn("signature", signature_column(F.col("message")))
    others = errors.filter(~portable)
    if others.isEmpty():
        return signed
    python_signature = F.udf(normalise_message, T.StringType())
    return signed.unionByName(others.withColumn("signature", python_signature(F.col("message"))))


def error_signatures(events: DataFrame, top: int) -> DataFrame:
    """The ``top`` error signatures of each day: count, first and last seen, the first message as the
    example, the services and log groups affected. The signature is `normalise_message` (see
    `with_signatures`)."""
    errors = events.filter(F.col("error")).select(
        "day_start", "timestamp", "event_id", "service", "log_group", "message"
    )
    grouped = (
        with_signatures(errors)
        .groupBy("day_start", "signature")
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.min("timestamp").alias("first_seen_ms"),
            F.max("timestamp").alias("last_seen_ms"),
            F.min(F.struct("timestamp", "event_id", "message")).getField("message").alias("example"),
            F.sort_array(F.collect_set("service")).alias("services"),
            F.sort_array(F.collect_set("log_group")).alias("log_groups"),
        )
    )
    rank = F.row_number().over(Window.partitionBy("day_start").orderBy(F.desc("count"), F.asc("signature")))
    ranked = grouped.withColumn("rank", rank).filter(F.col("rank") <= top)
    return _with_dt(ranked.withColumn("signature_id", signature_id_column(F.col("signature"))), "day_start")


def slo_counts(events: DataFrame, thresholds_ms: Mapping[str, float], default_threshold_ms: float) -> DataFrame:
    """Per service and day: requests (events with an HTTP status), failed ones, ones with a latency and
    ones within the service's latency threshold. The ratios are computed by `opsanalytics.batch.slo`."""
    threshold: Column = F.lit(float(default_threshold_ms))
    for service, value in sorted(thresholds_ms.items()):
        threshold = F.when(F.col("service") == F.lit(service), F.lit(float(value))).otherwise(threshold)
    requests = events.filter(F.col("status").isNotNull())
    timed = F.col("latency_ms").isNotNull()
    counts = requests.groupBy("day_start", "service").agg(
        F.count(F.lit(1)).alias("requests"),
        F.sum(F.col("error").cast("long")).alias("failed"),
        F.sum(timed.cast("long")).alias("timed"),
        F.sum((timed & (F.col("latency_ms") <= threshold)).cast("long")).alias("fast"),
    )
    return _with_dt(counts, "day_start")


def lambda_efficiency(events: DataFrame) -> DataFrame:
    """Per function (service), log group, memory size and day, from Lambda REPORT lines."""
    reports = events.filter(F.col("format") == F.lit("lambda_report"))
    quantiles = F.percentile("latency_ms", [0.5, 0.95])
    grouped = reports.groupBy("day_start", "service", "log_group", "memory_size_mb").agg(
        F.count(F.lit(1)).alias("invocations"),
        F.sum(F.col("error").cast("long")).alias("errors"),
        F.count("init_ms").alias("cold_starts"),
        F.avg("latency_ms").alias("avg_duration_ms"),
        quantiles.getItem(0).alias("p50_duration_ms"),
        quantiles.getItem(1).alias("p95_duration_ms"),
        F.avg("billed_ms").alias("avg_billed_ms"),
        F.sum("billed_ms").alias("total_billed_ms"),
        F.sum("latency_ms").alias("total_duration_ms"),
        F.avg("memory_used_mb").alias("avg_memory_used_mb"),
        F.max("memory_used_mb").alias("max_memory_used_mb"),
    )
    return _with_dt(
        grouped.select(
            "*",
            (F.col("max_memory_used_mb") / F.col("memory_size_mb")).alias("memory_utilisation"),
            (F.col("total_billed_ms") / F.lit(1000.0) * F.col("memory_size_mb") / F.lit(1024.0)).alias(
                "billed_gb_seconds"
            ),
        ),
        "day_start",
    )


__all__ = [
    "CORRUPT_COLUMN",
    "INPUT_FILE_COLUMN",
    "LOG_EVENT_SCHEMA_VERSION",
    "error_signatures",
    "for_aggregation",
    "hours_by_file",
    "in_days",
    "in_hours",
    "lambda_efficiency",
    "log_event_schema",
    "minute_counts",
    "rollups",
    "signature_column",
    "signature_id_column",
    "slo_counts",
    "unusable_rows_by_file",
    "usable_rows",
    "valid_events",
    "with_periods",
    "with_signatures",
]
