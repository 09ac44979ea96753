"""Benchmark the Firehose log transformer in-process against a decode-only floor measured in the same run.

    python bench/bench_transformer.py [--rounds 15]

Three Firehose buffers: (a) 150 records x 50 events of the mixed sample traffic (~0.5 MB gzip), (b) ~3 MB of
it (the largest processor buffer; most of it does not fit the 6 MB response and is written out of band), and
(c) 150 records x 50 application-log lines of 100-1,000 bytes (`app_logs.py`). For each it prints parsed
events/s, compressed MB/s and peak memory of the full handler (decode, parse, serialise, size the response,
write what does not fit out of band), beside the floor: base64 decode + gunzip + JSON parse of the envelope
only, with orjson, which the transformer also uses. The two are timed in alternation, round after round, and
each figure is the best round (the least disturbed by the rest of the machine). Each workload runs three ways:
without rules, with the shipped masking (config/parsers.yaml), and with a realistic rule set and masking
(bench/rules.yaml). It also prints how much of each line the events keep (the share with attributes, attributes
per event, NDJSON bytes per event).
Goal: every workload at 0.25x the floor or better.
"""

from __future__ import annotations

import argparse
import base64
import gc
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from app_logs import application_log_batches
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.local.samples import SampleBatch, generate_sample_batches
from opsanalytics.paths import project_root
from opsanalytics.transform.local import firehose_event

GOAL = 0.25
ROOT = project_root()


def records_of(batches: Iterable[SampleBatch], *, target_bytes: int, max_records: int) -> list[tuple[str, str, int]]:
    records: list[tuple[str, str, int]] = []
    size = 0
    for index, batch in enumerate(batches):
        payload = batch.payload()
        records.append((f"{index:056d}", base64.b64encode(payload).decode(), 0))
        size += len(payload)
        if size >= target_bytes or len(records) == max_records:
            break
    return records


def sample_records(target_bytes: int, max_records: int) -> list[tuple[str, str, int]]:
    batches = generate_sample_batches(minutes=10_000, scale=3.0, seed=11, events_per_batch=50)
    return records_of((b for b in batches if len(b.events) == 50), target_bytes=target_bytes, max_records=max_records)


WORKLOADS: dict[str, Callable[[], list[tuple[str, str, int]]]] = {
    "(a) sample traffic, 150 x 50 events": lambda: sample_records(10**9, 150),
    "(b) sample traffic, 3 MB buffer": lambda: sample_records(3_000_000, 10**6),
    "(c) application logs 100-1,000 B, 150 x 50": lambda: records_of(
        application_log_batches(records=150), target_bytes=10**9, max_records=150
    ),
}


def floor(event: dict[str, Any]) -> int:
    events = 0
    for record in event["records"]:
        envelope = orjson.loads(zlib.decompress(base64.b64decode(record["data"]), 31))
        events += len(envelope["logEvents"])
    return events


def seconds(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def kept_fields(response: dict[str, Any]) -> str:
    """How much of each line the archived events keep: the share with attributes, attributes per event, bytes."""
    events = with_attributes = attributes = size = 0
    for record in response["records"]:
        if record["result"] != "Ok":
            continue
        data = base64.b64decode(record["data"])
        size += len(data)
        for line in data.splitlines():
            kept = orjson.loads(line).get("attributes")
            events += 1
            if kept:
                with_attributes += 1
                attributes += len(kept)
    if not events:
        return "no events in the response"
    return (
        f"{with_attributes / events:.0%} of events with attributes, {attributes / events:.1f} per event, "
        f"{size / events:.0f} B NDJSON per event"
    )


def peak_memory(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


RULE_SETS = {
    "no rules": "",
    "shipped masking (config/parsers.yaml)": str(ROOT / "config" / "parsers.yaml"),
    "rules + masking (bench/rules.yaml)": str(ROOT / "bench" / "rules.yaml"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="alternating timings of floor and transformer")
    args = parser.parse_args()
    worst = float("inf")
    with tempfile.TemporaryDirectory() as overflow_dir:
        functions = {
            name: LocalFunction(
                "log_transformer",
                environment={
                    "OVERFLOW_LOCATION": overflow_dir,
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                    "PARSER_RULES": rules,
                },
            )
            for name, rules in RULE_SETS.items()
        }
        plain = functions["no rules"]
        for label, build in WORKLOADS.items():
            records = build()
            event = firehose_event(records, "bench")
            gzip_bytes = sum(len(base64.b64decode(r[1])) for r in records)
            events = floor(event)
            for function in functions.values():
                function.invoke(event)  # warm: layouts and caches as in a warm Lambda environment
            response = plain.invoke(event)
            times: dict[str, list[float]] = {"floor (b64+gunzip+envelope)": [], **{name: [] for name in functions}}
            for _ in range(args.rounds):
                times["floor (b64+gunzip+envelope)"].append(seconds(lambda e=event: floor(e)))
                for name, function in functions.items():
                    times[name].append(seconds(lambda e=event, f=function: f.invoke(e)))
            floor_best = min(times["floor (b64+gunzip+envelope)"])
            ratio = floor_best / min(times["no rules"])
            results = {r: sum(1 for e in response["records"] if e["result"] == r) for r in ("Ok", "Dropped")}
            mem = peak_memory(lambda e=event: plain.invoke(e))
            worst = min(worst, ratio)
            print(f"{label}: {len(records)} records, {events} log events, {gzip_bytes / 1e6:.2f} MB gzip")
            for name, timed in times.items():
                best = min(timed)
                share = "" if name.startswith("floor") else f"  {floor_best / best:.2f}x floor"
                print(f"  {name:<40}{events / best:>10,.0f} events/s  {gzip_bytes / best / 1e6:6.1f} MB/s{share}")
            print(f"  response: {results['Ok']} Ok, {results['Dropped']} out of band; peak memory {mem / 1e6:.1f} MB")
            print(f"  kept: {kept_fields(response)}")
        for function in functions.values():
            function.close()
        overflow_objects = len(list(Path(overflow_dir).rglob("*.ndjson")))
    print(f"out-of-band objects written: {overflow_objects}")
    print(f"worst ratio without rules {worst:.2f}x (goal >= {GOAL}x on every workload)")
    return 0 if worst >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
