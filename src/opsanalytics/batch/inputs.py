"""The batch job's input: listing the archive, checking gzip objects, the local bookmark, the plan of a run.

The archive is ``<bucket>/events/dt=YYYY-MM-DD/hour=HH/``: gzip NDJSON objects from Firehose and
uncompressed ``overflow-*.ndjson`` objects the transformer writes out of band. A partition is the
UTC hour of the *earliest* event of a Firehose record, so events of one day can sit in the previous
day's ``hour=23`` partition; reading a day therefore reads that partition too and filters by event time.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol

import orjson

from opsanalytics.batch.settings import STATE_KEY, BatchSettings
from opsanalytics.storage import DirectoryObjectSink

INPUT_SUFFIXES: Final = (".gz", ".ndjson")
BOOKMARK_VERSION: Final = 1
_PARTITION = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class InputFile:
    """One object of the archive; ``size`` and ``mtime`` identify its version for the bookmark."""

    key: str
    uri: str
    size: int
    mtime: int
    """modification time: nanoseconds (directory) or epoch milliseconds (S3 LastModified)"""

    @property
    def partition(self) -> tuple[date, int] | None:
        match = _PARTITION.search(self.key)
        if match is None:
            return None
        return date.fromisoformat(match.group(1)), int(match.group(2))

    @property
    def compressed(self) -> bool:
        return self.key.endswith(".gz")


class Inventory(Protocol):
    """Lists and opens the objects of the bucket (S3 in AWS, a directory locally)."""

    def list_files(self, prefix: str) -> list[InputFile]: ...

    def open(self, item: InputFile) -> BinaryIO: ...

    def get_object(self, key: str) -> bytes | None: ...

    def put_object(self, key: str, body: bytes) -> str: ...


class DirectoryInventory:
    """A local directory laid out like the bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._sink = DirectoryObjectSink(self.root)

    def list_files(self, prefix: str) -> list[InputFile]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        files = []
        for path in base.rglob("*"):
            if path.name.startswith(".") or not path.name.endswith(INPUT_SUFFIXES) or not path.is_file():
                continue
            stat = path.stat()
            key = path.relative_to(self.root).as_posix()
            # plain file: URIs: Hadoop paths take "=" literally, percent-encoding it would name another file
            files.append(InputFile(key, f"file://{path}", stat.st_size, stat.st_mtime_ns))
        return sorted(files, key=lambda f: f.key)

    def open(self, item: InputFile) -> BinaryIO:
        return (self.root / item.key).open("rb")

    def get_object(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def put_object(self, key: str, body: bytes) -> str:
        return self._sink.put_object(key, body)


class S3Inventory:
    """An S3 bucket (boto3 is imported here only)."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket = bucket
        self._client = client

    def list_files(self, prefix: str) -> list[InputFile]:
        files = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                if key.endswith(INPUT_SUFFIXES):
                    mtime = int(obj["LastModified"].timestamp() * 1000)
                    files.append(InputFile(key, f"s3://{self.bucket}/{key}", int(obj["Size"]), mtime))
        return sorted(files, key=lambda f: f.key)

    def open(self, item: InputFile) -> BinaryIO:
        body: BinaryIO = self._client.get_object(Bucket=self.bucket, Key=item.key)["Body"]
        return body

    def get_object(self, key: str) -> bytes | None:
        try:
            return bytes(self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except self._client.exceptions.NoSuchKey:
            return None

    def put_object(self, key: str, body: bytes) -> str:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"


def inventory_for(settings: BatchSettings) -> Inventory:
    if settings.is_s3:
        return S3Inventory(settings.bucket[5:].split("/", 1)[0])
    return DirectoryInventory(Path(settings.bucket))


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


def find_corrupt_files(inventory: Inventory, files: Sequence[InputFile], workers: int = 4) -> list[CorruptFile]:
    """Gzip objects that cannot be decompressed to the end (zlib releases the GIL: threads scale)."""

    def check(item: InputFile) -> CorruptFile | None:
        with inventory.open(item) as stream:
            problem = gzip_problem(stream)
        return None if problem is None else CorruptFile(item.uri, problem)

    compressed = [item for item in files if item.compressed]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [found for found in pool.map(check, compressed) if found is not None]


class Bookmark(Protocol):
    """Which input files earlier runs processed. ``commit`` runs only after every output is written."""

    def new_files(self, files: Sequence[InputFile]) -> list[InputFile]: ...

    def commit(self, files: Sequence[InputFile], corrupt: Iterable[str]) -> None: ...


class StateFileBookmark:
    """The local counterpart of Glue job bookmarks: ``<bucket>/_state/batch-bookmark.json`` lists each
    processed file with its size and modification time; a file that changed counts as new again."""

    def __init__(self, inventory: Inventory, key: str = STATE_KEY) -> None:
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

    def new_files(self, files: Sequence[InputFile]) -> list[InputFile]:
        seen = self.load()
        return [
            f
            for f in files
            if (entry := seen.get(f.key)) is None or (entry["size"], entry["mtime"]) != (f.size, f.mtime)
        ]

    def commit(self, files: Sequence[InputFile], corrupt: Iterable[str]) -> None:
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

    def new_files(self, files: Sequence[InputFile]) -> list[InputFile]:
        return list(files)

    def commit(self, files: Sequence[InputFile], corrupt: Iterable[str]) -> None:
        return None


@dataclass(slots=True)
class BatchPlan:
    """The days a run recomputes and the files it reads for them."""

    days: list[date]
    files: list[InputFile]
    new_files: list[InputFile]
    unpartitioned: list[InputFile] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.days


def days_touched(files: Iterable[InputFile]) -> set[date]:
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


def files_for_days(files: Iterable[InputFile], days: Iterable[date]) -> list[InputFile]:
    """Every file that may hold events of ``days`` (see `days_touched`)."""
    wanted = set(days)
    return [item for item in files if days_touched([item]) & wanted]


def plan_run(settings: BatchSettings, all_files: Sequence[InputFile], bookmark: Bookmark) -> BatchPlan:
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
