"""PyFlink wiring of the realtime metrics job: a Python UDTF decodes and parses records with the shared core, a
keyed Python function keeps the windows (`opsanalytics.realtime.revisions`), Flink does the rest (watermarks,
state, timers, checkpoints, sinks).

Job graph: source (Kinesis or local files, raw records) → ``decode_log_records`` UDTF (events summed per record,
service and window) → DataStream round trip to declare the event-time watermark on the UDTF output → keyed by
window (owner, service, log group, start) → `WindowRevisions`: each window emitted when the watermark passes its
end and again, with the next revision, when later events change it → `MetricWindow` JSON on the metrics stream.
Rejected records (control messages, malformed payloads) are counted in Flink metrics and logged; locally also
written as ``rejected/`` JSON lines.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pyflink.common import Configuration, Duration, Row, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeExecutionMode, StreamExecutionEnvironment
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import (
    DataTypes,
    StatementSet,
    StreamTableEnvironment,
    TableFunction,
)
from pyflink.table.udf import FunctionContext, udtf

from opsanalytics.logevents.rules import NO_RULES, RuleFileError, parse_rule_file
from opsanalytics.realtime.declared import (
    NO_METRICS,
    MetricDefinition,
    MetricsConfig,
    add_metric_row,
    metric_on_timer,
    parse_metrics_file,
    read_metrics,
)
from opsanalytics.realtime.declared import WindowKey as DeclaredKey
from opsanalytics.realtime.job import (
    DECLARED_COLUMNS,
    DECODED_COLUMNS,
    EVENT,
    METRIC,
    REJECTED,
    REJECTED_COLUMNS,
    WINDOW_COLUMNS,
    DecodedRow,
    RealtimeSettings,
    RecordDecoder,
    WindowDetail,
    describe,
    rejected_insert_sql,
    sink_ddl,
    source_ddl,
)
from opsanalytics.realtime.revisions import WindowState, WindowTiming, add_row, on_timer
from opsanalytics.timestamps import iso_utc

logger = logging.getLogger(__name__)

JOB_NAME = "opsanalytics-realtime-metrics"
METRIC_WINDOW_MARK = ":"
"""Starts the log group part of a declared metric window's key (then its size in seconds): no log group name has
a colon."""
_SQL_TYPES = {
    "STRING": DataTypes.STRING(),
    "BIGINT": DataTypes.BIGINT(),
    "ARRAY<DOUBLE>": DataTypes.ARRAY(DataTypes.DOUBLE()),
    "BYTES": DataTypes.BYTES(),
}
# the window documents' columns as DataStream types (the keyed function's output)
_STREAM_TYPES = {
    "INT": Types.INT(),
    "STRING": Types.STRING(),
    "BIGINT": Types.LONG(),
    "DOUBLE": Types.DOUBLE(),
    "ARRAY<ROW<`signature` STRING, `count` BIGINT>>": Types.OBJECT_ARRAY(
        Types.ROW_NAMED(["signature", "count"], [Types.STRING(), Types.LONG()])
    ),
    "ARRAY<STRING>": Types.OBJECT_ARRAY(Types.STRING()),
    "MAP<STRING, STRING>": Types.MAP(Types.STRING(), Types.STRING()),
}
WINDOW_ROW = Types.ROW_NAMED([name for name, _ in WINDOW_COLUMNS], [_STREAM_TYPES[kind] for _, kind in WINDOW_COLUMNS])
DECLARED_METRICS = OutputTag(
    "declared-metrics",
    Types.ROW_NAMED([name for name, _ in DECLARED_COLUMNS], [_STREAM_TYPES[kind] for _, kind in DECLARED_COLUMNS]),
)
"""Side output: the declared metrics' documents (`opsanalytics.realtime.declared`), beside the windows."""
FIRST_EMISSION_COLUMNS = (
    ("window_start", "STRING"),
    ("service", "STRING"),
    ("log_group", "STRING"),
    ("delay_ms", "BIGINT"),
)
FIRST_EMISSIONS = OutputTag(
    "first-emissions",
    Types.ROW_NAMED([n for n, _ in FIRST_EMISSION_COLUMNS], [_STREAM_TYPES[k] for _, k in FIRST_EMISSION_COLUMNS]),
)
"""Side output: per window, when it was first emitted in the replay's arrival time, less its end (a local
streaming replay writes them to ``first-emissions/``)."""
# (owner, service, log group, window start): the key of a window; (owner, metric id, "", window start) of a
# declared metric's window
WINDOW_KEY = Types.TUPLE([Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG()])


class DecodeLogRecords(TableFunction):  # type: ignore[misc]
    """The UDTF: one logs-stream record in, its log events (or one rejected row) out."""

    def __init__(
        self,
        window_seconds: int,
        replay_speed: float = 0.0,
        rules: tuple[str, str] | None = None,
        metrics: tuple[str, str] | None = None,
    ) -> None:
        self._window_seconds = window_seconds
        self._replay_speed = replay_speed
        self._rules = rules  # (text, source): the workers parse the files the client has checked
        self._declared = metrics

    def open(self, function_context: FunctionContext) -> None:
        rules = parse_rule_file(*self._rules) if self._rules else NO_RULES
        metrics = parse_metrics_file(*self._declared) if self._declared else NO_METRICS
        self._decoder = RecordDecoder(self._window_seconds, self._replay_speed, rules, metrics)
        self._metrics = function_context.get_metric_group()
        self._records = self._metrics.counter("logRecords")
        self._events = self._metrics.counter("logEvents")
        self._rejected: dict[str, Any] = {}
        self._rule_misses = self._metrics.counter("parserRuleMisses")
        self._masked = self._metrics.counter("valuesMasked")
        # events a declared metric's conditions matched whose field held no number (per metric: check-config)
        self._not_numeric = self._metrics.counter("metricValuesNotNumeric")
        self._seen = (0, 0, 0)

    def eval(self, data: str | bytes) -> Iterable[DecodedRow]:
        rows = self._decoder.decode(data)
        self._records.inc()
        stats = self._decoder.rules.stats
        seen = (stats.missed.total(), stats.masked, self._decoder.metrics.stats.not_numeric.total())
        if seen != self._seen:
            self._rule_misses.inc(seen[0] - self._seen[0])
            self._masked.inc(seen[1] - self._seen[1])
            self._not_numeric.inc(seen[2] - self._seen[2])
            self._seen = seen
        first = rows[0]
        if first[0] == REJECTED:
            reason = first[9] or "unknown"
            counter = self._rejected.get(reason)
            if counter is None:
                counter = self._rejected[reason] = self._metrics.add_group("reason", reason).counter("rejectedRecords")
            counter.inc()
        else:
            self._events.inc(sum(row[6] for row in rows if row[0] == EVENT))
        return rows


def checked_rules(settings: RealtimeSettings) -> tuple[str, str] | None:
    """The rule file's text and name, parsed once here so that a bad file stops the job before it starts, with
    `RuleFileError` naming each mistake."""
    if settings.parser_rules is None:
        return None
    location = str(settings.parser_rules)
    try:
        text = settings.parser_rules.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(location, [f"cannot read the rule file: {exc.strerror or exc}"]) from None
    parse_rule_file(text, location)
    return text, location


def checked_metrics(settings: RealtimeSettings) -> tuple[tuple[str, str] | None, MetricsConfig]:
    """The metrics file's text and name, and its definitions; a bad file stops the job before it starts, with
    `MetricsFileError` naming each mistake."""
    if settings.metrics is None:
        return None, NO_METRICS
    location = str(settings.metrics)
    text, config = read_metrics(location)
    return (text, location), config


def decode_log_records(
    window_seconds: int,
    replay_speed: float = 0.0,
    rules: tuple[str, str] | None = None,
    metrics: tuple[str, str] | None = None,
) -> Any:
    return udtf(
        DecodeLogRecords(window_seconds, replay_speed, rules, metrics),
        result_types=[_SQL_TYPES[sql_type] for _, sql_type in DECODED_COLUMNS],
    )


class EventTime(TimestampAssigner):  # type: ignore[misc]
    """A decoded row's event time: the newest event of its record and window (``ts_ms``)."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return int(value[4])


class RevisionKey:
    """The key of a decoded row's window: (owner, service, log group, start) for a row of events; (owner, metric,
    ":<window seconds>", start) for a declared metric's row, with the metric's own window size. The size is in the
    key (no log group name has a colon), so a window open when an edit changes it finishes with its own."""

    def __init__(self, window_ms: int, metric_windows: dict[str, int]) -> None:
        self._window_ms = window_ms
        self._metric_windows = metric_windows

    def __call__(self, row: Any) -> tuple[str, str, str, int]:
        kind, owner, service, log_group, ts_ms = row[0], row[1], row[2], row[3], row[4]
        if kind == EVENT:
            return (owner, service, log_group, ts_ms - ts_ms % self._window_ms)
        size = self._metric_windows.get(service, self._window_ms)
        return (owner, service, f"{METRIC_WINDOW_MARK}{size // 1000}", ts_ms - ts_ms % size)


class WindowRevisions(KeyedProcessFunction):  # type: ignore[misc]
    """One window per key: its `WindowState` (or a declared metric's `DeclaredWindowState`) in value state, and its
    timers; the rules are `opsanalytics.realtime.revisions`. Declared metrics' documents go to the side output
    `DECLARED_METRICS`."""

    def __init__(
        self, timing: WindowTiming, *, replay_speed: float = 0.0, metrics: tuple[str, str] | None = None
    ) -> None:
        self._timing = timing
        self._replay_speed = replay_speed
        self._replay_origin = math.inf
        self._declared = metrics

    def open(self, runtime_context: Any) -> None:
        self._state = runtime_context.get_state(ValueStateDescriptor("window", Types.PICKLED_BYTE_ARRAY()))
        metrics = runtime_context.get_metrics_group()
        self._revisions = metrics.counter("windowRevisions")
        self._late = metrics.counter("lateEvents")
        self._too_late = metrics.counter("eventsTooLate")
        self._metric_documents = metrics.counter("declaredMetricDocuments")
        self._metric_rows_too_late = metrics.counter("declaredMetricRowsTooLate")
        config = parse_metrics_file(*self._declared) if self._declared else NO_METRICS
        timing = self._timing
        self._metrics = {
            metric.id: (
                metric,
                WindowTiming(metric.window_seconds, timing.allowed_lateness_seconds, timing.late_retention_seconds),
            )
            for metric in config.metrics
        }

    def _metric(self, metric_id: str, size_mark: str) -> tuple[MetricDefinition, WindowTiming] | None:
        """The metric's definition and timing for a window of the size its key carries (its current size, or the
        size it had when the window opened, before an edit changed it); None once the metric left the file."""
        known = self._metrics.get(metric_id)
        if known is None:
            return None
        metric, timing = known
        seconds = int(size_mark[len(METRIC_WINDOW_MARK) :])
        if seconds == metric.window_seconds:
            return known
        metric = dataclasses.replace(metric, window_seconds=seconds)
        return metric, dataclasses.replace(timing, window_seconds=seconds)

    def _add_metric_row(self, metric_id: str, ts_ms: int, counted: int, detail: bytes, ctx: Any) -> None:
        known = self._metric(metric_id, ctx.get_current_key()[2])
        if known is None:  # a row decoded before the metric left the file
            return
        metric, timing = known
        start = timing.start(ts_ms)
        watermark = ctx.timer_service().current_watermark()
        state, update = add_metric_row(
            self._state.value(), timing, start, watermark, orjson.loads(detail), dimensions=metric.dimensions
        )
        if update.placement == "too-late":
            self._metric_rows_too_late.inc()
            return
        self._state.update(state)
        for timer in update.timers:
            ctx.timer_service().register_event_time_timer(timer)

    def _metric_timer(self, owner: str, metric_id: str, size_mark: str, start: int, timestamp: int) -> Iterable[Any]:
        known = self._metric(metric_id, size_mark)
        if known is None:  # the metric left the file: its windows go
            self._state.clear()
            return
        metric, timing = known
        state, documents = metric_on_timer(
            self._state.value(), metric, timing, DeclaredKey(owner, metric_id, start), timestamp
        )
        if state is None:
            self._state.clear()
        else:
            self._state.update(state)
        self._metric_documents.inc(len(documents))
        for document in documents:
            yield DECLARED_METRICS, Row(*(document[name] for name, _ in DECLARED_COLUMNS))  # type: ignore[literal-required]

    def process_element(self, row: Any, ctx: Any) -> Iterable[Any]:
        kind, owner, service, log_group, ts_ms, arrival, events, errors, detail_json = row
        if kind == METRIC:
            self._add_metric_row(service, ts_ms, events, detail_json, ctx)
            return
        if self._replay_speed:
            # The wall time at which the replay's arrival 0 was due, as well as this operator can tell: each row
            # reaches it after its arrival was due, so the earliest (wall time - arrival / speed) is the closest.
            self._replay_origin = min(self._replay_origin, time.time() * 1000 - arrival / self._replay_speed)
        timing = self._timing
        start = timing.start(ts_ms)
        watermark = ctx.timer_service().current_watermark()
        detail = WindowDetail.decode(detail_json)
        state, update = add_row(
            self._state.value(),
            timing,
            start,
            watermark,
            events=events,
            errors=errors,
            latencies=detail.latencies,
            signatures=detail.signatures,
            samples=detail.samples,
        )
        if update.placement == "too-late":
            self._too_late.inc(events)
            logger.warning(
                "log events too late to count in their window (the batch job counts them)",
                extra={
                    "owner": owner,
                    "service": service,
                    "log_group": log_group,
                    "window_start": iso_utc(start),
                    "events": events,
                },
            )
            return
        if update.placement == "late":
            self._late.inc(events)
        self._state.update(state)
        for timer in update.timers:
            ctx.timer_service().register_event_time_timer(timer)
        yield from ()

    def on_timer(self, timestamp: int, ctx: Any) -> Iterable[Any]:
        owner, service, log_group, start = ctx.get_current_key()
        if log_group.startswith(METRIC_WINDOW_MARK):
            yield from self._metric_timer(owner, service, log_group, start, timestamp)
            return
        state: WindowState | None = self._state.value()
        if state is None:
            return
        state, document = on_timer(state, self._timing, (owner, service, log_group, start), timestamp)
        if state is None:
            self._state.clear()
        else:
            self._state.update(state)
        if document is not None:
            self._revisions.inc()
            if self._replay_speed and document["revision"] == 1:
                # how long after the window's end it was first emitted, in the replay's arrival time (processing
                # time counts `replay_speed` times over): the alerts' delay
                now = (time.time() * 1000 - self._replay_origin) * self._replay_speed
                yield (
                    FIRST_EMISSIONS,
                    Row(iso_utc(start), service, log_group, int(now) - start - self._timing.window_ms),
                )
            yield Row(
                *(
                    [Row(signature=s["signature"], count=s["count"]) for s in document["error_signatures"]]
                    if name == "error_signatures"
                    else document[name]  # type: ignore[literal-required]
                    for name, _ in WINDOW_COLUMNS
                )
            )


def create_environment(settings: RealtimeSettings, *, configuration: dict[str, str] | None = None) -> tuple[Any, Any]:
    """The execution and table environments for `settings` (runtime mode, parallelism, checkpoints).

    `configuration` is Flink configuration for the environment; a local run passes ``python.executable``
    (the interpreter with the project installed) so that the Python workers can import it."""
    config = Configuration()
    if isinstance(settings.source, Path):
        # A bounded local run fails fast instead of restarting forever (the default once checkpoints are on).
        config.set_string("restart-strategy.type", "none")
    if settings.replay_speed > 0:
        # A paced replay: the Python operators hand each record on as soon as it is done, instead of in
        # bundles of up to a second, so that the watermark advances with the replay.
        config.set_string("python.fn-execution.bundle.size", "1")
        # and watermarks are generated every 50 ms (not 200) of wall time, which is seconds of a fast replay
        config.set_string("pipeline.auto-watermark-interval", "50 ms")
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
    declared, metrics = checked_metrics(settings)
    decoder = decode_log_records(settings.window_seconds, settings.replay_speed, checked_rules(settings), declared)
    t_env.create_temporary_function("decode_log_records", decoder)
    t_env.execute_sql(source_ddl(settings, "logs_records"))
    columns = ", ".join(name for name, _ in DECODED_COLUMNS)
    decoded = t_env.sql_query(  # the job's own column names only
        f"SELECT {columns} FROM logs_records, LATERAL TABLE(decode_log_records(`data`)) AS d({columns})"  # noqa: S608
    )
    t_env.create_temporary_view("decoded", decoded)
    timing = WindowTiming(settings.window_seconds, settings.allowed_lateness_seconds, settings.late_retention_seconds)
    size_ms = timing.window_ms
    # one stream for the windows and the declared metrics, whatever the metrics file declares: editing it changes
    # the rows, not the plan, so the job's state restores across the edit
    events = t_env.to_data_stream(
        t_env.sql_query(  # the job's own column names only
            "SELECT kind, owner, service, log_group, ts_ms, arrival_ms, events, errors, detail FROM decoded "  # noqa: S608
            f"WHERE kind <> '{REJECTED}'"
        )
    )
    if settings.runtime_mode == "streaming":
        # The watermark follows the newest event time each subtask has decoded, less the bound; a subtask without
        # records for the idle timeout (an idle shard) stops holding it back. In batch mode there is none: every
        # window is emitted once, when the input has been read.
        strategy = (
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(settings.out_of_orderness_seconds))
            .with_idleness(Duration.of_seconds(max(settings.idle_timeout_seconds, 1)))
            .with_timestamp_assigner(EventTime())
        )
        events = events.assign_timestamps_and_watermarks(strategy)
    # the delay of each window's first emission, measured on a local replay
    first_emissions = (
        isinstance(settings.sink, Path) and settings.runtime_mode == "streaming" and settings.replay_speed > 0
    )
    replay_speed = settings.replay_speed if first_emissions else 0.0
    metric_windows = {metric.id: metric.window_ms for metric in metrics.metrics}
    windows = events.key_by(RevisionKey(size_ms, metric_windows), key_type=WINDOW_KEY).process(
        WindowRevisions(timing, replay_speed=replay_speed, metrics=declared), output_type=WINDOW_ROW
    )

    t_env.execute_sql(sink_ddl(settings, "metric_windows", "windows", WINDOW_COLUMNS))
    t_env.execute_sql(sink_ddl(settings, "declared_metrics", "declared", DECLARED_COLUMNS))
    statements = t_env.create_statement_set()
    statements.add_insert("metric_windows", t_env.from_data_stream(windows))
    statements.add_insert("declared_metrics", t_env.from_data_stream(windows.get_side_output(DECLARED_METRICS)))
    if isinstance(settings.sink, Path):
        # In AWS rejected records are logged and counted (Flink metric rejectedRecords, by reason), and the
        # metrics stream carries metrics only.
        t_env.execute_sql(sink_ddl(settings, "rejected_records", "rejected", REJECTED_COLUMNS))
        statements.add_insert_sql(rejected_insert_sql("rejected_records", "decoded"))
        if first_emissions:
            t_env.execute_sql(sink_ddl(settings, "first_emissions", "first-emissions", FIRST_EMISSION_COLUMNS))
            statements.add_insert("first_emissions", t_env.from_data_stream(windows.get_side_output(FIRST_EMISSIONS)))
    return statements
