"""The real PyFlink realtime job on the local mini-cluster against the reference `compute_windows`.

One generated logs stream (six services and log groups, more files than parallelism, out-of-order
batches, a late batch, a control message and malformed records) runs twice, once per runtime mode:

- batch: every window equals the reference exactly (counts) and to 1e-9 relative (percentiles: the job
  calls the same percentile function on the same values, so only float noise could differ);
- streaming: as in AWS, events behind the watermark are reported late; windows plus late counts add up
  to the reference for every window, so nothing is dropped silently.
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

from opsanalytics.local.samples import DEFAULT_START_MS, Incident, SampleBatch, generate_sample_batches
from opsanalytics.logevents.cloudwatch import control_message_payload, encode_subscription_payload
from opsanalytics.logevents.model import LogEvent
from opsanalytics.realtime.local import RealtimeReport, run_realtime
from opsanalytics.realtime.windows import MetricWindow, compute_windows
from opsanalytics.streams import write_stream
from opsanalytics.transform.firehose import transform_record

pytestmark = pytest.mark.integration

PARALLELISM = 2
RECORDS_PER_FILE = 40
LATE_MINUTE = 0  # the late batch belongs to the first minute and arrives at the very end

MALFORMED: dict[str, bytes] = {
    "invalid-gzip": b"this is not gzip",
    "invalid-json": gzip.compress(b"{not json", mtime=0),
    "invalid-envelope": encode_subscription_payload(
        log_group="/aws/lambda/checkout", log_stream="s", log_events=[{"id": "1", "message": "no timestamp"}]
    ),
}


def _records() -> tuple[list[bytes], int]:
    """The stream's records, and how many events the late batch carries."""
    batches = list(generate_sample_batches(minutes=8, incident=Incident(start_minute=3, minutes=2)))
    records: list[bytes] = []
    for index, batch in enumerate(batches):
        if index % 7 == 3:  # out of order inside a record, as CloudWatch may deliver after a retry
            batch.events.reverse()
        records.append(batch.payload())
        if index == 5:
            records.append(control_message_payload())
        if index in (10, 20, 30):
            records.append(list(MALFORMED.values())[index // 10 - 1])
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
    records.append(late.payload())
    return records, len(late.events)


def _reference_events(records: list[bytes]) -> Iterator[LogEvent]:
    """The events the Firehose transformer archives for the same records (one shared parser)."""
    import base64

    for index, record in enumerate(records):
        outcome = transform_record(str(index), base64.b64encode(record))
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
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[MetricWindow], int, int]:
    records, late_batch = _records()
    directory = tmp_path_factory.mktemp("logs-stream")
    write_stream(directory, records, records_per_file=RECORDS_PER_FILE)
    files = len(list(directory.iterdir()))
    return directory, compute_windows(_reference_events(records)), late_batch, files


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
        progress=False,
    )
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


def test_streaming_windows_plus_late_events_add_up(streaming_run: Run) -> None:
    report = streaming_run.report
    actual = {_key(w): w for w in report.windows}
    assert len(actual) == len(report.windows), "one document per window"
    for key, want in ((_key(w), w) for w in streaming_run.reference):
        on_time = actual[key]["events"] if key in actual else 0
        assert on_time + report.late.get(key, 0) == want["events"], key
    assert set(actual) | set(report.late) <= {_key(w) for w in streaming_run.reference}
    assert report.events_read == sum(w["events"] for w in streaming_run.reference)


def test_streaming_reports_the_late_batch(streaming_run: Run) -> None:
    late_window = next(
        w for w in streaming_run.reference if w["service"] == "payments" and w["window_start"] == "2026-01-01T10:00:00Z"
    )
    assert streaming_run.report.late[_key(late_window)] >= streaming_run.late_batch


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

    windows, _late, rejected = collect_outputs(app / "output")
    assert {_key(w): w["events"] for w in windows} == {_key(w): w["events"] for w in reference}
    assert sum(rejected.values()) == len(MALFORMED) + 1  # the malformed records and the control message
