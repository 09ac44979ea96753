"""The log indexer on a real OpenSearch node: the lines of ``events/`` objects found by their fields and attribute
values, numeric aggregations over promoted attributes, a mapping that takes schema drift, what OpenSearch still
rejects quarantined with its reason, replays without duplicates, and an outage that loses nothing.

The handler runs as Lambda runs it (`LocalFunction`), fed by the local stand-in of its SQS queue
(`opsanalytics.logindex.local`); the archive is a directory, or moto's S3 for the calls the IAM check records.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.logindex.indexer import LogIndexer
from opsanalytics.logindex.local import drive_log_indexer, sqs_event
from opsanalytics.logindex.messages import object_created_event
from opsanalytics.logindex.settings import LogIndexSettings
from opsanalytics.opensearch import BulkWriter, OpenSearchSettings, create_client
from opsanalytics.ports import StoredObject
from opsanalytics.storage import DirectoryStore, ObjectLocation
from opsanalytics.transform.local import check_response, firehose_event
from tests.conftest import archived_event, cloudwatch_record

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("index_templates")]

DAY = 1_767_261_600_000  # 2026-01-01T10:00:00Z
KEY = "events/dt=2026-01-01/hour=10/opsanalytics-logs-1-2026-01-01-10-05-00-test.gz"


@pytest.fixture
def prefix(opensearch_client: OpenSearch, request: pytest.FixtureRequest) -> Iterator[str]:
    """This test's log index prefix, ``events-it<hex>-`` (the events template applies); its indices go afterwards."""
    import uuid

    prefix = f"events-it{uuid.uuid4().hex[:12]}-"
    yield prefix
    existing = opensearch_client.indices.get(index=f"{prefix}*", expand_wildcards="all")
    if existing:
        opensearch_client.indices.delete(index=",".join(sorted(existing)))


def write_object(bucket: Path, key: str, lines: list[bytes]) -> Path:
    path = bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines)))
    return path


def transformed(messages: list[str], log_group: str = "/ecs/checkout") -> list[bytes]:
    """The NDJSON lines the transformer Lambda archives for `messages`."""
    data = base64.b64encode(cloudwatch_record(messages, log_group=log_group, start_ms=DAY)).decode()
    event = firehose_event([("record-0", data, DAY)], "logs")
    entries = check_response(event, LocalFunction("log_transformer").invoke(event))
    return base64.b64decode(entries["record-0"]["data"]).splitlines()


def indexer_function(url: str, bucket: str, prefix: str, **environment: str) -> LocalFunction:
    return LocalFunction(
        "log_indexer",
        environment={
            "OPENSEARCH_URL": url,
            "ARCHIVE_LOCATION": bucket,
            "LOG_INDEX_PREFIX": prefix,
            "LOG_INDEX_LEVEL": "all",
            "LOG_INDEX_NUMERIC_ATTRIBUTES": "amount,items,cart.total_cents",
            **environment,
        },
    )


def index_bucket(url: str, bucket: Path, prefix: str, workdir: Path, **environment: str) -> Any:
    function = indexer_function(url, str(bucket), prefix, **environment)
    try:
        return drive_log_indexer(function.invoke, bucket, workdir)
    finally:
        function.close()


def search(client: OpenSearch, prefix: str, body: dict[str, Any]) -> dict[str, Any]:
    client.indices.refresh(index=f"{prefix}*")
    response: dict[str, Any] = client.search(index=f"{prefix}*", body=body)
    return response


def count(client: OpenSearch, prefix: str, query: dict[str, Any] | None = None) -> int:
    return int(search(client, prefix, {"size": 0, "query": query or {"match_all": {}}})["hits"]["total"]["value"])


ORDERS = [
    {"level": "INFO", "message": "order placed", "order_id": "A-17", "amount": 12.5, "items": 3, "tier": "gold"},
    {"level": "ERROR", "message": "order failed", "order_id": "A-18", "amount": 80, "items": 1, "tier": "silver"},
    {
        "level": "WARN",
        "message": "slow order",
        "order_id": "A-19",
        "amount": 7.5,
        "items": 2,
        "cart": {"total_cents": 750},
    },
]


def test_a_line_is_found_by_an_attribute_value_and_promoted_numbers_aggregate(
    opensearch_client: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    bucket = tmp_path / "bucket"
    write_object(bucket, KEY, transformed([orjson.dumps(order).decode() for order in ORDERS]))
    report = index_bucket(opensearch_url, bucket, prefix, tmp_path)
    assert (report.objects, report.dead_lettered, report.quarantined) == (1, [], 0)
    assert opensearch_client.indices.exists(index=f"{prefix}2026.01.01")

    hits = search(opensearch_client, prefix, {"query": {"term": {"attributes.order_id": "A-18"}}})["hits"]["hits"]
    assert [hit["_source"]["message"] for hit in hits] == ["order failed"]
    assert hits[0]["_id"] == hits[0]["_source"]["event_id"]
    assert count(opensearch_client, prefix, {"term": {"attributes.cart.total_cents": "750"}}) == 1  # nested key
    assert count(opensearch_client, prefix, {"match": {"message": "order"}}) == 3
    assert count(opensearch_client, prefix, {"query_string": {"query": "attributes.tier:gold"}}) == 1

    aggs = {
        "total": {"sum": {"field": "attributes_number.amount"}},
        "p50": {"percentiles": {"field": "attributes_number.amount", "percents": [50]}},
        "by_level": {"terms": {"field": "level"}, "aggs": {"items": {"avg": {"field": "attributes_number.items"}}}},
        "big": {"filter": {"range": {"attributes_number.amount": {"gte": 10}}}},
    }
    result = search(opensearch_client, prefix, {"size": 0, "aggs": aggs})["aggregations"]
    assert result["total"]["value"] == pytest.approx(100.0)
    assert result["p50"]["values"]["50.0"] == pytest.approx(12.5)
    assert {b["key"]: b["items"]["value"] for b in result["by_level"]["buckets"]} == {"INFO": 3, "ERROR": 1, "WARN": 2}
    assert result["big"]["doc_count"] == 2


def test_a_replay_overwrites_instead_of_duplicating(
    opensearch_client: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    bucket = tmp_path / "bucket"
    lines = transformed([orjson.dumps(order).decode() for order in ORDERS])
    write_object(bucket, KEY, lines)
    # the same events in a second object too, as after a Firehose retry
    write_object(bucket, KEY.replace("test.gz", "retry.gz"), lines)
    for _ in range(2):
        index_bucket(opensearch_url, bucket, prefix, tmp_path)
        assert count(opensearch_client, prefix) == len(ORDERS)


def test_the_level_chooses_the_lines(
    opensearch_client: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    bucket = tmp_path / "bucket"
    messages = [orjson.dumps(order).decode() for order in ORDERS] + ["INFO all good", "GET /x 503 took 12ms"]
    write_object(bucket, KEY, transformed(messages))
    index_bucket(opensearch_url, bucket, prefix, tmp_path, LOG_INDEX_LEVEL="warn")
    indexed = search(opensearch_client, prefix, {"size": 10, "sort": [{"timestamp": "asc"}]})["hits"]["hits"]
    assert [hit["_source"]["level"] for hit in indexed] == ["ERROR", "WARN"]
    index_bucket(opensearch_url, bucket, prefix + "none-", tmp_path, LOG_INDEX_LEVEL="none")
    assert opensearch_client.indices.get(index=f"{prefix}none-*") == {}


def drifting_lines() -> list[bytes]:
    """One attribute as a number, then a string, then an object (written by an older or foreign writer, not
    flattened), a list of mixed scalars; then lines OpenSearch or the indexer must refuse."""
    lines = [
        archived_event("n", service="a", attributes={"latency": 12}),
        archived_event("s", service="b", attributes={"latency": "fast"}),
        archived_event("o", service="c", attributes={"latency": {"p50": 3, "unit": "ms"}}),
        archived_event("l", service="d", attributes={"latency": [1, "two", None, True]}),
        archived_event("bad-status", service="e", status="teapot"),  # a contract field of the wrong type
    ]
    return [orjson.dumps(line) for line in lines] + [b"this is no log event", orjson.dumps(archived_event(""))]


def test_drifting_attributes_are_indexed_and_what_is_refused_is_quarantined_with_its_reason(
    opensearch_client: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    bucket = tmp_path / "bucket"
    lines = drifting_lines()
    write_object(bucket, KEY, lines)
    report = index_bucket(opensearch_url, bucket, prefix, tmp_path)
    assert report.dead_lettered == []
    assert count(opensearch_client, prefix) == 4
    assert count(opensearch_client, prefix, {"term": {"attributes.latency": "fast"}}) == 1
    assert count(opensearch_client, prefix, {"term": {"attributes.latency.unit": "ms"}}) == 1
    assert count(opensearch_client, prefix, {"term": {"attributes.latency": "12"}}) == 1

    quarantine = bucket / "errors" / "log-index" / f"{KEY}.ndjson"
    records = [orjson.loads(line) for line in quarantine.read_bytes().splitlines()]
    assert report.quarantined == len(records) == 3
    reasons = {str(r["event"]["event_id"]) if isinstance(r["event"], dict) else r["event"]: r for r in records}
    assert reasons["bad-status"]["status"] == 400
    assert "mapper_parsing_exception" in reasons["bad-status"]["reason"]
    assert "status" in reasons["bad-status"]["reason"]
    assert reasons["bad-status"]["index"] == f"{prefix}2026.01.01"
    assert reasons["this is no log event"]["reason"].startswith("not a log event: ")
    assert reasons[""]["reason"] == "not a log event: no event_id"
    assert all(r["source"].endswith(KEY) for r in records)
    # indexed + quarantined == every line: none lost
    assert count(opensearch_client, prefix) + len(records) == len(lines)
    # a second run replaces the quarantine file rather than appending to it
    index_bucket(opensearch_url, bucket, prefix, tmp_path)
    assert len(quarantine.read_bytes().splitlines()) == 3


def test_thousands_of_distinct_keys_do_not_reach_the_field_limit(
    opensearch_client: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """5,000 distinct attribute keys over 50 lines (100 each): all indexed, each searchable, and the mapping stays
    a handful of fields (a dynamic object would need 5,000 and hit the default limit of 1,000)."""
    lines = [
        orjson.dumps(archived_event(f"k{line}", attributes={f"key_{line}_{k}": k for k in range(100)}))
        for line in range(50)
    ]
    bucket = tmp_path / "bucket"
    write_object(bucket, KEY, lines)
    report = index_bucket(opensearch_url, bucket, prefix, tmp_path)
    assert (report.quarantined, report.dead_lettered) == (0, [])
    assert count(opensearch_client, prefix) == 50
    assert count(opensearch_client, prefix, {"term": {"attributes.key_49_99": "99"}}) == 1
    mapping = opensearch_client.indices.get_mapping(index=f"{prefix}2026.01.01")
    properties = mapping[f"{prefix}2026.01.01"]["mappings"]["properties"]
    assert properties["attributes"] == {"type": "flat_object"}
    assert len(properties) < 50


def test_an_outage_fails_the_message_and_loses_nothing(
    opensearch_client: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path, unused_port: int
) -> None:
    bucket = tmp_path / "bucket"
    lines = transformed([orjson.dumps(order).decode() for order in ORDERS])
    write_object(bucket, KEY, lines)
    report = index_bucket(
        f"http://127.0.0.1:{unused_port}",
        bucket,
        prefix,
        tmp_path,
        OPENSEARCH_BULK_MAX_ATTEMPTS="1",
        OPENSEARCH_BULK_MAX_RETRY_SECONDS="0",
    )
    # every delivery failed: the message waits in the dead-letter queue, nothing was quarantined
    assert report.redelivered == 2 and [entry["key"] for entry in report.dead_lettered] == [KEY]
    assert report.quarantined == 0
    assert (tmp_path / "dlq" / "log-index.jsonl").is_file()
    # redriven once the cluster is back: every line indexed
    index_bucket(opensearch_url, bucket, prefix, tmp_path)
    assert count(opensearch_client, prefix) == len(ORDERS)


def test_an_object_is_indexed_in_chunks_with_every_line_accounted_for(
    opensearch_client: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    lines = drifting_lines() * 3  # the same ids thrice: overwritten, not duplicated
    bucket = tmp_path / "bucket"
    write_object(bucket, KEY, lines)
    settings = LogIndexSettings(
        opensearch=OpenSearchSettings.for_url(opensearch_url),
        archive=ObjectLocation.directory(bucket),
        level="all",
        index_prefix=prefix,
        chunk_lines=2,
    )
    indexer = LogIndexer(BulkWriter.for_client(create_client(settings.opensearch)), DirectoryStore(bucket), settings)
    outcome = indexer.index_object(StoredObject(KEY, f"file://{bucket / KEY}", 0, 0))
    assert outcome.accounted
    assert (outcome.lines, outcome.indexed, outcome.quarantined, outcome.retry) == (21, 12, 9, 0)
    assert count(opensearch_client, prefix) == 4


def test_the_handler_reads_the_archive_bucket_in_s3(
    mocked_aws: str, opensearch_client: OpenSearch, opensearch_url: str, prefix: str
) -> None:
    import boto3

    s3 = boto3.client("s3", region_name=mocked_aws)
    s3.create_bucket(Bucket="archive")
    lines = drifting_lines()
    s3.put_object(Bucket="archive", Key=KEY, Body=gzip.compress(b"".join(line + b"\n" for line in lines)))
    function = indexer_function(opensearch_url, "s3://archive", prefix)
    body = orjson.dumps(object_created_event("archive", KEY, 100)).decode()
    missing = orjson.dumps(object_created_event("archive", "events/dt=2026-01-01/hour=10/gone.gz", 1)).decode()
    try:
        response = function.invoke(sqs_event([("m1", body), ("m2", missing), ("m3", "{}")]))
    finally:
        function.close()
    # the object that is gone and the message that is no S3 event fail (to the dead-letter queue in the end)
    assert sorted(item["itemIdentifier"] for item in response["batchItemFailures"]) == ["m2", "m3"]
    assert count(opensearch_client, prefix) == 4
    quarantined = s3.get_object(Bucket="archive", Key=f"errors/log-index/{KEY}.ndjson")["Body"].read()
    assert len(quarantined.splitlines()) == 3
