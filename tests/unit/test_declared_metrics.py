"""Declared metrics (`opsanalytics.realtime.declared`): every kind against a plain-Python reference, conditions,
bounded groups, revisions of a window under late rows, edits of the file, and the file's validation."""

from __future__ import annotations

import statistics
import time
from typing import Any

import orjson
import pytest

from opsanalytics.logevents.model import LogEvent
from opsanalytics.paths import project_root
from opsanalytics.realtime.declared import (
    MISSING,
    OTHER,
    DeclaredWindowState,
    MetricsFileError,
    WindowKey,
    add_metric_row,
    compute_declared,
    declared_document_id,
    describe_metrics,
    load_metrics_file,
    metric_on_timer,
    parse_metrics_file,
)
from opsanalytics.realtime.job import METRIC, RecordDecoder
from opsanalytics.realtime.revisions import NO_WATERMARK, WindowTiming

T0 = 1_767_261_600_000  # 2026-01-01T10:00:00Z


def event(ts: int, service: str = "shop", **fields: Any) -> LogEvent:
    attributes = fields.pop("attributes", {})
    doc: dict[str, Any] = {
        "schema_version": 3,
        "event_id": f"{ts}-{len(attributes)}",
        "timestamp": ts,
        "log_group": fields.pop("log_group", f"/ecs/{service}"),
        "log_stream": "s",
        "owner": "123456789012",
        "service": service,
        "level": fields.pop("level", "INFO"),
        "message": fields.pop("message", "ok"),
        "format": "json",
        "error": False,
        **fields,
    }
    if attributes:
        doc["attributes"] = attributes
    return doc  # type: ignore[return-value]


def config(text: str) -> Any:
    return parse_metrics_file("version: 1\nmetrics:\n" + text, "metrics.yaml")


AMOUNTS = [12.5, 3.0, 99.0, 42.0, 7.25, 18.0, 64.0, 1.0, 55.5, 23.0, 8.0]


def shop_events() -> list[LogEvent]:
    events = []
    for n, amount in enumerate(AMOUNTS):
        events.append(
            event(
                T0 + n * 1_000,
                message="order placed" if n % 3 else "order failed: card declined",
                status=500 if n % 4 == 0 else 200,
                attributes={"order.amount": amount if n != 5 else str(amount), "pay": "card" if n % 2 else "cash"},
            )
        )
    events.append(event(T0 + 30_000, message="health check"))  # no amount: not numeric for the numeric kinds
    return events


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("sum", "", sum(AMOUNTS)),
        ("avg", "", statistics.fmean(AMOUNTS)),
        ("min", "", min(AMOUNTS)),
        ("max", "", max(AMOUNTS)),
        # statistics' "inclusive" method is type 7: the windows' percentile definition
        ("percentile", "percentile: 95", statistics.quantiles(AMOUNTS, n=100, method="inclusive")[94]),
        ("percentile", "percentile: 50", statistics.median(AMOUNTS)),
    ],
)
def test_numeric_kinds_equal_a_plain_computation(kind: str, extra: str, expected: float) -> None:
    options = f", {extra}" if extra else ""
    declared = config(f"  - {{id: amount, kind: {kind}, field: order.amount, unit: EUR{options}}}\n")
    (doc,) = compute_declared(declared, shop_events())
    assert doc["value"] == pytest.approx(expected, rel=1e-12)
    assert doc["count"] == len(AMOUNTS)
    assert (doc["sum"], doc["min"], doc["max"]) == (pytest.approx(sum(AMOUNTS)), min(AMOUNTS), max(AMOUNTS))
    assert doc["unit"] == "EUR" and doc["kind"] == kind
    assert declared.stats.not_numeric["amount"] == 1  # the health check


def test_count_and_ratio_with_conditions() -> None:
    declared = config(
        "  - {id: placed, kind: count, where: {field: message, contains: order placed}}\n"
        "  - id: failing\n"
        "    kind: ratio\n"
        "    where: {field: status, exists: true}\n"
        "    numerator: {field: status, min: 500}\n"
    )
    docs = {doc["metric"]: doc for doc in compute_declared(declared, shop_events())}
    placed = sum(1 for n in range(len(AMOUNTS)) if n % 3)
    failed = sum(1 for n in range(len(AMOUNTS)) if n % 4 == 0)
    assert docs["placed"]["value"] == placed and docs["placed"]["numerator"] is None
    assert docs["failing"]["count"] == len(AMOUNTS)  # the health check has no status
    assert docs["failing"]["numerator"] == failed
    assert docs["failing"]["value"] == pytest.approx(failed / len(AMOUNTS))


@pytest.mark.parametrize(
    ("condition", "matches"),
    [
        ("{field: pay, equals: card}", 5),
        ("{field: pay, not_equals: card}", 7),  # the health check has no pay: not equal
        ("{field: pay, in: [card, voucher]}", 5),
        ("{field: message, contains: declined}", 4),
        ("{field: message, regex: '^order (placed|failed)'}", 11),
        ("{field: order.amount, min: 20}", 5),
        ("{field: attributes.order.amount, max: 8}", 4),
        ("{field: status, min: 200, }", 11),
        ("{field: order.amount, exists: false}", 1),
        ("{field: level, equals: INFO}", 12),
    ],
)
def test_conditions(condition: str, matches: int) -> None:
    declared = config(f"  - {{id: m, kind: count, where: {condition}}}\n")
    docs = compute_declared(declared, shop_events())
    assert sum(doc["count"] for doc in docs) == matches


def test_a_count_whose_events_match_nothing_is_zero() -> None:
    declared = config("  - {id: timeouts, kind: count, where: {field: message, contains: timeout}}\n")
    events = [event(T0, message="timeout"), event(T0 + 60_000, message="fine"), event(T0 + 61_000, service="other")]
    docs = compute_declared(declared, events)
    assert [(d["window_start"][11:16], d["service"], d["value"]) for d in docs] == [
        ("10:00", "shop", 1.0),
        ("10:01", "other", 0.0),
        ("10:01", "shop", 0.0),
    ]
    assert declared.stats.counted["timeouts"] == 1


def test_groups_by_service_and_dimensions_and_windows_per_metric() -> None:
    declared = config(
        "  - {id: by_method, kind: count, dimensions: [pay, region], window_seconds: 300}\n"
        "  - {id: per_minute, kind: count}\n"
    )
    events = [*shop_events(), event(T0 + 90_000, service="ledger", attributes={"pay": "card"})]
    docs = compute_declared(declared, events)
    by_method = {doc["group"]: doc for doc in docs if doc["metric"] == "by_method"}
    assert set(by_method) == {
        f"shop|pay=card|region={MISSING}",
        f"shop|pay=cash|region={MISSING}",
        f"shop|pay={MISSING}|region={MISSING}",
        f"ledger|pay=card|region={MISSING}",
    }
    assert by_method[f"ledger|pay=card|region={MISSING}"]["dimensions"] == {"pay": "card", "region": MISSING}
    assert {doc["window_end"] for doc in by_method.values()} == {"2026-01-01T10:05:00Z"}
    per_minute = [doc for doc in docs if doc["metric"] == "per_minute"]
    assert [doc["window_start"] for doc in per_minute] == ["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"]


def test_groups_beyond_the_bound_are_folded_into_other() -> None:
    declared = config("  - {id: by_user, kind: sum, field: n, dimensions: [user], max_groups: 3}\n")
    events = [
        event(T0 + user * 10 + repeat, attributes={"user": f"u{user:02d}", "n": user})
        for user in range(10)
        for repeat in range(user + 1)  # user n has n + 1 events: the top three are u09, u08, u07
    ]
    docs = {doc["group"]: doc for doc in compute_declared(declared, events)}
    assert set(docs) == {"shop|user=u09", "shop|user=u08", "shop|user=u07", OTHER}
    other = docs[OTHER]
    assert other["groups_folded"] == 7
    assert other["count"] == sum(user + 1 for user in range(7))
    assert other["value"] == sum(user * (user + 1) for user in range(7))
    assert other["service"] == OTHER and other["dimensions"] == {"user": OTHER}


def test_document_ids_are_deterministic_and_distinct() -> None:
    first = declared_document_id("1", "m", "2026-01-01T10:00:00Z", "shop|pay=card")
    assert first == declared_document_id("1", "m", "2026-01-01T10:00:00Z", "shop|pay=card")
    assert first != declared_document_id("2", "m", "2026-01-01T10:00:00Z", "shop|pay=card")  # another account
    assert first != declared_document_id("1", "m", "2026-01-01T10:00:00Z", "shop|pay=cash")


def _row(values: list[tuple[tuple[str, ...], float]]) -> list[Any]:
    """A decoded row's groups, as the decoder sends them (through JSON)."""
    groups: dict[tuple[str, ...], list[Any]] = {}
    for group, value in values:
        figures = groups.setdefault(group, [0, 0, 0.0, None, None, [], 0])
        figures[0] += 1
        figures[2] += value
        figures[3] = value if figures[3] is None else min(figures[3], value)
        figures[4] = value if figures[4] is None else max(figures[4], value)
        figures[5].append(value)
    return orjson.loads(orjson.dumps(list(groups.items())))  # type: ignore[no-any-return]


def test_a_window_is_corrected_then_finalized_then_counts_late_events() -> None:
    declared = config("  - {id: p, kind: percentile, percentile: 50, field: n}\n")
    metric = declared.metrics[0]
    timing = WindowTiming(60, allowed_lateness_seconds=120, late_retention_seconds=600)
    key = WindowKey("1", "p", T0)
    state, update = add_metric_row(None, timing, T0, NO_WATERMARK, _row([(("shop",), 10.0), (("shop",), 30.0)]))
    assert update.placement == "window" and timing.end(T0) in update.timers
    state, docs = metric_on_timer(state, metric, timing, key, timing.end(T0))
    assert [(d["revision"], d["value"], d["count"]) for d in docs] == [(1, 20.0, 2)]
    # within the lateness: corrected, percentiles and all
    state, update = add_metric_row(state, timing, T0, timing.end(T0) + 5_000, _row([(("shop",), 50.0)]))
    assert update.placement == "window" and update.timers == (timing.end(T0) + 5_001,)
    state, docs = metric_on_timer(state, metric, timing, key, timing.end(T0) + 5_001)
    assert [(d["revision"], d["value"], d["count"]) for d in docs] == [(2, 30.0, 3)]
    state, docs = metric_on_timer(state, metric, timing, key, timing.finalize_at(T0))
    assert docs == [] and state is not None and state.finalized
    # after it: only late_events move; the value stays
    state, update = add_metric_row(state, timing, T0, timing.finalize_at(T0) + 1, _row([(("shop",), 99.0)]))
    assert update.placement == "late"
    state, docs = metric_on_timer(state, metric, timing, key, timing.finalize_at(T0) + 2)
    assert [(d["revision"], d["value"], d["count"], d["late_events"]) for d in docs] == [(3, 30.0, 3, 1)]
    state, docs = metric_on_timer(state, metric, timing, key, timing.clear_at(T0))
    assert state is None
    too_late = add_metric_row(None, timing, T0, timing.clear_at(T0), _row([(("shop",), 1.0)]))
    assert too_late[1].placement == "too-late"


def test_groups_chosen_at_the_first_emission_keep_their_documents() -> None:
    declared = config("  - {id: c, kind: count, dimensions: [user], max_groups: 1}\n")
    metric = declared.metrics[0]
    timing = WindowTiming(60, 300, 600)
    key = WindowKey("1", "c", T0)
    dims = metric.dimensions
    rows = _row([(("shop", "a"), 1), (("shop", "a"), 1)])
    state, _ = add_metric_row(None, timing, T0, NO_WATERMARK, rows, dimensions=dims)
    state, _ = add_metric_row(state, timing, T0, NO_WATERMARK, _row([(("shop", "b"), 1)]), dimensions=dims)
    state, docs = metric_on_timer(state, metric, timing, key, timing.end(T0))
    assert {d["group"]: d["count"] for d in docs} == {"shop|user=a": 2, OTHER: 1}
    # b overtakes a later: a keeps its own document, b stays folded, so no document of revision 1 goes stale
    state, _ = add_metric_row(state, timing, T0, timing.end(T0) + 1, _row([(("shop", "b"), 1)] * 3), dimensions=dims)
    state, docs = metric_on_timer(state, metric, timing, key, timing.end(T0) + 2)
    assert {d["group"]: (d["count"], d["revision"]) for d in docs} == {"shop|user=a": (2, 2), OTHER: (4, 2)}


def test_a_window_kept_across_an_edit_of_the_dimensions_is_remapped_by_name() -> None:
    before = config("  - {id: c, kind: count, dimensions: [method, region]}\n").metrics[0]
    after = config("  - {id: c, kind: count, dimensions: [route, method]}\n").metrics[0]
    timing = WindowTiming(60, 300, 600)
    rows = _row([(("shop", "GET", "eu"), 1), (("shop", "POST", "us"), 1)])
    state, _ = add_metric_row(None, timing, T0, NO_WATERMARK, rows, dimensions=before.dimensions)
    # the edited decoder's rows have the new shape
    rows = _row([(("shop", "/a", "GET"), 1), (("shop", MISSING, "GET"), 1)])
    state, _ = add_metric_row(state, timing, T0, NO_WATERMARK, rows, dimensions=after.dimensions)
    _, docs = metric_on_timer(state, after, timing, WindowKey("1", "c", T0), timing.end(T0))
    assert {d["group"]: d["count"] for d in docs} == {
        "shop|route=/a|method=GET": 1,
        f"shop|route={MISSING}|method=GET": 2,  # the old GET group and the new one without a route
        f"shop|route={MISSING}|method=POST": 1,
    }


def test_groups_that_count_nothing_take_no_slot_of_those_that_do() -> None:
    declared = config("  - {id: errors, kind: count, where: {field: level, equals: ERROR}, dimensions: [route]}\n")
    quiet = [event(T0 + n, attributes={"route": f"/p{n}"}) for n in range(1_500)]
    loud = [event(T0 + 2_000 + n, level="ERROR", attributes={"route": "/checkout"}) for n in range(50)]
    for events in (quiet + loud, loud + quiet):
        docs = compute_declared(declared, events)
        assert {d["group"]: d["value"] for d in docs if d["value"]}["shop|route=/checkout"] == 50


def test_group_labels_never_collide() -> None:
    metric = config("  - {id: c, kind: count, dimensions: [a, b]}\n").metrics[0]
    from opsanalytics.realtime.declared import group_label

    assert group_label(metric, ("s", "x|b=y", "z")) != group_label(metric, ("s", "x", "y|b=z"))


def test_the_decoder_emits_one_row_per_metric_and_window() -> None:
    from opsanalytics.logevents.cloudwatch import encode_subscription_payload

    declared = config(
        "  - {id: orders, kind: count, where: {field: message, contains: order}}\n"
        "  - {id: five, kind: count, window_seconds: 300, log_groups: /other}\n"
    )
    lines = [
        {"id": str(n), "timestamp": T0 + n * 20_000, "message": orjson.dumps({"message": f"order {n}"}).decode()}
        for n in range(5)
    ]
    data = encode_subscription_payload(log_group="/ecs/shop", log_stream="s", log_events=lines)
    rows = RecordDecoder(metrics=declared).decode(data)
    metric_rows = [row for row in rows if row[0] == METRIC]
    assert [(row[2], row[3], row[4], row[6]) for row in metric_rows] == [
        ("orders", "", T0 + 40_000, 3),
        ("orders", "", T0 + 80_000, 2),
    ]  # "five" applies to /other only

    def without_arrival(rows: list[Any]) -> list[Any]:
        return [(*row[:5], *row[6:]) for row in rows]

    assert without_arrival(RecordDecoder().decode(data)) == without_arrival([row for row in rows if row[0] != METRIC])
    state = DeclaredWindowState()
    state.add(orjson.loads(metric_rows[0][8]), late=False)
    assert sum(figures[0] for figures in state.groups.values()) == 3


def test_the_shipped_file_is_valid_and_described() -> None:
    declared = load_metrics_file(str(project_root() / "config" / "metrics.yaml"))
    assert len(declared.metrics) >= 2
    lines = describe_metrics(declared)
    assert any("p95 of items" in line and "300 s windows" in line for line in lines)


def test_validation_names_the_file_the_metric_and_the_field() -> None:
    text = """
version: 1
metrics:
  - {id: ok, kind: count}
  - {id: ok, kind: count}
  - {id: bad-kind, kind: histogram}
  - {id: no-field, kind: sum}
  - {id: ratio-alone, kind: ratio}
  - {id: dims, kind: count, dimensions: [a, b, c, d]}
  - {id: window, kind: count, window_seconds: 7}
  - {id: cond, kind: count, where: {field: x, like: y}}
  - {id: backref, kind: count, where: {field: x, regex: '(a)\\1'}}
  - {id: pct, kind: percentile, field: n, percentile: 120}
  - {id: typo, kind: count, windows: 60}
"""
    with pytest.raises(MetricsFileError) as caught:
        parse_metrics_file(text, "config/metrics.yaml")
    message = str(caught.value)
    assert message.startswith("invalid metric definitions in config/metrics.yaml:")
    for expected in (
        "metric 'ok': field 'id': is used by more than one metric",
        "metric 'bad-kind': field 'kind'",
        "metric 'no-field': field 'field': a sum needs the numeric field it reads",
        "metric 'ratio-alone': field 'numerator'",
        "metric 'dims': field 'dimensions'",
        "metric 'window': field 'window_seconds': a divisor of 3600",
        "metric 'cond': field 'where': condition on 'x': exactly one of",
        "metric 'backref': field 'where': condition on 'x': not an RE2 expression",
        "metric 'pct': field 'percentile'",
        "metric 'typo': field 'windows': unknown",
    ):
        assert expected in message, expected
    with pytest.raises(MetricsFileError, match="field 'version'"):
        parse_metrics_file("version: 2\nmetrics: []\n", "m.yaml")
    with pytest.raises(MetricsFileError, match="cannot read the metrics file"):
        load_metrics_file("/nonexistent/metrics.yaml")


def test_a_pattern_that_backtracks_catastrophically_elsewhere_runs_in_linear_time() -> None:
    declared = config("  - {id: evil, kind: count, where: {field: message, regex: '^(a+)+$'}}\n")
    line = "a" * 100_000 + "!"
    started = time.perf_counter()
    (doc,) = compute_declared(declared, [event(T0, message=line)])
    assert doc["value"] == 0 and doc["count"] == 0  # the group is seen, its count is 0
    assert time.perf_counter() - started < 5  # Python's re would not finish this in any time
