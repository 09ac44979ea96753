"""Fine-grained access control on a real node with the security plugin (tests/support/fgac.py): what the bootstrap
writes (roles, mappings) lets each pipeline principal do its work and refuses it the rest.

Each user stands for an IAM principal through its backend role (the role ARN OpenSearch Service hands the
security plugin). The setup user is mapped to all_access and security_manager as a domain's master user is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import AuthorizationException, OpenSearch

from opsanalytics.alerting import read_outbox
from opsanalytics.batch.accuracy import OpenSearchWindowCounts, WindowCounts
from opsanalytics.deploy import bootstrap
from opsanalytics.local.lambda_runtime import LocalFunction
from opsanalytics.opensearch import BulkOperation, BulkWriter, OpenSearchSettings, create_client
from opsanalytics.paths import project_root
from tests.conftest import EVENTS_DIR, archived_event
from tests.support.fgac import SecuredCluster, secured_cluster

ACCOUNT = "arn:aws:iam::123456789012"
SETUP = f"{ACCOUNT}:role/opsanalytics-opensearch-setup"
REALTIME = f"{ACCOUNT}:role/opsanalytics-metrics-processor"
LOG_INDEX = f"{ACCOUNT}:role/opsanalytics-log-indexer"
BATCH = f"{ACCOUNT}:role/opsanalytics-batch-job"
VIEWER = f"{ACCOUNT}:role/opsanalytics-dashboards-viewer"
ADMIN_ROLE = f"{ACCOUNT}:role/ops-admin"
ADMIN_USER = f"{ACCOUNT}:user/jane"  # an IAM user is mapped by name: basic auth cannot carry the ARN as a name
USERS = {
    "setup": [SETUP],
    "realtime": [REALTIME],
    "log_index": [LOG_INDEX],
    "batch": [BATCH],
    "viewer": [VIEWER],
    "admin": [ADMIN_ROLE],
    "unmapped": [f"{ACCOUNT}:role/someone-else"],
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[SecuredCluster]:
    with secured_cluster(USERS, admin_user="setup") as secured:
        yield secured


def client_as(cluster: SecuredCluster, user: str) -> OpenSearch:
    return create_client(OpenSearchSettings(url=cluster.url), http_auth=cluster.credentials(user))


def bootstrap_as(cluster: SecuredCluster, user: str, load_event: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The setup function, in-process, signed in as `user` (basic authentication standing in for SigV4)."""
    event = load_event("opensearch_setup/create.json")
    event["ResourceProperties"] |= {
        "RealtimeRoleArns": [REALTIME],
        "LogIndexRoleArns": [LOG_INDEX],
        "BatchRoleArns": [BATCH],
        "ViewerArns": [VIEWER],
        "AdminArns": [ADMIN_ROLE, ADMIN_USER],
    }
    function = LocalFunction("opensearch_setup", environment={"OPENSEARCH_URL": cluster.url, "AWS_REGION": "us-east-1"})
    original = bootstrap.create_client
    bootstrap.create_client = lambda settings, **options: original(
        settings, http_auth=cluster.credentials(user), **options
    )
    try:
        response: dict[str, Any] = function.invoke(event)
    finally:
        bootstrap.create_client = original
        function.close()
    return response


@pytest.fixture(scope="module")
def bootstrapped(cluster: SecuredCluster, load_event_module: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    response = bootstrap_as(cluster, "setup", load_event_module)
    assert response["Status"] == "SUCCESS", response.get("Reason")
    return response


@pytest.fixture(scope="module")
def load_event_module() -> Callable[[str], dict[str, Any]]:
    return lambda name: json.loads((EVENTS_DIR / name).read_text())


def refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except AuthorizationException:
        return True
    return False


def test_the_bootstrap_maps_each_principal_and_the_admins(
    bootstrapped: dict[str, Any], cluster: SecuredCluster
) -> None:
    assert bootstrapped["Data"]["RoleMapping"] == (
        "opsanalytics_realtime +1, opsanalytics_log_index +1, opsanalytics_batch +1, opsanalytics_viewer +1; "
        "4 admin mappings added"
    )
    admin = client_as(cluster, "admin")  # the admin role's mapping took: it may read the security configuration
    for role in ("all_access", "security_manager"):
        mapping = admin.transport.perform_request("GET", f"/_plugins/_security/api/rolesmapping/{role}")[role]
        assert mapping["users"] == [ADMIN_USER]
        assert mapping["backend_roles"] == [SETUP, ADMIN_ROLE], "the master mapping stays, the admin role is added"


def test_a_second_bootstrap_adds_nothing_twice_and_keeps_what_was_mapped_by_hand(
    bootstrapped: dict[str, Any], cluster: SecuredCluster, load_event_module: Callable[[str], dict[str, Any]]
) -> None:
    by_hand = f"{ACCOUNT}:role/analysts"
    setup = client_as(cluster, "setup")
    path = "/_plugins/_security/api/rolesmapping"
    viewer = setup.transport.perform_request("GET", f"{path}/opsanalytics_viewer")["opsanalytics_viewer"]
    patch = [{"op": "add", "path": "/opsanalytics_viewer/backend_roles", "value": [*viewer["backend_roles"], by_hand]}]
    setup.transport.perform_request("PATCH", path, body=patch)
    again = bootstrap_as(cluster, "setup", load_event_module)
    assert again["Status"] == "SUCCESS"
    assert again["Data"]["RoleMapping"] == (
        "opsanalytics_realtime +0, opsanalytics_log_index +0, opsanalytics_batch +0, opsanalytics_viewer +0; "
        "0 admin mappings added"
    )
    viewer = setup.transport.perform_request("GET", f"{path}/opsanalytics_viewer")["opsanalytics_viewer"]
    assert viewer["backend_roles"] == [VIEWER, by_hand]


def test_the_metrics_function_writes_windows_and_alerts_and_nothing_else(
    bootstrapped: dict[str, Any], cluster: SecuredCluster
) -> None:
    client = client_as(cluster, "realtime")
    result = BulkWriter.for_client(client).write(
        [
            BulkOperation("metrics-realtime-fgac-2026.01.01", "w1", {"service": "checkout", "events": 3}),
            # the declared metrics' documents, with their revision as the external version
            BulkOperation("metrics-declared-realtime-fgac-2026.01.01", "d1", {"metric": "m", "count": 2}, version=1),
        ]
    )
    assert result.indexed == 2 and not result.failed
    client.index(index="alerts-fgac-state", id="a1", body={"state": "firing"}, refresh=True)
    assert client.mget(index="alerts-fgac-state", body={"ids": ["a1"]})["docs"][0]["found"]
    client.delete(index="alerts-fgac-state", id="a1")
    client.search(index="metrics-realtime-fgac-*", body={"query": {"match_all": {}}})
    assert refused(lambda: client.index(index="metrics-batch-fgac", body={"x": 1}))
    assert refused(lambda: client.index(index="metrics-declared-batch-fgac-2026.01", body={"x": 1}))
    assert refused(lambda: client.index(index="unrelated-index", body={"x": 1}))
    assert refused(lambda: client.indices.delete(index="metrics-realtime-fgac-2026.01.01"))
    assert refused(lambda: client.transport.perform_request("GET", "/_plugins/_security/api/roles"))


def test_the_metrics_function_itself_runs_as_its_role(
    bootstrapped: dict[str, Any], cluster: SecuredCluster, tmp_path: Path
) -> None:
    """The real handler on a spike that fires an alert: every call it makes (windows, history reads, alert state,
    episodes) is allowed to opsanalytics_realtime."""
    event = json.loads((EVENTS_DIR / "metrics_processor" / "kinesis-error-spike.json").read_text())
    outbox = tmp_path / "outbox"
    with cluster.signed_in_as("realtime") as url:
        function = LocalFunction(
            "metrics_processor",
            environment={
                "OPENSEARCH_URL": url,
                "ALERT_RULES": str(project_root() / "config" / "alert-rules.yaml"),
                "ALERT_OUTBOX": str(outbox),
            },
        )
        try:
            response = function.invoke(event)
        finally:
            function.close()
    assert response == {"batchItemFailures": []}
    assert read_outbox(outbox), "the spike fired no alert: the test proves less than it says"


def test_the_log_indexer_itself_runs_as_its_role_and_writes_nothing_else(
    bootstrapped: dict[str, Any], cluster: SecuredCluster, tmp_path: Path
) -> None:
    """The real handler on an events/ object: its bulk writes into the daily log index are allowed to
    opsanalytics_log_index; the metric and alert indices are not."""
    import gzip

    from opsanalytics.logindex.local import drive_log_indexer

    key = "events/dt=2026-01-01/hour=10/fgac.gz"
    lines = [
        json.dumps(archived_event(f"f{i}", level="ERROR", error=True, attributes={"n": i})).encode() for i in range(3)
    ]
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with cluster.signed_in_as("log_index") as url:
        function = LocalFunction(
            "log_indexer",
            environment={"OPENSEARCH_URL": url, "ARCHIVE_LOCATION": str(tmp_path), "LOG_INDEX_PREFIX": "events-fgac-"},
        )
        try:
            report = drive_log_indexer(function.invoke, tmp_path, tmp_path / "work")
        finally:
            function.close()
    assert (report.objects, report.dead_lettered, report.quarantined) == (1, [], 0)
    admin = client_as(cluster, "setup")
    admin.indices.refresh(index="events-fgac-*")
    assert admin.count(index="events-fgac-2026.01.01")["count"] == 3
    client = client_as(cluster, "log_index")
    assert refused(lambda: client.index(index="metrics-realtime-fgac-x", body={"x": 1}))
    assert refused(lambda: client.index(index="alerts-fgac-state", body={"x": 1}))
    assert refused(lambda: client.indices.delete(index="events-fgac-2026.01.01"))


def test_the_batch_job_writes_roll_ups_and_reports_and_nothing_else(
    bootstrapped: dict[str, Any], cluster: SecuredCluster
) -> None:
    client = client_as(cluster, "batch")
    result = BulkWriter.for_client(client).write(
        [
            BulkOperation("metrics-batch-fgac-2026.01", "r1", {"service": "checkout"}),
            BulkOperation("log-insights-fgac-2026.01", "i1", {"signature": "x"}),
            BulkOperation("metrics-declared-batch-fgac-2026.01", "d1", {"metric": "m"}),
        ]
    )
    assert result.indexed == 3 and not result.failed
    # it reads the realtime windows for the accuracy figures, and writes none
    window = {"service": "checkout", "log_group": "/c", "events": 4, "errors": 1, "late_events": 0}
    window |= {"window_start": "2026-01-01T10:00:00Z", "window_end": "2026-01-01T10:01:00Z"}
    client_as(cluster, "realtime").index(index="metrics-realtime-fgac-2026.01.01", id="w1", body=window, refresh=True)
    counts = OpenSearchWindowCounts(client, "metrics-realtime-fgac-").counts(1_767_261_600_000, 1_767_265_200_000)
    assert counts.windows == {(1_767_261_600_000, "checkout", "/c"): WindowCounts(4, 1)}
    assert refused(lambda: client.index(index="metrics-realtime-fgac-2026.01.01", body={"x": 1}))
    assert refused(lambda: client.index(index="metrics-declared-realtime-fgac-2026.01.01", body={"x": 1}))
    assert refused(lambda: client.index(index="alerts-fgac-state", id="b", body={"x": 1}))
    assert refused(lambda: client.indices.delete(index="log-insights-fgac-2026.01"))


def test_a_viewer_reads_and_cannot_write(bootstrapped: dict[str, Any], cluster: SecuredCluster) -> None:
    client_as(cluster, "setup").index(index="metrics-realtime-fgac-viewer", id="v1", body={"x": 1}, refresh=True)
    client = client_as(cluster, "viewer")
    found = client.search(index="metrics-realtime-fgac-*", body={"query": {"ids": {"values": ["v1"]}}})
    assert found["hits"]["total"]["value"] == 1
    client_as(cluster, "setup").index(index="metrics-declared-batch-fgac-viewer", id="v2", body={"x": 1}, refresh=True)
    client.search(index="metrics-declared-*", body={"query": {"match_all": {}}})
    assert refused(lambda: client.index(index="metrics-declared-batch-fgac-viewer", body={"x": 2}))
    assert refused(lambda: client.index(index="metrics-realtime-fgac-viewer", body={"x": 2}))
    assert refused(lambda: client.delete(index="metrics-realtime-fgac-viewer", id="v1"))


def test_a_dashboards_viewer_reads_the_saved_objects_and_cannot_change_them(
    bootstrapped: dict[str, Any], cluster: SecuredCluster
) -> None:
    """What the Cognito group viewers (and anyone signed in without a group) get: the global tenant's saved
    objects to read; the admins (all_access) may change them."""
    saved = {"type": "dashboard", "dashboard": {"title": "opsanalytics"}}
    client_as(cluster, "admin").index(index=".kibana", id="dashboard:ops", body=saved, refresh=True)
    viewer = client_as(cluster, "viewer")
    assert viewer.get(index=".kibana", id="dashboard:ops")["_source"] == saved
    assert refused(lambda: viewer.index(index=".kibana", id="dashboard:ops", body={"type": "changed"}))
    assert refused(lambda: viewer.delete(index=".kibana", id="dashboard:ops"))


def test_an_unmapped_principal_is_refused(bootstrapped: dict[str, Any], cluster: SecuredCluster) -> None:
    client = client_as(cluster, "unmapped")
    assert refused(lambda: client.search(index="metrics-realtime-fgac-*"))
    assert refused(lambda: client.index(index="metrics-realtime-fgac-2026.01.01", body={"x": 1}))


def test_a_setup_role_nobody_mapped_fails_the_deploy_with_what_to_map(
    cluster: SecuredCluster, load_event_module: Callable[[str], dict[str, Any]]
) -> None:
    response = bootstrap_as(cluster, "unmapped", load_event_module)
    assert response["Status"] == "FAILED"
    reason = response["Reason"]
    assert SETUP in reason and "backend role of all_access" in reason, reason
