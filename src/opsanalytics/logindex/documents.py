"""What a log index holds: which events are indexed, under which index and id, as which document.

The document is the `LogEvent` as ``events/`` stores it, plus ``attributes_number``: the numeric values of
the promoted attribute keys (the settings' ``numeric_attributes``). The index template maps ``attributes`` as a
``flat_object`` (any value type, any number of keys, one field in the mapping; keyword matching only) and
``attributes_number.*`` as doubles, so the same attribute may be a number in one service and a string in
another without rejecting either document, and numeric aggregations still work on the promoted keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from opsanalytics.logevents.model import ERROR_LEVELS, READABLE_LOG_EVENT_SCHEMA_VERSIONS
from opsanalytics.logindex.settings import IndexLevel

_AT_LEAST_WARN: Final = frozenset({"WARN", *ERROR_LEVELS})
_DAY_MS: Final = 86_400_000
_YEAR_10000_MS: Final = 253_402_300_800_000


class NotALogEventError(ValueError):
    """An ``events/`` line that is not a log event of a readable schema version."""


def selects(level: IndexLevel, event: Mapping[str, Any]) -> bool:
    """Whether `event` is indexed at `level`: every event (``all``), errors (level ERROR/FATAL/CRITICAL or
    HTTP status >= 500, the event's ``error``), errors and warnings (``warn``), or none."""
    if level == "all":
        return True
    if level == "none":
        return False
    if event.get("error") is True:
        return True
    return level == "warn" and event.get("level") in _AT_LEAST_WARN


def check_event(event: Any) -> Mapping[str, Any]:
    """`event` if it can be indexed (an object with a string ``event_id`` and an integer ``timestamp``)."""
    if not isinstance(event, dict):
        raise NotALogEventError("not a JSON object")
    if event.get("schema_version") not in READABLE_LOG_EVENT_SCHEMA_VERSIONS:
        raise NotALogEventError(f"unsupported schema_version {event.get('schema_version')!r}")
    event_id, timestamp = event.get("event_id"), event.get("timestamp")
    if type(event_id) is not str or not event_id:
        raise NotALogEventError("no event_id")
    if type(timestamp) is not int:
        raise NotALogEventError(f"timestamp is not epoch milliseconds: {timestamp!r}")
    if not 0 <= timestamp < _YEAR_10000_MS:
        raise NotALogEventError(f"timestamp {timestamp} is outside the years 1970-9999")
    return event


def log_document(event: Mapping[str, Any], numeric_keys: tuple[str, ...]) -> dict[str, Any]:
    """The document of `event`: the event itself, and the numbers among its promoted attributes."""
    document = dict(event)
    attributes = event.get("attributes")
    if numeric_keys and isinstance(attributes, dict):
        numbers = {}
        for key in numeric_keys:
            value = attributes.get(key)
            if type(value) is int or type(value) is float:
                numbers[key] = value
        if numbers:
            document["attributes_number"] = numbers
    return document


class DailyIndex:
    """``<prefix>YYYY.MM.DD`` of an event's UTC day, the day's name computed once."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._names: dict[int, str] = {}

    def __call__(self, timestamp_ms: int) -> str:
        day = timestamp_ms // _DAY_MS
        name = self._names.get(day)
        if name is None:
            moment = datetime.fromtimestamp(day * 86_400, tz=UTC)
            name = self._names[day] = f"{self.prefix}{moment:%Y.%m.%d}"
        return name
