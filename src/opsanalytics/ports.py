"""The pipeline's ports: what the stages need from the world, each with a cloud and a local adapter.

- `ObjectStore`, the archive bucket: `storage.S3Store` in AWS, `storage.DirectoryStore` locally; chosen by
  `storage.object_store` from an `storage.ObjectLocation`.
- `Bookmark`, which archive objects a batch run has read: Glue's job bookmark (``glue/glue_runtime.py``) or
  `batch.inputs.StateFileBookmark`; chosen by the batch job's ``bookmark`` setting.
- `DocumentSink`, documents into OpenSearch: `batch.sinks.ConnectorSink` or `BulkSink` (a local node too), or
  `NoSink`; chosen by the batch job's ``sink`` setting (``glue/batch_job.py`` `glue_sink`).
- `Notifier`, alert messages: `alerting.notify.SnsNotifier` in AWS, `OutboxNotifier` locally; chosen by
  `alerting.processor.notifier_for` (the topic ARNs, or ``ALERT_OUTBOX``).

Each adapter is chosen once, from typed settings, at the place named in the last column; the business logic only
ever sees the port. `Notifier` is defined beside the messages it delivers (`alerting.notify`); the others here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Final, Protocol

from opsanalytics.opensearch.bulk import BulkOperation, FailedItem

_PARTITION: Final = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object of the bucket; ``size`` and ``mtime`` identify its version (for the batch bookmark)."""

    key: str
    uri: str
    size: int
    mtime: int
    """modification time: nanoseconds (directory) or epoch milliseconds (S3 LastModified)"""

    @property
    def partition(self) -> tuple[date, int] | None:
        """The archive partition (``dt=<day>/hour=<hour>/``) the key is in, if any."""
        match = _PARTITION.search(self.key)
        if match is None:
            return None
        return date.fromisoformat(match.group(1)), int(match.group(2))

    @property
    def compressed(self) -> bool:
        return self.key.endswith(".gz")


class ObjectStore(Protocol):
    """The archive bucket: S3 in AWS, a directory with the same key layout locally."""

    def put_object(self, key: str, body: bytes) -> str:
        """Write `body` under `key` whole (a reader never sees half of it); the object's URI."""
        ...

    def get_object(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        ...

    def list_files(self, prefix: str, suffixes: tuple[str, ...] = ()) -> list[StoredObject]:
        """The objects under `prefix` whose keys end with one of `suffixes` (any, when empty), by key."""
        ...

    def open(self, item: StoredObject) -> BinaryIO: ...


class Bookmark(Protocol):
    """Which input files earlier runs processed. ``commit`` runs only after every output is written."""

    def new_files(self, files: Sequence[StoredObject]) -> list[StoredObject]: ...

    def commit(self, files: Sequence[StoredObject], corrupt: Iterable[str]) -> None: ...


@dataclass(slots=True)
class SinkResult:
    written: int = 0
    failed: list[FailedItem] = field(default_factory=list)
    by_index: dict[str, int] = field(default_factory=dict)


class DocumentSink(Protocol):
    name: str

    def write(self, operations: Sequence[BulkOperation]) -> SinkResult: ...
