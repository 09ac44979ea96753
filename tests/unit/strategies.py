"""Hypothesis strategies for log lines and subscription payloads: every format the parser knows, and the odd
corners of each (truncated JSON, unusual numbers and timestamps, non-ASCII text, stray delimiters)."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import strategies as st

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
                        "\u0131nfo:",  # a dotless i: "info" to a case-insensitive pattern
                        "[\u017fevere]",  # a long s: "severe" to a case-insensitive pattern
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
