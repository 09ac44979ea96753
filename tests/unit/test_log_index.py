"""The log indexer's core without a cluster: which lines are indexed, as which document, under which index, the
settings and the messages it accepts. Indexing on a real node: tests/integration/test_log_index.py."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from opsanalytics.logindex.documents import DailyIndex, NotALogEventError, check_event, log_document, selects
from opsanalytics.logindex.indexer import transient
from opsanalytics.logindex.messages import MessageError, object_created, object_created_event
from opsanalytics.logindex.settings import (
    DEFAULT_NUMERIC_ATTRIBUTES,
    LogIndexSettings,
    numeric_attributes,
)
from opsanalytics.opensearch import FailedItem
from opsanalytics.settings import SettingsError
from opsanalytics.storage import ObjectLocation


def event(**fields: Any) -> dict[str, Any]:
    base = {
        "schema_version": 2,
        "event_id": "e1",
        "timestamp": 1_767_261_600_000,
        "level": "INFO",
        "error": False,
        "service": "checkout",
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"level": "DEBUG"}, {"all"}),
        ({"level": "INFO"}, {"all"}),
        ({"level": "WARN"}, {"all", "warn"}),
        ({"level": "ERROR", "error": True}, {"all", "warn", "error"}),
        ({"level": "FATAL", "error": True}, {"all", "warn", "error"}),
        # an INFO line that answered 503 is an error (the event's `error`), at every level but none
        ({"level": "INFO", "status": 503, "error": True}, {"all", "warn", "error"}),
    ],
)
def test_the_level_selects_the_lines(fields: dict[str, Any], expected: set[str]) -> None:
    assert {level for level in ("all", "warn", "error", "none") if selects(level, event(**fields))} == expected


def test_the_document_is_the_event_with_its_promoted_numbers() -> None:
    attributes = {"amount": 12.5, "items": 3, "gift": True, "tier": "gold", "total": "12", "skipped": 1}
    document = log_document(event(attributes=attributes), ("amount", "items", "gift", "tier", "total", "absent"))
    assert document["attributes"] == attributes  # kept whole, every type
    # numbers only: a bool is no number, a string is not converted, unlisted keys are not promoted
    assert document["attributes_number"] == {"amount": 12.5, "items": 3}
    assert "attributes_number" not in log_document(event(attributes={"tier": "gold"}), ("amount",))
    assert "attributes_number" not in log_document(event(), ("amount",))


def test_an_event_goes_to_the_index_of_its_utc_day() -> None:
    index = DailyIndex("events-")
    assert index(1_767_225_599_999) == "events-2025.12.31"
    assert index(1_767_225_600_000) == "events-2026.01.01"
    assert index(0) == "events-1970.01.01"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ([1, 2], "not a JSON object"),
        (event(schema_version=9), "unsupported schema_version 9"),
        (event(event_id=""), "no event_id"),
        (event(timestamp="2026-01-01T00:00:00Z"), "timestamp is not epoch milliseconds"),
        (event(timestamp=True), "timestamp is not epoch milliseconds"),
        (event(timestamp=10**17), "outside the years 1970-9999"),
    ],
)
def test_what_is_not_a_log_event_says_why(line: Any, reason: str) -> None:
    with pytest.raises(NotALogEventError, match=reason):
        check_event(line)


def test_version_1_events_are_indexed_too() -> None:
    assert check_event(event(schema_version=1))["event_id"] == "e1"


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (429, "es_rejected_execution_exception", True),
        (503, "unavailable_shards_exception", True),
        (None, "ConnectionError", True),
        (400, "mapper_parsing_exception", False),
        (413, "request_entity_too_large", False),
        (None, "serialization_error", False),
    ],
)
def test_only_failures_that_may_pass_are_retried(status: int | None, error_type: str, expected: bool) -> None:
    assert transient(FailedItem("index", "events-x", "e1", status, error_type, "why", 1)) is expected


def test_numeric_attributes_are_validated() -> None:
    assert numeric_attributes((" a ", "b.c", "", "a")) == ("a", "b.c")
    with pytest.raises(SettingsError, match=r"'http' and 'http\.status' cannot both be numbers"):
        numeric_attributes(("http", "http.status"))
    with pytest.raises(SettingsError, match="at most 50 keys"):
        numeric_attributes(tuple(f"k{i}" for i in range(51)))
    with pytest.raises(SettingsError, match="is not an attribute key"):
        numeric_attributes(("a..b",))
    with pytest.raises(SettingsError, match="is not an attribute key"):
        numeric_attributes(("a.b.c.d.e",))  # attributes are flattened 4 levels deep


def test_settings_from_the_environment() -> None:
    settings = LogIndexSettings.from_env({"OPENSEARCH_URL": "http://localhost:9200", "ARCHIVE_LOCATION": "s3://b"})
    assert (settings.level, settings.index_prefix, settings.archive) == ("warn", "events-", ObjectLocation("s3", "b"))
    assert settings.numeric_attributes == DEFAULT_NUMERIC_ATTRIBUTES
    env = {
        "OPENSEARCH_URL": "http://localhost:9200",
        "ARCHIVE_LOCATION": "./bucket",
        "LOG_INDEX_LEVEL": "ALL",
        "LOG_INDEX_PREFIX": "events-demo-",
        "LOG_INDEX_NUMERIC_ATTRIBUTES": "",
    }
    settings = LogIndexSettings.from_env(env)
    assert (settings.level, settings.index_prefix, settings.numeric_attributes) == ("all", "events-demo-", ())
    with pytest.raises(SettingsError, match="LOG_INDEX_LEVEL must be one of all, warn, error, none"):
        LogIndexSettings.from_env({**env, "LOG_INDEX_LEVEL": "info"})
    with pytest.raises(SettingsError, match="LOG_INDEX_PREFIX"):
        LogIndexSettings.from_env({**env, "LOG_INDEX_PREFIX": "Events"})
    with pytest.raises(SettingsError, match="ARCHIVE_LOCATION must name the archive bucket"):
        LogIndexSettings.from_env({"OPENSEARCH_URL": "http://localhost:9200"})


def test_the_template_default_of_the_promoted_keys_is_the_code_default() -> None:
    from tests.unit.test_template import TEMPLATE

    default = TEMPLATE["Parameters"]["LogIndexNumericAttributes"]["Default"]
    assert tuple(default.split(",")) == DEFAULT_NUMERIC_ATTRIBUTES


ARCHIVE = ObjectLocation("s3", "archive")


def body(key: str, bucket: str = "archive") -> bytes:
    return orjson.dumps(object_created_event(bucket, key, 10))


def test_a_message_names_an_events_object() -> None:
    item = object_created(body("events/dt=2026-01-01/hour=10/a.gz"), ARCHIVE, "events/")
    assert item is not None and (item.key, item.uri, item.size) == (
        "events/dt=2026-01-01/hour=10/a.gz",
        "s3://archive/events/dt=2026-01-01/hour=10/a.gz",
        10,
    )
    assert item.compressed
    # S3 event keys are URL-encoded
    encoded = object_created(body("events/dt%3D2026-01-01/hour%3D10/a+b.gz"), ARCHIVE, "events/")
    assert encoded is not None and encoded.key == "events/dt=2026-01-01/hour=10/a b.gz"
    assert object_created(body("curated/x.parquet"), ARCHIVE, "events/") is None


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not an S3 Object Created event"),
        (orjson.dumps({**object_created_event("archive", "k", 1), "detail-type": "Object Deleted"}), "Object Deleted"),
        (orjson.dumps({"detail-type": "Object Created", "detail": {}}), "names no bucket and key"),
        (body("events/a.gz", bucket="other"), "of bucket 'other', not the archive 'archive'"),
    ],
)
def test_a_message_that_names_no_archive_object_says_why(message: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        object_created(message, ARCHIVE, "events/")
