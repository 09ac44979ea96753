"""Benchmark the whole local pipeline on ~1M log events: wall time and per-stage throughput.

    python bench/bench_pipeline.py [--events 1000000] [--workdir .local/bench-pipeline]

Runs the same stages as `opsanalytics demo` (sample generation, the Firehose transformer, Flink, OpenSearch,
the metrics Lambda, the Spark batch job) and prints each stage's time and events/s beside the goal: the
whole run within 3 minutes on a 2-core machine. Uses $OPENSEARCH_URL, else starts and stops a local node.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from opsanalytics.local.pipeline import run_demo

GOAL_SECONDS = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="approximate log events (default 1M)")
    parser.add_argument("--minutes", type=int, default=60, help="minutes of traffic (default 60)")
    parser.add_argument("--workdir", type=Path, default=Path(".local/bench-pipeline"))
    args = parser.parse_args()
    # events per minute at scale 1: requests/min x lines per request, measured from a short sample below
    probe = run_rate_probe()
    scale = args.events / (probe * args.minutes)
    started = time.perf_counter()
    report = run_demo(args.workdir, minutes=args.minutes, scale=scale, seed=5)
    wall = time.perf_counter() - started
    events = report.events_generated
    print(f"\n{events:,} log events, {report.records_generated:,} subscription records, scale {scale:.1f}")
    windows = len(report.realtime.windows) if report.realtime else 0
    for stage, seconds in report.stages.items():
        if stage == "opensearch":
            rate = " (node start-up, templates)"
        elif stage == "metrics lambda":
            rate = f"{windows / seconds:>12,.0f} windows/s"
        elif stage == "dashboard":
            rate = " (queries and page)"
        else:
            rate = f"{events / seconds:>12,.0f} events/s"
        print(f"  {stage:<20}{seconds:>8.1f} s {rate}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS: this process {own:,.0f} MiB, largest child process {children:,.0f} MiB")
    print(f"whole pipeline: {wall:.1f} s (goal <= {GOAL_SECONDS:.0f} s)")
    return 0 if wall <= GOAL_SECONDS else 1


def run_rate_probe() -> float:
    """Log events per minute the sample generator makes at scale 1."""
    from opsanalytics.local.samples import generate_sample_batches

    events = sum(len(b.events) for b in generate_sample_batches(minutes=10, scale=1.0, incident=None))
    return events / 10


if __name__ == "__main__":
    sys.exit(main())
