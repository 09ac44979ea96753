"""The DeployArtifacts custom resource: the build artifacts the stack's engines load from S3.

CloudFormation uploads a Lambda function's code, nothing else the stack runs. The Managed Flink application zip,
the Glue job's script (``batch_job.py``, here rather than in the packaging bucket, which the job's role then need
not read), the opsanalytics wheel, ``glue_runtime.py``, ``slo.yaml`` and ``metrics.yaml`` (the Glue job's
``--additional-python-modules``, ``--extra-py-files`` and ``--extra-files``), the alert rules the metrics
function loads (``config/alert-rules.yaml``) and the parser rules the transformer loads (``config/parsers.yaml``;
the Flink zip carries its own copy) therefore travel in the function's package, under ``artifacts/``
(put there at `sam build` by functions/deploy_artifacts/Makefile; the function passes that directory), and Create
and Update copy each to the archive bucket under a content-addressed key,
``artifacts/<engine>/<first 16 hex digits of its SHA-256>/<file name>``, unless it is already there. The keys and
``s3://`` URIs are the resource's attributes (``FlinkApplicationKey``, ``CoreWheelUri``, ``GlueRuntimeUri``, ...):
new content means a new key, so CloudFormation updates the Flink application, the Glue job or the metrics
function; the same content means the same keys and no change. The physical id is ``<bucket>/artifacts/``.

The ``FunctionVersion`` property (the version ARN of the function, published for every new build) makes
CloudFormation send an Update whenever the package changes. Each version records the keys it uploaded in
``artifacts/manifests/<hash of the version ARN>.json``: a rollback sends the previous version's ARN while the newer
code answers, and gets the previous keys back from that manifest instead of the newer files.

Delete leaves the objects: they are what a rollback or the still-running engines read, they are small beside the
archive, and they go with the bucket (README, "Tear down").
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError

from opsanalytics.deploy.custom_resource import CustomResourceRequest, EventLog, Outcome, required_string

LOG: Final = logging.getLogger(__name__)
KEY_PREFIX: Final = "artifacts/"
MANIFEST_PREFIX: Final = f"{KEY_PREFIX}manifests/"
HASH_DIGITS: Final = 16
NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, slots=True)
class ArtifactKind:
    """One file the stack needs in S3: the attribute names it is returned under, and who reads it."""

    attribute: str
    engine: str
    """The key prefix under artifacts/, which the template grants that engine's role to read."""
    pattern: str
    """The file's name in the package (a glob: the wheel's name carries the project version)."""


ARTIFACT_KINDS: Final = (
    ArtifactKind("FlinkApplication", "flink", "opsanalytics-realtime.zip"),
    ArtifactKind("CoreWheel", "glue", "opsanalytics-*-py3-none-any.whl"),
    ArtifactKind("BatchJobScript", "glue", "batch_job.py"),
    ArtifactKind("GlueRuntime", "glue", "glue_runtime.py"),
    ArtifactKind("SloObjectives", "glue", "slo.yaml"),
    ArtifactKind("DeclaredMetrics", "glue", "metrics.yaml"),
    ArtifactKind("AlertRules", "config", "alert-rules.yaml"),
    ArtifactKind("ParserRules", "config", "parsers.yaml"),
)


@dataclass(frozen=True, slots=True)
class Artifact:
    kind: ArtifactKind
    path: Path
    sha256: str

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}{self.kind.engine}/{self.sha256[:HASH_DIGITS]}/{self.path.name}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_artifacts(directory: Path) -> list[Artifact]:
    """The artifacts in the package, one per kind; a clear error when the build did not put one there."""
    artifacts = []
    for kind in ARTIFACT_KINDS:
        matches = sorted(directory.glob(kind.pattern))
        if len(matches) != 1:
            raise FileNotFoundError(
                f"the package holds {len(matches)} files matching {directory}/{kind.pattern}, not one: "
                "build it with `sam build` (functions/deploy_artifacts/Makefile)"
            )
        artifacts.append(Artifact(kind, matches[0], sha256_of(matches[0])))
    return artifacts


def manifest_key(function_version: str) -> str:
    return f"{MANIFEST_PREFIX}{hashlib.sha256(function_version.encode()).hexdigest()[:HASH_DIGITS]}.json"


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in NOT_FOUND:
            return False
        raise
    return True


def read_manifest(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    """The keys a function version recorded, when its manifest and every object it names are in the bucket."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in NOT_FOUND:
            return None
        raise
    recorded = json.loads(body).get("keys") or {}
    complete = {kind.attribute for kind in ARTIFACT_KINDS} <= recorded.keys()
    if not complete or not all(object_exists(s3, bucket, k) for k in recorded.values()):
        return None
    return {str(name): str(value) for name, value in recorded.items()}


def upload_artifacts(s3: Any, bucket: str, artifacts: list[Artifact]) -> tuple[dict[str, str], list[str]]:
    """Upload each artifact that is not in the bucket yet; (keys by attribute, the keys uploaded)."""
    keys, uploaded = {}, []
    for artifact in artifacts:
        keys[artifact.kind.attribute] = artifact.key
        if object_exists(s3, bucket, artifact.key):
            continue
        s3.upload_file(str(artifact.path), bucket, artifact.key, ExtraArgs={"Metadata": {"sha256": artifact.sha256}})
        uploaded.append(artifact.key)
    return keys, uploaded


def attributes(bucket: str, keys: Mapping[str, str]) -> dict[str, str]:
    data = {"Bucket": bucket}
    for attribute, key in keys.items():
        data[f"{attribute}Key"] = key
        data[f"{attribute}Uri"] = f"s3://{bucket}/{key}"
    return data


def deploy(s3: Any, properties: Mapping[str, Any], directory: Path, *, log: EventLog = LOG) -> dict[str, str]:
    """Create and Update: the artifacts of ``FunctionVersion`` (those in `directory`, or the ones its manifest
    recorded) in the bucket; the resource's attributes."""
    bucket = required_string(properties, "Bucket")
    version = str(properties.get("FunctionVersion") or "").strip()
    recorded = read_manifest(s3, bucket, manifest_key(version)) if version else None
    if recorded is not None:
        log.info("artifacts of this function version already deployed", extra={"keys": recorded})
        return attributes(bucket, recorded)
    keys, uploaded = upload_artifacts(s3, bucket, package_artifacts(directory))
    if version:
        manifest = {"function_version": version, "keys": keys}
        s3.put_object(Bucket=bucket, Key=manifest_key(version), Body=json.dumps(manifest, indent=2).encode())
    log.info("artifacts deployed", extra={"keys": keys, "uploaded": uploaded})
    return attributes(bucket, keys)


def physical_id_of(properties: Mapping[str, Any]) -> str:
    return f"{str(properties.get('Bucket') or '').strip()}/{KEY_PREFIX}"


def handle(request: CustomResourceRequest, *, s3: Any, directory: Path, log: EventLog = LOG) -> Outcome:
    """Create and Update: the artifacts in `directory` (the function's package) deployed, their keys and URIs as
    the attributes. Delete: nothing, the artifacts stay in the bucket."""
    if request.request_type == "Delete":
        return Outcome(reason="the artifacts stay in the bucket")
    data = deploy(s3, request.properties, directory, log=log)
    return Outcome(physical_id=physical_id_of(request.properties), data=data)
