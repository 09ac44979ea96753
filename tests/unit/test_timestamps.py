"""The one ISO-8601 parser and its formatters: exact milliseconds, UTC for naive times, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsanalytics.timestamps import iso_utc, iso_utc_ms, parse_iso, parse_iso_ms

# 2100-01-01: what the pipeline's records carry, in milliseconds
EPOCH_MS = st.integers(min_value=0, max_value=4_102_444_800_000)


def test_milliseconds_are_exact_where_float_seconds_are_not() -> None:
    # through float seconds this came out as ...852
    assert parse_iso_ms("2004-03-01T02:42:52.853Z") == 1078108972853


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T10:00:00Z", 1767261600000),
        ("2026-01-01T10:00:00+00:00", 1767261600000),
        ("2026-01-01T11:00:00+01:00", 1767261600000),
        ("2026-01-01T10:00:00", 1767261600000),  # naive: UTC
        ("2026-01-01", 1767225600000),  # a date: midnight UTC
        ("2026-01-01T10:00:00.123456Z", 1767261600123),  # microseconds are cut
    ],
)
def test_parse(text: str, expected: int) -> None:
    assert parse_iso_ms(text) == expected
    assert parse_iso(text).utcoffset() is not None


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "10:00"])
def test_what_is_not_iso_8601_raises(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_ms(text)


@given(EPOCH_MS)
def test_millisecond_round_trip(epoch_ms: int) -> None:
    assert parse_iso_ms(iso_utc_ms(epoch_ms)) == epoch_ms


@given(EPOCH_MS)
def test_second_precision_floors(epoch_ms: int) -> None:
    assert parse_iso_ms(iso_utc(epoch_ms)) == epoch_ms - epoch_ms % 1000
