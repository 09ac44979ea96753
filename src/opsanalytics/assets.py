"""Where the versioned assets are: ``assets/`` of the checkout, or the copy a function's build carries.

``assets/index-templates/*.json`` (one index template per index family), ``assets/ism-policies/retention.json``
(the retention policy of the metric, report and alert indices), ``assets/ism-policies/log-retention.json`` (that
of the log indices) and ``assets/saved-objects/*.ndjson`` (the OpenSearch Dashboards saved objects, imported
in name order). The one resolver: everything that reads an asset asks `Assets` for its path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opsanalytics.paths import project_root


@dataclass(frozen=True, slots=True)
class Assets:
    root: Path

    @classmethod
    def checkout(cls) -> Assets:
        """``assets/`` of the checkout (``OPSANALYTICS_HOME`` overrides the checkout)."""
        return cls(project_root() / "assets")

    @classmethod
    def locate(cls, built: Path) -> Assets:
        """The copy a function's build put at `built` (the same layout), or the checkout's when there is none
        (the function run from the repository)."""
        return cls(built) if built.is_dir() else cls.checkout()

    @property
    def index_templates(self) -> Path:
        return self.root / "index-templates"

    @property
    def ism_policy(self) -> Path:
        return self.root / "ism-policies" / "retention.json"

    @property
    def log_retention_policy(self) -> Path:
        return self.root / "ism-policies" / "log-retention.json"

    @property
    def saved_objects(self) -> Path:
        return self.root / "saved-objects"
