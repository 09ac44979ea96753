"""Reconciliation of the batch and realtime paths: per-minute event and error counts must be equal.

The batch job reads the S3 archive with Spark; the realtime job windows the stream with Flink. Both see
events the one shared parser produced, so for any time range the batch per-minute counts per service and
log group equal `opsanalytics.realtime.windows.compute_windows` (60 s windows) over the same events. A difference
means one path dropped, duplicated or re-parsed events.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from opsanalytics.batch import transforms as tx
from opsanalytics.batch.inputs import find_corrupt_files
from opsanalytics.batch.job import configure, read_events
from opsanalytics.logevents.model import LogEvent
from opsanalytics.ports import ObjectStore, StoredObject
from opsanalytics.realtime.windows import compute_windows
from opsanalytics.timestamps import iso_utc

MinuteKey = tuple[str, str, str]  # (window_start ISO, service, log_group)
Counts = tuple[int, int]  # (events, errors)


@dataclass(frozen=True, slots=True)
class Mismatch:
    key: MinuteKey
    batch: Counts | None
    realtime: Counts | None


def iter_archive_events(inventory: ObjectStore, files: Sequence[StoredObject]) -> Iterator[LogEvent]:
    """Every well-formed event of ``files`` in pure Python, with the batch job's rules: an unreadable gzip
    object is skipped whole, an unparsable line or one without the key fields is skipped."""
    for item in files:
        with inventory.open(item) as stream:
            try:
                data = gzip.decompress(stream.read()) if item.compressed else stream.read()
            except (OSError, EOFError, zlib.error):
                continue
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                event: Any = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and all(event.get(name) is not None for name in tx.KEY_FIELDS):
                yield event  # type: ignore[misc]


def reference_minute_counts(events: Iterable[LogEvent], start_ms: int, end_ms: int) -> dict[MinuteKey, Counts]:
    """Counts of the realtime reference (`compute_windows`, 60 s) for windows starting in [start, end)."""
    return {
        (window["window_start"], window["service"], window["log_group"]): (window["events"], window["errors"])
        for window in compute_windows(event for event in events if start_ms <= event["timestamp"] < end_ms)
    }


def batch_minute_counts(
    spark: SparkSession, inventory: ObjectStore, files: Sequence[StoredObject], start_ms: int, end_ms: int
) -> dict[MinuteKey, Counts]:
    """The batch path's per-minute counts: the job's reader and transforms over the same objects."""
    configure(spark)
    wanted = [item for item in files if item.partition is not None]
    corrupt = {item.uri for item in find_corrupt_files(inventory, wanted)}
    raw = read_events(spark, [item.uri for item in wanted if item.uri not in corrupt])
    events = tx.valid_events(tx.with_periods(raw)).filter(
        (F.col("timestamp") >= F.lit(start_ms)) & (F.col("timestamp") < F.lit(end_ms))
    )
    return {
        (iso_utc(row["minute_start"]), row["service"], row["log_group"]): (row["events"], row["errors"])
        for row in tx.minute_counts(events).collect()
    }


def reconcile(batch: dict[MinuteKey, Counts], realtime: dict[MinuteKey, Counts]) -> list[Mismatch]:
    """Every minute whose counts differ between the two paths (missing on one side included)."""
    return [
        Mismatch(key, batch.get(key), realtime.get(key))
        for key in sorted(batch.keys() | realtime.keys())
        if batch.get(key) != realtime.get(key)
    ]
