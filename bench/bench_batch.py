"""1M log events through the batch job on Spark local mode: wall time including Spark start-up, events/s,
CPU time and peak RSS of the process tree (this process, the Spark JVM and any Python workers).

    python bench/bench_batch.py [--events 1000000] [--workdir .local/bench-batch] [--opensearch]

The bucket is generated once (sample traffic through the real transformer core, Firehose-like gzip objects
per dt=/hour= partition) and reused. Each run recomputes every day (``--full``) and writes Parquet; with
``--opensearch`` it also indexes the documents into OPENSEARCH_URL.

Goal on a 2-core Debian machine (Python 3.11, Java 17), 1M events: Spark part ≤ 15 s, i.e. Spark start-up
and the job, without preparing the bucket and without the OpenSearch writes (timed apart). On a shared
machine the wall time swings with the load average printed beside it; the CPU time swings less.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from opsanalytics.batch.settings import BatchSettings
from opsanalytics.firehose import transform_record
from opsanalytics.local.batch import local_spark_session
from opsanalytics.samples import generate_sample_batches

GOAL_SECONDS = 15.0
EVENTS_PER_MINUTE_AT_SCALE_1 = 490  # the sample services' log lines per minute
RECORDS_PER_OBJECT = 400  # about Firehose's 1 MiB processor buffer of 50-event records
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree_sum(root: int, value_of: Callable[[Path, list[str]], int]) -> int:
    """Sum of ``value_of(/proc/<pid>, stat fields)`` over `root` and its descendants (Linux)."""
    children: dict[int, list[int]] = defaultdict(list)
    values: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            values[int(entry.name)] = value_of(entry, stat)
        except (OSError, IndexError, ValueError):
            continue
        children[int(stat[1])].append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += values.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def tree_rss_bytes(root: int) -> int:
    """RSS of `root` and all its descendants."""
    return _tree_sum(root, lambda entry, _stat: int((entry / "statm").read_text().split()[1]) * PAGE_SIZE)


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of `root` and its descendants, the ones that ended included."""
    return _tree_sum(root, lambda _entry, stat: sum(int(field) for field in stat[11:15])) / CLOCK_TICKS


class PeakRss:
    def __init__(self, interval: float = 0.2) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def generate_bucket(bucket: Path, events: int) -> int:
    """Sample traffic → transformer core → gzip NDJSON objects per partition; returns the events written."""
    marker = bucket / f".generated-{events}"
    if marker.exists():
        return int(marker.read_text())
    shutil.rmtree(bucket, ignore_errors=True)
    scale = 20.0
    minutes = max(1, round(events / (EVENTS_PER_MINUTE_AT_SCALE_1 * scale)))
    pending: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    written = 0

    def flush(dt: str, hour: str) -> None:
        folder = bucket / "events" / f"dt={dt}" / f"hour={hour}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"opsanalytics-logs-1-{counts[(dt, hour)]:05d}.gz"
        (folder / name).write_bytes(gzip.compress(b"".join(pending.pop((dt, hour))), compresslevel=6, mtime=0))
        counts[(dt, hour)] += 1

    for index, batch in enumerate(generate_sample_batches(minutes=minutes, scale=scale, seed=3)):
        outcome = transform_record(str(index), base64.b64encode(batch.payload()))
        if outcome.result != "Ok" or outcome.partition_keys is None:
            continue
        keys = (outcome.partition_keys["dt"], outcome.partition_keys["hour"])
        pending[keys].append(outcome.data)
        written += outcome.log_events
        if len(pending[keys]) >= RECORDS_PER_OBJECT:
            flush(*keys)
    for keys in list(pending):
        flush(*keys)
    marker.write_text(str(written))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path(".local/bench-batch"))
    parser.add_argument("--opensearch", action="store_true", help="also index the documents (OPENSEARCH_URL)")
    args = parser.parse_args()

    bucket = args.workdir / "bucket"
    started = time.perf_counter()
    events = generate_bucket(bucket, args.events)
    objects = sum(1 for _ in (bucket / "events").rglob("*.gz"))
    print(f"bucket: {events} events in {objects} objects ({time.perf_counter() - started:.1f} s to prepare)")

    from opsanalytics.local.batch import run_local_batch

    url = os.environ.get("OPENSEARCH_URL") if args.opensearch else None
    settings = BatchSettings(
        bucket=str(bucket), full=True, sink="bulk" if url else "none", opensearch_url=url, index_suffix="bench"
    )
    load_before = os.getloadavg()
    with PeakRss() as rss:
        cpu = tree_cpu_seconds(os.getpid())
        wall = time.perf_counter()
        spark = local_spark_session()
        startup = time.perf_counter() - wall
        report = run_local_batch(settings, spark=spark)
        job_seconds = time.perf_counter() - wall - startup
        cpu = tree_cpu_seconds(os.getpid()) - cpu
        spark.stop()
    opensearch = report.seconds.get("opensearch", 0.0) if url else 0.0
    spark_part = startup + job_seconds - opensearch
    print(report.summary())
    print()
    print(f"events                {report.events:>12}")
    print(f"Spark start-up        {startup:>12.2f} s")
    print(f"job (after start-up)  {job_seconds:>12.2f} s")
    if url:
        print(f"OpenSearch writes     {opensearch:>12.2f} s   (not in the Spark part)")
    print(f"Spark part            {spark_part:>12.2f} s   goal ≤ {GOAL_SECONDS:.0f} s (start-up + job)")
    print(f"CPU time (tree)       {cpu:>12.2f} s   ({cpu / (startup + job_seconds):.2f} cores busy on average)")
    print(f"events/s (Spark part) {report.events / spark_part:>12.0f}")
    print(f"peak RSS (tree)       {rss.peak / 2**20:>12.0f} MiB")
    loads = f"{' '.join(f'{x:.2f}' for x in load_before)} → {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    print(f"load average          {loads}  (2 cores: figures inflate above 2)")


if __name__ == "__main__":
    main()
