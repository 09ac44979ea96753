"""The stack's custom resource handlers, run in-process on the events/ files: what CloudFormation receives at the
ResponseURL (a local HTTP server stands in for the pre-signed S3 URL), with AWS in moto where a call is made."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from opsanalytics.local.lambda_runtime import LocalFunction

REGION = "us-east-1"


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A pre-signed URL stand-in: the URL, and every response PUT to it."""
    received: list[dict[str, Any]] = []

    class CloudFormationResponses(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), CloudFormationResponses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/cloudformation-response?X-Amz-Signature=test", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("function", ["deploy_artifacts", "flink_starter", "log_subscriptions"])
def test_delete_is_answered_with_the_resources_physical_id(
    function: str,
    load_event: Callable[[str], dict[str, Any]],
    response_url: tuple[str, list[dict[str, Any]]],
    mocked_aws: str,
) -> None:
    url, received = response_url
    event = {**load_event(f"{function}/delete.json"), "ResponseURL": url}
    returned = LocalFunction(function).invoke(event)
    assert received == [returned]
    assert returned["Status"] == "SUCCESS"
    assert returned["PhysicalResourceId"] == event["PhysicalResourceId"]
    assert returned["RequestId"] == event["RequestId"]


def test_create_uploads_the_artifacts_and_answers_their_keys(
    load_event: Callable[[str], dict[str, Any]],
    response_url: tuple[str, list[dict[str, Any]]],
    mocked_aws: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    bucket = load_event("deploy_artifacts/delete.json")["ResourceProperties"]["Bucket"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=bucket)
    names = (
        "opsanalytics-realtime.zip",
        "opsanalytics-0.1.0-py3-none-any.whl",
        "batch_job.py",
        "glue_runtime.py",
        "slo.yaml",
        "metrics.yaml",
    )
    for name in (*names, "alert-rules.yaml", "parsers.yaml"):
        (tmp_path / name).write_bytes(name.encode())
    function = LocalFunction("deploy_artifacts")
    monkeypatch.setattr(function.module, "PACKAGE_ARTIFACTS", tmp_path)
    url, received = response_url
    event = {**load_event("deploy_artifacts/delete.json"), "RequestType": "Create", "ResponseURL": url}
    del event["PhysicalResourceId"]
    function.invoke(event)
    (response,) = received
    assert response["Status"] == "SUCCESS", response.get("Reason")
    assert response["PhysicalResourceId"] == f"{bucket}/artifacts/"
    assert response["Data"]["FlinkApplicationKey"].startswith("artifacts/flink/")
    assert response["Data"]["CoreWheelUri"].startswith(f"s3://{bucket}/artifacts/glue/")
    assert response["Data"]["ParserRulesUri"].startswith(f"s3://{bucket}/artifacts/config/")


def test_naming_a_pipeline_log_group_fails_the_stack_operation_with_its_name(
    load_event: Callable[[str], dict[str, Any]],
    response_url: tuple[str, list[dict[str, Any]]],
    mocked_aws: str,
) -> None:
    url, received = response_url
    event = load_event("log_subscriptions/delete.json")
    event["ResourceProperties"]["LogGroupNames"] = ["/aws/lambda/opsanalytics-metrics-processor"]
    event = {**event, "RequestType": "Create", "ResponseURL": url}
    del event["PhysicalResourceId"]
    LocalFunction("log_subscriptions").invoke(event)
    (response,) = received
    assert response["Status"] == "FAILED"
    assert "/aws/lambda/opsanalytics-metrics-processor is one of the pipeline's own log groups" in response["Reason"]
    assert response["PhysicalResourceId"] == "opsanalytics-logs-stream"
