"""1M log events through the batch job on Spark local mode: wall time including Spark start-up, events/s,
CPU time and peak RSS of the process tree (this process, the Spark JVM and any Python workers).

    python bench/bench_batch.py [--events 1000000] [--workdir .local/bench-batch] [--opensearch]

The bucket is generated once (sample traffic through the real transformer core, Firehose-like gzip objects
per dt=/hour= partition) and reused. Each run recomputes every day (``--full``) and writes Parquet; with
``--opensearch`` it also indexes the documents into OPENSEARCH_URL.

Goal on a 2-core Debian machine (Python 3.11, Java 17), 1M events: Spark part ≤ 15 s, i.e. what
``opsanalytics batch`` spends from Spark's start to the end of the job, without preparing the bucket and
without the OpenSearch writes and the session's stop (both timed apart). The local JVM gets the options of
`opsanalytics.batch.local.SPARK_JAVA_OPTIONS`. On a shared machine the wall time swings with the load average
printed beside it; the CPU time swings less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from opsanalytics.batch.local import SPARK_JAVA_OPTIONS, run_local_batch
from opsanalytics.batch.settings import BatchSettings
from opsanalytics.local.samples import write_event_archive

GOAL_SECONDS = 15.0
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
    """The sample archive (`write_event_archive`), generated once per size and reused."""
    marker = bucket / f".generated-{events}"
    if marker.exists():
        return int(marker.read_text())
    shutil.rmtree(bucket, ignore_errors=True)
    written = write_event_archive(bucket, events=events)
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
    print(f"Spark JVM options: {' '.join(SPARK_JAVA_OPTIONS)}")

    url = os.environ.get("OPENSEARCH_URL") if args.opensearch else None
    settings = BatchSettings(
        bucket=str(bucket.resolve()),
        full=True,
        sink="bulk" if url else "none",
        opensearch_url=url,
        index_suffix="bench",
    )
    load_before = os.getloadavg()
    with PeakRss() as rss:
        cpu = tree_cpu_seconds(os.getpid())
        wall = time.perf_counter()
        report = run_local_batch(settings)  # what `opsanalytics batch` runs: start-up, job, session stop
        wall = time.perf_counter() - wall
        cpu = tree_cpu_seconds(os.getpid()) - cpu
    startup = report.seconds["spark start-up"]
    opensearch = report.seconds.get("opensearch", 0.0) if url else 0.0
    stop = report.seconds["spark stop"]
    spark_part = wall - opensearch - stop
    print(report.summary())
    print()
    print(f"events                {report.events:>12}")
    print(f"Spark start-up        {startup:>12.2f} s   (beside listing and the gzip pre-scan)")
    if url:
        print(f"OpenSearch writes     {opensearch:>12.2f} s   (not in the Spark part)")
    print(f"Spark part            {spark_part:>12.2f} s   goal ≤ {GOAL_SECONDS:.0f} s (start-up and job)")
    print(f"Spark stop            {stop:>12.2f} s   (not in the Spark part)")
    print(f"CPU time (tree)       {cpu:>12.2f} s   ({cpu / wall:.2f} cores busy on average)")
    print(f"events/s (Spark part) {report.events / spark_part:>12.0f}")
    print(f"peak RSS (tree)       {rss.peak / 2**20:>12.0f} MiB")
    loads = f"{' '.join(f'{x:.2f}' for x in load_before)} → {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    print(f"load average          {loads}  (2 cores: figures inflate above 2)")


if __name__ == "__main__":
    main()
