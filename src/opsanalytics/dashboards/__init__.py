"""OpenSearch Dashboards: the saved objects of ``dashboards/`` and a local, self-contained rendering of them."""

from __future__ import annotations

from opsanalytics.dashboards.render import DEFAULT_INDEX_PATTERNS, ChartReport, RenderReport, render_dashboard
from opsanalytics.dashboards.saved_objects import (
    IndexTemplate,
    SavedObject,
    SavedObjectsError,
    check_saved_objects,
    load_index_templates,
    load_saved_objects,
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
    "load_index_templates",
    "load_saved_objects",
    "render_dashboard",
    "validate",
]
