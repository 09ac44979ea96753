"""Metric windows read back from ``metrics-realtime-*`` for the alert rules.

Window documents have deterministic ids and dated indices, so the windows a rule needs (the ``for - 1``
before an evaluated window, a deviation's baseline) are fetched by id with ``_mget``: a realtime read that
also sees what was indexed a moment ago, before the index refreshed. Only "which services were seen
recently" needs a search; its candidates for absence are re-checked by id for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from opensearchpy import OpenSearch

from opsanalytics.alerting.evaluate import WindowKey
from opsanalytics.realtime.windows import DEFAULT_WINDOW_SECONDS, MetricWindow, window_document_id
from opsanalytics.timestamps import iso_utc, parse_iso_ms

DEFAULT_INDEX_PREFIX: Final = "metrics-realtime-"
MGET_CHUNK: Final = 1000
MAX_SERVICES: Final = 10_000
MAX_LOG_GROUPS_PER_SERVICE: Final = 100
MAX_OWNERS: Final = 100


def realtime_index(prefix: str, window_start: str) -> str:
    """The daily index of a window: ``<prefix>YYYY.MM.DD`` of its ``window_start``."""
    return f"{prefix}{window_start[:10].replace('-', '.')}"


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


class MetricsHistory:
    def __init__(self, client: OpenSearch, index_prefix: str = DEFAULT_INDEX_PREFIX) -> None:
        self._client = client
        self.index_prefix = index_prefix

    def windows(
        self, wanted: Iterable[tuple[WindowKey, int]], owners: Mapping[WindowKey, Iterable[str]] | None = None
    ) -> dict[WindowKey, dict[int, MetricWindow]]:
        """The stored windows among ``wanted`` ((service, log_group), window_start ms), by key and start.
        ``owners`` names the accounts whose windows a key has (a window's id includes its owner since window
        contract v2); a key without one is looked up as a version 1 window (no owner)."""
        refs = sorted(set(wanted))
        found: dict[WindowKey, dict[int, MetricWindow]] = {}
        ids = [
            (key, start_ms, owner) for key, start_ms in refs for owner in sorted(set((owners or {}).get(key) or ("",)))
        ]
        for chunk in _chunks(ids, MGET_CHUNK):
            docs = []
            for (service, log_group), start_ms, owner in chunk:
                start = iso_utc(start_ms)
                docs.append(
                    {
                        "_index": realtime_index(self.index_prefix, start),
                        "_id": window_document_id(service, log_group, start, owner),
                    }
                )
            response = self._client.mget(body={"docs": docs}, params={"filter_path": "docs.found,docs._source"})
            for doc in response.get("docs", []):
                source = doc.get("_source") if doc.get("found") else None
                if isinstance(source, dict) and source.get("record_type") == "metric_window":
                    window: MetricWindow = source  # type: ignore[assignment]
                    key = (window["service"], window["log_group"])
                    found.setdefault(key, {})[parse_iso_ms(window["window_start"])] = window
        return found

    def last_seen(
        self,
        now_ms: int,
        within_ms: int,
        recheck_older_than_ms: int,
        span_ms: int = DEFAULT_WINDOW_SECONDS * 1000,
    ) -> dict[str, int]:
        """The end of each service's newest window among those ending in ``(now - within, now]``.

        A service whose newest window looks older than ``recheck_older_than_ms`` is re-checked by id for
        the windows after it, which a search may not show yet.
        """
        body = {
            "size": 0,
            "query": {"range": {"window_end": {"gt": now_ms - within_ms, "lte": now_ms, "format": "epoch_millis"}}},
            "aggs": {
                "services": {
                    "terms": {"field": "service", "size": MAX_SERVICES},
                    "aggs": {
                        "log_groups": {
                            "terms": {"field": "log_group", "size": MAX_LOG_GROUPS_PER_SERVICE},
                            "aggs": {
                                "last": {"max": {"field": "window_end"}},
                                # the windows' ids include their owner: the re-check below needs it
                                "owners": {"terms": {"field": "owner", "size": MAX_OWNERS, "missing": ""}},
                            },
                        }
                    },
                }
            },
        }
        response = self._client.search(
            index=f"{self.index_prefix}*",
            body=body,
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )
        by_service: dict[str, dict[str, int]] = {}
        owners: dict[WindowKey, list[str]] = {}
        for bucket in response.get("aggregations", {}).get("services", {}).get("buckets", []):
            for group in bucket["log_groups"]["buckets"]:
                value = group["last"].get("value")
                if value is not None:
                    by_service.setdefault(str(bucket["key"]), {})[str(group["key"])] = int(value)
                    owners[(str(bucket["key"]), str(group["key"]))] = [
                        str(owner["key"]) for owner in group.get("owners", {}).get("buckets", [])
                    ]
        wanted: list[tuple[WindowKey, int]] = []
        for service, groups in by_service.items():
            if max(groups.values()) > now_ms - recheck_older_than_ms:
                continue
            for log_group, last_end in groups.items():
                wanted.extend(((service, log_group), start) for start in range(last_end, now_ms, span_ms))
        for (service, log_group), series in self.windows(wanted, owners).items():
            newest = max(parse_iso_ms(w["window_end"]) for w in series.values())
            groups = by_service[service]
            groups[log_group] = max(groups[log_group], newest)
        return {service: max(groups.values()) for service, groups in by_service.items()}
