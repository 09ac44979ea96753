"""PyFlink wiring of the realtime metrics job: a Python UDTF decodes and parses records with the shared core,
everything else (watermarks, windows, counts, sinks) runs in Flink's Java operators.

Job graph: source (Kinesis or local files, raw records) → ``decode_log_records`` UDTF (events summed per
record, service and window) → DataStream round trip to declare the event-time watermark on the UDTF output →
``classified`` (on time | late, decided once) →
- on time: TUMBLE windows per service by log group → ``latency_summary`` UDF (one call per window) →
  `MetricWindow` JSON;
- late (streaming only): running count per window → `LateEvents` JSON, and a warning in the job log;
- rejected records (control messages, malformed payloads): counted in Flink metrics and logged; locally
  also written as ``rejected/`` JSON lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyflink.common import Configuration
from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment
from pyflink.table import (
    DataTypes,
    Schema,
    StatementSet,
    StreamTableEnvironment,
    TableFunction,
)
from pyflink.table.udf import FunctionContext, udf, udtf

from opsanalytics.realtime.job import (
    DECODED_COLUMNS,
    LATE_COLUMNS,
    REJECTED,
    REJECTED_COLUMNS,
    WINDOW_COLUMNS,
    DecodedRow,
    RealtimeSettings,
    RecordDecoder,
    classified_query_sql,
    describe,
    late_insert_sql,
    rejected_insert_sql,
    sink_ddl,
    source_ddl,
    windows_insert_sql,
)
from opsanalytics.realtime.windows import latency_percentiles

logger = logging.getLogger(__name__)

JOB_NAME = "opsanalytics-realtime-metrics"
_SQL_TYPES = {
    "STRING": DataTypes.STRING(),
    "BIGINT": DataTypes.BIGINT(),
    "ARRAY<DOUBLE>": DataTypes.ARRAY(DataTypes.DOUBLE()),
}


class DecodeLogRecords(TableFunction):  # type: ignore[misc]
    """The UDTF: one logs-stream record in, its log events (or one rejected row) out."""

    def __init__(self, window_seconds: int) -> None:
        self._window_seconds = window_seconds

    def open(self, function_context: FunctionContext) -> None:
        self._decoder = RecordDecoder(self._window_seconds)
        self._metrics = function_context.get_metric_group()
        self._records = self._metrics.counter("logRecords")
        self._events = self._metrics.counter("logEvents")
        self._rejected: dict[str, Any] = {}

    def eval(self, data: str | bytes) -> Iterable[DecodedRow]:
        rows = self._decoder.decode(data)
        self._records.inc()
        first = rows[0]
        if first[0] == REJECTED:
            reason = first[7] or "unknown"
            counter = self._rejected.get(reason)
            if counter is None:
                counter = self._rejected[reason] = self._metrics.add_group("reason", reason).counter("rejectedRecords")
            counter.inc()
        else:
            self._events.inc(sum(row[4] for row in rows))
        return rows


def decode_log_records(window_seconds: int) -> Any:
    return udtf(
        DecodeLogRecords(window_seconds),
        result_types=[_SQL_TYPES[sql_type] for _, sql_type in DECODED_COLUMNS],
    )


# Not deterministic for the planner's sake only: it then computes the array once per window instead of once
# per element read from it.
@udf(result_type=DataTypes.ARRAY(DataTypes.DOUBLE()), deterministic=False)  # type: ignore[untyped-decorator]
def latency_summary(chunks: list[list[float] | None] | None) -> list[float] | None:
    """[p50, p95, p99, max] of a window's latencies (the per-record arrays ARRAY_AGG collected)."""
    values = [value for chunk in chunks or () for value in chunk or ()]
    percentiles = latency_percentiles(values)
    return None if percentiles is None else [*percentiles, max(values)]


@udf(result_type=DataTypes.BIGINT(), deterministic=False)  # type: ignore[untyped-decorator]
def log_late_events(service: str, log_group: str, window_start: str, late: int, total: int) -> int:
    """Write a late-event report to the job log (CloudWatch Logs in Managed Flink); returns `total`."""
    logger.warning(
        "late log events: their window was already emitted",
        extra={
            "service": service,
            "log_group": log_group,
            "window_start": window_start,
            "late_events": late,
            "late_events_total": total,
        },
    )
    return total


def create_environment(settings: RealtimeSettings, *, configuration: dict[str, str] | None = None) -> tuple[Any, Any]:
    """The execution and table environments for `settings` (runtime mode, parallelism, checkpoints).

    `configuration` is Flink configuration for the environment; a local run passes ``python.executable``
    (the interpreter with the project installed) so that the Python workers can import it."""
    config = Configuration()
    if isinstance(settings.source, Path):
        # A bounded local run fails fast instead of restarting forever (the default once checkpoints are on).
        config.set_string("restart-strategy.type", "none")
    for key, value in (configuration or {}).items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    if settings.runtime_mode == "batch":
        env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    else:
        env.set_runtime_mode(RuntimeExecutionMode.STREAMING)
        if isinstance(settings.sink, Path):
            # The file sink commits on checkpoints; the final checkpoint at the end of a bounded input
            # commits the rest. In AWS, Managed Flink's own checkpoint configuration applies.
            env.enable_checkpointing(2000)
    if settings.parallelism:
        env.set_parallelism(settings.parallelism)
    t_env = StreamTableEnvironment.create(env)
    table_config = t_env.get_config()
    table_config.set("table.local-time-zone", "UTC")
    table_config.set("pipeline.name", JOB_NAME)
    table_config.set("table.exec.source.idle-timeout", f"{settings.idle_timeout_seconds * 1000} ms")
    return env, t_env


def build_statements(t_env: Any, settings: RealtimeSettings) -> StatementSet:
    """Register functions, sources, views and sinks; return the INSERTs as one statement set (one job)."""
    logger.info("realtime job settings", extra=describe(settings))
    t_env.create_temporary_function("decode_log_records", decode_log_records(settings.window_seconds))
    t_env.create_temporary_function("latency_summary", latency_summary)
    t_env.create_temporary_function("log_late_events", log_late_events)
    t_env.execute_sql(source_ddl(settings, "logs_records"))
    columns = ", ".join(name for name, _ in DECODED_COLUMNS)
    decoded = t_env.sql_query(  # the job's own column names only
        f"SELECT {columns} FROM logs_records, LATERAL TABLE(decode_log_records(`data`)) AS d({columns})"  # noqa: S608
    )
    if settings.runtime_mode == "batch":
        # No watermarks in batch mode: nothing is late, every event is in its window.
        t_env.create_temporary_view("decoded", decoded)
        t_env.create_temporary_view(
            "classified", t_env.sql_query(classified_query_sql(settings, "decoded", rowtime=True))
        )
    else:
        # SQL cannot declare a watermark on a UDTF's output: round-trip through a DataStream and declare it
        # there.
        schema = (
            Schema.new_builder()
            .column_by_expression("rowtime", "TO_TIMESTAMP_LTZ(ts_ms, 3)")
            .watermark("rowtime", f"rowtime - INTERVAL '{settings.out_of_orderness_seconds}' SECOND")
            .build()
        )
        t_env.create_temporary_view("decoded", t_env.from_data_stream(t_env.to_data_stream(decoded), schema))
        # A second round trip fixes the on-time/late decision in one operator: left to itself, the planner
        # gives each branch its own watermark assigner, whose periodic watermarks could disagree.
        classified = t_env.to_data_stream(t_env.sql_query(classified_query_sql(settings, "decoded", rowtime=True)))
        passthrough = (
            Schema.new_builder()
            .column_by_expression("proctime", "PROCTIME()")
            .watermark("rowtime", "SOURCE_WATERMARK()")
            .build()
        )
        t_env.create_temporary_view("classified", t_env.from_data_stream(classified, passthrough))
    t_env.create_temporary_view("on_time", t_env.sql_query("SELECT * FROM classified WHERE NOT is_late"))

    t_env.execute_sql(sink_ddl(settings, "metric_windows", "windows", WINDOW_COLUMNS))
    statements = t_env.create_statement_set()
    statements.add_insert_sql(windows_insert_sql(settings, "metric_windows"))
    if settings.runtime_mode == "streaming":
        # In batch mode every event is in its window: nothing is late by construction.
        t_env.execute_sql(sink_ddl(settings, "late_events", "late", LATE_COLUMNS))
        statements.add_insert_sql(late_insert_sql(settings, "late_events"))
    if isinstance(settings.sink, Path):
        # In AWS rejected records are logged and counted (Flink metric rejectedRecords, by reason), and the
        # metrics stream carries metrics only.
        t_env.execute_sql(sink_ddl(settings, "rejected_records", "rejected", REJECTED_COLUMNS))
        statements.add_insert_sql(rejected_insert_sql("rejected_records", "decoded"))
    return statements
