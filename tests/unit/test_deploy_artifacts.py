"""The artifacts custom resource (`opsanalytics.deploy.artifacts`) against a versioned S3 bucket in moto."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsanalytics.deploy import artifacts as app

REGION = "us-east-1"
BUCKET = "opsanalytics-archivebucket-1a2b3c"
VERSION_1 = "arn:aws:lambda:us-east-1:123456789012:function:opsanalytics-DeployArtifactsFunction-x:1"
VERSION_2 = "arn:aws:lambda:us-east-1:123456789012:function:opsanalytics-DeployArtifactsFunction-x:2"
NAMES = {
    "FlinkApplication": "opsanalytics-realtime.zip",
    "CoreWheel": "opsanalytics-0.1.0-py3-none-any.whl",
    "BatchJobScript": "batch_job.py",
    "GlueRuntime": "glue_runtime.py",
    "SloObjectives": "slo.yaml",
    "DeclaredMetrics": "metrics.yaml",
    "AlertRules": "alert-rules.yaml",
    "ParserRules": "parsers.yaml",
}


@pytest.fixture
def s3(mocked_aws: str) -> Iterator[Any]:
    import boto3

    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield client


def package(directory: Path, content: str = "v1") -> Path:
    """A built package's artifacts/ directory, with one file per kind."""
    directory.mkdir(parents=True, exist_ok=True)
    for attribute, name in NAMES.items():
        (directory / name).write_bytes(f"{attribute} {content}".encode())
    return directory


def versions(s3: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for version in s3.list_object_versions(Bucket=BUCKET).get("Versions", []):
        counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def test_each_artifact_is_uploaded_under_its_content_hash(s3: Any, tmp_path: Path) -> None:
    data = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_1}, package(tmp_path))
    for attribute, name in NAMES.items():
        engine = {"FlinkApplication": "flink", "AlertRules": "config", "ParserRules": "config"}.get(attribute, "glue")
        key = data[f"{attribute}Key"]
        assert re.fullmatch(rf"artifacts/{engine}/[0-9a-f]{{16}}/{re.escape(name)}", key), key
        assert data[f"{attribute}Uri"] == f"s3://{BUCKET}/{key}"
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == (tmp_path / name).read_bytes()
        assert key.split("/")[2] == app.sha256_of(tmp_path / name)[:16]


def test_deploying_the_same_content_again_uploads_nothing(s3: Any, tmp_path: Path) -> None:
    first = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_1}, package(tmp_path))
    again = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_1}, package(tmp_path))
    rebuilt = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_2}, package(tmp_path))
    assert first == again == rebuilt
    uploads = {key: count for key, count in versions(s3).items() if not key.startswith(app.MANIFEST_PREFIX)}
    assert uploads == {first[f"{a}Key"]: 1 for a in NAMES}, "one version of each object: never uploaded twice"


def test_new_content_gets_a_new_key_and_the_rest_stays(s3: Any, tmp_path: Path) -> None:
    first = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_1}, package(tmp_path))
    (tmp_path / NAMES["FlinkApplication"]).write_bytes(b"a new job")
    second = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_2}, tmp_path)
    assert second["FlinkApplicationKey"] != first["FlinkApplicationKey"]
    assert second["CoreWheelKey"] == first["CoreWheelKey"]
    assert second["GlueRuntimeKey"] == first["GlueRuntimeKey"]
    assert s3.head_object(Bucket=BUCKET, Key=first["FlinkApplicationKey"]), "the old zip stays for a rollback"


def test_a_rollback_gets_the_previous_versions_keys(s3: Any, tmp_path: Path) -> None:
    old = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_1}, package(tmp_path / "old", "v1"))
    new = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_2}, package(tmp_path / "new", "v2"))
    assert old != new
    # the newer code answers the rollback, which names the previous version
    rolled_back = app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_1}, tmp_path / "new")
    assert rolled_back == old


def test_without_a_function_version_the_package_is_deployed(s3: Any, tmp_path: Path) -> None:
    data = app.deploy(s3, {"Bucket": BUCKET}, package(tmp_path))
    assert set(data) == {"Bucket"} | {f"{a}{s}" for a in NAMES for s in ("Key", "Uri")}
    assert not any(key.startswith(app.MANIFEST_PREFIX) for key in versions(s3))


def test_a_package_built_without_the_artifacts_fails_clearly(s3: Any, tmp_path: Path) -> None:
    package(tmp_path)
    (tmp_path / NAMES["CoreWheel"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"opsanalytics-\*-py3-none-any.whl.*sam build"):
        app.deploy(s3, {"Bucket": BUCKET, "FunctionVersion": VERSION_1}, tmp_path)


def test_each_engine_reads_its_own_prefix() -> None:
    """The template grants the Flink role artifacts/flink/*, the Glue role artifacts/glue/* and the metrics
    function artifacts/config/*."""
    engines = {kind.attribute: kind.engine for kind in app.ARTIFACT_KINDS}
    assert engines == {
        "FlinkApplication": "flink",
        "CoreWheel": "glue",
        "BatchJobScript": "glue",
        "GlueRuntime": "glue",
        "SloObjectives": "glue",
        "DeclaredMetrics": "glue",
        "AlertRules": "config",
        "ParserRules": "config",
    }
