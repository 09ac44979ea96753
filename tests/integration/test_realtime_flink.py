"""The real PyFlink realtime job on the local mini-cluster against the reference `compute_windows`.

One generated logs stream (six services and log groups, four shards delivered 1-60 s late as CloudWatch
delivers, out-of-order batches, a batch that arrives long after its window, a control message and malformed
records) runs in both runtime modes:

- batch: every window equals the reference exactly (counts) and to 1e-9 relative (percentiles: the job
  calls the same percentile function on the same values, so only float noise could differ);
- streaming, replayed at 30 times real time by arrival: windows are emitted as the watermark passes them and
  corrected by later events; after the allowed lateness every window equals the reference, except the one the
  very late batch belongs to, which counts that batch in its ``late_events``.

And the input of a new user's first try: four files that each cover the same half hour, in streaming mode,
give exactly the batch windows.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("pyflink")

from opsanalytics.local.delivery import DelayDistribution, deliver
from opsanalytics.local.samples import DEFAULT_START_MS, Incident, SampleBatch, generate_sample_batches
from opsanalytics.logevents.cloudwatch import control_message_payload, encode_subscription_payload
from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.rules import NO_RULES, load_rule_file
from opsanalytics.paths import default_metrics, default_parser_rules
from opsanalytics.realtime.declared import DeclaredMetric, compute_declared, load_metrics_file
from opsanalytics.realtime.local import RealtimeReport, run_realtime
from opsanalytics.realtime.windows import MetricWindow, compute_windows
from opsanalytics.streams import write_shards, write_stream
from opsanalytics.transform.firehose import transform_record

pytestmark = pytest.mark.integration

PARALLELISM = 2
SHARDS = 4
MINUTES = 8
LATE_MINUTE = 0  # the late batch belongs to the first minute and arrives at the very end
ALLOWED_LATENESS_SECONDS = 120
OUT_OF_ORDERNESS_SECONDS = 5
MAX_DELAY_SECONDS = 60
REPLAY_SPEED = 30.0

MALFORMED: dict[str, bytes] = {
    "invalid-gzip": b"this is not gzip",
    "invalid-json": gzip.compress(b"{not json", mtime=0),
    "invalid-envelope": encode_subscription_payload(
        log_group="/aws/lambda/checkout", log_stream="s", log_events=[{"id": "1", "message": "no timestamp"}]
    ),
}


def _records() -> tuple[list[list[tuple[int, bytes]]], list[bytes], int]:
    """The stream's shards of (arrival ms, record), every record, and how many events the late batch carries."""
    batches = list(generate_sample_batches(minutes=MINUTES, incident=Incident(start_minute=3, minutes=2)))
    for index, batch in enumerate(batches):
        if index % 7 == 3:  # out of order inside a record, as CloudWatch may deliver after a retry
            batch.events.reverse()
    shards = deliver(batches, SHARDS, DelayDistribution(1, MAX_DELAY_SECONDS))
    # a control message and malformed records, on the first shard, where they arrive
    first = shards[0]
    extras = [control_message_payload(), *MALFORMED.values()]
    for n, extra in enumerate(extras):
        position = (n + 1) * len(first) // (len(extras) + 1)
        first.insert(position, (first[position - 1][0], extra))
    late = SampleBatch("/ecs/payments", "ecs/payments/late")
    for n in range(25):
        ts = DEFAULT_START_MS + LATE_MINUTE * 60_000 + 1_000 + n * 1_000
        late.events.append(
            {
                "id": f"late-{n}",
                "timestamp": ts,
                "message": orjson.dumps({"level": "ERROR", "latency_ms": n}).decode(),
            }
        )
    last_arrival = max(arrival for shard in shards for arrival, _ in shard)
    shards[1].append((last_arrival + 1_000, late.payload()))  # minutes after its window's lateness ended
    records = [record for shard in shards for _, record in shard]
    return shards, records, len(late.events)


def _reference_events(records: list[bytes]) -> Iterator[LogEvent]:
    """The events the Firehose transformer archives for the same records (one shared parser, and the declared
    rules of config/parsers.yaml the local job applies)."""
    import base64

    rule_file = default_parser_rules()
    rules = load_rule_file(str(rule_file)) if rule_file else NO_RULES
    for index, record in enumerate(records):
        outcome = transform_record(str(index), base64.b64encode(record), rules)
        if outcome.result == "Ok":
            for line in outcome.data.splitlines():
                yield orjson.loads(line)


class Run:
    def __init__(self, report: RealtimeReport, reference: list[MetricWindow], late_batch: int, files: int) -> None:
        self.report = report
        self.reference = reference
        self.late_batch = late_batch
        self.files = files


@pytest.fixture(scope="module")
def generated() -> tuple[list[list[tuple[int, bytes]]], list[LogEvent], int]:
    shards, records, late_batch = _records()
    return shards, list(_reference_events(records)), late_batch


@pytest.fixture(scope="module")
def stream(
    generated: tuple[list[list[tuple[int, bytes]]], list[LogEvent], int], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[MetricWindow], int, int]:
    shards, events, late_batch = generated
    directory = tmp_path_factory.mktemp("logs-stream")
    write_shards(directory, shards)
    files = len(list(directory.iterdir()))
    return directory, compute_windows(events), late_batch, files


@pytest.fixture(scope="module")
def declared_reference(generated: tuple[list[list[tuple[int, bytes]]], list[LogEvent], int]) -> list[DeclaredMetric]:
    """The documents of config/metrics.yaml's metrics, which the local job computes."""
    metrics = default_metrics()
    assert metrics is not None
    return compute_declared(load_metrics_file(str(metrics)), generated[1])


@pytest.fixture(scope="module")
def batch_run(stream: tuple[Path, list[MetricWindow], int, int], tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory, reference, late_batch, files = stream
    report = run_realtime(directory, tmp_path_factory.mktemp("metrics-batch"), parallelism=PARALLELISM, progress=False)
    return Run(report, reference, late_batch, files)


@pytest.fixture(scope="module")
def streaming_run(stream: tuple[Path, list[MetricWindow], int, int], tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory, reference, late_batch, files = stream
    report = run_realtime(
        directory,
        tmp_path_factory.mktemp("metrics-streaming"),
        parallelism=PARALLELISM,
        runtime_mode="streaming",
        out_of_orderness_seconds=OUT_OF_ORDERNESS_SECONDS,
        allowed_lateness_seconds=ALLOWED_LATENESS_SECONDS,
        replay_speed=REPLAY_SPEED,
        progress=False,
    )
    print(report.summary())
    return Run(report, reference, late_batch, files)


def _key(window: Any) -> tuple[str, str, str]:
    return (window["service"], window["log_group"], window["window_start"])


def test_input_has_more_files_than_parallelism(batch_run: Run) -> None:
    assert batch_run.files > PARALLELISM


def test_batch_windows_equal_reference(batch_run: Run) -> None:
    actual = {_key(w): w for w in batch_run.report.windows}
    expected = {_key(w): w for w in batch_run.reference}
    assert len(batch_run.report.windows) == len(actual), "one document per window"
    assert actual.keys() == expected.keys()
    assert len({w["service"] for w in batch_run.reference}) >= 6
    for key, want in expected.items():
        got = actual[key]
        for name in (
            "schema_version",
            "record_type",
            "window_end",
            "events",
            "errors",
            "latency_count",
            "late_events",
        ):
            assert got[name] == want[name], (key, name)
        assert math.isclose(got["error_rate"], want["error_rate"], rel_tol=1e-12)
        for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms"):
            g, w = got[name], want[name]  # type: ignore[literal-required]
            assert (g is None) == (w is None), (key, name)
            if g is not None:
                assert math.isclose(g, w, rel_tol=1e-9), (key, name, g, w)


def test_batch_counts_every_event_and_nothing_late(batch_run: Run) -> None:
    assert batch_run.report.events_read == sum(w["events"] for w in batch_run.reference)
    assert batch_run.report.late_events == 0


def test_rejected_records_are_counted(batch_run: Run, streaming_run: Run) -> None:
    want = {"control-message": 1, **dict.fromkeys(MALFORMED, 1)}
    assert dict(batch_run.report.rejected) == want
    assert dict(streaming_run.report.rejected) == want


FLOAT_FIELDS = ("error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms")


def _same_window(got: Any, want: Any) -> bool:
    """Equal but for the revision, the floats to 1e-9 relative (float noise only)."""
    for name, value in want.items():
        if name == "revision":
            continue
        if name in FLOAT_FIELDS and value is not None and got[name] is not None:
            if not math.isclose(got[name], value, rel_tol=1e-9):
                return False
        elif got[name] != value:
            return False
    return got.keys() == want.keys()


def test_streaming_windows_after_the_lateness_equal_the_reference(streaming_run: Run) -> None:
    report = streaming_run.report
    late_key = ("payments", "/ecs/payments", "2026-01-01T10:00:00Z")
    actual = {_key(w): w for w in report.windows}
    assert actual.keys() == {_key(w) for w in streaming_run.reference}
    for want in streaming_run.reference:
        got = actual[_key(want)]
        if _key(want) == late_key:
            continue
        assert _same_window(got, want), (got, want)
    # the very late batch: counted in its window's late_events, not in its figures
    late_window = actual[late_key]
    reference = next(w for w in streaming_run.reference if _key(w) == late_key)
    assert late_window["late_events"] == streaming_run.late_batch
    assert late_window["events"] + late_window["late_events"] == reference["events"]
    assert report.events_read == sum(w["events"] for w in streaming_run.reference)


def test_streaming_corrects_windows_and_emits_them_first_soon_after_their_end(streaming_run: Run) -> None:
    report = streaming_run.report
    assert report.corrected >= 1, "delays up to 60 s against a 5 s bound must correct some windows"
    assert report.emissions > len(report.windows)
    assert len(report.first_emission_delays_ms) == len(report.windows)
    # The watermark passes a window's end once an event the bound newer has been delivered: the bound, plus how
    # long the freshest log stream's batch took to arrive (its span, then a delay of 1 s to 60 s here).
    passed = report.watermark_delays_ms
    assert len(passed) >= len(report.windows) - 20  # the last minute's windows are closed by the end of input
    assert all(OUT_OF_ORDERNESS_SECONDS * 1000 <= delay <= 120 * 1000 for delay in passed)
    # From there the job emits the window within its processing time (magnified 30 times in arrival time by a
    # replay at 30x real time): at most a few seconds.
    assert len(report.processing_ms) == len(passed)
    assert all(lag >= -1000 for lag in report.processing_ms), report.summary()
    assert sorted(report.processing_ms)[len(passed) // 2] <= 1000, report.summary()
    assert max(report.processing_ms) <= 5000, report.summary()


def test_four_files_of_the_same_half_hour_give_exact_windows_in_streaming_mode(tmp_path: Path) -> None:
    """A new user's first try: four files that each cover the same 30 minutes (20,000 events), no arrival
    stamps. Read one after another, every file after the first would be late; read by arrival, none is."""
    batches = list(generate_sample_batches(minutes=30, scale=1.36, incident=None))
    files: list[list[bytes]] = [[], [], [], []]
    for index, batch in enumerate(batches):
        files[index % 4].append(batch.payload())
    directory = tmp_path / "stream"
    directory.mkdir()
    for index, records in enumerate(files):
        write_stream(directory / f"part-{index}", records)
        (directory / f"part-{index}" / "shard-00000.b64").rename(directory / f"file-{index}.b64")
        (directory / f"part-{index}").rmdir()
    reference = compute_windows(_reference_events([r for records in files for r in records]))
    assert 18_000 <= sum(w["events"] for w in reference) <= 22_000
    report = run_realtime(
        directory,
        tmp_path / "metrics",
        parallelism=PARALLELISM,
        runtime_mode="streaming",
        replay_speed=120.0,
        progress=False,
    )
    print(report.summary())
    assert report.late_events == 0
    assert len(report.windows) == len(reference)
    for got, want in zip(report.windows, reference, strict=True):
        assert _same_window(got, want), (got, want)


def _same_declared(got: DeclaredMetric, want: DeclaredMetric) -> bool:
    """Equal but for the revision, sums and averages to 1e-9 relative (partial sums add up in another order)."""
    for name, value in want.items():
        if name == "revision":
            continue
        actual = got[name]  # type: ignore[literal-required]
        if isinstance(value, float) and isinstance(actual, float):
            if not math.isclose(actual, value, rel_tol=1e-9):
                return False
        elif actual != value:
            return False
    return got.keys() == want.keys()


def test_declared_metrics_equal_the_reference_in_both_modes(
    batch_run: Run, streaming_run: Run, declared_reference: list[DeclaredMetric]
) -> None:
    """config/metrics.yaml's metrics, computed by the job's decoder rows and keyed windows, equal the reference in
    batch mode; in streaming mode too once the lateness has passed (the very late batch feeds none of them)."""
    assert {doc["metric"] for doc in declared_reference} >= {"checkout_value", "server_error_ratio"}
    for report in (batch_run.report, streaming_run.report):
        assert len(report.declared) == len(declared_reference)
        for got, want in zip(report.declared, declared_reference, strict=True):
            assert _same_declared(got, want), (got, want)
    assert all(doc["revision"] == 1 for doc in batch_run.report.declared)


BUILT_ZIP = Path(__file__).resolve().parents[2] / "build" / "flink" / "opsanalytics-realtime.zip"


@pytest.mark.skipif(not BUILT_ZIP.is_file(), reason="build the application zip first: python flink/build_zip.py")
def test_the_application_zip_runs_as_managed_flink_runs_it(
    stream: tuple[Path, list[MetricWindow], int, int], tmp_path: Path
) -> None:
    """The zip the deploy uploads, unpacked, run with ``python main.py`` from its own directory: its bundled
    ``python-deps/`` (the core, orjson) and its own ``application_properties.json``, with only the source and
    sink pointed at local directories. Its windows equal the reference."""
    import json
    import subprocess
    import sys
    import zipfile

    directory, reference, _late_batch, _files = stream
    app = tmp_path / "app"
    with zipfile.ZipFile(BUILT_ZIP) as archive:
        archive.extractall(app)
    properties = app / "application_properties.json"
    groups = json.loads(properties.read_text())
    for group in groups:
        if group["PropertyGroupId"] in ("source", "sink"):
            group["PropertyMap"]["stream.arn"] = ""
        if group["PropertyGroupId"] == "source":
            group["PropertyMap"]["local.path"] = str(directory)
        if group["PropertyGroupId"] == "sink":
            group["PropertyMap"]["local.path"] = "output"  # relative: resolved against the application directory
        if group["PropertyGroupId"] == "job":
            group["PropertyMap"]["parallelism"] = str(PARALLELISM)
    properties.write_text(json.dumps(groups))
    # a fresh process as Managed Flink starts one: nothing of this one's environment (no PYTHONPATH, none of the
    # variables PyFlink sets in a process that ran a job), so the packaged core is what runs
    kept = ("PATH", "HOME", "JAVA_HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {key: os.environ[key] for key in kept if key in os.environ}
    env["JVM_ARGS"] = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    probe = "import sys; sys.path.insert(0, 'python-deps'); import opsanalytics; print(opsanalytics.__file__)"
    found = subprocess.run([sys.executable, "-c", probe], cwd=app, env=env, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()).is_relative_to(app / "python-deps"), found.stdout
    command = [sys.executable, "main.py"]
    done = subprocess.run(command, cwd=app, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    from opsanalytics.realtime.local import collect_outputs

    windows, _emissions, rejected = collect_outputs(app / "output")
    assert {_key(w): w["events"] for w in windows} == {_key(w): w["events"] for w in reference}
    assert sum(rejected.values()) == len(MALFORMED) + 1  # the malformed records and the control message
