"""The native fast path of the Firehose transformer against the Python reference.

`firehose.transform_record` goes through ``opsanalytics_native`` when it is built; whatever that module
handles must give the same `RecordOutcome`, field for field and byte for byte, as
`firehose.transform_record_python`. What it is not sure of it hands back to the reference, so the tests
also check that ordinary traffic (every sample the project generates) is not handed back.
"""

from __future__ import annotations

import base64
import gzip
import json
import string
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsanalytics import firehose
from opsanalytics.cloudwatch import control_message_payload, encode_subscription_payload
from opsanalytics.samples import generate_sample_batches
from tests.unit.test_parsing import CASES

opsanalytics_native = pytest.importorskip(
    "opsanalytics_native", reason="the native fast path is not built (make native builds it)"
)
pytestmark = pytest.mark.skipif(
    not firehose.native_transform_enabled(), reason="the native fast path is switched off (OPSANALYTICS_NATIVE=0)"
)

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
CW_TS = 1_767_261_600_000  # 2026-01-01T10:00:00Z


def record_data(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def envelope(messages: list[str], *, log_group: str = "/aws/lambda/orders", owner: str = "123456789012") -> str:
    events = [{"id": f"{i:056d}", "timestamp": CW_TS + i, "message": m} for i, m in enumerate(messages)]
    return record_data(
        encode_subscription_payload(
            log_group=log_group, log_stream="2026/01/01/[$LATEST]abc", log_events=events, owner=owner
        )
    )


def assert_same_outcome(data: str | bytes) -> bool:
    """Compare the dispatching transform with the reference; True when the native path handled the record."""
    reference = firehose.transform_record_python("rid", data)
    outcome = firehose.transform_record("rid", data)
    assert outcome == reference
    handled = opsanalytics_native.transform_record(data)
    if handled is None:
        return False
    if isinstance(handled, str):
        assert reference.result == "Dropped"
        assert handled == reference.reason
    else:
        assert reference.result == "Ok"
        lines, dt, hour, log_events = handled
        assert (lines, {"dt": dt, "hour": hour}, log_events) == (
            reference.data,
            reference.partition_keys,
            reference.log_events,
        )
        assert outcome.response_entry() == reference.response_entry()
    return True


def test_every_generated_sample_is_handled_natively() -> None:
    batches = [
        *generate_sample_batches(),
        *generate_sample_batches(minutes=30, scale=3.0, seed=11),
        *generate_sample_batches(minutes=10, seed=3, events_per_batch=7, incident=None),
    ]
    handled = [assert_same_outcome(record_data(batch.payload())) for batch in batches]
    assert all(handled)


def test_bundled_firehose_events() -> None:
    event = json.loads((EVENTS_DIR / "log_transformer" / "firehose-logs.json").read_text())
    for record in event["records"]:
        assert_same_outcome(record["data"])
        assert_same_outcome(record["data"].encode("ascii"))


@pytest.mark.parametrize(("name", "log_group", "message", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parser_cases(name: str, log_group: str, message: str, expected: dict[str, Any]) -> None:
    assert_same_outcome(envelope([message], log_group=log_group))


def test_control_and_empty_messages_are_dropped_natively() -> None:
    assert assert_same_outcome(record_data(control_message_payload()))
    assert assert_same_outcome(envelope([]))


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not base64!",
        "aGVsbG8",
        record_data(b"hello"),
        record_data(gzip.compress(b"not json", mtime=0)),
        record_data(gzip.compress(b"[1, 2]", mtime=0)),
        record_data(gzip.compress(b'{"messageType": "OTHER"}', mtime=0)),
        record_data(gzip.compress(b'{"messageType": "DATA_MESSAGE", "owner": 1}', mtime=0)),
        record_data(gzip.compress(b'{"messageType": "DATA_MESSAGE", "logEvents": {}}', mtime=0)),
        record_data(gzip.compress(b"\xff\xfe", mtime=0)),
        record_data(gzip.compress(b"{}" * 10, mtime=0)[:-4]),
        record_data(gzip.compress(b"\0" * (17 * 1024 * 1024), mtime=0)),
        envelope(["x"])[:-8] + "A" * 8,
    ],
    ids=lambda data: data[:24],
)
def test_malformed_records_fail_as_the_reference_says(data: str) -> None:
    assert_same_outcome(data)
    assert opsanalytics_native.transform_record(data) is None  # every error outcome comes from Python


def test_malformed_log_events_fail_as_the_reference_says() -> None:
    for events in (
        [{"id": "1", "timestamp": "soon", "message": "x"}],
        [{"id": 1, "timestamp": CW_TS, "message": "x"}],
        [{"id": "1", "timestamp": CW_TS}],
        [{"id": "1", "timestamp": 1.5e12, "message": "x"}],
        [{"id": "1", "timestamp": -5, "message": "x"}],
        ["not an object"],
    ):
        payload = encode_subscription_payload(log_group="/ecs/a", log_stream="s", log_events=events)
        assert_same_outcome(record_data(payload))


def test_base64_encoder_matches_the_standard_library() -> None:
    for size in range(70):
        data = bytes(range(256))[:size] * 3
        assert opsanalytics_native.b64encode(data) == base64.b64encode(data).decode("ascii")


# Inputs built to reach every branch of the parser, and the odd corners where Python and a port could differ.

JSON_KEYS = [
    "level", "levelname", "severity", "lvl", "@l", "message", "msg", "event", "log", "text", "service", "app",
    "service_name", "status", "status_code", "statusCode", "timestamp", "time", "ts", "@timestamp",
    "requestTimeEpoch", "method", "httpMethod", "path", "resourcePath", "url", "bytes", "responseLength",
    "request_id", "requestId", "client_ip", "ip", "user_agent", "latency_ms", "duration", "latency",
    "request_time", "responseLatency", "type", "record", "other", "nested",
]  # fmt: skip
LEVEL_WORDS = [
    "info", "INFO", "Warning", "warn", "ERROR", "err", "fatal", "critical", "crit", "debug", "notice", "trace",
    "severe", "panic", "alert", "emerg", "verbose", "fine", "finest", "log", "x", " error ",
]  # fmt: skip
ISO_TIMES = [
    "2026-01-01T10:00:00Z", "2026-01-01 10:00:00,123+0000", "2026-01-01T10:00:00.123456789-05:30", "2026-01-01",
    "2026-02-30T10:00:00Z", "2026-01-01T24:00:00", "2026-01-01T10:00", "2026-01-01T10:00:00.Z", "2026-13-01",
    "0000-01-01", "9999-12-31T23:59:59+14:00", "2026-01-01x10:00:00", " 2026-01-01T10:00:00+0530 ", "1767261600",
    "1767261600.5", "1e12", "nan", "-5", "soon", "1_767_261_600", "", "0001-01-01T00:00:00+01:00",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=700),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=1e6),
    st.sampled_from(LEVEL_WORDS + ISO_TIMES + ["", "200", "503", "12.5", "١٢", "²", " 7 ", "inf", "1e400"]),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["name", "level", "metrics", "status", "requestId", "x"]), inner, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def json_messages(draw: st.DrawFn) -> str:
    doc: dict[str, Any] = draw(st.dictionaries(st.sampled_from(JSON_KEYS), json_values, max_size=7))
    if draw(st.booleans()):
        doc["type"] = draw(st.sampled_from(["platform.report", "platform.start", "platform.runtimeDone", "x"]))
        doc["record"] = {
            "requestId": draw(st.text(max_size=5)),
            "status": draw(st.sampled_from(["success", "error", "timeout", None, 3])),
            "metrics": draw(
                st.dictionaries(
                    st.sampled_from(
                        ["durationMs", "billedDurationMs", "initDurationMs", "memorySizeMB", "maxMemoryUsedMB"]
                    ),
                    scalars,
                )
            ),
        }
    text = json.dumps(
        doc, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    )
    mutation = draw(st.sampled_from(["none", "none", "duplicate", "truncate", "pad", "deep"]))
    if mutation == "duplicate" and len(text) > 2:
        text = text[:-1] + ', "level": "error"}'
    elif mutation == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif mutation == "pad":
        text = (
            draw(st.sampled_from([" ", "\n", "\u00a0", "\x1c", "\t"]))
            + text
            + draw(st.sampled_from(["", " x", "\r\n"]))
        )
    elif mutation == "deep":
        text = '{"a": ' + "[" * 300 + "]" * 300 + "}"
    return text


def text_from(alphabet: str, max_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_size)


fragments = text_from(string.ascii_letters + string.digits + ' .:-"[]()<>|=/\t', 10)


@st.composite
def access_log_lines(draw: st.DrawFn) -> str:
    ip = draw(st.sampled_from(["198.51.100.7", "10.0.0.1", "::1", "1"]))
    method = draw(st.sampled_from(["GET", "POST", "get", "PATCH"]))
    path = draw(st.sampled_from(["/", "/api/items", '/a"b', "/x y", "/q?x=1"]))
    status = draw(st.sampled_from(["200", "404", "503", "99", "2000"]))
    size = draw(st.sampled_from(["512", "-", "0", "99999999999999999999999"]))
    protocol = draw(st.sampled_from([" HTTP/1.1", "", ' HTTP/1.1 "x']))
    tail = draw(
        st.lists(
            st.sampled_from(
                [
                    ' "-"',
                    ' "curl/8"',
                    ' "a b"',
                    " 0.123",
                    " 123",
                    " rt=0.5",
                    ' "0.2"',
                    " request_time=7",
                    " x",
                    ' "',
                    "  ",
                    " 1.2.3",
                    '"5"',
                    " 99999999999999999999",
                ]
            ),
            max_size=4,
        )
    )
    line = f'{ip} - - [01/Jan/2026:10:00:00 +0000] "{method} {path}{protocol}" {status} {size}{"".join(tail)}'
    return line + draw(fragments) if draw(st.booleans()) else line


@st.composite
def lambda_lines(draw: st.DrawFn) -> str:
    rid = draw(st.sampled_from(["5b4f1e8c-9d2a-4b6f", "x", "", "a\u00e9"]))
    kind = draw(st.sampled_from(["START", "END", "REPORT", "INIT_START", "EXTENSION", "REPORTx"]))
    if kind != "REPORT":
        return f"{kind} RequestId: {rid} Version: $LATEST" + draw(fragments)
    number = st.sampled_from(["12.34", "1", "1.", ".5", "1.2.3", ".", "007", "99999999999999999999"])
    sep = draw(st.sampled_from(["\t", " ", "  ", "\n"]))
    line = (
        f"REPORT RequestId: {rid}{sep}Duration: {draw(number)} ms{sep}Billed Duration: {draw(number)} ms{sep}"
        f"Memory Size: {draw(st.sampled_from(['512', '']))} MB{sep}Max Memory Used: 70 MB"
    )
    if draw(st.booleans()):
        line += f"{sep}Init Duration: {draw(number)} ms"
    if draw(st.booleans()):
        line += draw(st.sampled_from(["\tStatus: error", "\tStatus: success", " Status: ", "Status: timeout x",
                                      "\nStatus: error", "\tStatus: Success", " Status: :( Status: oom"]))  # fmt: skip
    return line + draw(fragments)


@st.composite
def text_lines(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(
                fragments,
                st.sampled_from(LEVEL_WORDS),
                st.sampled_from(["[", "]", "<", ">", "(", ")", ":", " : ", "|", "level=", 'LEVEL="', "\n"]),
                st.sampled_from(
                    [
                        "Traceback (most recent call last)",
                        "Exception in thread",
                        "\n  at Foo.bar(",
                        "java.lang.IllegalStateException: ",
                        "Exception: ",
                        "\n\tat x(",
                        '"GET /v2/servers HTTP/1.1" status: 200 len: 1893 time: 0.2477829',
                        '"POST /x HTTP/1.1" 503',
                        '"GET /y HTTP/1.0"  404 len 12 time 1.2.3',
                        "\u00e9",
                        "\u2028",
                        " ",
                    ]
                ),
            ),
            max_size=8,
        )
    )
    return "".join(parts)


messages = st.one_of(
    json_messages(),
    access_log_lines(),
    lambda_lines(),
    text_lines(),
    st.text(max_size=40),
    st.text(alphabet=string.printable, max_size=200),
)
log_groups = st.sampled_from(["/aws/lambda/orders", "/ecs/payments/x", "/aws/ecs/", "/", "", "a/b/", '/x\u00e9"y'])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=4), log_groups)
def test_random_messages(batch: list[str], log_group: str) -> None:
    assert_same_outcome(envelope(batch, log_group=log_group))


@settings(max_examples=200, deadline=None)
@given(messages)
def test_random_single_messages_are_parsed_alike(message: str) -> None:
    assert_same_outcome(envelope([message]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.one_of(st.text(max_size=5), st.integers()),
                "timestamp": st.one_of(
                    st.integers(min_value=-(2**65), max_value=2**65), st.just(CW_TS), st.floats(), st.text(max_size=3)
                ),
                "message": st.one_of(st.text(max_size=20), st.none()),
            },
        ),
        max_size=3,
    ),
    st.sampled_from(["DATA_MESSAGE", "CONTROL_MESSAGE", "OTHER"]),
    st.one_of(st.text(max_size=5), st.none(), st.integers()),
)
def test_random_envelopes(events: list[dict[str, Any]], message_type: str, owner: object) -> None:
    doc = {"messageType": message_type, "owner": owner, "logGroup": "/ecs/a", "logStream": "s", "logEvents": events}
    try:
        raw = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # floats like nan and huge ints have no JSON form
        raw = json.dumps(doc).encode()
    assert_same_outcome(record_data(gzip.compress(raw, mtime=0)))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=400), st.booleans())
def test_corrupt_records(noise: bytes, cut: int, as_bytes: bool) -> None:
    payload = base64.b64decode(envelope(["ERROR boom", '{"level": "warn"}']))
    corrupted = payload[:cut] + noise
    data = record_data(corrupted)
    assert_same_outcome(data.encode("ascii") if as_bytes else data)
    assert_same_outcome(noise.decode("latin-1"))
