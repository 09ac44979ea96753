"""The batch job's input: listing the archive, checking gzip objects, the local bookmark, the plan of a run.

The archive is ``<bucket>/events/dt=YYYY-MM-DD/hour=HH/``: gzip NDJSON objects from Firehose and
uncompressed ``overflow-*.ndjson`` objects the transformer writes out of band. A partition is the
UTC hour of the *earliest* event of a Firehose record, so events of one day can sit in the previous
day's ``hour=23`` partition; reading a day therefore reads that partition too and filters by event time.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO, Final

import orjson

from opsanalytics.batch.settings import STATE_KEY, BatchSettings
from opsanalytics.ports import Bookmark, ObjectStore, StoredObject
from opsanalytics.storage import object_store

INPUT_SUFFIXES: Final = (".gz", ".ndjson")
BOOKMARK_VERSION: Final = 1
_CHUNK: Final = 1 << 20


def inventory_for(settings: BatchSettings) -> ObjectStore:
    """The bucket `settings` names, through the object store adapter of its location."""
    return object_store(settings.location)


def list_inputs(inventory: ObjectStore, prefix: str) -> list[StoredObject]:
    """The archive objects a run may read under `prefix` (gzip from Firehose, NDJSON written out of band)."""
    return inventory.list_files(prefix, INPUT_SUFFIXES)


@dataclass(frozen=True, slots=True)
class CorruptFile:
    uri: str
    reason: str


def gzip_problem(stream: BinaryIO) -> str | None:
    """Why a gzip stream cannot be read to its end, or None when it can (every member, CRC checked)."""
    try:
        with gzip.GzipFile(fileobj=stream) as reader:
            while reader.read(_CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def find_corrupt_files(inventory: ObjectStore, files: Sequence[StoredObject], workers: int = 4) -> list[CorruptFile]:
    """Gzip objects that cannot be decompressed to the end (zlib releases the GIL: threads scale)."""

    def check(item: StoredObject) -> CorruptFile | None:
        with inventory.open(item) as stream:
            problem = gzip_problem(stream)
        return None if problem is None else CorruptFile(item.uri, problem)

    compressed = [item for item in files if item.compressed]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [found for found in pool.map(check, compressed) if found is not None]


class StateFileBookmark:
    """The local counterpart of Glue job bookmarks: ``<bucket>/_state/batch-bookmark.json`` lists each
    processed file with its size and modification time; a file that changed counts as new again."""

    def __init__(self, inventory: ObjectStore, key: str = STATE_KEY) -> None:
        self.inventory = inventory
        self.key = key

    def load(self) -> dict[str, dict[str, Any]]:
        raw = self.inventory.get_object(self.key)
        if raw is None:
            return {}
        state = orjson.loads(raw)
        if state.get("version") != BOOKMARK_VERSION:
            raise ValueError(f"unsupported bookmark version in {self.key}: {state.get('version')!r}")
        files: dict[str, dict[str, Any]] = state["files"]
        return files

    def new_files(self, files: Sequence[StoredObject]) -> list[StoredObject]:
        seen = self.load()
        return [
            f
            for f in files
            if (entry := seen.get(f.key)) is None or (entry["size"], entry["mtime"]) != (f.size, f.mtime)
        ]

    def commit(self, files: Sequence[StoredObject], corrupt: Iterable[str]) -> None:
        state = self.load()
        bad = set(corrupt)
        for item in files:
            state[item.key] = {"size": item.size, "mtime": item.mtime, "corrupt": item.uri in bad}
        body = {
            "version": BOOKMARK_VERSION,
            "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": dict(sorted(state.items())),
        }
        self.inventory.put_object(self.key, orjson.dumps(body, option=orjson.OPT_INDENT_2))


class NoBookmark:
    """Every file is new; nothing is remembered."""

    def new_files(self, files: Sequence[StoredObject]) -> list[StoredObject]:
        return list(files)

    def commit(self, files: Sequence[StoredObject], corrupt: Iterable[str]) -> None:
        return None


@dataclass(slots=True)
class BatchPlan:
    """The days a run recomputes and the files it reads for them."""

    days: list[date]
    files: list[StoredObject]
    new_files: list[StoredObject]
    unpartitioned: list[StoredObject] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.days


def days_touched(files: Iterable[StoredObject]) -> set[date]:
    """Days whose events the files may hold: their partition's day, and the next for ``hour=23``."""
    days: set[date] = set()
    for item in files:
        partition = item.partition
        if partition is None:
            continue
        day, hour = partition
        days.add(day)
        if hour == 23:
            days.add(day + timedelta(days=1))
    return days


def files_for_days(files: Iterable[StoredObject], days: Iterable[date]) -> list[StoredObject]:
    """Every file that may hold events of ``days`` (see `days_touched`)."""
    wanted = set(days)
    return [item for item in files if days_touched([item]) & wanted]


def plan_run(settings: BatchSettings, all_files: Sequence[StoredObject], bookmark: Bookmark) -> BatchPlan:
    """Which days to recompute: the range's days, every day (``full``), or the days new files touch."""
    unpartitioned = [item for item in all_files if item.partition is None]
    partitioned = [item for item in all_files if item.partition is not None]
    range_days = settings.range_days()
    if range_days is not None:
        days = set(range_days)
        new = []  # an explicit range neither reads nor moves the bookmark
    elif settings.full:
        days = days_touched(partitioned)
        new = partitioned
    else:
        new = bookmark.new_files(partitioned)
        days = days_touched(new)
    present = days_touched(partitioned)
    days &= present
    return BatchPlan(sorted(days), files_for_days(partitioned, days), new, unpartitioned)
