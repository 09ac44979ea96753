"""1M log events through the local realtime job (PyFlink mini-cluster, batch mode): wall time including
start-up, events/s and peak RSS of the process tree (this process, the JVM and the Python workers).

    python bench/bench_realtime.py [--events 1000000] [--parallelism 2] [--workdir .local/bench-realtime]

Baseline on a 2-core Debian machine (Python 3.11, Java 17), 1M events: goal ≤ 25 s; measured 25 s at load ≈ 2
(another job on the machine), 35-38 s at load 3-4, ≈ 1 GiB peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from pathlib import Path

from opsanalytics.local.samples import SERVICES, generate_sample_batches
from opsanalytics.realtime.local import run_realtime
from opsanalytics.streams import write_stream

GOAL_SECONDS = 25.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree_usage(root: int) -> tuple[int, float]:
    """RSS bytes and CPU seconds (user + system) of `root` and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        rss[int(entry.name)] = int(statm[1]) * PAGE_SIZE
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total, seconds, stack = 0, 0.0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        seconds += cpu.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total, seconds


class PeakRss:
    def __init__(self, interval: float = 0.2) -> None:
        self.peak = 0
        self.cpu_seconds = 0.0
        self._cpu_start = _tree_usage(os.getpid())[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            rss, cpu = _tree_usage(os.getpid())
            self.peak = max(self.peak, rss)
            self.cpu_seconds = max(self.cpu_seconds, cpu - self._cpu_start)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path(".local/bench-realtime"))
    args = parser.parse_args()

    per_minute = sum(s.requests_per_minute for s in SERVICES) * 1.86  # ≈ log lines per request, all services
    minutes = 60
    scale = args.events / (per_minute * minutes)
    stream_dir = args.workdir / "logs-stream"
    shutil.rmtree(args.workdir, ignore_errors=True)
    started = time.perf_counter()
    records = write_stream(stream_dir, (b.payload() for b in generate_sample_batches(minutes=minutes, scale=scale)))
    print(
        f"input: {records} records in {len(list(stream_dir.iterdir()))} files, "
        f"{time.perf_counter() - started:.1f} s to generate"
    )

    load_before = os.getloadavg()[0]
    with PeakRss() as rss:
        report = run_realtime(stream_dir, args.workdir / "metrics", parallelism=args.parallelism, progress=False)
    events = report.events_read
    print(report.summary())
    print(f"events          {events:,}")
    print(f"wall time       {report.seconds:.1f} s (incl. Flink start-up; goal ≤ {GOAL_SECONDS:.0f} s)")
    print(f"throughput      {events / report.seconds:,.0f} events/s")
    print(f"peak RSS (tree) {rss.peak / 2**30:.2f} GiB")
    print(f"CPU time (tree) {rss.cpu_seconds:.1f} s (user + system; independent of other load)")
    # The machine may be shared: a load above the core count means the figures above include waiting.
    print(f"load average    {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
