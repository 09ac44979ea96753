"""Typed settings of the batch job, parsed once from Glue job arguments or the local command line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final, Literal, TypeVar, get_args

from opsanalytics.settings import SettingsError
from opsanalytics.storage import ObjectLocation
from opsanalytics.timestamps import parse_iso

Bookmark = Literal["state-file", "glue", "none"]
BOOKMARKS: Final[tuple[Bookmark, ...]] = get_args(Bookmark)
Sink = Literal["connector", "bulk", "none"]
SINKS: Final[tuple[Sink, ...]] = get_args(Sink)
Keep = Literal["rows", "cache"]
KEEPS: Final[tuple[Keep, ...]] = get_args(Keep)

DEFAULT_TOP_SIGNATURES: Final = 50
STATE_KEY: Final = "_state/batch-bookmark.json"
PLAN_STATE_KEY: Final = "_state/batch-plan.json"
DEFAULT_CLOSE_DELAY_MINUTES: Final = 60
DEFAULT_REALTIME_INDEX_PREFIX: Final = "metrics-realtime-"

_Choice = TypeVar("_Choice", bound=str)


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """What one run of the batch job reads, computes and writes.

    ``bucket`` is ``s3://name`` in AWS or a local directory laid out like the bucket. A run recomputes the
    UTC hours that the events of new input fall in (bookmark mode), every hour (``full``) or the hours of the
    days ``from_time``/``to_time`` overlaps, each from all of that hour's input, so its results replace earlier
    ones instead of adding to them. A day's outputs (daily roll-ups, error signatures, SLO and Lambda reports)
    are computed once the day has closed, ``close_delay_minutes`` after its end, and again when late input for
    it arrives (see `opsanalytics.batch.inputs`).
    """

    bucket: str
    events_prefix: str = "events/"
    curated_prefix: str = "curated/rollups/"
    bookmark: Bookmark = "state-file"
    from_time: datetime | None = None
    to_time: datetime | None = None
    full: bool = False
    sink: Sink = "bulk"
    opensearch_url: str | None = None
    index_suffix: str = ""
    """Appended to index names (``metrics-batch-2026.01-<suffix>``): separates test runs."""
    realtime_index_prefix: str = DEFAULT_REALTIME_INDEX_PREFIX
    """The realtime windows' indices (``<prefix>YYYY.MM.DD``), read for the accuracy figures."""
    slo_config: Path | None = None
    metrics_config: Path | None = None
    """The declared metrics (``config/metrics.yaml``; `opsanalytics.realtime.declared`): None computes none."""
    top_signatures: int = DEFAULT_TOP_SIGNATURES
    write_parquet: bool = True
    keep: Keep = "rows"
    """How the one scan of the input is kept for the aggregations (see `opsanalytics.batch.job.keep`)."""
    close_delay_minutes: int = DEFAULT_CLOSE_DELAY_MINUTES
    now: datetime | None = None
    """The time the run plans for (None: the clock); a day closes when ``now`` passes its end plus the delay."""

    def __post_init__(self) -> None:
        if not self.bucket:
            raise SettingsError("the batch job needs a bucket (s3://name or a local directory)")
        self.location  # noqa: B018 - fails fast on a bucket that is neither
        for name in ("events_prefix", "curated_prefix"):
            value = getattr(self, name)
            if value.startswith("/") or not value.endswith("/"):
                raise SettingsError(f"{name} must be a key prefix ending in '/', without a leading '/': {value!r}")
        if self.bookmark not in BOOKMARKS:
            raise SettingsError(f"bookmark must be one of {', '.join(BOOKMARKS)}, got {self.bookmark!r}")
        if self.sink not in SINKS:
            raise SettingsError(f"sink must be one of {', '.join(SINKS)}, got {self.sink!r}")
        if self.keep not in KEEPS:
            raise SettingsError(f"keep must be one of {', '.join(KEEPS)}, got {self.keep!r}")
        if (self.from_time is None) != (self.to_time is None):
            raise SettingsError("give both --from and --to, or neither")
        if self.from_time is not None and self.to_time is not None:
            if self.from_time.tzinfo is None or self.to_time.tzinfo is None:
                raise SettingsError("--from and --to must be timezone-aware")
            if self.from_time >= self.to_time:
                raise SettingsError(f"--from ({self.from_time}) must be before --to ({self.to_time})")
            if self.full:
                raise SettingsError("--full and --from/--to exclude each other")
        if self.sink != "none" and not self.opensearch_url:
            raise SettingsError("writing to OpenSearch needs an OpenSearch URL (or sink 'none')")
        if self.close_delay_minutes < 0:
            raise SettingsError(f"close_delay_minutes must be >= 0, got {self.close_delay_minutes}")
        if self.now is not None and self.now.tzinfo is None:
            raise SettingsError("now must be timezone-aware")
        if self.top_signatures < 1:
            raise SettingsError(f"top_signatures must be >= 1, got {self.top_signatures}")
        if not self.realtime_index_prefix or any(char in self.realtime_index_prefix for char in "*,/ "):
            raise SettingsError(
                f"realtime_index_prefix must be an index name prefix (no '*', ',', '/' or spaces), "
                f"got {self.realtime_index_prefix!r}"
            )
        if self.index_suffix and not self.index_suffix.replace("-", "").isalnum():
            raise SettingsError(f"index_suffix must be letters, digits and '-', got {self.index_suffix!r}")

    @property
    def location(self) -> ObjectLocation:
        return ObjectLocation.parse(self.bucket, "the batch job's bucket")

    @property
    def is_s3(self) -> bool:
        return self.location.scheme == "s3"

    def uri(self, key: str) -> str:
        """URI of ``key`` in the bucket: ``s3://bucket/key`` or ``file:///abs/dir/key``."""
        return self.location.uri(key)

    def now_ms(self) -> int:
        """`now` (or the clock) in UTC epoch milliseconds."""
        moment = self.now or datetime.now(UTC)
        return int(moment.timestamp() * 1000)

    def range_days(self) -> list[date] | None:
        """The UTC days ``from_time``/``to_time`` overlap (None without a range)."""
        if self.from_time is None or self.to_time is None:
            return None
        first = self.from_time.astimezone(UTC).date()
        last = (self.to_time.astimezone(UTC) - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    @classmethod
    def from_job_arguments(cls, args: Mapping[str, str]) -> BatchSettings:
        """From Glue job arguments (``getResolvedOptions`` output, names without ``--``) or the same
        strings given on a local command line. Booleans are ``true``/``false``."""
        return cls(
            bucket=_required(args, "bucket"),
            events_prefix=args.get("events_prefix") or "events/",
            curated_prefix=args.get("curated_prefix") or "curated/rollups/",
            bookmark=_choice(args.get("bookmark") or "state-file", BOOKMARKS, "bookmark"),
            from_time=parse_time(args["from"]) if args.get("from") else None,
            to_time=parse_time(args["to"]) if args.get("to") else None,
            full=_boolean(args.get("full") or "false", "full"),
            sink=_choice(args.get("sink") or "bulk", SINKS, "sink"),
            opensearch_url=args.get("opensearch_url") or None,
            index_suffix=args.get("index_suffix") or "",
            realtime_index_prefix=args.get("realtime_index_prefix") or DEFAULT_REALTIME_INDEX_PREFIX,
            slo_config=Path(args["slo_config"]) if args.get("slo_config") else None,
            metrics_config=Path(args["metrics_config"]) if args.get("metrics_config") else None,
            top_signatures=_integer(args.get("top_signatures") or str(DEFAULT_TOP_SIGNATURES), "top_signatures"),
            write_parquet=_boolean(args.get("write_parquet") or "true", "write_parquet"),
            keep=_choice(args.get("keep") or "rows", KEEPS, "keep"),
            close_delay_minutes=_integer(
                args.get("close_delay_minutes") or str(DEFAULT_CLOSE_DELAY_MINUTES), "close_delay_minutes"
            ),
        )


def parse_time(value: str) -> datetime:
    """ISO-8601; a date alone is midnight UTC, a time without an offset is UTC."""
    try:
        return parse_iso(value.strip())
    except ValueError:
        raise SettingsError(f"not an ISO-8601 time: {value!r}") from None


def _required(args: Mapping[str, str], name: str) -> str:
    value = args.get(name, "").strip()
    if not value:
        raise SettingsError(f"missing job argument --{name}")
    return value


def _choice(value: str, choices: tuple[_Choice, ...], name: str) -> _Choice:
    for choice in choices:
        if value == choice:
            return choice
    raise SettingsError(f"--{name} must be one of {', '.join(choices)}, got {value!r}")


def _boolean(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise SettingsError(f"--{name} must be true or false, got {value!r}")


def _integer(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"--{name} must be an integer, got {value!r}") from None
