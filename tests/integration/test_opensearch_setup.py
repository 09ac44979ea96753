"""The OpenSearch setup function (functions/opensearch_setup), run in-process as Lambda runs it, on a real node:
its Create applies the assets, a second Create changes nothing, and Delete leaves the cluster alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opensearchpy import OpenSearch

from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.opensearch.bootstrap import TEMPLATE_NAMES


def invoke(opensearch_url: str, event: dict[str, Any]) -> dict[str, Any]:
    function = LocalFunction(
        "opensearch_setup", environment={"OPENSEARCH_URL": opensearch_url, "AWS_REGION": "us-east-1"}
    )
    try:
        response: dict[str, Any] = function.invoke(event)
    finally:
        function.close()
    return response


def test_create_applies_the_assets_and_a_second_create_changes_nothing(
    opensearch_url: str, opensearch_client: OpenSearch, load_event: Callable[[str], dict[str, Any]]
) -> None:
    event = load_event("opensearch_setup/create.json")
    first = invoke(opensearch_url, event)
    assert first["Status"] == "SUCCESS", first.get("Reason")
    assert "events=" in first["Data"]["IndexTemplates"]
    assert first["Data"]["RoleMapping"] == "skipped: no security plugin on this cluster"
    assert opensearch_client.indices.exists_index_template(name="metrics-realtime")
    second = invoke(opensearch_url, event)
    assert second["Status"] == "SUCCESS"
    assert set(second["Data"]["IndexTemplates"].replace(" ", "").split(",")) == {
        f"{name}=unchanged" for name in TEMPLATE_NAMES
    }


def test_delete_leaves_the_cluster_alone(opensearch_url: str, load_event: Callable[[str], dict[str, Any]]) -> None:
    response = invoke(opensearch_url, load_event("opensearch_setup/delete.json"))
    assert response["Status"] == "SUCCESS"
