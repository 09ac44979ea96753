"""BulkWriter without a cluster: body building, request splitting and the retry schedule.

``FakeBulkCluster`` answers ``_bulk`` the way OpenSearch does (one item per operation, in order, ``created``
then ``updated`` for a known id) and lets a test script failures per request. The same writer runs against
the real node in tests/integration/test_opensearch.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

from opsanalytics.opensearch.bulk import (
    BulkOperation,
    BulkWriter,
    document_id,
    encode_operation,
)

Action = tuple[str, dict[str, Any], dict[str, Any]]
# per request: an exception to raise, or a function giving an item status (or None: accept) per action
Behaviour = Exception | Callable[[list[Action]], list[int | None]]


def parse_bulk_body(body: bytes) -> list[Action]:
    assert body.endswith(b"\n")
    lines = body.split(b"\n")[:-1]
    assert len(lines) % 2 == 0
    actions = []
    for action_line, source_line in zip(lines[::2], lines[1::2], strict=True):
        ((op, meta),) = orjson.loads(action_line).items()
        actions.append((op, meta, orjson.loads(source_line)))
    return actions


class FakeBulkCluster:
    """Stands in for ``client.transport``: stores documents by (index, id) and follows a failure script."""

    def __init__(self, *script: Behaviour) -> None:
        self.script = list(script)
        self.bodies: list[bytes] = []
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}

    def perform_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        assert (method, url) == ("POST", "/_bulk")
        assert isinstance(body, bytes)
        # opensearch-py's connections send "content-type: application/json" unless this exact key replaces it
        assert headers == {"content-type": "application/x-ndjson"}
        self.bodies.append(body)
        actions = parse_bulk_body(body)
        behaviour = self.script.pop(0) if self.script else None
        if isinstance(behaviour, Exception):
            raise behaviour
        statuses = behaviour(actions) if behaviour else [None] * len(actions)
        items = [self._apply(action, status) for action, status in zip(actions, statuses, strict=True)]
        return {"errors": any("error" in next(iter(i.values())) for i in items), "items": items}

    def _apply(self, action: Action, status: int | None) -> dict[str, Any]:
        op, meta, source = action
        if status is not None:
            error_type = "es_rejected_execution_exception" if status == 429 else "mapper_parsing_exception"
            return {op: {"status": status, "error": {"type": error_type, "reason": f"scripted {status}"}}}
        key = (meta["_index"], meta["_id"])
        existed = key in self.docs
        if op == "update":
            assert source["doc_as_upsert"] is True
            self.docs[key] = {**self.docs.get(key, {}), **source["doc"]}
        else:
            self.docs[key] = source
        return {op: {"status": 200 if existed else 201, "result": "updated" if existed else "created"}}


class Clock:
    """A monotonic clock that only moves when the writer sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def writer_for(transport: FakeBulkCluster, clock: Clock, **options: Any) -> BulkWriter:
    options.setdefault("jitter", lambda: 1.0)  # the top of each backoff range: deterministic schedule
    return BulkWriter(transport, sleep=clock.sleep, monotonic=clock.monotonic, **options)


def metric_windows(count: int, index: str = "metrics-realtime-test") -> list[BulkOperation]:
    return [
        BulkOperation(
            index,
            document_id("checkout", "/aws/lambda/checkout", n),
            {"service": "checkout", "window_start": f"2026-01-01T10:{n % 60:02d}:00Z", "events": n},
        )
        for n in range(count)
    ]


def statuses_for(ids: set[str], status: int) -> Callable[[list[Action]], list[int | None]]:
    return lambda actions: [status if meta["_id"] in ids else None for _, meta, _ in actions]


def test_document_id_is_stable_and_keeps_part_boundaries() -> None:
    assert document_id("checkout", "/aws/lambda/checkout", "2026-01-01T10:00:00Z") == (
        "1c11a1435b459e8b59f614376d4d11a85188e492c793cd2e7ff6f69fa5ffb467"
    )
    assert document_id("a", "bc") != document_id("ab", "c")
    assert document_id("a", 1) != document_id("a", "1")
    with pytest.raises(ValueError, match="at least one part"):
        document_id()


def test_index_and_update_lines_are_exact_ndjson() -> None:
    index = encode_operation(BulkOperation("events-x", "id-1", {"message": "héllo", "n": 1}))
    assert index == '{"index":{"_index":"events-x","_id":"id-1"}}\n{"message":"héllo","n":1}\n'.encode()
    update = encode_operation(BulkOperation("alerts-x", "a1", {"state": "firing"}, op="update"))
    assert update == (b'{"update":{"_index":"alerts-x","_id":"a1"}}\n{"doc":{"state":"firing"},"doc_as_upsert":true}\n')
    auto_id = encode_operation(BulkOperation("events-x", None, {}))
    assert auto_id == b'{"index":{"_index":"events-x"}}\n{}\n'


def test_requests_split_by_document_count() -> None:
    writer = BulkWriter(FakeBulkCluster(), max_docs=3)
    bodies = list(writer.bodies(metric_windows(10)))
    assert [len(parse_bulk_body(body)) for body in bodies] == [3, 3, 3, 1]
    assert b"".join(bodies) == b"".join(encode_operation(op) for op in metric_windows(10))


def test_requests_split_by_bytes_and_an_oversized_document_goes_alone() -> None:
    small = [BulkOperation("i", str(n), {"pad": "x" * 100}) for n in range(6)]
    size = len(encode_operation(small[0]))
    huge = BulkOperation("i", "huge", {"pad": "y" * (5 * size)})
    writer = BulkWriter(FakeBulkCluster(), max_bytes=int(2.5 * size))
    bodies = list(writer.bodies([*small[:3], huge, *small[3:]]))
    assert [[meta["_id"] for _, meta, _ in parse_bulk_body(body)] for body in bodies] == [
        ["0", "1"],
        ["2"],
        ["huge"],
        ["3", "4"],
        ["5"],
    ]
    assert all(len(body) <= writer.max_bytes for body in bodies if b"huge" not in body)


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=400), max_size=60),
    max_bytes=st.integers(min_value=50, max_value=2000),
    max_docs=st.integers(min_value=1, max_value=10),
)
def test_any_split_respects_both_limits_and_keeps_every_operation_in_order(
    sizes: list[int], max_bytes: int, max_docs: int
) -> None:
    operations = [BulkOperation("i", str(n), {"pad": "z" * size}) for n, size in enumerate(sizes)]
    bodies = list(BulkWriter(FakeBulkCluster(), max_bytes=max_bytes, max_docs=max_docs).bodies(operations))
    for body in bodies:
        actions = parse_bulk_body(body)
        assert 1 <= len(actions) <= max_docs
        assert len(body) <= max_bytes or len(actions) == 1
    assert b"".join(bodies) == b"".join(encode_operation(op) for op in operations)


def test_write_counts_created_then_updated_for_the_same_ids() -> None:
    cluster = FakeBulkCluster()
    writer = writer_for(cluster, Clock(), max_docs=40)
    first = writer.write(metric_windows(100))
    assert (first.created, first.updated, first.requests, first.ok) == (100, 0, 3, True)
    again = writer.write(metric_windows(100))
    assert (again.created, again.updated, again.indexed) == (0, 100, 100)
    assert len(cluster.docs) == 100


def test_upsert_merges_into_the_stored_document() -> None:
    cluster = FakeBulkCluster()
    writer = writer_for(cluster, Clock())
    writer.write([BulkOperation("alerts-t", "a1", {"state": "firing", "value": 0.4}, op="update")])
    result = writer.write([BulkOperation("alerts-t", "a1", {"state": "resolved"}, op="update")])
    assert result.updated == 1
    assert cluster.docs["alerts-t", "a1"] == {"state": "resolved", "value": 0.4}


@pytest.mark.parametrize(
    "error",
    [
        TransportError(503, "unavailable", {}),
        TransportError(429, "too_many_requests", {}),
        TransportError(502, "bad gateway", {}),
        TransportConnectionError("N/A", "connection refused", OSError("refused")),
    ],
)
def test_retryable_whole_request_failures_are_retried_with_growing_backoff(error: Exception) -> None:
    clock = Clock()
    cluster = FakeBulkCluster(error, error)
    result = writer_for(cluster, clock, initial_backoff=0.2).write(metric_windows(5))
    assert (result.created, result.requests, result.retries, result.failed) == (5, 3, 2, [])
    assert clock.sleeps == [pytest.approx(0.2), pytest.approx(0.4)]
    assert cluster.bodies[0] == cluster.bodies[2]


def test_full_jitter_draws_each_delay_below_the_exponential_cap() -> None:
    clock = Clock()
    draws = iter([0.5, 0.25, 0.0, 0.9])
    cluster = FakeBulkCluster(*[TransportError(503, "unavailable", {})] * 4)
    writer = writer_for(cluster, clock, initial_backoff=1.0, max_backoff=3.0, jitter=lambda: next(draws))
    assert writer.write(metric_windows(1)).ok
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(0.5), 0.0, pytest.approx(2.7)]


def test_only_throttled_items_are_resent() -> None:
    operations = metric_windows(5)
    throttled = {operations[1].doc_id or "", operations[3].doc_id or ""}
    cluster = FakeBulkCluster(statuses_for(throttled, 429))
    clock = Clock()
    result = writer_for(cluster, clock).write(operations)
    assert (result.created, result.retries, result.failed) == (5, 1, [])
    assert {meta["_id"] for _, meta, _ in parse_bulk_body(cluster.bodies[1])} == throttled
    assert len(clock.sleeps) == 1


def test_rejected_items_are_reported_with_id_status_and_reason_and_not_retried() -> None:
    operations = metric_windows(4)
    bad = operations[2].doc_id or ""
    cluster = FakeBulkCluster(statuses_for({bad}, 400))
    clock = Clock()
    result = writer_for(cluster, clock).write(operations)
    assert result.created == 3
    assert [(f.doc_id, f.index, f.status, f.error_type, f.reason, f.attempts) for f in result.failed] == [
        (bad, "metrics-realtime-test", 400, "mapper_parsing_exception", "scripted 400", 1)
    ]
    assert clock.sleeps == []
    assert len(cluster.bodies) == 1


def test_items_throttled_past_the_attempt_limit_are_reported_as_429() -> None:
    operations = metric_windows(3)
    always = statuses_for({operations[0].doc_id or ""}, 429)
    cluster = FakeBulkCluster(always, always, always)
    result = writer_for(cluster, Clock(), max_attempts=3).write(operations)
    assert result.created == 2
    assert [(f.doc_id, f.status, f.error_type, f.attempts) for f in result.failed] == [
        (operations[0].doc_id, 429, "es_rejected_execution_exception", 3)
    ]


def test_an_unreachable_cluster_fails_every_document_of_every_request() -> None:
    refused = TransportConnectionError("N/A", "connection refused", OSError("refused"))
    cluster = FakeBulkCluster(*[refused] * 100)
    clock = Clock()
    operations = metric_windows(25)
    result = writer_for(cluster, clock, max_docs=10, max_attempts=3).write(operations)
    assert result.indexed == 0
    assert [f.doc_id for f in result.failed] == [op.doc_id for op in operations]
    assert {(f.status, f.error_type, f.attempts) for f in result.failed} == {(None, "ConnectionError", 3)}
    assert result.requests == 9
    assert len(clock.sleeps) == 6


def test_retries_stop_when_the_time_budget_is_spent() -> None:
    cluster = FakeBulkCluster(*[TransportError(503, "unavailable", {})] * 10)
    clock = Clock()
    result = writer_for(cluster, clock, initial_backoff=1.0, max_attempts=10, max_retry_seconds=5.0).write(
        metric_windows(2)
    )
    assert clock.sleeps == [1.0, 2.0]  # the next, 4 s, would end after the 5 s budget
    assert [(f.status, f.attempts) for f in result.failed] == [(503, 3), (503, 3)]


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (
            TransportError(400, "illegal_argument_exception", {"error": {"type": "x_exception", "reason": "bad"}}),
            400,
            "x_exception",
        ),
        (TransportError(413, "request entity too large", "too large"), 413, "request entity too large"),
        (RuntimeError("unexpected"), None, "RuntimeError"),
    ],
)
def test_non_retryable_request_failures_fail_the_request_at_once(
    error: Exception, status: int | None, error_type: str
) -> None:
    clock = Clock()
    result = writer_for(FakeBulkCluster(error), clock).write(metric_windows(3))
    assert [(f.status, f.error_type, f.attempts) for f in result.failed] == [(status, error_type, 1)] * 3
    assert clock.sleeps == []


def test_documents_that_cannot_be_serialised_are_reported_and_the_rest_written() -> None:
    cluster = FakeBulkCluster()
    operations = [
        BulkOperation("i", "good-1", {"n": 1}),
        BulkOperation("i", "bad", {"tags": {"a", "b"}}),  # a set has no JSON form
        BulkOperation("i", None, {"n": 2}, op="update"),  # an upsert needs an id
        BulkOperation("i", "good-2", {"n": 3}),
    ]
    result = writer_for(cluster, Clock()).write(operations)
    assert result.created == 2
    assert [(f.doc_id, f.op, f.status, f.error_type, f.attempts) for f in result.failed] == [
        ("bad", "index", None, "serialization_error", 0),
        (None, "update", None, "serialization_error", 0),
    ]
    assert set(cluster.docs) == {("i", "good-1"), ("i", "good-2")}


def test_a_response_without_one_item_per_operation_fails_the_request() -> None:
    class Truncating(FakeBulkCluster):
        def perform_request(self, method: str, url: str, **kwargs: Any) -> Any:
            response = super().perform_request(method, url, **kwargs)
            return {"errors": False, "items": response["items"][:-1]}

    result = writer_for(Truncating(), Clock()).write(metric_windows(3))
    assert result.indexed == 0
    assert {(f.error_type, f.status) for f in result.failed} == {("invalid_response", None)}
    assert len(result.failed) == 3


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        BulkWriter(FakeBulkCluster(), max_bytes=0)
    with pytest.raises(ValueError, match="max_attempts"):
        BulkWriter(FakeBulkCluster(), max_attempts=0)
