"""Fixtures shared by every test layer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opsanalytics.local import opensearch_node
from opsanalytics.local.lambda_runtime import LocalLambdaContext
from opsanalytics.logevents.cloudwatch import encode_subscription_payload

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="test-function")


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / name).read_text())

    return load


MOTO_REGION = "us-east-1"


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's in-memory AWS for unit tests of boto3 calls, with dummy credentials; yields the region."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": MOTO_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield MOTO_REGION


free_ports = opensearch_node.free_ports


@pytest.fixture
def unused_port() -> int:
    """A loopback port with no listener: requests to it are refused."""
    return free_ports(1)[0]


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    """A real OpenSearch for the integration, e2e and container layers: ``OPENSEARCH_URL``, or the local
    OpenSearch 2.19 node on free ports with a fresh home under ``.local/test-opensearch/``, stopped and removed
    when the session ends (also on failure)."""
    with opensearch_node.cluster_url("test-opensearch") as url:
        yield url


def cloudwatch_record(
    messages: list[str],
    *,
    log_group: str = "/aws/lambda/orders",
    log_stream: str = "2026/01/01/[$LATEST]abc",
    start_ms: int = 1_767_261_600_000,
) -> bytes:
    """Factory: a gzip subscription payload carrying `messages`, one millisecond apart."""
    return encode_subscription_payload(
        log_group=log_group,
        log_stream=log_stream,
        log_events=[
            {"id": f"{start_ms + i:020d}{i:036d}", "timestamp": start_ms + i, "message": m}
            for i, m in enumerate(messages)
        ],
    )


def archived_event(event_id: str, **fields: Any) -> dict[str, Any]:
    """Factory: a log event as ``events/`` stores it (schema version 2), with `fields` over the defaults."""
    event = {
        "schema_version": 2,
        "event_id": event_id,
        "timestamp": 1_767_261_600_000,
        "log_group": "/ecs/orders",
        "log_stream": "ecs/orders/1",
        "owner": "123456789012",
        "service": "orders",
        "level": "INFO",
        "message": "m",
        "format": "json",
        "error": False,
    }
    return {**event, **fields}


def firehose_records(payloads: list[bytes]) -> list[tuple[str, str]]:
    return [(f"record-{i:04d}", base64.b64encode(p).decode()) for i, p in enumerate(payloads)]


_LAYER_MARKERS = {"integration": pytest.mark.integration, "e2e": pytest.mark.e2e, "container": pytest.mark.container}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its layer directory, so `-m "not integration"` and friends select layers; the IAM
    coverage check goes last, after every test whose calls it checks."""
    for item in items:
        for part in item.path.parts:
            marker = _LAYER_MARKERS.get(part)
            if marker is not None:
                item.add_marker(marker)
    items.sort(key=lambda item: item.path.name == "test_iam_coverage.py")


@pytest.fixture(scope="session", autouse=True)
def iam_calls() -> Iterator[None]:
    """Every AWS and OpenSearch call the pipeline's code makes in this session, for tests/test_iam_coverage.py."""
    from tests.support.iam import RECORDER

    with RECORDER.installed():
        yield
