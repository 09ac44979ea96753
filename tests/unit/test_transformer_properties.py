"""Properties of the transformer over generated input: every line becomes an event, every record an answer.

A line the parser does not understand becomes a text event, never a failed record: one odd line must not
send the other events of its payload to the error prefix. Malformed records fail with a reason.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsanalytics.logevents.cloudwatch import encode_subscription_payload
from opsanalytics.logevents.model import LEVELS, LOG_FORMATS, REQUIRED_LOG_EVENT_FIELDS
from opsanalytics.logevents.parsing import (
    _DELIMITED_LEVEL,
    _KV_LEVEL,
    _LEVEL_ALIASES,
    _LEVEL_SEARCH_CHARS,
    _UPPER_LEVEL,
    detect_text_level,
)
from opsanalytics.transform.firehose import RESULTS, transform_record
from tests.unit.strategies import log_groups, messages, text_lines

CW_TS = 1_767_261_600_000


def record_data(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def envelope(lines: list[str], *, log_group: str = "/aws/lambda/orders") -> str:
    events = [{"id": f"{i:056d}", "timestamp": CW_TS + i, "message": m} for i, m in enumerate(lines)]
    return record_data(encode_subscription_payload(log_group=log_group, log_stream="s", log_events=events))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=4), log_groups)
def test_every_line_becomes_an_event(lines: list[str], log_group: str) -> None:
    outcome = transform_record("rid", envelope(lines, log_group=log_group))
    assert outcome.result == "Ok", (outcome.reason, outcome.detail)
    events = [orjson.loads(line) for line in outcome.data.splitlines()]
    assert [e["event_id"] for e in events] == [f"{i:056d}" for i in range(len(lines))]
    for event, line in zip(events, lines, strict=True):
        assert event.keys() >= REQUIRED_LOG_EVENT_FIELDS
        assert event["log_group"] == log_group
        assert event["format"] in LOG_FORMATS
        assert event["level"] in LEVELS
        assert event["error"] == (event["level"] in {"ERROR", "FATAL", "CRITICAL"} or event.get("status", 0) >= 500)
        if event["format"] != "json":
            assert event["message"] == line.strip()
    assert outcome.partition_keys is not None
    assert outcome.log_events == len(lines)


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
def test_every_envelope_gets_an_answer(events: list[dict[str, Any]], message_type: str, owner: object) -> None:
    doc = {"messageType": message_type, "owner": owner, "logGroup": "/ecs/a", "logStream": "s", "logEvents": events}
    try:
        raw = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # floats like nan and huge ints have no JSON form
        raw = json.dumps(doc).encode()
    outcome = transform_record("rid", record_data(gzip.compress(raw, mtime=0)))
    assert outcome.result in RESULTS
    assert (outcome.reason is None) == (outcome.result == "Ok")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=400), st.booleans())
def test_corrupt_records_fail_with_a_reason(noise: bytes, cut: int, as_bytes: bool) -> None:
    payload = base64.b64decode(envelope(["ERROR boom", '{"level": "warn"}']))
    data = record_data(payload[:cut] + noise)
    outcome = transform_record("rid", data.encode("ascii") if as_bytes else data)
    if outcome.result != "Ok":
        assert outcome.result == "ProcessingFailed" and outcome.reason, outcome
    outcome = transform_record("rid", noise.decode("latin-1"))
    assert outcome.result == "ProcessingFailed" and outcome.reason


def level_by_the_patterns(text: str) -> str | None:
    """What the level patterns say, searched plainly: the meaning `detect_text_level`'s shortcuts keep."""
    head = text[:_LEVEL_SEARCH_CHARS]
    match = _UPPER_LEVEL.search(head) or _DELIMITED_LEVEL.search(head) or _KV_LEVEL.search(head)
    return _LEVEL_ALIASES.get(match.group(1).upper()) if match else None


@settings(max_examples=600, deadline=None)
@given(st.one_of(text_lines(), st.text(max_size=200)))
def test_text_levels_are_what_the_patterns_say(line: str) -> None:
    expected = level_by_the_patterns(line)
    if expected is not None:
        assert detect_text_level(line) == expected
    else:
        assert detect_text_level(line) in ("INFO", "ERROR")  # ERROR for a stack trace
