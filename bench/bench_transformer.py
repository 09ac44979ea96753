"""Benchmark the Firehose log transformer in-process against a decode-only floor measured in the same run.

    python bench/bench_transformer.py [--rounds 5]

Two buffers of mixed-format sample traffic: (a) 150 Firehose records x 50 log events (~1 MB gzip, Firehose's
default buffer) and (b) ~3 MB (the largest processor buffer). For each it prints parsed events/s, compressed
MB/s and peak memory of the full handler (decode, parse, serialise, size the response, write what does not
fit out of band), beside the floor: base64 decode + gunzip + JSON parse of the envelope only, with orjson,
which the transformer also uses. Goal: full >= 0.5x floor, never below 0.35x.
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import orjson

from opsanalytics import firehose
from opsanalytics.local.firehose import firehose_event
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.samples import generate_sample_batches


def build_buffer(
    target_bytes: int, events_per_record: int = 50, max_records: int | None = None
) -> list[tuple[str, str, int]]:
    records: list[tuple[str, str, int]] = []
    size = 0
    batches = generate_sample_batches(minutes=10_000, scale=3.0, seed=11, events_per_batch=events_per_record)
    for index, batch in enumerate(b for b in batches if len(b.events) == events_per_record):
        payload = batch.payload()
        records.append((f"{index:056d}", base64.b64encode(payload).decode(), 0))
        size += len(payload)
        if size >= target_bytes or len(records) == max_records:
            break
    return records


def floor(event: dict[str, Any]) -> int:
    events = 0
    for record in event["records"]:
        envelope = orjson.loads(zlib.decompress(base64.b64decode(record["data"]), 31))
        events += len(envelope["logEvents"])
    return events


def timed(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peak_memory(fn: Any) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def python_path_figures(rounds: int) -> None:
    """The same measurement with the native fast path switched off, in a fresh interpreter (the switch is
    read once, at import)."""
    print("Python path (OPSANALYTICS_NATIVE=0), for comparison:")
    child = subprocess.run(
        [sys.executable, __file__, "--rounds", str(rounds), "--no-python-path"],
        env={**os.environ, "OPSANALYTICS_NATIVE": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    for line in child.stdout.splitlines():
        print(f"  {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-python-path", action="store_true", help="do not repeat the run on the Python path for comparison"
    )
    args = parser.parse_args()
    native = firehose.native_transform_enabled()
    print(f"transformer path: {'native (opsanalytics_native)' if native else 'Python'}")
    worst = float("inf")
    with tempfile.TemporaryDirectory() as overflow_dir:
        function = LocalFunction(
            "log_transformer",
            environment={"OVERFLOW_BUCKET": overflow_dir, "POWERTOOLS_LOG_LEVEL": "WARNING"},
        )
        for label, target, per_record in (("(a) 150 x 50 events", 0, 50), ("(b) 3 MB buffer", 3_000_000, 50)):
            records = build_buffer(target, per_record) if target else build_buffer(10**9, max_records=150)
            event = firehose_event(records, "bench")
            gzip_bytes = sum(len(base64.b64decode(r[1])) for r in records)
            events = floor(event)
            floor_s = timed(lambda e=event: floor(e), args.rounds)
            full_s = timed(lambda e=event: function.invoke(e), args.rounds)
            response = function.invoke(event)
            results = {r: sum(1 for e in response["records"] if e["result"] == r) for r in ("Ok", "Dropped")}
            mem = peak_memory(lambda e=event: function.invoke(e))
            ratio = floor_s / full_s
            worst = min(worst, ratio)
            print(f"{label}: {len(records)} records, {events} log events, {gzip_bytes / 1e6:.2f} MB gzip")
            for name, seconds in (("floor (b64+gunzip+envelope)", floor_s), ("transformer (full parse)", full_s)):
                print(f"  {name:<29}{events / seconds:>10,.0f} events/s  {gzip_bytes / seconds / 1e6:6.1f} MB/s")
            print(f"  ratio {ratio:.2f}x floor")
            print(f"  response: {results['Ok']} Ok, {results['Dropped']} out of band; peak memory {mem / 1e6:.1f} MB")
        function.close()
        overflow_objects = len(list(Path(overflow_dir).rglob("*.ndjson")))
    print(f"out-of-band objects written: {overflow_objects}")
    print(f"worst ratio {worst:.2f}x (goal >= 0.5x, never below 0.35x)")
    if native and not args.no_python_path:
        python_path_figures(args.rounds)
    return 0 if worst >= 0.35 else 1


if __name__ == "__main__":
    sys.exit(main())
