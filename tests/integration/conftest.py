"""Fixtures for tests against a real OpenSearch.

``OPENSEARCH_URL`` points the tests at a running cluster (its ``OPENSEARCH_AUTH``/``AWS_REGION`` apply).
Without it the session starts the local OpenSearch 2.19 node on free ports, with a fresh home under
``.local/test-opensearch/``, and stops it and removes the home when the session ends, also when start-up
or a test fails. The first run builds the node with Maven (``mvn`` on PATH), later runs reuse the build.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opensearchpy import OpenSearch

from opsanalytics.opensearch import OpenSearchSettings, apply_index_templates, create_client


@pytest.fixture(scope="session")
def opensearch_client(opensearch_url: str) -> Iterator[OpenSearch]:
    settings = OpenSearchSettings.for_url(opensearch_url)
    client = create_client(settings)
    yield client
    client.close()


@pytest.fixture(scope="session")
def index_templates(opensearch_client: OpenSearch) -> None:
    """The project's index templates, applied once per session (one replica-less copy on a single node)."""
    apply_index_templates(opensearch_client, replicas=0)


class IndexNames:
    """Unique index names for one test that still match the template patterns: ``names("events")`` is
    ``events-it<hex>``, so the ``events-*`` template applies."""

    def __init__(self) -> None:
        self.token = f"it{uuid.uuid4().hex[:12]}"

    def __call__(self, family: str) -> str:
        return f"{family}-{self.token}"

    @property
    def pattern(self) -> str:
        return f"*-{self.token}"


@pytest.fixture
def index_name(opensearch_client: OpenSearch) -> Iterator[IndexNames]:
    """``index_name("events")`` gives this test's ``events-it<hex>``; its indices are deleted afterwards."""
    names = IndexNames()
    yield names
    existing = opensearch_client.indices.get(index=names.pattern, expand_wildcards="all")
    if existing:
        # by name, not wildcard: clusters with action.destructive_requires_name refuse wildcard deletes
        opensearch_client.indices.delete(index=",".join(sorted(existing)))
