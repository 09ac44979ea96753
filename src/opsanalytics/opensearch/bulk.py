"""Bulk indexing with hand-built NDJSON bodies, size-bounded requests and retries that never drop a document.

``BulkWriter.write`` encodes each operation once with orjson (an action line plus a source line), packs them
into ``_bulk`` requests of at most ``max_bytes`` and ``max_docs``, and sends each through the client's
transport. It retries a whole request on 429/502/503/504 or a connection error, and the items a cluster
answered 429 (its write queue was full), with exponential backoff and full jitter, within ``max_attempts``
and ``max_retry_seconds``. Every operation ends up either counted as indexed or listed in
``BulkResult.failed`` with its index, id, status and reason.

Retries resend the same operations, so they are only idempotent with explicit ids: derive them from the
record's identity (``document_id``) rather than letting the cluster assign them.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import orjson
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

Operation = Literal["index", "update"]

DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024
DEFAULT_MAX_DOCS: Final = 1000
RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})
# lower case: it replaces the connection's default header instead of being sent beside it
_HEADERS: Final = {"content-type": "application/x-ndjson"}
# only what the writer reads: the response shrinks to a fraction, and it is parsed once per request
_FILTER_PATH: Final = "errors,items.*.status,items.*.result,items.*.error"


def document_id(*parts: str | int | float | bool | None) -> str:
    """A stable document id from the parts of a record's identity (sha256 of their JSON array, hex).

    The array keeps part boundaries: ``("a", "bc")`` and ``("ab", "c")`` give different ids. ``1`` and
    ``1.0`` are different parts, so pass each part with one consistent type.
    """
    if not parts:
        raise ValueError("document_id needs at least one part")
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


@dataclass(frozen=True, slots=True)
class BulkOperation:
    """One document to write: ``index`` replaces the document; ``update`` merges it (``doc_as_upsert``).

    With a ``version`` an ``index`` replaces the stored document only if that is not newer (OpenSearch's
    ``external_gte`` versioning): a replay of the same version rewrites it, an older one is refused with 409 and
    counted as ``superseded``, not as a failure. Revised documents (the realtime windows) are written so."""

    index: str
    doc_id: str | None
    document: Mapping[str, Any]
    op: Operation = "index"
    version: int | None = None


@dataclass(frozen=True, slots=True)
class FailedItem:
    """An operation the cluster did not accept, after any retries."""

    op: Operation
    index: str
    doc_id: str | None
    status: int | None
    """The item's HTTP status, or the whole request's; None when there was no response (connection error,
    a document that could not be serialised)."""
    error_type: str
    reason: str
    attempts: int


@dataclass(slots=True)
class BulkResult:
    """What a ``write`` did: counts of accepted operations by outcome, and every operation that failed."""

    created: int = 0
    updated: int = 0
    noop: int = 0
    superseded: int = 0
    """Versioned operations refused because the stored document has a higher version: nothing to do."""
    requests: int = 0
    """HTTP requests sent, retries included."""
    retries: int = 0
    failed: list[FailedItem] = field(default_factory=list)

    @property
    def indexed(self) -> int:
        """Operations the cluster accepted."""
        return self.created + self.updated + self.noop + self.superseded

    @property
    def ok(self) -> bool:
        return not self.failed


class BulkTransport(Protocol):
    """The part of ``opensearchpy.Transport`` the writer uses (``client.transport``)."""

    def perform_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any: ...


class OpenSearchClient(Protocol):
    @property
    def transport(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Encoded:
    op: Operation
    index: str
    doc_id: str | None
    payload: bytes  # action line + source line, newline-terminated
    versioned: bool = False


def encode_operation(operation: BulkOperation) -> bytes:
    """The NDJSON lines of one operation. Raises TypeError/ValueError for what JSON cannot represent."""
    meta: dict[str, str | int] = {"_index": operation.index}
    if operation.doc_id is not None:
        meta["_id"] = operation.doc_id
    if operation.version is not None:
        if operation.op != "index" or operation.doc_id is None:
            raise ValueError("only an index operation with a document id can carry a version")
        meta["version"] = operation.version
        meta["version_type"] = "external_gte"
    if operation.op == "index":
        return b"".join((orjson.dumps({"index": meta}), b"\n", orjson.dumps(operation.document), b"\n"))
    if operation.op == "update":
        if operation.doc_id is None:
            raise ValueError("an update needs a document id")
        source = {"doc": operation.document, "doc_as_upsert": True}
        return b"".join((orjson.dumps({"update": meta}), b"\n", orjson.dumps(source), b"\n"))
    raise ValueError(f"unsupported bulk operation {operation.op!r}")


def _describe(exc: Exception) -> tuple[int | None, str, str, bool]:
    """(status, error type, reason, retryable) of an exception raised by a whole request."""
    if isinstance(exc, TransportConnectionError):
        return None, type(exc).__name__, str(exc.error or exc.info or exc), True
    if isinstance(exc, TransportError):
        status = exc.status_code if isinstance(exc.status_code, int) else None
        error_type, reason = str(exc.error), str(exc)
        if isinstance(exc.info, dict) and isinstance(exc.info.get("error"), dict):
            error_type = str(exc.info["error"].get("type", error_type))
            reason = str(exc.info["error"].get("reason", reason))
        return status, error_type, reason, status in RETRYABLE_STATUSES
    return None, type(exc).__name__, str(exc), False


def _item_error(detail: Mapping[str, Any]) -> tuple[str, str]:
    error = detail.get("error")
    if isinstance(error, dict):
        reason = str(error.get("reason", ""))
        caused_by = error.get("caused_by")
        if isinstance(caused_by, dict) and caused_by.get("reason"):
            reason = f"{reason}: {caused_by['reason']}"
        return str(error.get("type", "error")), reason
    return "error", str(error)


class BulkWriter:
    """Writes ``BulkOperation``s through ``transport.perform_request("POST", "/_bulk", ...)``.

    ``sleep``, ``monotonic`` and ``jitter`` (uniform in [0, 1)) are injectable, so tests run the retry
    schedule without waiting. Use a client whose own transport retries are off (``OpenSearchSettings``
    default ``max_retries=0``), or each attempt here becomes several.
    """

    def __init__(
        self,
        transport: BulkTransport,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_docs: int = DEFAULT_MAX_DOCS,
        max_attempts: int = 5,
        initial_backoff: float = 0.2,
        max_backoff: float = 10.0,
        max_retry_seconds: float = 60.0,
        request_timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_bytes < 1 or max_docs < 1:
            raise ValueError("max_bytes and max_docs must be >= 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if initial_backoff < 0 or max_backoff < 0 or max_retry_seconds < 0:
            raise ValueError("backoff and retry times must be >= 0")
        self._transport = transport
        self.max_bytes = max_bytes
        self.max_docs = max_docs
        self.max_attempts = max_attempts
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_retry_seconds = max_retry_seconds
        self.request_timeout = request_timeout
        self._sleep = sleep
        self._monotonic = monotonic
        self._jitter = jitter

    @classmethod
    def for_client(cls, client: OpenSearchClient, **options: Any) -> BulkWriter:
        """A writer on ``client.transport`` (an ``opensearchpy.OpenSearch``)."""
        return cls(client.transport, **options)

    def write(self, operations: Iterable[BulkOperation]) -> BulkResult:
        """Send every operation; return the counts and the operations that failed. Raises only on bugs in
        the caller's iterable: cluster, network and serialisation errors become ``FailedItem``s."""
        result = BulkResult()
        deadline = self._monotonic() + self.max_retry_seconds
        for chunk in self._chunks(operations, result):
            self._send(chunk, result, deadline)
        return result

    def bodies(self, operations: Iterable[BulkOperation]) -> Iterator[bytes]:
        """The ``_bulk`` request bodies ``write`` would send first, without sending them."""
        for chunk in self._chunks(operations, BulkResult()):
            yield b"".join(item.payload for item in chunk)

    def _chunks(self, operations: Iterable[BulkOperation], result: BulkResult) -> Iterator[list[_Encoded]]:
        max_bytes, max_docs = self.max_bytes, self.max_docs
        chunk: list[_Encoded] = []
        size = 0
        for operation in operations:
            try:
                payload = encode_operation(operation)
            except (TypeError, ValueError) as exc:
                result.failed.append(
                    FailedItem(
                        operation.op,
                        operation.index,
                        operation.doc_id,
                        None,
                        "serialization_error",
                        str(exc),
                        0,
                    )
                )
                continue
            # an operation larger than max_bytes still goes, alone: the cluster decides (413 if too large)
            if chunk and (size + len(payload) > max_bytes or len(chunk) >= max_docs):
                yield chunk
                chunk, size = [], 0
            chunk.append(
                _Encoded(operation.op, operation.index, operation.doc_id, payload, operation.version is not None)
            )
            size += len(payload)
        if chunk:
            yield chunk

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff, initial_backoff * 2^(attempt-1)))."""
        return self._jitter() * min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))

    def _may_retry(self, attempt: int, deadline: float) -> bool:
        """Sleep before attempt ``attempt + 1`` if the attempt and time budgets allow it."""
        if attempt >= self.max_attempts:
            return False
        delay = self._backoff(attempt)
        if self._monotonic() + delay > deadline:
            return False
        self._sleep(delay)
        return True

    def _send(self, chunk: list[_Encoded], result: BulkResult, deadline: float) -> None:
        pending = chunk
        attempt = 1
        params = {"filter_path": _FILTER_PATH}
        while True:
            body = b"".join(item.payload for item in pending)
            result.requests += 1
            try:
                response = self._transport.perform_request(
                    "POST", "/_bulk", params=params, body=body, timeout=self.request_timeout, headers=_HEADERS
                )
            except Exception as exc:  # every failure is reported per item, none escapes with the documents
                status, error_type, reason, retryable = _describe(exc)
                if retryable and self._may_retry(attempt, deadline):
                    attempt += 1
                    result.retries += 1
                    continue
                result.failed.extend(
                    FailedItem(i.op, i.index, i.doc_id, status, error_type, reason, attempt) for i in pending
                )
                return
            throttled = self._tally(pending, response, result, attempt)
            if not throttled:
                return
            if self._may_retry(attempt, deadline):
                attempt += 1
                result.retries += 1
                pending = [item for item, _ in throttled]
                continue
            result.failed.extend(
                FailedItem(i.op, i.index, i.doc_id, 429, error_type, reason, attempt)
                for i, (error_type, reason) in throttled
            )
            return

    def _tally(
        self, pending: list[_Encoded], response: Any, result: BulkResult, attempt: int
    ) -> list[tuple[_Encoded, tuple[str, str]]]:
        """Count accepted items, record failed ones; return the throttled (429) ones to retry."""
        items = response.get("items") if isinstance(response, dict) else None
        if not isinstance(items, list) or len(items) != len(pending):
            got = len(items) if isinstance(items, list) else "no"
            reason = f"bulk response has {got} items for {len(pending)} operations"
            result.failed.extend(
                FailedItem(i.op, i.index, i.doc_id, None, "invalid_response", reason, attempt) for i in pending
            )
            return []
        throttled: list[tuple[_Encoded, tuple[str, str]]] = []
        for item, entry in zip(pending, items, strict=True):
            detail = next(iter(entry.values())) if isinstance(entry, dict) and entry else {}
            status = detail.get("status") if isinstance(detail, dict) else None
            if isinstance(status, int) and 200 <= status < 300:
                outcome = detail.get("result")
                if outcome == "created":
                    result.created += 1
                elif outcome == "noop":
                    result.noop += 1
                else:
                    result.updated += 1
            elif status == 429:
                throttled.append((item, _item_error(detail)))
            elif status == 409 and item.versioned:
                result.superseded += 1
            else:
                error_type, reason = _item_error(detail) if isinstance(detail, dict) else ("error", repr(entry))
                result.failed.append(
                    FailedItem(
                        item.op,
                        item.index,
                        item.doc_id,
                        status if isinstance(status, int) else None,
                        error_type,
                        reason,
                        attempt,
                    )
                )
        return throttled
