"""BulkWriter against opensearch-py's helpers.bulk: the same metric windows into the same node, same run.

    python bench/bench_bulk.py [--docs 100000] [--chunk-docs 1000] [--chunk-mb 5] [--rounds 4]

Uses OPENSEARCH_URL when set; otherwise starts the local OpenSearch node on a free port (fresh home under
.local/bench-opensearch/), prints its start-up time and stops it at the end. Each round indexes the documents
once with each method into a fresh ``metrics-realtime-bench-*`` index (the project template, 0 replicas),
alternating which goes first, after a warm-up of both. Printed per method: indexing docs/s (end to end:
encode, send, parse the response), the client process's CPU µs/doc over that run, and client-side body
building in µs/doc (encoding and splitting into request bodies, the work each does before a request
leaves). Both send the same requests: at most --chunk-docs operations and --chunk-mb MiB each, ids
derived from the window's identity. On a small machine the node's indexing dominates docs/s; client CPU
is what the writer saves.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.helpers.actions import _chunk_actions, expand_action

from opsanalytics.local import opensearch_node
from opsanalytics.opensearch import (
    BulkOperation,
    BulkWriter,
    OpenSearchSettings,
    apply_index_templates,
    create_client,
    document_id,
)

SERVICES = [f"service-{n:02d}" for n in range(20)]
START_MS = 1_767_261_600_000  # 2026-01-01T10:00:00Z


def metric_windows(count: int, seed: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """(id, document) pairs shaped like the realtime metric windows: 20 services x one window a minute."""
    rng = random.Random(seed)
    docs = []
    for n in range(count):
        service = SERVICES[n % len(SERVICES)]
        start_ms = START_MS + (n // len(SERVICES)) * 60_000
        window_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_ms / 1000))
        window_end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_ms / 1000 + 60))
        events = rng.randint(50, 5000)
        errors = rng.randint(0, events // 20)
        p50 = rng.uniform(5, 200)
        doc = {
            "schema_version": 1,
            "service": service,
            "log_group": f"/aws/lambda/{service}",
            "window_start": window_start,
            "window_end": window_end,
            "events": events,
            "errors": errors,
            "error_rate": errors / events,
            "late_events": rng.randint(0, 3),
            "latency_count": events,
            "latency_p50_ms": round(p50, 3),
            "latency_p95_ms": round(p50 * 2.5, 3),
            "latency_p99_ms": round(p50 * 4.0, 3),
            "latency_max_ms": round(p50 * 9.0, 3),
        }
        docs.append((document_id(service, doc["log_group"], window_start), doc))
    return docs


class Methods:
    """The two ways to index, each given its natural input built outside the timed region."""

    def __init__(self, client: OpenSearch, chunk_docs: int, chunk_bytes: int) -> None:
        self.client = client
        self.chunk_docs = chunk_docs
        self.chunk_bytes = chunk_bytes
        self.writer = BulkWriter.for_client(client, max_docs=chunk_docs, max_bytes=chunk_bytes)

    @staticmethod
    def writer_input(index: str, docs: list[tuple[str, dict[str, Any]]]) -> list[BulkOperation]:
        return [BulkOperation(index, doc_id, doc) for doc_id, doc in docs]

    @staticmethod
    def helpers_input(index: str, docs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [{"_index": index, "_id": doc_id, "_source": doc} for doc_id, doc in docs]

    def run_writer(self, operations: list[Any]) -> int:
        result = self.writer.write(operations)
        if result.failed:
            raise RuntimeError(f"BulkWriter: {len(result.failed)} failed, first {result.failed[0]}")
        return result.indexed

    def run_helpers(self, actions: list[Any]) -> int:
        success, _ = helpers.bulk(self.client, actions, chunk_size=self.chunk_docs, max_chunk_bytes=self.chunk_bytes)
        return success

    def build_writer(self, operations: list[Any]) -> int:
        return sum(len(body) for body in self.writer.bodies(operations))

    def build_helpers(self, actions: list[Any]) -> int:
        serializer = self.client.transport.serializer
        size = 0
        for _, bulk_actions in _chunk_actions(
            map(expand_action, actions), self.chunk_docs, self.chunk_bytes, serializer
        ):
            # what client.bulk and the transport then do with a chunk: join, then encode to bytes
            size += len(("\n".join(bulk_actions) + "\n").encode("utf-8", "surrogatepass"))
        return size


def timed(function: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def timed_cpu(function: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, value)."""
    cpu = time.process_time()
    wall, value = timed(function)
    return wall, time.process_time() - cpu, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--chunk-docs", type=int, default=1000)
    parser.add_argument("--chunk-mb", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    with opensearch_node.cluster_url("bench-opensearch") as url:
        run(url, args)
    return 0


def run(url: str, args: argparse.Namespace) -> None:
    settings = OpenSearchSettings.for_url(url, {**os.environ, "OPENSEARCH_TIMEOUT_SECONDS": "120"})
    client = create_client(settings)
    apply_index_templates(client, replicas=0)
    methods = Methods(client, args.chunk_docs, int(args.chunk_mb * 1024 * 1024))
    docs = metric_windows(args.docs)
    print(
        f"{args.docs} metric-window docs, requests of <= {args.chunk_docs} docs / {args.chunk_mb} MiB, "
        f"{args.rounds} round(s), endpoint {url}"
    )

    def index_once(name: str, warmup: bool = False) -> tuple[float, float]:
        """(docs/s, client CPU µs/doc) of one indexing run into a fresh index."""
        index = f"metrics-realtime-bench-{name}-{uuid.uuid4().hex[:8]}"
        sample = docs[: max(1, len(docs) // 10)] if warmup else docs
        try:
            if name == "writer":
                operations = methods.writer_input(index, sample)
                seconds, cpu, count = timed_cpu(lambda: methods.run_writer(operations))
            else:
                actions = methods.helpers_input(index, sample)
                seconds, cpu, count = timed_cpu(lambda: methods.run_helpers(actions))
            client.indices.refresh(index=index)
            stored = client.count(index=index)["count"]
            if count != len(sample) or stored != len(sample):
                raise RuntimeError(f"{name}: reported {count}, stored {stored}, expected {len(sample)}")
        finally:
            client.indices.delete(index=index)
        return len(sample) / seconds, cpu / len(sample) * 1e6

    for name in ("writer", "helpers"):
        index_once(name, warmup=True)
    rates: dict[str, list[float]] = {"writer": [], "helpers": []}
    client_cpu: dict[str, list[float]] = {"writer": [], "helpers": []}
    for round_number in range(args.rounds):
        order = ("writer", "helpers") if round_number % 2 == 0 else ("helpers", "writer")
        for name in order:
            rate, cpu_per_doc = index_once(name)
            rates[name].append(rate)
            client_cpu[name].append(cpu_per_doc)

    build: dict[str, float] = {}
    writer_ops = methods.writer_input("metrics-realtime-bench", docs)
    helpers_actions = methods.helpers_input("metrics-realtime-bench", docs)
    for name, function in (
        ("writer", lambda: methods.build_writer(writer_ops)),
        ("helpers", lambda: methods.build_helpers(helpers_actions)),
    ):
        best = min(timed(function)[0] for _ in range(3))
        build[name] = best / len(docs) * 1e6
    client.close()

    writer_rate, helpers_rate = statistics.mean(rates["writer"]), statistics.mean(rates["helpers"])
    for label, name, rate in (
        ("BulkWriter", "writer", writer_rate),
        ("helpers.bulk", "helpers", helpers_rate),
    ):
        per_round = ", ".join(f"{r:,.0f}" for r in rates[name])
        cpu = statistics.mean(client_cpu[name])
        print(f"  {label:<14} {rate:>9,.0f} docs/s  client CPU {cpu:5.1f} µs/doc  (rounds: {per_round})")
    print(f"  ratio          {writer_rate / helpers_rate:>9.2f}x  (BulkWriter / helpers.bulk)")
    print(
        f"  body build     BulkWriter {build['writer']:.2f} µs/doc, "
        f"helpers.bulk {build['helpers']:.2f} µs/doc ({build['helpers'] / build['writer']:.1f}x)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
