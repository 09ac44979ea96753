"""The local pipeline end to end on a small data set: counts must add up at every stage boundary."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from opsanalytics.cli import main
from opsanalytics.local.pipeline import DemoReport, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, opensearch_url: str) -> tuple[DemoReport, Path]:
    workdir = tmp_path_factory.mktemp("e2e") / "demo"
    # 32 minutes: the incident on checkout runs from minute 20 to 26, and must have cleared by the end
    return run_demo(workdir, minutes=32, scale=0.5, seed=1, opensearch_url=opensearch_url), workdir


def test_every_stream_record_gets_one_firehose_result(demo: tuple[DemoReport, Path]) -> None:
    report, _ = demo
    assert report.transform is not None
    firehose = report.transform.firehose
    assert firehose.records_in == report.records_generated + 3
    assert firehose.results["ProcessingFailed"] == 2
    assert firehose.results["Ok"] + firehose.results["Dropped"] == report.records_generated + 1
    assert report.transform.events_stored == report.events_generated


def test_bucket_holds_every_event_once_the_raw_records_and_the_failures(demo: tuple[DemoReport, Path]) -> None:
    report, workdir = demo
    bucket = workdir / "bucket"
    ids = []
    for path in sorted((bucket / "events").rglob("*")):
        if path.is_file():
            assert path.parent.name.startswith("hour=") and path.parent.parent.name.startswith("dt=")
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            ids.extend(json.loads(line)["event_id"] for line in data.splitlines())
    assert len(ids) == len(set(ids)) == report.events_generated
    raw = [line for p in (bucket / "raw").rglob("*.gz") for line in gzip.decompress(p.read_bytes()).splitlines()]
    stream = [line for p in (workdir / "streams" / "logs").iterdir() for line in p.read_bytes().splitlines()]
    assert sorted(raw) == sorted(stream)
    errors = [
        json.loads(line)
        for p in (bucket / "errors" / "processing-failed").rglob("*.gz")
        for line in gzip.decompress(p.read_bytes()).splitlines()
    ]
    assert len(errors) == 2
    assert all(e["errorMessage"].startswith("invalid-gzip") for e in errors)
    assert all(base64.b64decode(e["rawData"]) for e in errors)


def test_realtime_windows_count_every_parsed_event(demo: tuple[DemoReport, Path]) -> None:
    report, _ = demo
    assert report.realtime is not None
    assert report.realtime.events_in_windows == report.events_generated
    assert report.realtime.late_events == 0
    assert sum(report.realtime.rejected.values()) == 3  # the control message and the two malformed records


def test_every_window_is_indexed_and_the_incident_fires_and_resolves(demo: tuple[DemoReport, Path]) -> None:
    report, _ = demo
    assert report.metrics is not None and report.realtime is not None
    assert report.metrics.failures == 0 and report.metrics.dlq == 0
    windows = len(report.realtime.windows)
    assert sum(n for index, n in report.documents.items() if index.startswith("metrics-realtime-")) == windows
    assert "checkout-error-rate on checkout" in report.alerts("firing")
    assert "checkout-error-rate on checkout" in report.alerts("resolved")
    critical = [m for m in report.notifications if m["severity"] == "critical"]
    # one firing and one resolved message per channel
    assert sorted((m["channel"], m["kind"]) for m in critical) == [
        ("email", "firing"),
        ("email", "resolved"),
        ("sms", "firing"),
        ("sms", "resolved"),
    ]


def test_declared_metrics_are_the_same_in_realtime_and_batch_and_one_alerts_in_the_incident(
    demo: tuple[DemoReport, Path], opensearch_url: str
) -> None:
    """config/metrics.yaml: the realtime job's documents (through the metrics function) and the batch job's equal
    one another, metric by metric and group by group; the alert rule on the gateway timeouts fires in the incident
    and resolves after it."""
    from opsanalytics.opensearch import OpenSearchSettings, create_client

    report, _ = demo
    client = create_client(OpenSearchSettings.for_url(opensearch_url))
    found = {}
    for source, pattern in (
        ("realtime", "metrics-declared-realtime-demo-*"),
        ("batch", "metrics-declared-batch-*-demo"),
    ):
        client.indices.refresh(index=pattern)
        hits = client.search(index=pattern, body={"size": 10_000, "query": {"match_all": {}}})["hits"]["hits"]
        found[source] = {hit["_id"]: hit["_source"] for hit in hits}
    assert found["realtime"] and found["realtime"].keys() == found["batch"].keys()
    for doc_id, realtime in found["realtime"].items():
        batch = found["batch"][doc_id]
        for name in ("metric", "group", "count", "numerator", "window_end", "min", "max"):
            assert realtime[name] == batch[name], (realtime, name)
        for name in ("value", "sum"):
            if batch[name] is None:
                assert realtime[name] is None, (realtime, name)
            else:
                assert realtime[name] == pytest.approx(batch[name], rel=1e-9), (realtime, name)
    metrics = {doc["metric"] for doc in found["realtime"].values()}
    assert metrics == {"checkout_value", "payment_gateway_timeouts", "server_error_ratio", "inventory_items_synced_p95"}
    assert "payment-gateway-timeouts on checkout" in report.alerts("firing")
    assert "payment-gateway-timeouts on checkout" in report.alerts("resolved")


def test_the_latency_anomaly_stays_firing_through_the_incident_and_resolves_after_it(
    demo: tuple[DemoReport, Path],
) -> None:
    """The incident raises checkout's p95 from minute 20 to 26: the deviation alert fires in its first minutes,
    does not resolve while p95 stays high (the incident's windows are left out of the baseline), and resolves
    once p95 is back, saying the value that resolved it."""
    report, _ = demo
    emails = [
        m
        for m in report.notifications
        if m["channel"] == "email" and "latency-p95-anomaly on checkout" in str(m.get("subject"))
    ]
    assert [m["kind"] for m in emails] == ["firing", "resolved"], [m["subject"] for m in emails]
    firing, resolved = (m["message"] for m in emails)
    since = next(line for line in firing.splitlines() if line.startswith("Since:"))
    assert "T10:2" in since and since.split()[1] < "2026-01-01T10:24:00Z"
    when = next(line for line in resolved.splitlines() if line.startswith("Resolved:")).split()[1]
    assert when >= "2026-01-01T10:27:00Z", resolved  # the incident's last window ends at 10:27
    value = float(next(line for line in resolved.splitlines() if line.startswith("Value:")).split()[1])
    threshold = float(next(line for line in resolved.splitlines() if line.startswith("Value:")).split()[3][:-1])
    assert value < threshold, resolved


def test_demo_command_prints_a_summary(tmp_path: Path, opensearch_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--workdir", str(tmp_path / "d"), "--minutes", "2", "--opensearch-url", opensearch_url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ProcessingFailed" in out and "emissions; " in out and "documents" in out


def test_transform_command_reports_a_missing_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transform", "--input", str(tmp_path / "nope"), "--bucket", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_batch_job_reads_every_stored_event_and_indexes_its_reports(demo: tuple[DemoReport, Path]) -> None:
    report, workdir = demo
    assert report.batch is not None and report.batch.ok
    assert report.batch.events == report.events_generated
    assert not report.batch.corrupt_files
    assert report.batch.documents.written == sum(
        n
        for index, n in report.documents.items()
        if index.startswith(("metrics-batch-", "metrics-declared-batch-", "log-insights-"))
    )
    assert any((workdir / "bucket" / "curated" / "rollups").rglob("*.parquet"))


def test_the_realtime_windows_counted_every_event_the_batch_job_counted(demo: tuple[DemoReport, Path]) -> None:
    """The demo's realtime run is exact (a bounded input in batch mode): the batch job's accuracy check, against
    the demo's own realtime indices, finds every event counted and no window differing."""
    report, _ = demo
    assert report.batch is not None
    accuracy = report.batch.accuracy
    assert not accuracy.not_compared, accuracy.not_compared
    assert accuracy.batch_events == report.events_generated
    assert accuracy.counted_share == 1.0
    assert sum(hour.windows_differing for hour in accuracy.hours) == 0
    assert "realtime accuracy      100.00 %" in report.summary()


def test_the_declared_rules_parse_their_format_and_masking_keeps_secrets_out_of_every_output(
    demo: tuple[DemoReport, Path], opensearch_url: str
) -> None:
    """config/parsers.yaml: the inventory worker's Java layout is parsed by its rule (fields, the item count as an
    attribute), and the session ids the services put in query strings are masked in events/ and the log indices,
    while raw/ keeps the source untouched."""
    import re

    from opsanalytics.opensearch import OpenSearchSettings, create_client

    _, workdir = demo
    bucket = workdir / "bucket"
    lines = [
        line
        for path in (bucket / "events").rglob("*")
        if path.is_file()
        for line in (gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()).splitlines()
    ]
    session = re.compile(rb"session=[0-9a-fA-F]{16,}")
    assert not any(session.search(line) for line in lines)
    assert sum(b"[REDACTED:session_id]" in line for line in lines) > 0
    raw = [
        base64.b64decode(line)
        for p in (bucket / "raw").rglob("*.gz")
        for line in gzip.decompress(p.read_bytes()).splitlines()
    ]
    assert any(session.search(gzip.decompress(payload)) for payload in raw if payload[:2] == b"\x1f\x8b")
    inventory = [event for event in map(json.loads, lines) if event["service"] == "inventory-worker"]
    assert inventory and all(event["parser"] == "inventory-worker" for event in inventory)
    synced = [event for event in inventory if event["message"].startswith("synced ")]
    assert synced and all(event["attributes"]["items"].isdigit() for event in synced)
    assert all(event["attributes"]["logger"] == "c.e.inventory.SyncJob" for event in inventory)
    client = create_client(OpenSearchSettings.for_url(opensearch_url))
    client.indices.refresh(index="events-demo-*")
    found = client.search(index="events-demo-*", body={"size": 200, "query": {"term": {"service": "checkout"}}})
    documents = [json.dumps(hit["_source"]).encode() for hit in found["hits"]["hits"]]
    assert documents and not any(session.search(document) for document in documents)
    assert any(b"[REDACTED:session_id]" in document for document in documents)


def test_every_stored_event_is_a_log_document_and_a_replay_adds_none(
    demo: tuple[DemoReport, Path], opensearch_url: str
) -> None:
    """The demo indexes all lines: the log indices hold every event stored in events/, once; indexing the bucket
    again (a replay of every object) overwrites the same documents."""
    from opsanalytics.local.pipeline import DEMO_NUMERIC_ATTRIBUTES, run_log_index_stage
    from opsanalytics.opensearch import OpenSearchSettings, create_client

    report, workdir = demo
    assert report.transform is not None and report.log_index is not None
    stored = report.transform.events_stored
    documents = sum(n for index, n in report.documents.items() if index.startswith("events-demo-"))
    assert documents == stored > 0
    assert (report.log_index.dead_lettered, report.log_index.quarantined) == ([], 0)
    client = create_client(OpenSearchSettings.for_url(opensearch_url))
    # other tests here run the demo too, into the same indices: start from this demo's bucket alone
    client.indices.delete(index="events-demo-*", ignore_unavailable=True, allow_no_indices=True)
    for _ in range(2):
        again = run_log_index_stage(
            workdir / "bucket", workdir, opensearch_url, "events-demo-", numeric_attributes=DEMO_NUMERIC_ATTRIBUTES
        )
        assert (again.dead_lettered, again.quarantined) == ([], 0)
        client.indices.refresh(index="events-demo-*")
        assert client.count(index="events-demo-*")["count"] == stored
    # the promoted sample attribute aggregates: the carts' totals of the checkout lines
    body = {
        "size": 0,
        "query": {"term": {"service": "checkout"}},
        "aggs": {"t": {"sum": {"field": "attributes_number.cart.total_cents"}}},
    }
    assert client.search(index="events-demo-*", body=body)["aggregations"]["t"]["value"] > 0


def test_dashboard_page_draws_every_chart_from_the_demo_indices(demo: tuple[DemoReport, Path]) -> None:
    report, workdir = demo
    assert report.dashboard is not None and report.realtime is not None
    assert report.dashboard.points >= len(report.realtime.windows)  # the error-rate chart has a point per window
    assert report.dashboard.timeline_bars >= 1
    assert all(rows > 0 for rows in report.dashboard.tables.values())
    page = (workdir / "dashboard.html").read_text()
    assert "checkout" in page and "checkout-error-rate" in page
    assert "http://" not in page and "https://" not in page  # opens without network access


def test_replay_of_your_own_logs_counts_every_line(tmp_path: Path, opensearch_url: str) -> None:
    from opsanalytics.local.pipeline import run_replay

    log = tmp_path / "service.log"
    lines = [
        f"2026-01-01T10:{i // 60:02d}:{i % 60:02d}Z {'ERROR' if i % 10 == 0 else 'INFO'} step {i}" for i in range(300)
    ]
    log.write_text("\n".join(lines) + "\n")
    report = run_replay([log], tmp_path / "replay", log_group="/ecs/my-service", opensearch_url=opensearch_url)
    assert report.events_generated == 300
    assert report.transform is not None and report.transform.events_stored == 300
    assert report.realtime is not None and report.realtime.events_in_windows == 300
    assert sum(w["errors"] for w in report.realtime.windows) == 30
    assert {w["service"] for w in report.realtime.windows} == {"my-service"}
    assert report.batch is not None and report.batch.events == 300
    assert any(index.startswith("metrics-realtime-replay-") for index in report.documents)
