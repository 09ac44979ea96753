"""Apply the versioned OpenSearch assets (index templates, the retention ISM policy) idempotently.

The files live in ``assets/`` (`opsanalytics.assets`). They leave out what differs per deployment: the
applier sets ``number_of_replicas`` (0 on a single local node, 1 or more on a multi-AZ domain) and the
retention in days. Each applied body carries a hash of its rendered content, so a second run compares
hashes, sends nothing and reports ``unchanged``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import orjson
from opensearchpy import NotFoundError, OpenSearch

from opsanalytics.assets import Assets

TEMPLATE_NAMES: Final = ("events", "metrics-realtime", "metrics-batch", "metrics-declared", "log-insights", "alerts")
RETENTION_POLICY_ID: Final = "opsanalytics-retention"
LOG_RETENTION_POLICY_ID: Final = "opsanalytics-log-retention"
RETENTION_PLACEHOLDER: Final = "${RETENTION_DAYS}"
ISM_PLUGIN: Final = "opensearch-index-management"
_HASH_KEY: Final = "content_sha256"

Status = Literal["created", "updated", "unchanged", "skipped"]


@dataclass(frozen=True, slots=True)
class AssetChange:
    """What applying one asset did."""

    kind: Literal["index_template", "ism_policy"]
    name: str
    status: Status
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.status}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True, slots=True)
class BootstrapReport:
    changes: tuple[AssetChange, ...]

    @property
    def changed(self) -> bool:
        return any(change.status in ("created", "updated") for change in self.changes)

    def statuses(self) -> dict[str, Status]:
        return {change.name: change.status for change in self.changes}

    def __str__(self) -> str:
        return "\n".join(str(change) for change in self.changes)


def _content_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_index_templates(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The index template bodies by name, from ``<directory>/<name>.json`` (default the checkout's)."""
    directory = directory or Assets.checkout().index_templates
    return {name: orjson.loads((directory / f"{name}.json").read_bytes()) for name in TEMPLATE_NAMES}


def render_index_template(body: Mapping[str, Any], replicas: int, shards: int | None = None) -> dict[str, Any]:
    """``body`` with ``number_of_replicas`` (and ``number_of_shards``, when given) set and its content hash in
    ``_meta``."""
    if replicas < 0:
        raise ValueError(f"replicas must be >= 0, got {replicas}")
    if shards is not None and shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    rendered = copy.deepcopy(dict(body))
    settings = rendered.setdefault("template", {}).setdefault("settings", {}).setdefault("index", {})
    settings["number_of_replicas"] = replicas
    if shards is not None:
        settings["number_of_shards"] = shards
    meta = rendered.setdefault("_meta", {})
    meta.pop(_HASH_KEY, None)
    meta[_HASH_KEY] = _content_hash(rendered)
    return rendered


def _applied_template_hash(client: OpenSearch, name: str) -> str | None:
    try:
        response = client.indices.get_index_template(name=name)
    except NotFoundError:
        return None
    for entry in response.get("index_templates", []):
        if entry.get("name") == name:
            value = entry.get("index_template", {}).get("_meta", {}).get(_HASH_KEY)
            return value if isinstance(value, str) else ""
    return None


def apply_index_templates(
    client: OpenSearch,
    replicas: int,
    directory: Path | None = None,
    shards: Mapping[str, int] | None = None,
) -> BootstrapReport:
    """PUT every composable index template whose rendered content differs from what the cluster has;
    `shards` sets ``number_of_shards`` per template name (the log indices grow with the volume indexed)."""
    changes = []
    for name, body in load_index_templates(directory).items():
        rendered = render_index_template(body, replicas, (shards or {}).get(name))
        applied = _applied_template_hash(client, name)
        if applied == rendered["_meta"][_HASH_KEY]:
            changes.append(AssetChange("index_template", name, "unchanged"))
            continue
        client.indices.put_index_template(name=name, body=rendered)
        changes.append(AssetChange("index_template", name, "created" if applied is None else "updated"))
    return BootstrapReport(tuple(changes))


def _replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_in_strings(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace_in_strings(item, old, new) for key, item in value.items()}
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def render_ism_policy(body: Mapping[str, Any], retention_days: int) -> dict[str, Any]:
    """The policy with ``${RETENTION_DAYS}`` substituted and its content hash at the end of its description
    (an ISM policy has no ``_meta``; the description is the one free-text field the cluster keeps)."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be >= 1, got {retention_days}")
    if not any(RETENTION_PLACEHOLDER in text for text in _strings(body)):
        raise ValueError(f"the ISM policy has no {RETENTION_PLACEHOLDER} to substitute")
    rendered: dict[str, Any] = _replace_in_strings(dict(body), RETENTION_PLACEHOLDER, str(retention_days))
    policy = rendered["policy"]
    policy["description"] = f"{policy.get('description', '')} [{_HASH_KEY}={_content_hash(rendered)}]"
    return rendered


def has_ism_plugin(client: OpenSearch) -> bool:
    """Whether the cluster runs Index State Management (AWS domains do, the local node does not)."""
    plugins = client.cat.plugins(format="json")
    return any(isinstance(row, dict) and row.get("component") == ISM_PLUGIN for row in plugins or [])


def apply_ism_policy(
    client: OpenSearch,
    retention_days: int,
    path: Path | None = None,
    policy_id: str = RETENTION_POLICY_ID,
) -> BootstrapReport:
    """PUT the retention policy if its rendered content changed; skip (with a reason) without the ISM plugin.

    A changed policy applies to indices created afterwards (``ism_template``); indices already managed keep
    the policy version they started with, as ISM does.
    """
    body = orjson.loads((path or Assets.checkout().ism_policy).read_bytes())
    rendered = render_ism_policy(body, retention_days)
    if not has_ism_plugin(client):
        return BootstrapReport(
            (AssetChange("ism_policy", policy_id, "skipped", f"no {ISM_PLUGIN} plugin on this cluster"),)
        )
    url = f"/_plugins/_ism/policies/{policy_id}"
    try:
        existing = client.transport.perform_request("GET", url)
    except NotFoundError:
        existing = None
    if existing is None:
        client.transport.perform_request("PUT", url, body=rendered)
        return BootstrapReport((AssetChange("ism_policy", policy_id, "created"),))
    if existing.get("policy", {}).get("description") == rendered["policy"]["description"]:
        return BootstrapReport((AssetChange("ism_policy", policy_id, "unchanged"),))
    # optimistic concurrency: ISM refuses an update without the version it replaces
    params = {"if_seq_no": existing["_seq_no"], "if_primary_term": existing["_primary_term"]}
    client.transport.perform_request("PUT", url, params=params, body=rendered)
    return BootstrapReport((AssetChange("ism_policy", policy_id, "updated"),))
