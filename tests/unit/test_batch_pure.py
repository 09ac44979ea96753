"""The batch job's pure Python: message signatures, SLO maths and configuration, settings, planning."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from opsanalytics.batch.accuracy import Accuracy, RealtimeCounts, WindowCounts, compare
from opsanalytics.batch.inputs import (
    HOUR_MS,
    NoBookmark,
    PlanState,
    PlanStore,
    StateFileBookmark,
    day_start_ms,
    files_for_hours,
    find_corrupt_files,
    gzip_problem,
    list_inputs,
    new_input,
    plan_hours,
)
from opsanalytics.batch.settings import BatchSettings, parse_time
from opsanalytics.batch.slo import (
    SloConfig,
    SloCounts,
    SloObjective,
    availability,
    error_budget_remaining,
    load_slo_config,
    slo_report,
)
from opsanalytics.logevents.signatures import normalise_message, signature_id
from opsanalytics.paths import project_root
from opsanalytics.ports import StoredObject
from opsanalytics.settings import SettingsError
from opsanalytics.storage import DirectoryStore


@pytest.mark.parametrize(
    ("message", "signature"),
    [
        (
            "Timeout calling payment gateway after 4200 ms (order 3f2b8c1e-5d4a-4b6f-a1e2-9c8d7e6f5a4b)",
            "Timeout calling payment gateway after <num> ms (order <uuid>)",
        ),
        (
            "Database connection refused: host db-17.internal port 5432",
            "Database connection refused: host db-<num>.internal port <num>",
        ),
        ("Upstream returned 503 for request 9f86d081884c7d65", "Upstream returned <num> for request <hex>"),
        ("pointer 0xDEADBEEF freed twice", "pointer <hex> freed twice"),
        ("mail to jane.doe+x@example.co.uk bounced", "mail to <email> bounced"),
        ("client 203.0.113.7:443 reset", "client <ip> reset"),
        ("[ERROR]\t2026-01-01T10:00:00.123Z\tabc failed", "[ERROR] <ts> abc failed"),
        ('10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /x"', '<ip> - - [<ts>] "GET /x"'),
        ("KeyError: 'customer_id'\nTraceback (most recent call last):\n  File x", "KeyError: 'customer_id'"),
        ("deadbeef is a word, cafe too", "deadbeef is a word, cafe too"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalise_message(message: str | None, signature: str) -> None:
    assert normalise_message(message) == signature


def test_same_error_with_other_ids_has_one_signature() -> None:
    a = normalise_message("KeyError: 'customer_id' while handling order 11111111-2222-4333-a444-555555555555")
    b = normalise_message("KeyError: 'customer_id' while handling order 99999999-8888-4777-a666-555555555555")
    assert a == b
    assert signature_id(a) == signature_id(b)
    assert len(signature_id(a)) == 24
    assert signature_id(a) != signature_id(normalise_message("other"))


def test_availability_and_error_budget() -> None:
    assert availability(1000, 1) == pytest.approx(0.999)
    assert availability(0, 0) is None
    # target 99.5 %: budget 0.5 %; 0.1 % failed uses a fifth of it
    assert error_budget_remaining(0.999, 0.995) == pytest.approx(0.8)
    assert error_budget_remaining(0.995, 0.995) == pytest.approx(0.0)
    assert error_budget_remaining(0.99, 0.995) == pytest.approx(-1.0)
    assert error_budget_remaining(1.0, 0.995) == pytest.approx(1.0)
    assert error_budget_remaining(None, 0.995) is None
    with pytest.raises(ValueError, match="invalid counts"):
        availability(1, 2)
    with pytest.raises(ValueError, match="target"):
        error_budget_remaining(0.9, 1.0)


def test_slo_report() -> None:
    report = slo_report(SloCounts(requests=2000, failed=4, timed=1000, fast=960), SloObjective(0.999, 500, 0.95))
    assert report["availability"] == pytest.approx(0.998)
    assert report["availability_met"] is False
    assert report["error_budget_remaining"] == pytest.approx(-1.0)
    assert report["latency_attainment"] == pytest.approx(0.96)
    assert report["latency_met"] is True
    assert report["latency_budget_remaining"] == pytest.approx(0.2)
    empty = slo_report(SloCounts(0, 0, 0, 0), SloObjective())
    assert empty["availability"] is None
    assert empty["availability_met"] is None


def test_slo_config_file_and_overrides(tmp_path: Path) -> None:
    config = load_slo_config(project_root() / "config" / "slo.yaml")
    assert config.for_service("checkout").availability_target == 0.999
    assert config.for_service("checkout").latency_target == config.defaults.latency_target
    assert config.for_service("unknown") == config.defaults
    assert load_slo_config(None) == SloConfig()
    bad = tmp_path / "slo.yaml"
    bad.write_text("defaults:\n  availability_target: 1.5\n")
    with pytest.raises(SettingsError, match="between 0 and 1"):
        load_slo_config(bad)
    bad.write_text("services:\n  a:\n    availabilty_target: 0.9\n")
    with pytest.raises(SettingsError, match="unknown keys"):
        load_slo_config(bad)


def test_settings_from_job_arguments() -> None:
    settings = BatchSettings.from_job_arguments(
        {"bucket": "s3://archive", "from": "2026-01-01T10:30", "to": "2026-01-02T00:00Z", "sink": "none"}
    )
    assert settings.from_time == datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert settings.range_days() == [date(2026, 1, 1)]
    assert settings.uri("curated/rollups/") == "s3://archive/curated/rollups/"
    with pytest.raises(SettingsError, match="--from and --to"):
        BatchSettings.from_job_arguments({"bucket": "s3://b", "from": "2026-01-01", "sink": "none"})
    with pytest.raises(SettingsError, match=r"s3://<bucket> or a directory"):
        BatchSettings.from_job_arguments({"bucket": "archive", "sink": "none"})  # a name alone: which one?
    with pytest.raises(SettingsError, match="OpenSearch URL"):
        BatchSettings.from_job_arguments({"bucket": "s3://b"})
    with pytest.raises(SettingsError, match="true or false"):
        BatchSettings.from_job_arguments({"bucket": "s3://b", "sink": "none", "full": "maybe"})
    with pytest.raises(SettingsError, match="--sink must be one of"):
        BatchSettings.from_job_arguments({"bucket": "b", "sink": "kafka"})
    with pytest.raises(SettingsError, match="ISO-8601"):
        parse_time("yesterday")


def _file(key: str) -> StoredObject:
    return StoredObject(key, f"file:///b/{key}", 10, 1)


JAN_31 = day_start_ms(date(2026, 1, 31))
FEB_1 = day_start_ms(date(2026, 2, 1))
DELAY_MS = 60 * 60_000


def test_objects_of_an_hour_are_its_partition_and_the_stragglers_the_index_names() -> None:
    files = [
        _file("events/dt=2026-01-31/hour=22/a.gz"),
        _file("events/dt=2026-01-31/hour=23/b.gz"),  # a record spanning midnight: events of 00:00 too
        _file("events/dt=2026-02-01/hour=00/c.gz"),
        _file("events/dt=2026-02-02/hour=05/d.ndjson"),  # replayed history: events of 2026-01-31 22:00
    ]
    state = PlanState()
    state.index(
        {
            files[1].uri: {JAN_31 + 23 * HOUR_MS, FEB_1},
            files[3].uri: {JAN_31 + 22 * HOUR_MS},
            files[2].uri: {FEB_1},
        },
        files,
    )
    assert state.stragglers == {files[1].key: [FEB_1], files[3].key: [JAN_31 + 22 * HOUR_MS]}
    assert [f.key for f in files_for_hours(files, [FEB_1], state)] == [files[1].key, files[2].key]
    assert [f.key for f in files_for_hours(files, [JAN_31 + 22 * HOUR_MS], state)] == [files[0].key, files[3].key]


def test_plan_recomputes_the_hours_of_new_events_and_finalizes_days_once_they_close() -> None:
    state = PlanState()
    # 00:30 on Feb 1: January 31 closes at 01:00 (its end plus the delay), so it stays open
    plan = plan_hours({JAN_31 + 23 * HOUR_MS}, state, now_ms=FEB_1 + 30 * 60_000, close_delay_ms=DELAY_MS)
    assert plan.hours == [JAN_31 + 23 * HOUR_MS]
    assert (plan.days, plan.open_days) == ([], {date(2026, 1, 31)})
    state.open_days = plan.open_days
    # 01:05: nothing new of January 31, but it has closed: all of its hours, once
    plan = plan_hours({FEB_1}, state, now_ms=FEB_1 + 65 * 60_000, close_delay_ms=DELAY_MS)
    assert plan.days == [date(2026, 1, 31)]
    assert plan.hours == [*range(JAN_31, JAN_31 + 24 * HOUR_MS, HOUR_MS), FEB_1]
    assert plan.open_days == {date(2026, 2, 1)}
    # a late file for the closed day: finalized again
    state.open_days = plan.open_days
    plan = plan_hours({JAN_31 + 5 * HOUR_MS}, state, now_ms=FEB_1 + 5 * HOUR_MS, close_delay_ms=DELAY_MS)
    assert plan.days == [date(2026, 1, 31)]
    assert plan.open_days == {date(2026, 2, 1)}


def test_a_range_run_finalizes_its_days_and_reads_no_new_input() -> None:
    files = [_file("events/dt=2026-02-01/hour=00/c.gz"), _file("events/stray.gz")]
    settings = BatchSettings(
        bucket="/b", sink="none", from_time=parse_time("2026-02-01T06:00"), to_time=parse_time("2026-02-01T07:00")
    )
    partitioned, new, unpartitioned = new_input(settings, files, NoBookmark())
    assert ([f.key for f in partitioned], new, [f.key for f in unpartitioned]) == (
        ["events/dt=2026-02-01/hour=00/c.gz"],
        [],
        ["events/stray.gz"],
    )
    range_days = settings.range_days()
    assert range_days == [date(2026, 2, 1)]
    plan = plan_hours((), PlanState(), now_ms=FEB_1, close_delay_ms=DELAY_MS, explicit_days=range_days)
    assert plan.days == [date(2026, 2, 1)]
    assert len(plan.hours) == 24


def test_plan_state_round_trips(tmp_path: Path) -> None:
    store = PlanStore(DirectoryStore(tmp_path))
    assert store.load() == PlanState()
    state = PlanState(
        stragglers={"events/dt=2026-01-31/hour=23/b.gz": [FEB_1]},
        open_days={date(2026, 2, 1)},
        final_days={date(2026, 1, 31): "2026-02-01T01:05:00Z"},
    )
    store.save(state)
    assert store.load() == state


def test_state_file_bookmark(tmp_path: Path) -> None:
    inventory = DirectoryStore(tmp_path)
    folder = tmp_path / "events" / "dt=2026-01-01" / "hour=10"
    folder.mkdir(parents=True)
    (folder / "a.gz").write_bytes(gzip.compress(b'{"x":1}\n'))
    (folder / "b.ndjson").write_bytes(b'{"x":1}\n')
    settings = BatchSettings(bucket=str(tmp_path), sink="none")
    bookmark = StateFileBookmark(inventory)
    files = list_inputs(inventory, "events/")
    assert [f.uri for f in files] == [f"file://{folder}/a.gz", f"file://{folder}/b.ndjson"]
    _, new, _ = new_input(settings, files, bookmark)
    assert new == files
    bookmark.commit(new, [])
    assert new_input(settings, list_inputs(inventory, "events/"), bookmark)[1] == []
    (folder / "b.ndjson").write_bytes(b'{"x":1}\n{"x":2}\n')  # changed: new again
    assert [f.key for f in bookmark.new_files(list_inputs(inventory, "events/"))] == [
        "events/dt=2026-01-01/hour=10/b.ndjson"
    ]


def test_gzip_problems_are_found(tmp_path: Path) -> None:
    body = gzip.compress(b'{"x":1}\n' * 1000)
    assert gzip_problem(io.BytesIO(body)) is None
    assert gzip_problem(io.BytesIO(body[: len(body) // 2])) is not None
    assert gzip_problem(io.BytesIO(b"plain text")) is not None
    folder = tmp_path / "events" / "dt=2026-01-01" / "hour=10"
    folder.mkdir(parents=True)
    (folder / "good.gz").write_bytes(body)
    (folder / "bad.gz").write_bytes(body[:-4])
    inventory = DirectoryStore(tmp_path)
    found = find_corrupt_files(inventory, list_inputs(inventory, "events/"))
    assert [c.uri for c in found] == [f"file://{folder}/bad.gz"]


# ---- realtime accuracy ------------------------------------------------------------------------------

H0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _minutes(*entries: tuple[int, str, int, int]) -> dict[tuple[int, str, str], WindowCounts]:
    """(minute offset from H0, service, events, errors) → batch per-minute counts of log group /svc."""
    return {
        (H0 + minute * 60_000, service, "/svc"): WindowCounts(events, errors)
        for minute, service, events, errors in entries
    }


def test_accuracy_counts_each_window_once_and_names_the_differences() -> None:
    batch = _minutes((0, "a", 10, 1), (1, "a", 5, 0), (2, "a", 4, 0), (61, "b", 7, 0))
    realtime = RealtimeCounts(
        span_ms=60_000,
        windows={
            (H0, "a", "/svc"): WindowCounts(10, 1),  # right
            (H0 + 60_000, "a", "/svc"): WindowCounts(3, 0, late_events=2),  # two after the allowed lateness
            # minute 2 never written
            (H0 + 61 * 60_000, "b", "/svc"): WindowCounts(9, 0),  # counted twice: no credit beyond the batch count
            (H0 + 62 * 60_000, "b", "/svc"): WindowCounts(1, 0),  # an event the batch job does not have
        },
    )
    first, second = compare(batch, realtime, [H0, H0 + HOUR_MS, H0 + 2 * HOUR_MS])
    assert (first.batch_events, first.realtime_events, first.counted_events, first.late_events) == (19, 13, 13, 2)
    assert (first.windows, first.windows_differing, first.windows_missing) == (3, 2, 1)
    assert [(d.window_start, d.batch_events, d.realtime_events) for d in first.differences] == [
        ("2026-01-01T00:02:00Z", 4, None),
        ("2026-01-01T00:01:00Z", 5, 3),
    ]
    assert (second.batch_events, second.realtime_events, second.counted_events) == (7, 10, 7)
    assert (second.windows, second.windows_differing, second.windows_missing) == (2, 2, 0)
    assert second.counted_share == 1.0 and first.counted_share == pytest.approx(13 / 19)
    accuracy = Accuracy(hours=[first, second])
    assert accuracy.counted_share == pytest.approx(20 / 26)
    assert "76.92 %  of 26 events" in "\n".join(accuracy.summary_lines())


def test_accuracy_sums_batch_minutes_into_the_realtime_span() -> None:
    batch = _minutes((0, "a", 1, 0), (4, "a", 2, 1), (5, "a", 3, 0))
    realtime = RealtimeCounts(
        span_ms=300_000,
        windows={(H0, "a", "/svc"): WindowCounts(3, 1), (H0 + 300_000, "a", "/svc"): WindowCounts(3, 0)},
    )
    (hour,) = compare(batch, realtime, [H0])
    assert (hour.windows, hour.windows_differing, hour.counted_events, hour.window_seconds) == (2, 0, 6, 300)


def test_a_failed_read_of_the_realtime_windows_is_reported_and_does_not_fail_the_run() -> None:
    from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

    from opsanalytics.batch.job import realtime_accuracy

    class Unreachable:
        def counts(self, start_ms: int, end_ms: int) -> RealtimeCounts:
            raise OpenSearchConnectionError("N/A", "connection refused", None)

    rows = [{"minute_start": H0, "service": "a", "log_group": "/svc", "events": 1, "errors": 0}]
    failed = realtime_accuracy(Unreachable(), rows, [H0])
    assert not failed.hours and "reading the realtime windows failed: ConnectionError" in failed.not_compared
    assert "not compared" in failed.summary_lines()[0]
    assert "no OpenSearch" in realtime_accuracy(None, rows, [H0]).not_compared
