"""The batch plan follows event times: every event is counted in the roll-ups of its own hour and day, exactly,
across midnight, for history replayed into new records, for late files of a closed day, and for days that close
after their last input (Spark local mode, Parquet only)."""

from __future__ import annotations

import base64
import gzip
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from opsanalytics.batch.inputs import HOUR_MS, PlanStore, list_inputs
from opsanalytics.batch.job import BatchReport
from opsanalytics.batch.local import local_spark_session, run_local_batch
from opsanalytics.batch.reconcile import iter_archive_events
from opsanalytics.batch.settings import BatchSettings
from opsanalytics.local.samples import generate_sample_batches
from opsanalytics.logevents.cloudwatch import encode_subscription_payload
from opsanalytics.paths import project_root
from opsanalytics.storage import DirectoryStore
from opsanalytics.timestamps import iso_utc
from opsanalytics.transform.firehose import transform_record

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
DAY_1 = 1_769_817_600_000  # 2026-01-31T00:00:00Z
DAY_2, DAY_3, DAY_4 = DAY_1 + DAY_MS, DAY_1 + 2 * DAY_MS, DAY_1 + 3 * DAY_MS
SLO_CONFIG = project_root() / "config" / "slo.yaml"
LATER = datetime(2026, 6, 1, tzinfo=UTC)


class Archive:
    """A bucket directory that Firehose objects are added to, one object per partition and call."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = 0

    def add(self, records: list[tuple[dict[str, str], bytes]]) -> None:
        by_partition: dict[tuple[str, str], list[bytes]] = {}
        for keys, data in records:
            by_partition.setdefault((keys["dt"], keys["hour"]), []).append(data)
        for (dt, hour), parts in by_partition.items():
            folder = self.root / "events" / f"dt={dt}" / f"hour={hour}"
            folder.mkdir(parents=True, exist_ok=True)
            self.objects += 1
            (folder / f"opsanalytics-logs-{self.objects:04d}.gz").write_bytes(gzip.compress(b"".join(parts), mtime=0))

    def stored(self) -> tuple[Counter[str], Counter[int]]:
        """Events stored, by UTC day and by hour."""
        inventory = DirectoryStore(self.root)
        events = list(iter_archive_events(inventory, list_inputs(inventory, "events/")))
        days = Counter(iso_utc(e["timestamp"] - e["timestamp"] % DAY_MS)[:10] for e in events)
        hours = Counter(e["timestamp"] - e["timestamp"] % HOUR_MS for e in events)
        return days, hours


def traffic(seed: int, minutes: int, start_ms: int) -> list[tuple[dict[str, str], bytes]]:
    records = []
    for index, batch in enumerate(generate_sample_batches(minutes=minutes, start_ms=start_ms, seed=seed, scale=0.2)):
        outcome = transform_record(f"{seed}-{index}", base64.b64encode(batch.payload()))
        assert outcome.result == "Ok" and outcome.partition_keys is not None
        records.append((outcome.partition_keys, outcome.data))
    return records


def replayed_history_record() -> tuple[dict[str, str], bytes]:
    """One record of day 3 whose first line carries its own time of day 1: the record is partitioned in day 1's
    hour 12, and its day-3 events are stragglers there."""
    old = datetime.fromtimestamp((DAY_1 + 12 * HOUR_MS) / 1000, UTC).isoformat()
    lines = [orjson.dumps({"level": "INFO", "message": "replayed", "timestamp": old}).decode()]
    lines += [orjson.dumps({"level": "ERROR", "message": f"late {i}", "latency_ms": 10 + i}).decode() for i in range(7)]
    events = [
        {"id": f"{DAY_3 + 10 * HOUR_MS + i:020d}{i:036d}", "timestamp": DAY_3 + 10 * HOUR_MS + i, "message": line}
        for i, line in enumerate(lines)
    ]
    payload = encode_subscription_payload(log_group="/ecs/replayed", log_stream="s", log_events=events)
    outcome = transform_record("replayed", base64.b64encode(payload))
    assert outcome.partition_keys == {"dt": "2026-01-31", "hour": "12"}
    return outcome.partition_keys, outcome.data


def rollup_counts(spark: Any, root: Path) -> tuple[Counter[str], Counter[int]]:
    from pyspark.sql import functions as F

    rows = spark.read.parquet(str(root / "curated" / "rollups")).select(
        "granularity", "dt", "events", F.unix_millis("period_start").alias("start")
    )
    days: Counter[str] = Counter()
    hours: Counter[int] = Counter()
    for row in rows.collect():
        if row["granularity"] == "day":
            days[row["dt"]] += row["events"]
        else:
            hours[row["start"]] += row["events"]
    return days, hours


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session(app_name="opsanalytics-batch-planning", cores=2, shuffle_partitions=2)
    yield session
    session.stop()


def run_at(spark: Any, root: Path, now: datetime) -> BatchReport:
    settings = BatchSettings(bucket=str(root), sink="none", slo_config=SLO_CONFIG, now=now, close_delay_minutes=60)
    return run_local_batch(settings, spark=spark)


def assert_counted_in_own_hours_and_days(spark: Any, archive: Archive, *, open_days: set[str] = frozenset()) -> None:
    stored_days, stored_hours = archive.stored()
    days, hours = rollup_counts(spark, archive.root)
    assert hours == stored_hours
    assert days == Counter({day: count for day, count in stored_days.items() if day not in open_days})


def test_multi_day_replay_counts_every_event_in_its_own_day(spark: Any, tmp_path: Path) -> None:
    archive = Archive(tmp_path / "bucket")
    midnight = traffic(seed=1, minutes=20, start_ms=DAY_2 - 10 * 60_000)  # 23:50 to 00:10
    # a record delivered with the previous hour's keys (its earliest event was at 23:59): events of day 2 in
    # day 1's last partition
    first_of_day_2 = next(i for i, (keys, _) in enumerate(midnight) if keys["dt"] == "2026-02-01")
    midnight[first_of_day_2] = ({"dt": "2026-01-31", "hour": "23"}, midnight[first_of_day_2][1])
    archive.add(midnight)
    archive.add(traffic(seed=2, minutes=5, start_ms=DAY_3 + 10 * HOUR_MS))
    archive.add([replayed_history_record()])

    report = run_at(spark, archive.root, LATER)
    assert report.days == ["2026-01-31", "2026-02-01", "2026-02-02"]
    assert report.events == report.events_read == report.events_new == sum(archive.stored()[0].values())
    assert_counted_in_own_hours_and_days(spark, archive)
    stragglers = PlanStore(DirectoryStore(archive.root)).load().stragglers
    assert any(key.startswith("events/dt=2026-01-31/hour=12/") for key in stragglers)
    assert any(key.startswith("events/dt=2026-01-31/hour=23/") for key in stragglers)

    # a late file for a closed day: that day is finalized again, from all of its input
    archive.add(traffic(seed=3, minutes=2, start_ms=DAY_2 + 5 * 60_000))
    report = run_at(spark, archive.root, LATER)
    assert report.days == ["2026-02-01"]
    assert report.events_new < report.events  # the day is read again whole
    assert_counted_in_own_hours_and_days(spark, archive)

    # a late straggler into day 3's hour 10, through day 1's partition: day 3's hour is recomputed with it
    archive.add([replayed_history_record()])
    report = run_at(spark, archive.root, LATER)
    assert report.days == ["2026-01-31", "2026-02-02"]
    assert_counted_in_own_hours_and_days(spark, archive)


def test_a_day_is_finalized_once_it_closes(spark: Any, tmp_path: Path) -> None:
    archive = Archive(tmp_path / "bucket")
    archive.add(traffic(seed=4, minutes=3, start_ms=DAY_3 + 22 * HOUR_MS))
    report = run_at(spark, archive.root, datetime.fromtimestamp((DAY_3 + 23 * HOUR_MS) / 1000, UTC))
    assert (report.days, report.open_days) == ([], ["2026-02-02"])
    assert_counted_in_own_hours_and_days(spark, archive, open_days={"2026-02-02"})

    # the day closes an hour after its end: the next run finalizes it without new input
    report = run_at(spark, archive.root, datetime.fromtimestamp((DAY_4 + HOUR_MS + 60_000) / 1000, UTC))
    assert (report.files_new, report.days, report.open_days) == (0, ["2026-02-02"], [])
    assert_counted_in_own_hours_and_days(spark, archive)
    report = run_at(spark, archive.root, LATER)
    assert (report.days, report.hours) == ([], [])  # nothing new, nothing left to close
