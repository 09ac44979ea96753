"""ISO-8601 times and epoch milliseconds, the two forms every record uses: one parser and two formatters.

Parsing accepts what ``datetime.fromisoformat`` does on Python 3.11 (``Z`` or an offset; a naive time is UTC, as
Lambda and Powertools write it; a date alone is midnight UTC) and converts to milliseconds in integers: through
float seconds, about one timestamp in 200 with milliseconds came out 1 ms early.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND: Final = timedelta(milliseconds=1)


def parse_iso(text: str) -> datetime:
    """An aware datetime (UTC when `text` names no offset); ValueError when `text` is not ISO-8601."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_iso_ms(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 time, exact (sub-millisecond digits are cut, as ``//`` floors)."""
    return (parse_iso(text) - EPOCH) // MILLISECOND


def iso_utc(epoch_ms: int) -> str:
    """ISO-8601 UTC with second precision, e.g. ``2026-01-01T10:00:00Z`` (window bounds are whole seconds)."""
    return datetime.fromtimestamp(epoch_ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_ms(epoch_ms: int) -> str:
    """ISO-8601 UTC with millisecond precision, e.g. ``2026-01-01T10:00:00.250Z``."""
    moment = EPOCH + epoch_ms * MILLISECOND
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
