"""Typed settings of the log indexer, parsed once from the environment at cold start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from opsanalytics.opensearch import OpenSearchSettings
from opsanalytics.settings import SettingsError
from opsanalytics.storage import ObjectLocation

IndexLevel = Literal["all", "warn", "error", "none"]
INDEX_LEVELS: Final[tuple[IndexLevel, ...]] = get_args(IndexLevel)
DEFAULT_LEVEL: Final[IndexLevel] = "warn"
# Numeric attributes conventional names give sizes and counts to: copied to ``attributes_number`` so that
# sums, averages and percentiles work over them (the ``attributes`` flat_object has no numeric operations).
DEFAULT_NUMERIC_ATTRIBUTES: Final = (
    "http.content_length",
    "http.request.body.size",
    "http.response.body.size",
    "db.rows_affected",
    "retry_count",
)
MAX_NUMERIC_ATTRIBUTES: Final = 50
_INDEX_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]*-$")
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+){0,3}$")


def numeric_attributes(keys: tuple[str, ...], name: str = "LOG_INDEX_NUMERIC_ATTRIBUTES") -> tuple[str, ...]:
    """The promoted keys, validated: dotted attribute keys (at most 4 levels, as attributes are flattened),
    at most `MAX_NUMERIC_ATTRIBUTES`, and none the parent of another (``a`` a number and ``a.b`` a number
    would ask the mapping for a field that is both a number and an object)."""
    keys = tuple(dict.fromkeys(key.strip() for key in keys if key.strip()))
    if len(keys) > MAX_NUMERIC_ATTRIBUTES:
        raise SettingsError(f"{name}: at most {MAX_NUMERIC_ATTRIBUTES} keys, got {len(keys)}")
    for key in keys:
        if not _ATTRIBUTE_KEY.match(key):
            raise SettingsError(f"{name}: {key!r} is not an attribute key (letters, digits, _ @ $ -, dotted)")
    for key in keys:
        for other in keys:
            if other.startswith(key + "."):
                raise SettingsError(f"{name}: {key!r} and {other!r} cannot both be numbers (one holds the other)")
    return keys


@dataclass(frozen=True, slots=True)
class LogIndexSettings:
    """Settings of the log indexer."""

    opensearch: OpenSearchSettings
    archive: ObjectLocation
    """The archive bucket (``ARCHIVE_LOCATION``): ``s3://<bucket>``, or locally a directory."""
    level: IndexLevel = DEFAULT_LEVEL
    index_prefix: str = "events-"
    numeric_attributes: tuple[str, ...] = field(default=DEFAULT_NUMERIC_ATTRIBUTES)
    events_prefix: str = "events/"
    errors_prefix: str = "errors/log-index/"
    bulk_max_attempts: int = 4
    bulk_max_retry_seconds: float = 60.0
    chunk_lines: int = 5000
    """Lines read, indexed and accounted for at a time: the memory an object of any size needs."""

    def __post_init__(self) -> None:
        if self.level not in INDEX_LEVELS:
            raise SettingsError(f"LOG_INDEX_LEVEL must be one of {', '.join(INDEX_LEVELS)}, got {self.level!r}")
        if not _INDEX_PREFIX.match(self.index_prefix):
            raise SettingsError(
                f"LOG_INDEX_PREFIX must be a lower-case index name prefix ending in '-', got {self.index_prefix!r}"
            )
        numeric_attributes(self.numeric_attributes)
        for name, prefix in (("EVENTS_PREFIX", self.events_prefix), ("LOG_INDEX_ERRORS_PREFIX", self.errors_prefix)):
            if not prefix.endswith("/") or prefix.startswith("/"):
                raise SettingsError(f"{name} must be a key prefix ending in '/', got {prefix!r}")
        if self.bulk_max_attempts < 1 or self.bulk_max_retry_seconds < 0 or self.chunk_lines < 1:
            raise SettingsError("bulk attempts and chunk size must be >= 1, the retry time >= 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LogIndexSettings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        archive = get("ARCHIVE_LOCATION")
        if archive is None:
            raise SettingsError("ARCHIVE_LOCATION must name the archive bucket (s3://<bucket>) or a directory")
        numeric = env.get("LOG_INDEX_NUMERIC_ATTRIBUTES")
        level = (get("LOG_INDEX_LEVEL") or DEFAULT_LEVEL).lower()
        try:
            attempts = int(get("OPENSEARCH_BULK_MAX_ATTEMPTS") or 4)
            retry_seconds = float(get("OPENSEARCH_BULK_MAX_RETRY_SECONDS") or 60.0)
        except ValueError as exc:
            raise SettingsError(f"OPENSEARCH_BULK_MAX_ATTEMPTS / _RETRY_SECONDS: {exc}") from None
        return cls(
            opensearch=OpenSearchSettings.from_env(env),
            archive=ObjectLocation.parse(archive, "ARCHIVE_LOCATION"),
            level=level,  # type: ignore[arg-type]  # checked in __post_init__
            index_prefix=get("LOG_INDEX_PREFIX") or "events-",
            numeric_attributes=(
                DEFAULT_NUMERIC_ATTRIBUTES if numeric is None else numeric_attributes(tuple(numeric.split(",")))
            ),
            events_prefix=get("EVENTS_PREFIX") or "events/",
            bulk_max_attempts=attempts,
            bulk_max_retry_seconds=retry_seconds,
        )
