"""The realtime job keeps its state across an edit of the metrics file, as Managed Flink restores it on an update.

A streaming run (the local mini-cluster, through the entry point Managed Flink runs) is stopped with a savepoint
part-way through a paced replay; a second run restores the savepoint with ``execution.savepoint.ignore-unclaimed-
state`` off (Managed Flink's ``AllowNonRestoredState`` false) and a changed ``config/metrics.yaml``: one metric
removed, one edited, one added. If declared metrics changed the job's plan, the restore would fail.

Then: every metric window of both runs together equals the reference (the restored state neither lost nor
double-counted an event); the windows that only the second run saw hold exactly the edited file's metrics. (The
restored file sink resumes the first run's in-progress file, so the two runs' documents are read together; the
removed metric's documents tell what the first run emitted.)
"""

from __future__ import annotations

import base64
import math
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("pyflink")

from opsanalytics.local.delivery import DelayDistribution, deliver
from opsanalytics.local.samples import Incident, generate_sample_batches
from opsanalytics.logevents.rules import load_rule_file
from opsanalytics.paths import default_parser_rules
from opsanalytics.realtime.declared import compute_declared, parse_metrics_file
from opsanalytics.realtime.local import (
    arrival_ordered,
    flink_entry_point,
    latest_declared,
    latest_revisions,
    read_json_lines,
    write_local_properties,
)
from opsanalytics.realtime.windows import compute_windows
from opsanalytics.streams import write_shards
from opsanalytics.timestamps import parse_iso_ms
from opsanalytics.transform.firehose import transform_record

pytestmark = pytest.mark.integration

MINUTES = 10
REPLAY_SPEED = 20.0
STOP_AFTER_SECONDS = 14.0

BEFORE = """
version: 1
metrics:
  - id: checkout_value
    kind: sum
    field: cart.total_cents
    where: [{field: path, equals: /api/checkout}, {field: cart.total_cents, exists: true}]
  - id: gateway_timeouts
    kind: count
    where: {field: message, contains: Timeout calling payment gateway}
"""
AFTER = """
version: 1
metrics:
  - id: gateway_timeouts
    kind: count
    where: {field: message, regex: 'Timeout calling payment gateway after \\d+ ms'}
    dimensions: [method]
  - id: server_errors
    kind: ratio
    where: {field: status, exists: true}
    numerator: {field: status, min: 500}
"""


def _run(properties: Path, configuration: dict[str, str] | None = None) -> Any:
    return flink_entry_point().submit(properties, configuration)


@pytest.fixture(scope="module")
def restored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("snapshot")
    batches = list(generate_sample_batches(minutes=MINUTES, incident=Incident(start_minute=4, minutes=3)))
    shards = deliver(batches, 2, DelayDistribution(1, 10))
    write_shards(root / "stream", shards)
    source = arrival_ordered(root / "stream", root / "merged")
    before, after = root / "before.yaml", root / "after.yaml"
    before.write_text(BEFORE)
    after.write_text(AFTER)
    common = {"source": source, "runtime_mode": "streaming", "replay_speed": REPLAY_SPEED, "parallelism": 1}
    first = write_local_properties(root / "first.json", sink=root / "out-1", metrics=before, **common)
    result = _run(first)
    time.sleep(STOP_AFTER_SECONDS)
    client = result.get_job_client()
    savepoint = client.stop_with_savepoint(False, (root / "savepoints").as_uri()).result()
    second = write_local_properties(root / "second.json", sink=root / "out-2", metrics=after, **common)
    restore = {"execution.savepoint.path": savepoint, "execution.savepoint.ignore-unclaimed-state": "false"}
    _run(second, restore).wait()  # raises when the savepoint cannot be restored into the job
    rules = load_rule_file(str(default_parser_rules()))  # the local job applies the checkout's rules
    events = []
    for index, (_, record) in enumerate(item for shard in shards for item in shard):
        outcome = transform_record(str(index), base64.b64encode(record), rules)
        events += [orjson.loads(line) for line in outcome.data.splitlines()]
    return {"root": root, "events": events, "savepoint": savepoint}


def _documents(root: Path, kind: str) -> list[dict[str, Any]]:
    return [*read_json_lines(root / "out-1" / kind), *read_json_lines(root / "out-2" / kind)]


def _first_run_horizon(declared: list[dict[str, Any]]) -> int:
    """The end of the newest window the first run emitted: the removed metric's documents are all its own."""
    removed = [doc for doc in declared if doc["metric"] == "checkout_value"]
    assert removed, "the first run emitted windows before the savepoint"
    return max(parse_iso_ms(doc["window_end"]) for doc in removed)


def test_the_restored_job_loses_and_doubles_no_event(restored: dict[str, Any]) -> None:
    root = restored["root"]
    _first_run_horizon(latest_declared(iter(_documents(root, "declared"))))  # its documents were committed
    windows, _ = latest_revisions(iter(_documents(root, "windows")))
    reference = compute_windows(restored["events"])
    assert len(windows) == len(reference)
    for got, want in zip(windows, reference, strict=True):
        for name, value in want.items():
            if name == "revision":
                continue
            if isinstance(value, float):
                assert math.isclose(got[name], value, rel_tol=1e-9), (want, name)  # type: ignore[literal-required]
            else:
                assert got[name] == value, (want, name)  # type: ignore[literal-required]


def test_windows_only_the_restored_job_saw_hold_the_edited_metrics(restored: dict[str, Any]) -> None:
    root = restored["root"]
    declared = latest_declared(iter(_documents(root, "declared")))
    # The first run's watermark was at most a window past its newest emitted window, and it had read events at most
    # the bound (5 s) and the delivery delay (10 s) newer than its watermark: windows from here on are the second's.
    horizon = _first_run_horizon(declared)
    cutoff = horizon + 2 * 60_000
    assert cutoff < parse_iso_ms(max(doc["window_start"] for doc in declared)), "the savepoint came too late"
    after = [doc for doc in declared if parse_iso_ms(doc["window_start"]) >= cutoff]
    want = [
        doc
        for doc in compute_declared(parse_metrics_file(AFTER, "after.yaml"), restored["events"])
        if parse_iso_ms(doc["window_start"]) >= cutoff
    ]
    assert want, "the restored run must see windows of its own"
    # the restored source went on where the first run stopped: the added metric has no document of the first windows
    added = sorted(parse_iso_ms(doc["window_start"]) for doc in declared if doc["metric"] == "server_errors")
    assert added[0] >= horizon - 2 * 60_000 > parse_iso_ms(min(doc["window_start"] for doc in declared))
    assert {doc["metric"] for doc in after} == {"gateway_timeouts", "server_errors"}
    assert after == want
