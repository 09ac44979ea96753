"""Alert state in OpenSearch, written with optimistic concurrency.

Two kinds of documents, both under the ``alerts-*`` index template:

- ``<prefix>state``: one document per alert (rule and dimensions), ``_id`` the alert id, ``record_type``
  ``alert``. It is the lifecycle's source of truth: read with a realtime GET, written with ``if_seq_no`` and
  ``if_primary_term`` (``op_type=create`` for a new alert), so of two concurrent invocations only one
  moves an alert and sends its notification; the other gets 409, re-reads and finds nothing left to do.
- ``<prefix>history-YYYY.MM`` (by the episode's first_seen): one document per firing episode, ``_id`` the
  episode id, ``record_type`` ``alert_episode``, overwritten on each change. Dashboards count incidents and
  their durations here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from opensearchpy import ConflictError, NotFoundError, OpenSearch

from opsanalytics.alerting.evaluate import AlertState
from opsanalytics.timestamps import iso_utc

DEFAULT_INDEX_PREFIX: Final = "alerts-"


class AlertConflictError(RuntimeError):
    """Another writer changed the alert since it was read: re-read and re-apply."""


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert state and the version it was read or written at."""

    state: AlertState
    seq_no: int
    primary_term: int


class AlertStore:
    def __init__(self, client: OpenSearch, index_prefix: str = DEFAULT_INDEX_PREFIX) -> None:
        self._client = client
        self.index_prefix = index_prefix
        self.state_index = f"{index_prefix}state"

    def history_index(self, state: AlertState) -> str:
        return f"{self.index_prefix}history-{iso_utc(state.first_seen_ms)[:7].replace('-', '.')}"

    def get(self, alert_id: str) -> StoredAlert | None:
        try:
            response = self._client.get(index=self.state_index, id=alert_id)
        except NotFoundError:  # no such document, or no state index yet
            return None
        return StoredAlert(
            AlertState.from_document(response["_source"]), int(response["_seq_no"]), int(response["_primary_term"])
        )

    def get_many(self, alert_ids: list[str]) -> dict[str, StoredAlert]:
        """The stored alerts among ``alert_ids`` in one realtime ``_mget``."""
        if not alert_ids:
            return {}
        try:
            response = self._client.mget(index=self.state_index, body={"ids": alert_ids})
        except NotFoundError:
            return {}
        found = {}
        for doc in response.get("docs", []):
            if doc.get("found"):
                found[doc["_id"]] = StoredAlert(
                    AlertState.from_document(doc["_source"]), int(doc["_seq_no"]), int(doc["_primary_term"])
                )
        return found

    def put(self, state: AlertState, expected: StoredAlert | None) -> StoredAlert:
        """Write ``state`` if the alert is still at ``expected`` (absent when None), else raise
        `AlertConflictError`."""
        params: dict[str, Any]
        if expected is None:
            params = {"op_type": "create"}
        else:
            params = {"if_seq_no": expected.seq_no, "if_primary_term": expected.primary_term}
        try:
            response = self._client.index(
                index=self.state_index, id=state.alert_id, body=state.to_document(), params=params
            )
        except ConflictError as exc:
            raise AlertConflictError(f"alert {state.alert_id} changed concurrently") from exc
        return StoredAlert(state, int(response["_seq_no"]), int(response["_primary_term"]))

    def restore(self, previous: StoredAlert | None, written: StoredAlert) -> None:
        """Undo a write whose notifications could not be sent, unless someone wrote after it, so a retry
        sends them again."""
        params = {"if_seq_no": written.seq_no, "if_primary_term": written.primary_term}
        try:
            if previous is None:
                self._client.delete(index=self.state_index, id=written.state.alert_id, params=params)
            else:
                self._client.index(
                    index=self.state_index,
                    id=previous.state.alert_id,
                    body=previous.state.to_document(),
                    params=params,
                )
        except (ConflictError, NotFoundError):
            pass  # a later write won: that writer owns the alert now

    def record_history(self, state: AlertState) -> None:
        document = {**state.to_document(), "record_type": "alert_episode"}
        self._client.index(index=self.history_index(state), id=state.episode_id, body=document)

    def alerts(self, *, refresh: bool = True) -> list[AlertState]:
        """Every alert state, newest first (a search: for tests, the CLI and reports)."""
        if refresh:
            self._client.indices.refresh(index=self.state_index, params={"ignore_unavailable": "true"})
        try:
            response = self._client.search(
                index=self.state_index,
                body={"size": 1000, "sort": [{"last_seen": "desc"}], "query": {"match_all": {}}},
            )
        except NotFoundError:
            return []
        return [AlertState.from_document(hit["_source"]) for hit in response["hits"]["hits"]]
