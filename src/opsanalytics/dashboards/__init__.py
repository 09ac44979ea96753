"""OpenSearch Dashboards: the saved objects of ``assets/saved-objects/`` and a local, self-contained rendering."""

from __future__ import annotations

from opsanalytics.dashboards.page import ChartReport, RenderReport, render_dashboard
from opsanalytics.dashboards.panels import DEFAULT_INDEX_PATTERNS
from opsanalytics.dashboards.saved_objects import (
    IndexTemplate,
    SavedObject,
    SavedObjectsError,
    check_saved_objects,
    load_saved_objects,
    mapped_templates,
    validate,
)

__all__ = [
    "DEFAULT_INDEX_PATTERNS",
    "ChartReport",
    "IndexTemplate",
    "RenderReport",
    "SavedObject",
    "SavedObjectsError",
    "check_saved_objects",
    "load_saved_objects",
    "mapped_templates",
    "render_dashboard",
    "validate",
]
