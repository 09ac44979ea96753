"""Metric windows per second through the metrics Lambda handler: indexed, and indexed plus alert evaluation.

    python bench/bench_metrics_processor.py [--services 20] [--minutes 120] [--batch-size 100] [--rounds 2]

Uses OPENSEARCH_URL when set; otherwise starts the local OpenSearch node on a free port (fresh home under
.local/bench-opensearch/) and stops it at the end. The handler runs in-process (`LocalFunction`), fed by
the local Kinesis driver in stream order (one minute of every service after the other, ``--batch-size``
records per invocation, as the event source mapping batches them). Each round indexes into fresh indices,
once with alerting off and once with config/alert-rules.yaml (threshold, deviation and absence rules;
notifications to a throw-away outbox), alternating which goes first. Printed: windows/s end to end,
ms per invocation, and the notifications sent (one incident is built in: checkout errors for 5 minutes).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from opensearchpy import OpenSearch

from opsanalytics.alerting import read_outbox
from opsanalytics.alerting.local import drive_records
from opsanalytics.local import opensearch_node
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.opensearch import OpenSearchSettings, apply_index_templates, create_client
from opsanalytics.paths import project_root
from opsanalytics.realtime.windows import MetricWindow

START_MS = 1_767_261_600_000  # 2026-01-01T10:00:00Z
RULES = project_root() / "config" / "alert-rules.yaml"


def iso(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms / 1000))


def windows(services: int, minutes: int, seed: int = 7) -> list[bytes]:
    """Window documents in stream order; ``checkout`` has a 30% error rate from minute 40 to 44."""
    rng = random.Random(seed)
    names = ["checkout", "payments", "orders-api"] + [f"service-{n:02d}" for n in range(services - 3)]
    documents = []
    for minute in range(minutes):
        start = START_MS + minute * 60_000
        for name in names[:services]:
            events = rng.randint(200, 2000)
            errors = int(events * 0.3) if name == "checkout" and 40 <= minute < 45 else rng.randint(0, events // 100)
            p95 = rng.uniform(80, 120)
            window = MetricWindow(
                schema_version=1,
                record_type="metric_window",
                service=name,
                log_group=f"/aws/lambda/{name}",
                window_start=iso(start),
                window_end=iso(start + 60_000),
                events=events,
                errors=errors,
                error_rate=errors / events,
                latency_count=events,
                latency_p50_ms=round(p95 * 0.4, 3),
                latency_p95_ms=round(p95, 3),
                latency_p99_ms=round(p95 * 1.5, 3),
                latency_max_ms=round(p95 * 3, 3),
                late_events=0,
            )
            documents.append(orjson.dumps(window))
    return documents


def run(
    url: str, documents: list[bytes], batch_size: int, *, alerts: bool, workdir: Path, client: OpenSearch
) -> tuple[float, float, int]:
    """(windows/s, ms per invocation, notifications) of one pass into fresh indices."""
    token = uuid.uuid4().hex[:10]
    environment = {
        "OPENSEARCH_URL": url,
        "METRICS_INDEX_PREFIX": f"metrics-realtime-bench{token}-",
        "ALERTS_INDEX_PREFIX": f"alerts-bench{token}-",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    outbox = workdir / f"outbox-{token}.jsonl"
    if alerts:
        environment |= {"ALERT_RULES": str(RULES), "ALERT_OUTBOX": str(outbox)}
    function = LocalFunction("metrics_processor", environment=environment)
    try:
        report = drive_records(function.invoke, documents, workdir / token, batch_size=batch_size)
    finally:
        function.close()
        existing = client.indices.get(index=f"*-bench{token}-*", expand_wildcards="all")
        if existing:
            client.indices.delete(index=",".join(sorted(existing)))
    if report.failures or report.dlq:
        raise RuntimeError(f"the benchmark run had failures: {report.summary()}")
    return report.records / report.seconds, report.seconds * 1000 / report.invocations, len(read_outbox(outbox))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.services < 3:
        parser.error("--services must be at least 3")

    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    try:
        with opensearch_node.cluster_url("bench-opensearch") as url:
            client = create_client(OpenSearchSettings.for_url(url))
            apply_index_templates(client, replicas=0)
            documents = windows(args.services, args.minutes)
            print(
                f"{len(documents)} windows ({args.services} services x {args.minutes} minutes), "
                f"batches of {args.batch_size}, {args.rounds} rounds + warm-up"
            )
            run(
                url, documents[: args.batch_size * 5], args.batch_size, alerts=True, workdir=workdir, client=client
            )  # warm-up
            results: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
            for round_number in range(args.rounds):
                for alerts in (False, True) if round_number % 2 == 0 else (True, False):
                    results[alerts].append(
                        run(url, documents, args.batch_size, alerts=alerts, workdir=workdir, client=client)
                    )
            for alerts, label in ((False, "index only"), (True, "index + alert rules")):
                rates = [r[0] for r in results[alerts]]
                per_call = statistics.median(r[1] for r in results[alerts])
                notifications = results[alerts][-1][2]
                print(
                    f"{label:<20} {statistics.median(rates):>8,.0f} windows/s (min {min(rates):,.0f}, "
                    f"max {max(rates):,.0f})  {per_call:6.1f} ms/invocation  notifications {notifications}"
                )
            client.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
