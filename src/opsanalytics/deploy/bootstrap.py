"""The OpenSearchBootstrap custom resource: the OpenSearch assets the pipeline writes and reads with.

Create and Update apply the index templates (``Replicas``; ``LogIndexShards`` for the log indices), the
retention ISM policies (``RetentionDays`` for the metric, report and alert indices, ``LogIndexRetentionDays``
for the log indices; skipped when the cluster has no ISM plugin) and the Dashboards saved objects of
``assets/saved-objects/*.ndjson``, map the pipeline's IAM roles to OpenSearch roles of their own
(``RealtimeRoleArns``: the metrics function, ``LogIndexRoleArns``: the log indexer, ``BatchRoleArns``: the Glue
job, ``ViewerArns``: people reading the dashboards; `PIPELINE_ROLES`), and
add ``AdminArns`` to the mappings of all_access and security_manager (never removing what is mapped there).
The setup function's role (``SetupRoleArn``) needs all_access: it is the master user of the domain the stack
creates; on an existing domain someone maps it before the first deploy, and a refusal says so, naming the role.
Index templates and the policy are compared by content hash first and saved objects are imported with
``overwrite=true``, so running again changes nothing. Delete leaves the cluster alone: indices and dashboards
outlive the stack.

The cluster is ``OPENSEARCH_URL`` from the function's environment, or the ``OpenSearchUrl`` resource property
when given. The assets are where the caller says (`opsanalytics.assets.Assets`): the function's package carries them
built, `Assets.locate` falls back to the checkout's when there are none.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from opensearchpy import AuthorizationException, NotFoundError, OpenSearch, RequestError

from opsanalytics.assets import Assets
from opsanalytics.deploy.custom_resource import MAX_TEXT, CustomResourceRequest, EventLog, Outcome, string_list
from opsanalytics.opensearch import OpenSearchSettings, apply_index_templates, apply_ism_policy, create_client
from opsanalytics.opensearch.bootstrap import LOG_RETENTION_POLICY_ID

LOG: Final = logging.getLogger(__name__)
DEFAULT_PHYSICAL_ID: Final = "opsanalytics-opensearch-bootstrap"
DASHBOARDS_IMPORT_PATH: Final = "/_dashboards/api/saved_objects/_import"
SECURITY_API: Final = "/_plugins/_security/api"
ADMIN_ROLES: Final = ("all_access", "security_manager")
_WRITE: Final = ["crud", "create_index", "indices_monitor", "indices:admin/mapping/put"]
# Each principal its own OpenSearch role, allowed its own work: the metrics function the realtime windows and the
# alerts, the Glue job the roll-ups and reports (reading the realtime windows), a viewer reading them all (and the
# dashboards of the global tenant). None of them may delete an index or touch another's.
PIPELINE_ROLES: Final[dict[str, dict[str, Any]]] = {
    "opsanalytics_realtime": {
        "description": "opsanalytics: the metrics function writes realtime windows and alerts",
        "cluster_permissions": ["cluster_composite_ops", "cluster_monitor"],
        "index_permissions": [
            {
                "index_patterns": ["metrics-realtime-*", "metrics-declared-realtime-*", "alerts-*"],
                "allowed_actions": _WRITE,
            }
        ],
    },
    "opsanalytics_log_index": {
        "description": "opsanalytics: the log indexer writes the log lines",
        "cluster_permissions": ["cluster_composite_ops", "cluster_monitor"],
        "index_permissions": [{"index_patterns": ["events-*"], "allowed_actions": _WRITE}],
    },
    "opsanalytics_batch": {
        "description": "opsanalytics: the Glue job writes roll-ups and reports, and reads the realtime windows",
        "cluster_permissions": ["cluster_composite_ops", "cluster_monitor"],
        "index_permissions": [
            {
                "index_patterns": ["metrics-batch-*", "metrics-declared-batch-*", "log-insights-*"],
                "allowed_actions": _WRITE,
            },
            # the accuracy figures compare the realtime windows' counts with the batch counts
            {"index_patterns": ["metrics-realtime-*"], "allowed_actions": ["read"]},
        ],
    },
    "opsanalytics_viewer": {
        "description": "opsanalytics: reads the pipeline's indices and the dashboards",
        "cluster_permissions": ["cluster_composite_ops_ro"],
        "index_permissions": [
            {
                "index_patterns": [
                    "events-*",
                    "metrics-realtime-*",
                    "metrics-batch-*",
                    "metrics-declared-*",
                    "log-insights-*",
                    "alerts-*",
                ],
                "allowed_actions": ["read", "indices:admin/mappings/get"],
            },
            # the saved objects (index patterns, visualisations, dashboards), read only: a viewer opens the
            # dashboards of the global tenant and cannot change them
            {"index_patterns": [".kibana", ".kibana_*", ".opensearch_dashboards*"], "allowed_actions": ["read"]},
        ],
        "tenant_permissions": [{"tenant_patterns": ["global_tenant"], "allowed_actions": ["kibana_all_read"]}],
    },
}
# the resource property whose ARNs each role is mapped to
ROLE_PROPERTIES: Final = {
    "opsanalytics_realtime": "RealtimeRoleArns",
    "opsanalytics_log_index": "LogIndexRoleArns",
    "opsanalytics_batch": "BatchRoleArns",
    "opsanalytics_viewer": "ViewerArns",
}


@dataclass(frozen=True, slots=True)
class BootstrapRequest:
    """The resource properties, validated."""

    settings: OpenSearchSettings
    replicas: int
    retention_days: int
    log_retention_days: int = 14
    log_index_shards: int = 1
    role_arns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """IAM roles and users mapped to each of `PIPELINE_ROLES` (fine-grained access control)."""
    admin_arns: tuple[str, ...] = ()
    """IAM roles and users added to the mappings of `ADMIN_ROLES`."""
    setup_role_arn: str = ""
    """This function's role, named in the failure reason when OpenSearch refuses it."""

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any], env: Mapping[str, str]) -> BootstrapRequest:
        url = str(properties.get("OpenSearchUrl") or "").strip()
        settings = OpenSearchSettings.from_env({**env, "OPENSEARCH_URL": url} if url else env)
        return cls(
            settings=settings,
            replicas=_int_property(properties, "Replicas", default=1, minimum=0),
            retention_days=_int_property(properties, "RetentionDays", default=30, minimum=1),
            log_retention_days=_int_property(properties, "LogIndexRetentionDays", default=14, minimum=1),
            log_index_shards=_int_property(properties, "LogIndexShards", default=1, minimum=1),
            role_arns={role: string_list(properties, name) for role, name in ROLE_PROPERTIES.items()},
            admin_arns=string_list(properties, "AdminArns"),
            setup_role_arn=str(properties.get("SetupRoleArn") or ""),
        )


def _int_property(properties: Mapping[str, Any], name: str, *, default: int, minimum: int) -> int:
    raw = properties.get(name, default)  # CloudFormation passes every scalar as a string
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def import_saved_objects(client: OpenSearch, path: Path) -> str:
    """POST one NDJSON export to the Dashboards import API (global tenant, overwriting)."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/ndjson\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.transport.perform_request(
        "POST",
        DASHBOARDS_IMPORT_PATH,
        params={"overwrite": "true"},
        headers={
            "osd-xsrf": "true",
            "securitytenant": "global",
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
        body=body,
    )
    if not isinstance(response, dict) or not response.get("success"):
        errors = response.get("errors") if isinstance(response, dict) else response
        raise RuntimeError(f"saved objects import of {path.name} failed: {str(errors)[:MAX_TEXT]}")
    return f"{path.name}: {response.get('successCount', 0)} objects"


def import_dashboards(client: OpenSearch, exports: list[Path]) -> list[str]:
    """Import the exports in order (index patterns before the visualisations that use them).

    A bare OpenSearch node (the local engine) has no Dashboards behind ``/_dashboards``: it answers "no handler
    found", and the saved objects are skipped rather than failing the templates and policy already applied.
    """
    imported = []
    for path in exports:
        try:
            imported.append(import_saved_objects(client, path))
        except (NotFoundError, RequestError) as exc:
            if "no handler found" not in str(exc):
                raise
            return [f"skipped: no OpenSearch Dashboards behind {DASHBOARDS_IMPORT_PATH}"]
    return imported


def map_pipeline_roles(
    client: OpenSearch, role_arns: Mapping[str, tuple[str, ...]], admin_arns: tuple[str, ...] = ()
) -> str:
    """Create (or overwrite) each of `PIPELINE_ROLES` and add its ARNs to its mapping; add `admin_arns` to the
    mappings of `ADMIN_ROLES`. Mappings only grow: what someone mapped by hand (a viewer, an admin) stays."""
    try:
        added = []
        for role, permissions in PIPELINE_ROLES.items():
            client.transport.perform_request("PUT", f"{SECURITY_API}/roles/{role}", body=permissions)
            arns = role_arns.get(role, ())
            added.append(f"{role} +{add_to_role_mapping(client, role, arns) if arns else 0}")
        admins = sum(add_to_role_mapping(client, role, admin_arns) for role in ADMIN_ROLES) if admin_arns else 0
    except (NotFoundError, RequestError) as exc:
        if "no handler found" not in str(exc):
            raise
        return "skipped: no security plugin on this cluster"
    return f"{', '.join(added)}; {admins} admin mappings added"


def _mapping(arns: tuple[str, ...]) -> dict[str, list[str]]:
    arns = tuple(dict.fromkeys(arns))  # each once, in order
    return {
        "backend_roles": [arn for arn in arns if ":user/" not in arn],
        "users": [arn for arn in arns if ":user/" in arn],
    }


def add_to_role_mapping(client: OpenSearch, role: str, arns: tuple[str, ...]) -> int:
    """Add the ARNs missing from `role`'s mapping (a JSON patch, or a new mapping); the number added."""
    path = f"{SECURITY_API}/rolesmapping/{role}"
    wanted = _mapping(arns)
    try:
        current: dict[str, Any] | None = client.transport.perform_request("GET", path).get(role)
    except NotFoundError:
        current = None
    if current is None:
        body = {kind: values for kind, values in wanted.items() if values}
        client.transport.perform_request("PUT", path, body=body)
        return sum(len(values) for values in body.values())
    # "add" at the field itself, with the whole union: the GET shows absent fields as [], but a JSON patch that
    # appends ("/users/-") to a field the stored mapping lacks is refused with 400 'Missing field "users"'.
    operations: list[dict[str, Any]] = []
    added = 0
    for kind, values in wanted.items():
        present = list(current.get(kind) or [])
        missing = [arn for arn in values if arn not in present]
        if missing:
            operations.append({"op": "add", "path": f"/{role}/{kind}", "value": present + missing})
            added += len(missing)
    if operations:
        client.transport.perform_request("PATCH", f"{SECURITY_API}/rolesmapping", body=operations)
    return added


def refused(exc: AuthorizationException, setup_role_arn: str) -> RuntimeError:
    """What to do when OpenSearch refuses this function's role (403)."""
    role = setup_role_arn or "the OpenSearch setup function's role (<stack>-opensearch-setup)"
    return RuntimeError(
        f"OpenSearch refused {role} ({exc.status_code}: {str(exc.info)[:200]}). On a domain with fine-grained "
        "access control, map that IAM role as a backend role of all_access (OpenSearch Dashboards > Security > "
        "Roles > all_access > Mapped users, or PUT _plugins/_security/api/rolesmapping/all_access), and let the "
        "domain's access policy admit it; then deploy again"
    )


def bootstrap(request: BootstrapRequest, assets: Assets) -> dict[str, str]:
    """Apply every asset; the summary per kind of asset (the custom resource's Data)."""
    client = create_client(request.settings)
    try:
        roles = map_pipeline_roles(client, request.role_arns, request.admin_arns)
        templates = apply_index_templates(
            client, request.replicas, directory=assets.index_templates, shards={"events": request.log_index_shards}
        )
        policy = apply_ism_policy(client, request.retention_days, path=assets.ism_policy)
        log_policy = apply_ism_policy(
            client, request.log_retention_days, path=assets.log_retention_policy, policy_id=LOG_RETENTION_POLICY_ID
        )
        exports = sorted(assets.saved_objects.glob("*.ndjson")) if assets.saved_objects.is_dir() else []
        # uncompressed: whether Dashboards' import takes a gzip-encoded multipart body is not documented
        imported = import_dashboards(create_client(request.settings, http_compress=False), exports)
    except AuthorizationException as exc:
        raise refused(exc, request.setup_role_arn) from exc
    data = {
        "IndexTemplates": ", ".join(f"{name}={status}" for name, status in templates.statuses().items()),
        "IsmPolicy": "; ".join(str(change) for change in (*policy.changes, *log_policy.changes)),
        "SavedObjects": "; ".join(imported) or "none",
        "RoleMapping": roles,
    }
    return {key: value[:MAX_TEXT] for key, value in data.items()}


def handle(request: CustomResourceRequest, *, assets: Assets, env: Mapping[str, str], log: EventLog = LOG) -> Outcome:
    """Create and Update: every asset applied, the summary per kind as ``Data``. Delete: nothing, indices and
    dashboards outlive the stack. `env` is the function's environment (the cluster's URL and region)."""
    if request.request_type == "Delete":
        return Outcome(reason="indices and dashboards outlive the stack")
    data = bootstrap(BootstrapRequest.from_properties(request.properties, env), assets)
    log.info("OpenSearch assets applied", extra={"request_type": request.request_type, **data})
    return Outcome(data=data)
