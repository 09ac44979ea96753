"""Decoding CloudWatch Logs subscription payloads, and every way they can be malformed."""

from __future__ import annotations

import base64
import gzip

import pytest

from opsanalytics.logevents.cloudwatch import (
    MAX_DECOMPRESSED_BYTES,
    InvalidBase64Error,
    InvalidEnvelopeError,
    InvalidGzipError,
    InvalidJsonError,
    PayloadTooLargeError,
    control_message_payload,
    decode_subscription_payload,
)
from tests.conftest import cloudwatch_record


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_decodes_a_data_message() -> None:
    payload = decode_subscription_payload(b64(cloudwatch_record(["one", "two"], log_group="/ecs/payments")))
    assert payload.message_type == "DATA_MESSAGE"
    assert not payload.is_control
    assert payload.log_group == "/ecs/payments"
    assert payload.owner == "123456789012"
    assert [e["message"] for e in payload.log_events] == ["one", "two"]


def test_decodes_a_control_message() -> None:
    payload = decode_subscription_payload(b64(control_message_payload()))
    assert payload.is_control


def test_accepts_raw_gzip_when_told_it_is_not_base64() -> None:
    payload = decode_subscription_payload(cloudwatch_record(["x"]), base64_encoded=False)
    assert len(payload.log_events) == 1


def test_encoding_is_deterministic() -> None:
    assert cloudwatch_record(["a", "b"]) == cloudwatch_record(["a", "b"])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("not base64!!", InvalidBase64Error),
        ("abc", InvalidBase64Error),
        (b64(b"plain text, not gzip"), InvalidGzipError),
        (b64(cloudwatch_record(["x" * 100])[:-10]), InvalidGzipError),
        (b64(b"\x1f\x8b\x08\x00garbage-after-the-magic"), InvalidGzipError),
        (b64(gzip.compress(b"{not json")), InvalidJsonError),
        (b64(gzip.compress(b"[1,2]")), InvalidEnvelopeError),
        (b64(gzip.compress(b'{"messageType":"OTHER"}')), InvalidEnvelopeError),
        (b64(gzip.compress(b'{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g"}')), InvalidEnvelopeError),
        (
            b64(
                gzip.compress(
                    b'{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s",'
                    b'"logEvents":[{"id":"1","timestamp":"soon","message":"x"}]}'
                )
            ),
            InvalidEnvelopeError,
        ),
        (
            b64(
                gzip.compress(
                    b'{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":5}'
                )
            ),
            InvalidEnvelopeError,
        ),
    ],
    ids=[
        "bad-chars",
        "bad-padding",
        "not-gzip",
        "truncated-gzip",
        "corrupt-gzip",
        "not-json",
        "json-array",
        "unknown-message-type",
        "missing-log-stream",
        "bad-event-timestamp",
        "log-events-not-a-list",
    ],
)
def test_each_malformation_has_its_own_error(data: str, error: type[Exception]) -> None:
    with pytest.raises(error) as excinfo:
        decode_subscription_payload(data)
    assert excinfo.value.reason  # type: ignore[attr-defined]


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"0" * (MAX_DECOMPRESSED_BYTES + 1024))
    with pytest.raises(PayloadTooLargeError):
        decode_subscription_payload(b64(bomb))
