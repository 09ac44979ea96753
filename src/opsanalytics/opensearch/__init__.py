"""OpenSearch access for every stage: a client from typed settings, idempotent bootstrap, bulk writes."""

from __future__ import annotations

from .bootstrap import AssetChange, BootstrapReport, apply_index_templates, apply_ism_policy
from .bulk import BulkOperation, BulkResult, BulkWriter, FailedItem, document_id
from .client import OpenSearchSettings, create_client

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
