"""The messages the indexer receives: S3 "Object Created" events, delivered by EventBridge through SQS.

The bucket sends its events to EventBridge; a rule matches objects created under ``events/`` and targets the
indexer's queue, so each SQS message body is one EventBridge event (``detail.bucket.name``,
``detail.object.key``, ``detail.object.size``). Keys are URL-decoded: S3 event notifications encode them, and
the archive's writers (Firehose and the transformer) never put ``+`` or ``%`` in a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

import orjson

from opsanalytics.ports import StoredObject
from opsanalytics.storage import ObjectLocation


class MessageError(ValueError):
    """A message that is not an S3 Object Created event of the archive bucket."""


def object_created(body: str | bytes, archive: ObjectLocation, events_prefix: str) -> StoredObject | None:
    """The object an event names; None for an object outside `events_prefix` (nothing to index)."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(event, dict) or event.get("detail-type") != "Object Created":
        kind = event.get("detail-type") if isinstance(event, dict) else type(event).__name__
        raise MessageError(f"not an S3 Object Created event (detail-type {kind!r})")
    detail = event.get("detail")
    bucket = _field(detail, "bucket", "name")
    key = _field(detail, "object", "key")
    size = _field(detail, "object", "size") if isinstance(detail, dict) else None
    if not isinstance(bucket, str) or not isinstance(key, str) or not key:
        raise MessageError("the event names no bucket and key")
    if archive.scheme == "s3" and bucket != archive.root:
        raise MessageError(f"the event is of bucket {bucket!r}, not the archive {archive.root!r}")
    key = unquote_plus(key)
    if not key.startswith(events_prefix):
        return None
    return StoredObject(key, archive.uri(key), size if isinstance(size, int) else 0, 0)


def _field(detail: Any, part: str, name: str) -> Any:
    section = detail.get(part) if isinstance(detail, Mapping) else None
    return section.get(name) if isinstance(section, Mapping) else None


def object_created_event(bucket: str, key: str, size: int, *, region: str = "us-east-1") -> dict[str, Any]:
    """The EventBridge event S3 sends for a new object (what the local pipeline and the samples send)."""
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-01-01T10:05:00Z",
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size},
            "request-id": "0000000000000000",
            "requester": "firehose.amazonaws.com",
            "reason": "PutObject",
        },
    }
