"""A simulated day of hourly batch runs: events read per run against new events, beside what recomputing whole
days would read.

    python bench/bench_batch_hourly.py [--hours 26] [--scale 0.3] [--workdir .local/bench-batch-hourly]

Sample traffic from 00:00 of a day to ``--hours`` later goes through the real transformer core; each Firehose
record arrives 90 s after its earliest event, in 5-minute objects per dt=/hour= partition, as a delivery stream
with a 5-minute buffer would write them. The job runs at five past every hour (Spark local mode, Parquet only,
the state-file bookmark), on what has arrived by then. Printed per run: new events, events read, hours and days
recomputed; and in total, events read per new event, beside the baseline: the events of every day the new input
touches, which is what a job that recomputes whole days reads (the design before hourly planning).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import shutil
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson

from opsanalytics.batch.local import local_spark_session, run_local_batch
from opsanalytics.batch.settings import BatchSettings
from opsanalytics.local.samples import generate_sample_batches
from opsanalytics.transform.firehose import transform_record

DAY_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_MS, DAY_MS, MINUTE_MS = 3_600_000, 86_400_000, 60_000
ARRIVAL_LAG_MS = 90_000
OBJECT_MS = 5 * MINUTE_MS
RUN_OFFSET_MS = 5 * MINUTE_MS


def arrivals(hours: int, scale: float) -> dict[int, dict[tuple[str, str], list[bytes]]]:
    """Firehose objects by the end of the 5-minute window they arrive in: partition → record data."""
    objects: dict[int, dict[tuple[str, str], list[bytes]]] = defaultdict(lambda: defaultdict(list))
    batches = generate_sample_batches(minutes=hours * 60, start_ms=DAY_START_MS, seed=7, scale=scale)
    for index, batch in enumerate(batches):
        outcome = transform_record(f"r{index}", base64.b64encode(batch.payload()))
        if outcome.result != "Ok" or outcome.partition_keys is None:
            continue
        first = min(orjson.loads(line)["timestamp"] for line in outcome.data.splitlines())
        arrived = first + ARRIVAL_LAG_MS
        window_end = arrived - arrived % OBJECT_MS + OBJECT_MS
        objects[window_end][(outcome.partition_keys["dt"], outcome.partition_keys["hour"])].append(outcome.data)
    return objects


def event_days(data: list[bytes]) -> Counter[int]:
    return Counter(
        (event := orjson.loads(line))["timestamp"] - event["timestamp"] % DAY_MS
        for part in data
        for line in part.splitlines()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=26, help="hours of traffic (and of hourly runs)")
    parser.add_argument("--scale", type=float, default=0.3, help="sample traffic scale (1.0: ~250 events/min)")
    parser.add_argument("--workdir", type=Path, default=Path(".local/bench-batch-hourly"))
    args = parser.parse_args()

    bucket = args.workdir / "bucket"
    shutil.rmtree(args.workdir, ignore_errors=True)
    started = time.perf_counter()
    objects = arrivals(args.hours, args.scale)
    print(
        f"traffic: {args.hours} h, {sum(len(p) for o in objects.values() for p in o.values())} records "
        f"({time.perf_counter() - started:.1f} s to prepare)"
    )
    spark = local_spark_session(app_name="bench-batch-hourly", cores=2, shuffle_partitions=2)
    stored: Counter[int] = Counter()  # events stored per day so far: what a whole-day recompute reads
    totals = {"new": 0, "read": 0, "baseline": 0}
    written = 0
    print(f"{'run at':<18}{'new':>8}{'read':>9}{'baseline':>10}{'hours':>7}{'days':>6}  seconds")
    for run_at in range(DAY_START_MS + HOUR_MS + RUN_OFFSET_MS, DAY_START_MS + args.hours * HOUR_MS + 1, HOUR_MS):
        touched: Counter[int] = Counter()
        for window_end in sorted(end for end in objects if end <= run_at):
            for (dt, hour), data in objects.pop(window_end).items():
                folder = bucket / "events" / f"dt={dt}" / f"hour={hour}"
                folder.mkdir(parents=True, exist_ok=True)
                written += 1
                (folder / f"delivery-{written:06d}.gz").write_bytes(gzip.compress(b"".join(data), mtime=0))
                days = event_days(data)
                stored.update(days)
                touched.update(days)
        settings = BatchSettings(
            bucket=str(bucket.resolve()), sink="none", now=datetime.fromtimestamp(run_at / 1000, UTC)
        )
        clock = time.perf_counter()
        report = run_local_batch(settings, spark=spark)
        seconds = time.perf_counter() - clock
        baseline = sum(stored[day] for day in touched)
        totals["new"] += report.events_new
        totals["read"] += report.events_read
        totals["baseline"] += baseline
        stamp = datetime.fromtimestamp(run_at / 1000, UTC).strftime("%m-%d %H:%M")
        print(
            f"{stamp:<18}{report.events_new:>8}{report.events_read:>9}{baseline:>10}"
            f"{len(report.hours):>7}{len(report.days):>6}  {seconds:6.1f}"
        )
    spark.stop()
    new = max(totals["new"], 1)
    print(
        f"events read per new event: {totals['read'] / new:.2f} (hourly plan)   "
        f"{totals['baseline'] / new:.2f} (whole days, the baseline)"
    )


if __name__ == "__main__":
    main()
