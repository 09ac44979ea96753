"""OpenSearch access for every stage: a client from typed settings, idempotent bootstrap, bulk writes."""

from __future__ import annotations

from opsanalytics.opensearch.bootstrap import AssetChange, BootstrapReport, apply_index_templates, apply_ism_policy
from opsanalytics.opensearch.bulk import BulkOperation, BulkResult, BulkWriter, FailedItem, document_id
from opsanalytics.opensearch.client import OpenSearchSettings, create_client

__all__ = [
    "AssetChange",
    "BootstrapReport",
    "BulkOperation",
    "BulkResult",
    "BulkWriter",
    "FailedItem",
    "OpenSearchSettings",
    "apply_index_templates",
    "apply_ism_policy",
    "create_client",
    "document_id",
]
