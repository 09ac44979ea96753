"""The local pipeline on a small data set: counts must add up at every stage boundary."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

from opsanalytics.cli import main
from opsanalytics.local.pipeline import run_demo


def test_demo_counts_add_up(tmp_path: Path) -> None:
    report = run_demo(tmp_path / "demo", minutes=4, scale=0.5, seed=1)
    firehose = report.transform
    assert firehose is not None
    # every stream record got exactly one result
    assert firehose.firehose.records_in == report.records_generated + 3
    assert firehose.firehose.results == {"Ok": report.records_generated, "Dropped": 1, "ProcessingFailed": 2}
    # every generated log event is stored once under events/
    assert firehose.events_stored == report.events_generated
    bucket = tmp_path / "demo" / "bucket"
    ids = []
    for path in sorted((bucket / "events").rglob("*.gz")):
        assert path.parent.name.startswith("hour=") and path.parent.parent.name.startswith("dt=")
        ids.extend(json.loads(line)["event_id"] for line in gzip.decompress(path.read_bytes()).splitlines())
    assert len(ids) == len(set(ids)) == report.events_generated
    # the raw backup holds every source record untouched
    raw = [line for p in (bucket / "raw").rglob("*.gz") for line in gzip.decompress(p.read_bytes()).splitlines()]
    stream = [line for p in (tmp_path / "demo" / "streams" / "logs").iterdir() for line in p.read_bytes().splitlines()]
    assert sorted(raw) == sorted(stream)
    # failed records are kept with their data and the reason
    errors = [
        json.loads(line)
        for p in (bucket / "errors" / "processing-failed").rglob("*.gz")
        for line in gzip.decompress(p.read_bytes()).splitlines()
    ]
    assert len(errors) == 2
    assert all(e["errorMessage"].startswith("invalid-gzip") for e in errors)
    assert all(base64.b64decode(e["rawData"]) for e in errors)
    assert [f.record_id for f in firehose.firehose.failed] == [e["recordId"] for e in errors]


def test_demo_command_prints_a_summary(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["demo", "--workdir", str(tmp_path / "d"), "--minutes", "2"]) == 0
    out = capsys.readouterr().out
    assert "ProcessingFailed" in out and "log events stored" in out


def test_transform_command_reports_a_missing_stream(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["transform", "--input", str(tmp_path / "nope"), "--bucket", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err
