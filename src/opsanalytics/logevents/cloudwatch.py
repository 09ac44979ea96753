"""CloudWatch Logs subscription payloads: decoding what a subscription filter writes, and encoding it back.

A subscription filter delivers gzip-compressed JSON. Through Kinesis and Firehose it arrives base64-encoded.
Every way the bytes can be wrong has its own exception type, so callers can report *why* a record failed.
"""

from __future__ import annotations

import binascii
import gzip
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

DATA_MESSAGE: Final = "DATA_MESSAGE"
CONTROL_MESSAGE: Final = "CONTROL_MESSAGE"

# CloudWatch Logs caps a PutLogEvents batch at 1 MiB, so real payloads decompress to a few MiB at most.
# Anything far beyond that is a gzip bomb or not a subscription payload.
MAX_DECOMPRESSED_BYTES: Final = 16 * 1024 * 1024

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


class PayloadError(ValueError):
    """A record that is not a valid CloudWatch Logs subscription payload."""

    reason: str = "invalid-payload"


class InvalidBase64Error(PayloadError):
    reason = "invalid-base64"


class InvalidGzipError(PayloadError):
    reason = "invalid-gzip"


class PayloadTooLargeError(PayloadError):
    reason = "payload-too-large"


class InvalidJsonError(PayloadError):
    reason = "invalid-json"


class InvalidEnvelopeError(PayloadError):
    reason = "invalid-envelope"


@dataclass(frozen=True, slots=True)
class SubscriptionPayload:
    message_type: Literal["DATA_MESSAGE", "CONTROL_MESSAGE"]
    owner: str
    log_group: str
    log_stream: str
    subscription_filters: tuple[str, ...]
    log_events: list[Mapping[str, Any]]

    @property
    def is_control(self) -> bool:
        return self.message_type == CONTROL_MESSAGE


def decode_base64(data: str | bytes) -> bytes:
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64Error(f"record data is not valid base64: {exc}") from exc


def gunzip(data: bytes, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress one gzip member, refusing truncated streams and output over `max_bytes`."""
    if data[:2] != b"\x1f\x8b":
        raise InvalidGzipError("record data is not gzip (CloudWatch Logs subscription data is always gzip)")
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    try:
        out = decompressor.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise InvalidGzipError(f"corrupt gzip data: {exc}") from exc
    if len(out) > max_bytes:
        raise PayloadTooLargeError(f"payload decompresses to more than {max_bytes} bytes")
    if not decompressor.eof:
        raise InvalidGzipError("truncated gzip data: the stream ends before the gzip trailer")
    return out


def check_log_event(event: object, index: int) -> tuple[str, int, str]:
    """The (id, timestamp, message) of one ``logEvents`` entry, or `InvalidEnvelopeError`."""
    if type(event) is dict:
        event_id = event.get("id")
        timestamp = event.get("timestamp")
        message = event.get("message")
        if type(event_id) is str and type(timestamp) is int and type(message) is str:
            return event_id, timestamp, message
    raise InvalidEnvelopeError(f"logEvents[{index}] lacks a string id, an integer timestamp or a string message")


def parse_envelope(raw_json: bytes, *, validate_events: bool = True) -> SubscriptionPayload:
    """Parse and check the JSON envelope. With `validate_events` false the caller checks each event
    itself with `check_log_event` while it iterates (one pass instead of two on the hot path)."""
    try:
        doc = orjson.loads(raw_json)
    except orjson.JSONDecodeError as exc:
        raise InvalidJsonError(f"payload is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidEnvelopeError(f"payload is a JSON {type(doc).__name__}, expected an object")
    message_type = doc.get("messageType")
    if message_type not in (DATA_MESSAGE, CONTROL_MESSAGE):
        raise InvalidEnvelopeError(f"messageType is {message_type!r}, expected DATA_MESSAGE or CONTROL_MESSAGE")
    log_events = doc.get("logEvents", [])
    if not isinstance(log_events, list):
        raise InvalidEnvelopeError("logEvents is not a list")
    if message_type == DATA_MESSAGE:
        for name in ("owner", "logGroup", "logStream"):
            if not isinstance(doc.get(name), str):
                raise InvalidEnvelopeError(f"DATA_MESSAGE without a string {name!r}")
        if validate_events:
            for index, event in enumerate(log_events):
                check_log_event(event, index)
    filters = doc.get("subscriptionFilters") or []
    return SubscriptionPayload(
        message_type=message_type,
        owner=str(doc.get("owner", "")),
        log_group=str(doc.get("logGroup", "")),
        log_stream=str(doc.get("logStream", "")),
        subscription_filters=tuple(str(f) for f in filters) if isinstance(filters, list) else (),
        log_events=log_events,
    )


def decode_subscription_payload(
    data: str | bytes, *, base64_encoded: bool = True, validate_events: bool = True
) -> SubscriptionPayload:
    """Decode one subscription record: base64 (optional) → gzip → JSON envelope.

    Raises a `PayloadError` subclass naming what is wrong.
    """
    if base64_encoded:
        compressed = decode_base64(data)
    else:
        compressed = data.encode("latin-1") if isinstance(data, str) else bytes(data)
    return parse_envelope(gunzip(compressed), validate_events=validate_events)


def encode_subscription_payload(
    *,
    log_group: str,
    log_stream: str,
    log_events: Iterable[Mapping[str, Any]],
    owner: str = "123456789012",
    subscription_filters: Iterable[str] = ("opsanalytics",),
    message_type: str = DATA_MESSAGE,
    mtime: int = 0,
) -> bytes:
    """Build the gzip bytes a subscription filter would write (used by replays, samples and tests).

    `mtime` is fixed so the same input always gives the same bytes.
    """
    envelope = {
        "messageType": message_type,
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": list(subscription_filters),
        "logEvents": list(log_events),
    }
    return gzip.compress(orjson.dumps(envelope), compresslevel=6, mtime=mtime)


def control_message_payload(owner: str = "CloudwatchLogs", mtime: int = 0) -> bytes:
    """The message CloudWatch Logs sends once to check that the destination is reachable."""
    return encode_subscription_payload(
        log_group="",
        log_stream="",
        owner=owner,
        subscription_filters=(),
        message_type=CONTROL_MESSAGE,
        log_events=[
            {
                "id": "",
                "timestamp": 1_432_826_855_000,
                "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.",
            }
        ],
        mtime=mtime,
    )
