"""The realtime metrics job without the engine: settings, the record decoder and the SQL it runs.

The PyFlink wiring is `opsanalytics.realtime.flink`; this module stays importable without PyFlink, so the
settings, the decoder and the statements are unit-tested like the rest of the core.

Settings come from Managed Flink's property groups (``/etc/flink/application_properties.json`` in AWS, a
local copy of the same JSON otherwise):

- ``source``: ``stream.arn`` (Kinesis logs stream) or ``local.path`` (a local stream directory),
  ``aws.region``, ``init.position`` (LATEST | TRIM_HORIZON);
- ``sink``: ``stream.arn`` (Kinesis metrics stream, partition key = service) or ``local.path``
  (a directory that gets ``windows/``, ``late/`` and ``rejected/`` JSON-lines files);
- ``windows``: ``size.seconds`` (60), ``out.of.orderness.seconds`` (watermark delay),
  ``idle.timeout.seconds`` (a shard without records stops holding the watermark back),
  ``allowed.lateness.seconds`` (300: how long after its first emission a window is still corrected, events
  and percentiles alike), ``late.retention.seconds`` (86400: how long after that its ``late_events`` still count);
- ``job``: ``runtime.mode`` (auto | batch | streaming), ``parallelism`` (0 = Flink's default),
  ``kinesis.connector`` (auto | 5 | 4: which Kinesis connector build ``lib/pyflink-dependencies.jar`` holds).

Runtime mode: a local stream directory is bounded, and ``auto`` runs it in batch mode, where every window is
emitted once, when the input ends (exact, equal to `opsanalytics.realtime.windows.compute_windows`). A Kinesis
stream is unbounded and runs in streaming mode: each window is emitted when the watermark passes its end and
again, with the next revision, when later events change it (`opsanalytics.realtime.revisions`). ``streaming``
also runs locally, on a stream read in arrival order (`opsanalytics.realtime.local`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import orjson

from opsanalytics.logevents.cloudwatch import PayloadError, SubscriptionPayload, decode_subscription_payload
from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.parsing import LogEventParser
from opsanalytics.logevents.rules import NO_RULES, ParserConfig
from opsanalytics.logevents.signatures import normalise_message
from opsanalytics.realtime.declared import DECLARED_FIELDS, NO_METRICS, MetricsConfig
from opsanalytics.realtime.revisions import DEFAULT_ALLOWED_LATENESS_SECONDS, DEFAULT_LATE_RETENTION_SECONDS
from opsanalytics.realtime.windows import DEFAULT_WINDOW_SECONDS, MAX_SAMPLES, WINDOW_FIELDS, sample_text
from opsanalytics.streams import split_line

logger = logging.getLogger(__name__)

RUN_OPTIONS_GROUP: Final = "kinesis.analytics.flink.run.options"
MANAGED_FLINK_PROPERTIES: Final = Path("/etc/flink/application_properties.json")

RuntimeMode = Literal["batch", "streaming"]
ConnectorGeneration = Literal[4, 5]

EVENT: Final = "event"
METRIC: Final = "metric"
REJECTED: Final = "rejected"
MAX_REASON_DETAIL_CHARS: Final = 300

# (kind, owner, service, log_group, ts_ms, arrival_ms, events, errors, detail, reason): one per service and window
# of a record's events (ts_ms is the newest of them; arrival_ms when the record reached the stream: its stamp in a
# local stream, the time it was decoded otherwise), one per declared metric and window of them (kind ``metric``,
# the metric's id as ``service``, no log group, ``detail`` its groups' figures: `opsanalytics.realtime.declared`),
# or one per rejected record. ``detail`` is `WindowDetail` as JSON:
# only Python reads it, and bytes cross between Flink's Java and Python sides for the price of a copy, where
# nested SQL types would be converted value by value (and PyFlink 1.20 cannot hand them on to a DataStream).
DecodedRow = tuple[str, str, str, str, int, int, int, int, bytes, str | None]
DECODED_COLUMNS: Final = (
    ("kind", "STRING"),
    ("owner", "STRING"),
    ("service", "STRING"),
    ("log_group", "STRING"),
    ("ts_ms", "BIGINT"),
    ("arrival_ms", "BIGINT"),
    ("events", "BIGINT"),
    ("errors", "BIGINT"),
    ("detail", "BYTES"),
    ("reason", "STRING"),
)
NO_DETAIL: Final = b"[[],{},[]]"


class WindowDetail(NamedTuple):
    """What a decoded row carries beyond its counts: the latencies (ms), the error signatures with their
    counts, and the earliest error lines as [timestamp, text]."""

    latencies: list[float]
    signatures: dict[str, int]
    samples: list[tuple[int, str]]

    @classmethod
    def decode(cls, data: bytes) -> WindowDetail:
        latencies, signatures, samples = orjson.loads(data)
        return cls(latencies, signatures, [(ts, text) for ts, text in samples])


class RealtimeSettingsError(ValueError):
    """A property is missing or invalid; the message names the group and the key."""


@dataclass(frozen=True, slots=True)
class KinesisStream:
    arn: str
    region: str

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    source: KinesisStream | Path
    sink: KinesisStream | Path
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    out_of_orderness_seconds: int = 5
    idle_timeout_seconds: int = 30
    allowed_lateness_seconds: int = DEFAULT_ALLOWED_LATENESS_SECONDS
    late_retention_seconds: int = DEFAULT_LATE_RETENTION_SECONDS
    runtime_mode: RuntimeMode = "batch"
    parallelism: int = 0
    init_position: str = "LATEST"
    kinesis_connector: ConnectorGeneration = 5
    replay_speed: float = 0.0
    """A local source only: replay a stream stamped with arrival times at this many times real time (0: as
    fast as it can be read)."""
    parser_rules: Path | None = None
    """The declared parser and masking rules (``job.parser.rules``; `opsanalytics.logevents.rules`), applied
    as the Firehose transformer applies them."""
    metrics: Path | None = None
    """The declared metrics (``job.metrics``; `opsanalytics.realtime.declared`). Editing the file changes what
    the decoder emits, never the job's plan: the job restores its state across the edit."""

    @property
    def bounded(self) -> bool:
        return isinstance(self.source, Path)


def load_property_groups(path: Path) -> dict[str, dict[str, str]]:
    """Managed Flink's format: a list of {"PropertyGroupId": ..., "PropertyMap": {...}}."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RealtimeSettingsError(f"cannot read application properties {path}: {exc}") from exc
    if not isinstance(doc, list):
        raise RealtimeSettingsError(f"{path}: expected a list of property groups")
    groups: dict[str, dict[str, str]] = {}
    for group in doc:
        if not isinstance(group, dict) or not isinstance(group.get("PropertyGroupId"), str):
            raise RealtimeSettingsError(f"{path}: every entry needs a PropertyGroupId and a PropertyMap")
        groups[group["PropertyGroupId"]] = {str(k): str(v) for k, v in (group.get("PropertyMap") or {}).items()}
    return groups


def _int(groups: Mapping[str, Mapping[str, str]], group: str, key: str, default: int, minimum: int) -> int:
    raw = groups.get(group, {}).get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RealtimeSettingsError(f"{group}.{key} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise RealtimeSettingsError(f"{group}.{key} must be at least {minimum}, got {value}")
    return value


def _float(groups: Mapping[str, Mapping[str, str]], group: str, key: str, default: float) -> float:
    raw = groups.get(group, {}).get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RealtimeSettingsError(f"{group}.{key} must be a number, got {raw!r}") from None
    if value < 0:
        raise RealtimeSettingsError(f"{group}.{key} must be at least 0, got {value}")
    return value


def _endpoint(groups: Mapping[str, Mapping[str, str]], group: str, base: Path | None) -> KinesisStream | Path:
    props = groups.get(group, {})
    arn = props.get("stream.arn", "").strip()
    if arn:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "kinesis" or not parts[5].startswith("stream/"):
            raise RealtimeSettingsError(f"{group}.stream.arn is not a Kinesis stream ARN: {arn!r}")
        return KinesisStream(arn=arn, region=props.get("aws.region", "").strip() or parts[3])
    local = props.get("local.path", "").strip()
    if not local:
        raise RealtimeSettingsError(f"{group} needs stream.arn (Kinesis) or local.path (a local directory)")
    path = Path(local)
    return path if path.is_absolute() or base is None else base / path


def settings_from_properties(
    groups: Mapping[str, Mapping[str, str]], *, base: Path | None = None, connector_hint: int | None = None
) -> RealtimeSettings:
    """Typed settings from property groups. Relative local paths resolve against `base`;
    `connector_hint` is the Kinesis connector generation the packaged jar was built with."""
    source = _endpoint(groups, "source", base)
    sink = _endpoint(groups, "sink", base)
    job = groups.get("job", {})
    mode = job.get("runtime.mode", "auto").strip().lower() or "auto"
    if mode not in ("auto", "batch", "streaming"):
        raise RealtimeSettingsError(f"job.runtime.mode must be auto, batch or streaming, got {mode!r}")
    if mode == "batch" and not isinstance(source, Path):
        raise RealtimeSettingsError("job.runtime.mode batch needs a bounded source (source.local.path)")
    runtime_mode: RuntimeMode = "streaming" if mode == "streaming" or not isinstance(source, Path) else "batch"
    connector = job.get("kinesis.connector", "auto").strip() or "auto"
    if connector == "auto":
        generation = connector_hint if connector_hint is not None else 5
    elif connector in ("4", "5"):
        generation = int(connector)
    else:
        raise RealtimeSettingsError(f"job.kinesis.connector must be auto, 4 or 5, got {connector!r}")
    if generation not in (4, 5):
        raise RealtimeSettingsError(f"unknown Kinesis connector generation {generation}")
    position = groups.get("source", {}).get("init.position", "LATEST").strip().upper() or "LATEST"
    if position not in ("LATEST", "TRIM_HORIZON"):
        raise RealtimeSettingsError(f"source.init.position must be LATEST or TRIM_HORIZON, got {position!r}")
    return RealtimeSettings(
        source=source,
        sink=sink,
        window_seconds=_int(groups, "windows", "size.seconds", DEFAULT_WINDOW_SECONDS, 1),
        out_of_orderness_seconds=_int(groups, "windows", "out.of.orderness.seconds", 5, 0),
        idle_timeout_seconds=_int(groups, "windows", "idle.timeout.seconds", 30, 0),
        allowed_lateness_seconds=_int(
            groups, "windows", "allowed.lateness.seconds", DEFAULT_ALLOWED_LATENESS_SECONDS, 0
        ),
        late_retention_seconds=_int(groups, "windows", "late.retention.seconds", DEFAULT_LATE_RETENTION_SECONDS, 0),
        runtime_mode=runtime_mode,
        parallelism=_int(groups, "job", "parallelism", 0, 0),
        init_position=position,
        kinesis_connector=5 if generation == 5 else 4,
        replay_speed=_float(groups, "source", "local.replay.speed", 0.0) if isinstance(source, Path) else 0.0,
        parser_rules=_rules_path(job.get("parser.rules", "").strip(), base),
        metrics=_rules_path(job.get("metrics", "").strip(), base),
    )


def _rules_path(value: str, base: Path | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() or base is None else base / path


class RecordDecoder:
    """One logs-stream record → its events summed per service, log group and window, or one ``rejected``
    row naming why.

    Summing inside the record (a subscription payload holds one log group, usually one or two minutes)
    sends a few rows per record instead of one per event from Python to Flink's Java operators, which
    is where a PyFlink job spends its time. The latencies travel as values, so percentiles stay exact.
    Lateness is then decided per record and window: the events of one record that fall in one window are
    on time or late together.

    The same decoding and parsing as the Firehose transformer (`opsanalytics.transform.firehose.transform_record`):
    a record fails as a whole when any of its events is malformed, so the realtime counts and the S3
    ``events/`` archive agree. Control messages and empty payloads are ``rejected`` rows too, with their
    reason, so that they are counted. A rejected row carries the newest event time seen so far, which
    keeps it from moving the watermark.
    """

    def __init__(
        self,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        replay_speed: float = 0.0,
        rules: ParserConfig = NO_RULES,
        metrics: MetricsConfig = NO_METRICS,
    ) -> None:
        self.window_ms = window_seconds * 1000
        self.rules = rules
        self.metrics = metrics
        self.last_timestamp = 0
        self.rejected: dict[str, int] = {}
        self.replay_speed = replay_speed
        self._arrival = 0
        self._replay_origin: tuple[int, float] | None = None

    def _arrived(self, arrival: int | None) -> int:
        """The record's arrival time; with a replay speed, first wait until it is due (a local stream replayed
        at that many times real time, so that watermarks advance as the records come, as from Kinesis)."""
        if arrival is None:
            arrival = int(time.time() * 1000)
        elif self.replay_speed > 0:
            if self._replay_origin is None:
                self._replay_origin = (arrival, time.monotonic())
            first, started = self._replay_origin
            wait = started + (arrival - first) / 1000 / self.replay_speed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._arrival = max(self._arrival, arrival)
        return self._arrival

    def _reject(self, reason: str, detail: str) -> list[DecodedRow]:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        logger.warning("logs record rejected", extra={"reason": reason, "detail": detail[:MAX_REASON_DETAIL_CHARS]})
        return [(REJECTED, "", "", "", self.last_timestamp, self._arrival, 0, 0, NO_DETAIL, reason)]

    def log_events(self, payload: SubscriptionPayload) -> list[LogEvent]:
        """The payload's events, parsed as the Firehose transformer parses them (the same declared rules and
        masking): every field of a structured line is on its event, for the sums below to read."""
        return LogEventParser(payload.log_group, payload.log_stream, payload.owner, self.rules).parse_events(
            payload.log_events
        )

    def decode(self, data: str | bytes) -> list[DecodedRow]:
        """`data` is base64 text (a local stream file line, maybe stamped with its arrival: ``<ms> <base64>``)
        or the raw Kinesis record bytes."""
        stamp = None
        if isinstance(data, str):
            stamp, data = split_line(data)
        arrival = self._arrived(stamp)
        try:
            payload = decode_subscription_payload(data, base64_encoded=isinstance(data, str), validate_events=False)
            if payload.is_control:
                return self._reject("control-message", "CONTROL_MESSAGE")
            if not payload.log_events:
                return self._reject("no-log-events", f"{payload.log_group} {payload.log_stream}")
            events = self.log_events(payload)
            window_ms = self.window_ms
            # (service, window start) → [newest ts, events, errors, latencies, signatures, samples]
            groups: dict[tuple[str, int], list[Any]] = {}
            for event in events:
                ts = event["timestamp"]
                key = (event["service"], ts - ts % window_ms)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = [ts, 0, 0, [], {}, []]
                elif ts > group[0]:
                    group[0] = ts
                group[1] += 1
                if event["error"]:
                    group[2] += 1
                    message = event["message"]
                    signature = normalise_message(message)
                    group[4][signature] = group[4].get(signature, 0) + 1
                    group[5].append((ts, sample_text(message)))
                latency = event.get("latency_ms")
                if latency is not None:
                    group[3].append(float(latency))
            declared = self.metrics.contributions(events, payload.log_group) if self.metrics.metrics else {}
        except PayloadError as exc:
            return self._reject(exc.reason, str(exc))
        except Exception as exc:  # a parser bug must reject one record, not stop the job
            return self._reject("parse-error", f"{type(exc).__name__}: {exc}")
        log_group, owner = payload.log_group, payload.owner
        rows: list[DecodedRow] = []
        for (service, _), (newest, count, errors, latencies, signatures, samples) in groups.items():
            earliest = sorted(set(samples))[:MAX_SAMPLES] if samples else []
            rows.append(
                (
                    EVENT,
                    owner,
                    service,
                    log_group,
                    newest,
                    arrival,
                    count,
                    errors,
                    orjson.dumps((latencies, signatures, earliest)),
                    None,
                )
            )
        for (metric_id, _), (newest, by_group) in declared.items():
            counted = sum(figures[0] for figures in by_group.values())
            detail = orjson.dumps(list(by_group.items()))
            rows.append((METRIC, owner, metric_id, "", newest, arrival, counted, 0, detail, None))
        self.last_timestamp = max(self.last_timestamp, *(row[4] for row in rows))
        return rows


# --- SQL ---------------------------------------------------------------------------------------------

# the sinks' columns are the contract's fields (`opsanalytics.realtime.windows`)
WINDOW_COLUMNS: Final = WINDOW_FIELDS
DECLARED_COLUMNS: Final = DECLARED_FIELDS
REJECTED_COLUMNS: Final = (("schema_version", "INT"), ("record_type", "STRING"), ("reason", "STRING"))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _with(options: Mapping[str, str]) -> str:
    return ",\n  ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items())


def _columns(columns: tuple[tuple[str, str], ...]) -> str:
    return ",\n  ".join(f"`{name}` {sql_type}" for name, sql_type in columns)


def kinesis_options(
    stream: KinesisStream, generation: ConnectorGeneration, *, source: bool, position: str
) -> dict[str, str]:
    """Options of the ``kinesis`` table connector: 5.x (Flink 1.20, FLIP-27 source) names the stream by
    ARN; the 4.x connector by name, with other source option names."""
    options = {"connector": "kinesis", "aws.region": stream.region}
    if generation == 5:
        options["stream.arn"] = stream.arn
        if source:
            options["source.init.position"] = position
    else:
        options["stream"] = stream.name
        if source:
            options["scan.stream.initpos"] = position
    return options


def source_ddl(settings: RealtimeSettings, table: str = "logs_records") -> str:
    """One column per record: ``data`` is base64 text (local files) or the record's bytes (Kinesis)."""
    if isinstance(settings.source, Path):
        options = {"connector": "filesystem", "path": settings.source.resolve().as_uri(), "format": "raw"}
        column = "`data` STRING"
    else:
        options = kinesis_options(
            settings.source, settings.kinesis_connector, source=True, position=settings.init_position
        )
        options["format"] = "raw"
        column = "`data` BYTES"
    return f"CREATE TEMPORARY TABLE {table} (\n  {column}\n) WITH (\n  {_with(options)}\n)"


def sink_ddl(settings: RealtimeSettings, table: str, kind: str, columns: tuple[tuple[str, str], ...]) -> str:
    """A JSON sink: JSON-lines files under ``<sink>/<kind>/`` locally, the metrics stream in AWS (records
    partitioned by service, so one service's documents stay in order on one shard)."""
    if isinstance(settings.sink, Path):
        options = {
            "connector": "filesystem",
            "path": (settings.sink / kind).resolve().as_uri(),
            "format": "json",
        }
        partitioned = ""
    else:
        options = kinesis_options(settings.sink, settings.kinesis_connector, source=False, position="")
        options["format"] = "json"
        partitioned = "\nPARTITIONED BY (`service`)"
    body = _columns(columns)
    return f"CREATE TEMPORARY TABLE {table} (\n  {body}\n){partitioned} WITH (\n  {_with(options)}\n)"


def rejected_insert_sql(sink: str = "rejected_records", source: str = "decoded") -> str:
    return f"INSERT INTO {sink}\nSELECT 1, 'rejected_record', reason FROM {source} WHERE kind = '{REJECTED}'"


def describe(settings: RealtimeSettings) -> dict[str, Any]:
    """The settings as one structured log record."""
    return {
        "source": str(settings.source if isinstance(settings.source, Path) else settings.source.arn),
        "sink": str(settings.sink if isinstance(settings.sink, Path) else settings.sink.arn),
        "runtime_mode": settings.runtime_mode,
        "window_seconds": settings.window_seconds,
        "out_of_orderness_seconds": settings.out_of_orderness_seconds,
        "idle_timeout_seconds": settings.idle_timeout_seconds,
        "allowed_lateness_seconds": settings.allowed_lateness_seconds,
        "late_retention_seconds": settings.late_retention_seconds,
        "parallelism": settings.parallelism,
        "kinesis_connector": settings.kinesis_connector,
        "parser_rules": str(settings.parser_rules or ""),
        "metrics": str(settings.metrics or ""),
    }
