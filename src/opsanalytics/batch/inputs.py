"""The batch job's input: listing the archive, checking gzip objects, the local bookmark, the plan of a run.

The archive is ``<bucket>/events/dt=YYYY-MM-DD/hour=HH/``: gzip NDJSON objects from Firehose and
uncompressed ``overflow-*.ndjson`` objects the transformer writes out of band. The partition is event time:
the UTC hour of the *earliest* event of a Firehose record (see ``docs/batch.md``). An object can therefore
hold events of other hours, even of other days; the plan follows the event times inside the new objects, and
remembers which objects hold events outside their partition (`PlanState`).
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

from opsanalytics.batch.settings import PLAN_STATE_KEY, STATE_KEY, BatchSettings
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


HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000
PLAN_STATE_VERSION: Final = 1
_EPOCH: Final = date(1970, 1, 1)


def day_start_ms(day: date) -> int:
    return (day - _EPOCH).days * DAY_MS


def day_of(epoch_ms: int) -> date:
    return _EPOCH + timedelta(days=epoch_ms // DAY_MS)


def partition_hour(item: StoredObject) -> int | None:
    """The start (epoch ms) of the UTC hour an object's partition names, if it is in one."""
    partition = item.partition
    if partition is None:
        return None
    day, hour = partition
    return day_start_ms(day) + hour * HOUR_MS


@dataclass(slots=True)
class PlanState:
    """What planning remembers between runs (``_state/batch-plan.json``).

    ``stragglers``: for each archive object holding events outside its partition's hour, those hours (epoch ms).
    A Firehose record is partitioned by its earliest event, so its other events can fall in later hours (a
    record that spans midnight), and a line's own timestamp can be any time (history replayed, a job that
    prints old times). Every object a run reads is indexed, so a later recomputation of such an hour reads it too.
    ``open_days``: days with hourly outputs whose daily outputs wait for the day to close.
    ``final_days``: days whose daily outputs were written, and when.
    """

    stragglers: dict[str, list[int]] = field(default_factory=dict)
    open_days: set[date] = field(default_factory=set)
    final_days: dict[date, str] = field(default_factory=dict)

    def index(self, hours_by_file: dict[str, set[int]], files: Iterable[StoredObject]) -> None:
        """Record the event hours of objects just read (keys of ``hours_by_file`` are their URIs)."""
        for item in files:
            own = partition_hour(item)
            others = sorted(hour for hour in hours_by_file.get(item.uri, ()) if hour != own)
            if others:
                self.stragglers[item.key] = others
            else:
                self.stragglers.pop(item.key, None)


class PlanStore:
    """`PlanState` as a JSON object in the bucket, written after a run has written its outputs."""

    def __init__(self, inventory: ObjectStore, key: str = PLAN_STATE_KEY) -> None:
        self.inventory = inventory
        self.key = key

    def load(self) -> PlanState:
        raw = self.inventory.get_object(self.key)
        if raw is None:
            return PlanState()
        state = orjson.loads(raw)
        if state.get("version") != PLAN_STATE_VERSION:
            raise ValueError(f"unsupported plan state version in {self.key}: {state.get('version')!r}")
        return PlanState(
            stragglers={key: list(hours) for key, hours in state["stragglers"].items()},
            open_days={date.fromisoformat(day) for day in state["open_days"]},
            final_days={date.fromisoformat(day): at for day, at in state["final_days"].items()},
        )

    def save(self, state: PlanState) -> None:
        body = {
            "version": PLAN_STATE_VERSION,
            "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open_days": sorted(day.isoformat() for day in state.open_days),
            "final_days": {day.isoformat(): at for day, at in sorted(state.final_days.items())},
            "stragglers": dict(sorted(state.stragglers.items())),
        }
        self.inventory.put_object(self.key, orjson.dumps(body, option=orjson.OPT_INDENT_2))


@dataclass(slots=True)
class HourPlan:
    """What a run recomputes once it knows the event hours of its new input."""

    hours: list[int]  # UTC hours (epoch ms) whose hourly outputs are recomputed
    days: list[date]  # closed days whose daily outputs are (re)computed; their hours are among ``hours``
    open_days: set[date]  # days with hourly outputs only, until they close


def plan_hours(
    new_hours: Iterable[int],
    state: PlanState,
    *,
    now_ms: int,
    close_delay_ms: int,
    explicit_days: Iterable[date] = (),
) -> HourPlan:
    """The hours the new events fall in, and the days to finalize: those of the new events that have closed
    (``now`` is past their end plus the delay), days left open by earlier runs that have closed since, and
    ``explicit_days`` (a ``--from/--to`` run). Finalizing a day recomputes all of its hours from all of its input,
    which keeps its percentiles exact: a closed day is read once more, not kept as partial state."""
    hours = set(new_hours)
    touched = {day_of(hour) for hour in hours}
    pending = touched | state.open_days
    closed = {day for day in pending if now_ms >= day_start_ms(day) + DAY_MS + close_delay_ms}
    final = closed | set(explicit_days)
    for day in final:
        start = day_start_ms(day)
        hours.update(range(start, start + DAY_MS, HOUR_MS))
    return HourPlan(hours=sorted(hours), days=sorted(final), open_days=pending - final)


def files_for_hours(files: Iterable[StoredObject], hours: Iterable[int], state: PlanState) -> list[StoredObject]:
    """Every object that may hold events of ``hours``: those partitioned in one, and those the straggler index
    names for one."""
    wanted = set(hours)
    return [
        item
        for item in files
        if partition_hour(item) in wanted or not wanted.isdisjoint(state.stragglers.get(item.key, ()))
    ]


def new_input(
    settings: BatchSettings, all_files: Sequence[StoredObject], bookmark: Bookmark
) -> tuple[list[StoredObject], list[StoredObject], list[StoredObject]]:
    """(partitioned objects, the new ones among them, objects outside any partition). ``full`` takes every
    object as new; a ``--from/--to`` run has no new input (it neither reads nor moves the bookmark)."""
    partitioned = [item for item in all_files if item.partition is not None]
    unpartitioned = [item for item in all_files if item.partition is None]
    if settings.range_days() is not None:
        new: list[StoredObject] = []
    elif settings.full:
        new = partitioned
    else:
        new = bookmark.new_files(partitioned)
    return partitioned, new, unpartitioned
