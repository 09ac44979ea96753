"""Index one ``events/`` object: read its lines, index the selected ones, quarantine what OpenSearch rejects.

Every line of an object ends up counted as exactly one of: indexed, below the level (``skipped``), or
quarantined (not a log event, or rejected by OpenSearch with a client error such as a mapping conflict). The
quarantined lines go to ``<errors prefix><object key>.ndjson`` with the reason, one JSON object per line, so the
file of an object is replaced, never duplicated, when the object is indexed again. A failure that may pass
(throttling, 5xx, a cluster out of reach) is not quarantined: the object's outcome says ``retry``, the handler
fails its message, and SQS delivers it again (then to the dead-letter queue). Indexing again is safe: every
document has its event's id.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import orjson

from opsanalytics.logindex.documents import DailyIndex, NotALogEventError, check_event, log_document, selects
from opsanalytics.logindex.settings import LogIndexSettings
from opsanalytics.opensearch.bulk import RETRYABLE_STATUSES, BulkOperation, BulkWriter, FailedItem
from opsanalytics.ports import ObjectStore, StoredObject

MAX_REASONS: Final = 20


def transient(item: FailedItem) -> bool:
    """Whether a failed item may succeed when sent again: throttling, a 5xx, or no answer at all."""
    if item.status is None:
        return item.error_type not in ("serialization_error", "invalid_response")
    return item.status in RETRYABLE_STATUSES or item.status >= 500


@dataclass(slots=True)
class ObjectOutcome:
    """What indexing one object did."""

    key: str
    lines: int = 0
    indexed: int = 0
    skipped: int = 0
    """Below the level: archived in S3, not indexed."""
    quarantined: int = 0
    retry: int = 0
    """Lines whose documents failed transiently: the object must be indexed again."""
    quarantine_uri: str | None = None
    reasons: Counter[str] = field(default_factory=Counter)
    """Why lines were quarantined or are to be retried (the first `MAX_REASONS` distinct reasons)."""

    @property
    def accounted(self) -> bool:
        return self.lines == self.indexed + self.skipped + self.quarantined + self.retry

    def note(self, reason: str, count: int = 1) -> None:
        if reason in self.reasons or len(self.reasons) < MAX_REASONS:
            self.reasons[reason] += count

    def summary(self) -> dict[str, Any]:
        return {
            "object": self.key,
            "lines": self.lines,
            "indexed": self.indexed,
            "skipped": self.skipped,
            "quarantined": self.quarantined,
            "retry": self.retry,
            "quarantine": self.quarantine_uri,
            "reasons": dict(self.reasons.most_common(5)),
        }


def _lines(handle: BinaryIO, compressed: bool) -> Iterator[bytes]:
    """The non-blank lines of an object: a Firehose object (gzip, up to 128 MB inflated) streamed, an
    out-of-band one (uncompressed and small: what did not fit in one transformer response) read whole."""
    if compressed:
        with gzip.GzipFile(fileobj=handle) as stream:
            for line in stream:
                if line.strip():
                    yield line
    else:
        for line in handle.read().splitlines():
            if line.strip():
                yield line


class LogIndexer:
    """Indexes ``events/`` objects of `store` through `writer`, as `settings` say."""

    def __init__(self, writer: BulkWriter, store: ObjectStore, settings: LogIndexSettings) -> None:
        self.writer = writer
        self.store = store
        self.settings = settings
        self._index = DailyIndex(settings.index_prefix)

    def quarantine_key(self, key: str) -> str:
        return f"{self.settings.errors_prefix}{key}.ndjson"

    def index_object(self, item: StoredObject) -> ObjectOutcome:
        outcome = ObjectOutcome(item.key)
        quarantined: list[bytes] = []
        chunk: list[tuple[BulkOperation, bytes]] = []
        with self.store.open(item) as handle:
            for line in _lines(handle, item.compressed):
                outcome.lines += 1
                try:
                    event = check_event(orjson.loads(line))
                except (orjson.JSONDecodeError, NotALogEventError) as exc:
                    reason = f"not a log event: {exc}"
                    outcome.quarantined += 1
                    outcome.note(reason)
                    quarantined.append(_quarantined(item, reason, None, None, line=line))
                    continue
                if not selects(self.settings.level, event):
                    outcome.skipped += 1
                    continue
                document = log_document(event, self.settings.numeric_attributes)
                operation = BulkOperation(self._index(event["timestamp"]), event["event_id"], document)
                chunk.append((operation, line))
                if len(chunk) >= self.settings.chunk_lines:
                    self._write(item, chunk, outcome, quarantined)
                    chunk = []
        if chunk:
            self._write(item, chunk, outcome, quarantined)
        if quarantined:
            key = self.quarantine_key(item.key)
            outcome.quarantine_uri = self.store.put_object(key, b"".join(quarantined))
        return outcome

    def _write(
        self,
        item: StoredObject,
        chunk: list[tuple[BulkOperation, bytes]],
        outcome: ObjectOutcome,
        quarantined: list[bytes],
    ) -> None:
        result = self.writer.write(operation for operation, _ in chunk)
        failed: dict[tuple[str, str | None], FailedItem] = {(f.index, f.doc_id): f for f in result.failed}
        if not failed:
            outcome.indexed += len(chunk)
            return
        for operation, line in chunk:
            failure = failed.get((operation.index, operation.doc_id))
            if failure is None:
                outcome.indexed += 1
                continue
            status = f"{failure.status} " if failure.status is not None else ""
            reason = f"{status}{failure.error_type}: {failure.reason}"
            if transient(failure):
                outcome.retry += 1
                outcome.note(f"will retry: {reason}")
            else:
                outcome.quarantined += 1
                outcome.note(reason)
                quarantined.append(_quarantined(item, reason, operation.index, failure.status, line=line))


def _quarantined(item: StoredObject, reason: str, index: str | None, status: int | None, *, line: bytes) -> bytes:
    """One line of a quarantine file: why, where from, and the line itself (as text when it is not JSON)."""
    try:
        event: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        event = line.decode("utf-8", "replace").rstrip("\n")
    record = {"reason": reason, "status": status, "index": index, "source": item.uri, "event": event}
    return orjson.dumps(record) + b"\n"
