"""The log indexer into a real OpenSearch node: documents/s and index size per million events, each beside the
same lines without their attributes (what a version-1 event kept) in the same run.

    python bench/bench_log_index.py [--events 200000] [--rounds 2]

Uses OPENSEARCH_URL when set; otherwise starts the local OpenSearch node on a free port (fresh home under
.local/bench-opensearch/) and stops it at the end. The events are the demo's sample traffic (six services, JSON,
access-log, Lambda and text lines) parsed by the transformer, written as gzip objects of 50,000 lines into a
bucket directory, as Firehose writes ``events/``. Each round indexes them once per variant into fresh daily
indices through `LogIndexer` (the function's core: read, select, bulk, account), alternating which goes first.
Printed per variant: documents/s (reading the objects, building the documents and the bulk requests, the node's
indexing), and the primary store size per million events after a refresh and a flush (segments as they are),
and after a force merge to one segment (the least a day's index settles to). The archive's own gzip bytes per
million events are printed for comparison. One node, no replicas: a domain with replicas stores that many times
more.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from opsanalytics.local import opensearch_node
from opsanalytics.local.samples import generate_sample_batches
from opsanalytics.logindex.indexer import LogIndexer
from opsanalytics.logindex.settings import LogIndexSettings
from opsanalytics.opensearch import BulkWriter, OpenSearchSettings, apply_index_templates, create_client
from opsanalytics.storage import DirectoryStore, ObjectLocation
from opsanalytics.transform.firehose import transform_batch

LINES_PER_OBJECT = 50_000
NUMERIC = ("cart.total_cents", "cart.items", "http.content_length", "integrationLatency")


def sample_events(count: int) -> list[bytes]:
    """`count` NDJSON lines of LogEvents, as the transformer archives them, each event id once (traffic of another
    seed at the same time would repeat the CloudWatch event ids of the first)."""
    lines: list[bytes] = []
    seen: set[str] = set()
    seed = 1
    while len(lines) < count:
        start_ms = 1_767_225_600_000 + (seed - 1) * 45 * 60_000  # 2026-01-01, 45 minutes later per seed
        batches = generate_sample_batches(minutes=45, scale=4.0, seed=seed, start_ms=start_ms)
        records = [(f"r{n}", base64.b64encode(batch.payload()).decode()) for n, batch in enumerate(batches)]
        for start in range(0, len(records), 500):
            outcome = transform_batch(records[start : start + 500])
            for entry in outcome.response["records"]:
                if entry["result"] != "Ok":
                    continue
                for line in base64.b64decode(entry["data"]).splitlines():
                    event_id = orjson.loads(line)["event_id"]
                    if event_id not in seen:
                        seen.add(event_id)
                        lines.append(line)
        seed += 1
    return lines[:count]


def write_bucket(root: Path, lines: list[bytes]) -> int:
    """The lines as gzip objects under events/; their bytes."""
    total = 0
    for number, start in enumerate(range(0, len(lines), LINES_PER_OBJECT)):
        path = root / "events" / "dt=2026-01-01" / "hour=10" / f"bench-{number:04d}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = gzip.compress(b"\n".join(lines[start : start + LINES_PER_OBJECT]) + b"\n")
        path.write_bytes(body)
        total += len(body)
    return total


def without_attributes(lines: list[bytes]) -> list[bytes]:
    out = []
    for line in lines:
        event = orjson.loads(line)
        event.pop("attributes", None)
        event.pop("attributes_truncated", None)
        out.append(orjson.dumps(event))
    return out


def index_once(url: str, bucket: Path, label: str) -> dict[str, float]:
    prefix = f"events-bench-{label}-{uuid.uuid4().hex[:6]}-"
    settings = LogIndexSettings(
        opensearch=OpenSearchSettings.for_url(url, {**os.environ, "OPENSEARCH_TIMEOUT_SECONDS": "120"}),
        archive=ObjectLocation.directory(bucket),
        level="all",
        index_prefix=prefix,
        numeric_attributes=NUMERIC,
    )
    client = create_client(settings.opensearch)
    store = DirectoryStore(bucket)
    indexer = LogIndexer(BulkWriter.for_client(client), store, settings)
    objects = store.list_files("events/", (".gz",))
    started = time.perf_counter()
    indexed = 0
    for item in objects:
        outcome = indexer.index_object(item)
        if not outcome.accounted or outcome.quarantined or outcome.retry:
            raise RuntimeError(f"{label}: {outcome.summary()}")
        indexed += outcome.indexed
    seconds = time.perf_counter() - started
    try:
        client.indices.refresh(index=f"{prefix}*")
        client.indices.flush(index=f"{prefix}*")
        stored = client.count(index=f"{prefix}*")["count"]
        if stored != indexed:
            raise RuntimeError(f"{label}: indexed {indexed}, stored {stored}")
        flushed = _primary_bytes(client, prefix)
        client.indices.forcemerge(index=f"{prefix}*", max_num_segments=1, request_timeout=600)
        merged = _primary_bytes(client, prefix)
    finally:
        client.indices.delete(index=f"{prefix}*")
    return {"docs_per_s": indexed / seconds, "flushed": flushed, "merged": merged, "docs": indexed}


def _primary_bytes(client: Any, prefix: str) -> int:
    rows = client.cat.indices(index=f"{prefix}*", format="json", bytes="b", h="index,pri.store.size")
    return sum(int(row["pri.store.size"]) for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"generating {args.events} sample events...", file=sys.stderr, flush=True)
    lines = sample_events(args.events)
    with tempfile.TemporaryDirectory(prefix="bench-log-index-") as tmp:
        buckets = {"v2 (every field)": Path(tmp) / "v2", "baseline (no attributes)": Path(tmp) / "v1"}
        archived = write_bucket(buckets["v2 (every field)"], lines)
        write_bucket(buckets["baseline (no attributes)"], without_attributes(lines))
        with opensearch_node.cluster_url("bench-opensearch") as url:
            apply_index_templates(create_client(OpenSearchSettings.for_url(url)), replicas=0)
            per_million = 1_000_000 / len(lines)
            print(f"{len(lines)} events, {len(lines) / LINES_PER_OBJECT:.0f} objects, {args.rounds} round(s), {url}")
            print(f"archive (events/, gzip NDJSON): {archived * per_million / 2**20:.0f} MiB per million events")
            results: dict[str, list[dict[str, float]]] = {label: [] for label in buckets}
            order = list(buckets)
            for round_number in range(args.rounds):
                for label in order if round_number % 2 == 0 else reversed(order):
                    result = index_once(url, buckets[label], label.split()[0])
                    results[label].append(result)
                    print(
                        f"  round {round_number + 1} {label:<26} {result['docs_per_s']:>9,.0f} docs/s",
                        file=sys.stderr,
                        flush=True,
                    )
            print(f"{'':<26} {'docs/s (median)':>16} {'MiB/1M flushed':>15} {'MiB/1M merged':>14}")
            for label, runs in results.items():
                rate = statistics.median(r["docs_per_s"] for r in runs)
                flushed = statistics.median(r["flushed"] for r in runs) * per_million / 2**20
                merged = statistics.median(r["merged"] for r in runs) * per_million / 2**20
                print(f"{label:<26} {rate:>16,.0f} {flushed:>15,.0f} {merged:>14,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
