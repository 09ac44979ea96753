"""The template's functions, built by `sam build` and run by `sam local` in Lambda containers.

Every (function, sample event) pair found through template.yaml is invoked with `sam local invoke`, and the
response is checked against the contract of the service that sends that kind of event (`EVENT_SOURCES`).
`sam local start-lambda` is exercised through the Lambda API, as the AWS SDKs call it.

    pytest -m container tests/container -p no:cacheprovider -s
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.container.conftest import (
    EVENTS_DIR,
    ROOT,
    ContainerOpenSearch,
    FunctionSpec,
    Sam,
    Timings,
    command_env,
    discover_functions,
)

pytestmark = pytest.mark.container

FUNCTIONS = discover_functions()
CASES = [pytest.param(spec, event, id=f"{spec.logical_id}-{event.stem}") for spec in FUNCTIONS for event in spec.events]

Event = dict[str, Any]
Detector = Callable[[Event], bool]
Checker = Callable[[Event, Any, bytes], None]  # (event, decoded response, response bytes)


# --- response contracts, by event source ------------------------------------------------------------------------

FIREHOSE_RESPONSE_LIMIT = 6_000_000  # bytes; Firehose fails the whole batch above it
FIREHOSE_RESULTS = ("Ok", "Dropped", "ProcessingFailed")
CLOUDFORMATION_STATUSES = ("SUCCESS", "FAILED")
CLOUDFORMATION_RESPONSE_KEYS = frozenset(
    {"Status", "Reason", "PhysicalResourceId", "StackId", "RequestId", "LogicalResourceId", "NoEcho", "Data"}
)
CLOUDFORMATION_RESPONSE_LIMIT = 4096  # bytes


def check_firehose(event: Event, response: Any, raw: bytes) -> None:
    """Data transformation: every recordId exactly once, a known result, Ok data in base64, ≤ 6,000,000 bytes."""
    assert len(raw) <= FIREHOSE_RESPONSE_LIMIT, f"response of {len(raw)} bytes exceeds Firehose's limit"
    assert isinstance(response, dict), f"expected {{'records': [...]}}, got {type(response).__name__}"
    assert isinstance(response.get("records"), list), "the response has no 'records' list"
    returned = Counter(entry.get("recordId") for entry in response["records"])
    expected = Counter(record["recordId"] for record in event["records"])
    assert returned == expected, (
        f"record ids missing: {sorted((expected - returned).elements())}, "
        f"repeated or unknown: {sorted(map(str, (returned - expected).elements()))}"
    )
    for entry in response["records"]:
        assert entry.get("result") in FIREHOSE_RESULTS, f"{entry['recordId']}: result {entry.get('result')!r}"
        if entry["result"] == "Ok":
            assert isinstance(entry.get("data"), str), f"{entry['recordId']}: Ok without data"
            try:
                base64.b64decode(entry["data"], validate=True)
            except binascii.Error as exc:
                pytest.fail(f"{entry['recordId']}: data is not base64: {exc}")
        keys = (entry.get("metadata") or {}).get("partitionKeys")
        if keys is not None:
            assert isinstance(keys, dict), f"{entry['recordId']}: partitionKeys must be an object"
            assert all(isinstance(v, str) for v in keys.values()), f"{entry['recordId']}: partitionKeys: {keys}"


def check_kinesis(event: Event, response: Any, raw: bytes) -> None:
    """ReportBatchItemFailures: {"batchItemFailures": [{"itemIdentifier": <sequence number>}, ...]}."""
    assert isinstance(response, dict), f"expected {{'batchItemFailures': [...]}}, got {type(response).__name__}"
    failures = response.get("batchItemFailures")
    assert isinstance(failures, list), "the response has no 'batchItemFailures' list"
    sequence_numbers = {record["kinesis"]["sequenceNumber"] for record in event["Records"]}
    identifiers = []
    for item in failures:
        assert isinstance(item, dict), f"batch item failure {item!r} is not an object"
        assert set(item) == {"itemIdentifier"}, f"batch item failure {item!r}: only itemIdentifier is expected"
        assert item["itemIdentifier"] in sequence_numbers, f"{item['itemIdentifier']!r} is not in the batch"
        identifiers.append(item["itemIdentifier"])
    assert len(identifiers) == len(set(identifiers)), f"repeated item identifiers: {identifiers}"


def check_custom_resource(event: Event, response: Any, raw: bytes) -> None:
    """What the handler returns has the shape of the response CloudFormation expects at the ResponseURL."""
    assert isinstance(response, dict), f"expected a CloudFormation response object, got {type(response).__name__}"
    assert set(response) <= CLOUDFORMATION_RESPONSE_KEYS, f"unknown keys {set(response) - CLOUDFORMATION_RESPONSE_KEYS}"
    assert response.get("Status") in CLOUDFORMATION_STATUSES, f"Status {response.get('Status')!r}"
    physical_id = response.get("PhysicalResourceId")
    assert isinstance(physical_id, str), "PhysicalResourceId missing"
    assert 0 < len(physical_id.encode()) <= 1024, "PhysicalResourceId must be 1 to 1024 bytes"
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert response.get(key) == event.get(key), f"{key} must echo the request's"
    if response["Status"] == "FAILED":
        assert isinstance(response.get("Reason"), str), "a FAILED response needs a Reason"
        assert response["Reason"], "a FAILED response needs a Reason"
    if event.get("RequestType") == "Delete" and "PhysicalResourceId" in event:
        assert physical_id == event["PhysicalResourceId"], "Delete must answer with the resource's PhysicalResourceId"
    assert isinstance(response.get("Data", {}), dict), "Data must be an object"
    assert isinstance(response.get("NoEcho", False), bool), "NoEcho must be a boolean"
    assert len(json.dumps(response).encode()) <= CLOUDFORMATION_RESPONSE_LIMIT, "response over 4 KB"


def check_sqs(event: Event, response: Any, raw: bytes) -> None:
    """ReportBatchItemFailures for SQS: {"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}."""
    assert isinstance(response, dict), f"expected {{'batchItemFailures': [...]}}, got {type(response).__name__}"
    failures = response.get("batchItemFailures")
    assert isinstance(failures, list), "the response has no 'batchItemFailures' list"
    message_ids = {record["messageId"] for record in event["Records"]}
    identifiers = [item.get("itemIdentifier") for item in failures if isinstance(item, dict)]
    assert len(identifiers) == len(failures), f"batch item failures {failures!r} are not objects"
    assert set(identifiers) <= message_ids, f"{set(identifiers) - message_ids} are not in the batch"
    assert len(identifiers) == len(set(identifiers)), f"repeated item identifiers: {identifiers}"


def check_log_indexer(event: Event, response: Any, raw: bytes) -> None:
    """A message naming an object outside events/ succeeds (nothing to index); without S3 in the container an
    events/ object cannot be read, and its message fails, to be delivered again."""
    keys = {r["messageId"]: json.loads(r["body"])["detail"]["object"]["key"] for r in event["Records"]}
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    outside = {message_id for message_id, key in keys.items() if not key.startswith("events/")}
    assert outside and not failed & outside, f"a message outside events/ failed: {failed & outside}"


def _is_kinesis(event: Event) -> bool:
    records = event.get("Records")
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:kinesis"


# name → (does the event come from this source?, check the function's response). Add a source here.
EVENT_SOURCES: dict[str, tuple[Detector, Checker]] = {
    "firehose": (lambda event: "deliveryStreamArn" in event, check_firehose),
    "kinesis": (_is_kinesis, check_kinesis),
    "sqs": (
        lambda event: bool(event.get("Records")) and event["Records"][0].get("eventSource") == "aws:sqs",
        check_sqs,
    ),
    "cloudformation": (lambda event: "RequestType" in event, check_custom_resource),
}


def event_source(event: Event) -> str:
    sources = [name for name, (detect, _) in EVENT_SOURCES.items() if detect(event)]
    assert len(sources) == 1, f"the event matches {sources or 'no'} event sources; extend EVENT_SOURCES"
    return sources[0]


def _cloudwatch_data_messages(event: Event) -> int:
    """Records carrying a gzip CloudWatch Logs DATA_MESSAGE with log events (the transformer answers Ok)."""
    count = 0
    for record in event.get("records", []):
        try:
            payload = json.loads(gzip.decompress(base64.b64decode(record["data"])))
        except (OSError, EOFError, ValueError, binascii.Error):
            continue
        if isinstance(payload, dict) and payload.get("messageType") == "DATA_MESSAGE" and payload.get("logEvents"):
            count += 1
    return count


def check_log_events(event: Event, response: Any, raw: bytes) -> None:
    """The transformer's Ok data is NDJSON of LogEvent objects, each with an event_id, none repeated."""
    ok = [entry for entry in response["records"] if entry["result"] == "Ok"]
    if _cloudwatch_data_messages(event):
        assert ok, "the event carries CloudWatch Logs data but no record was answered Ok"
    event_ids = []
    for entry in ok:
        lines = base64.b64decode(entry["data"]).decode("utf-8").splitlines()
        assert lines, f"{entry['recordId']}: Ok with empty data"
        for line in lines:
            log_event = json.loads(line)
            assert isinstance(log_event, dict), f"{entry['recordId']}: NDJSON line is not an object: {line[:200]}"
            assert isinstance(log_event.get("event_id"), str), f"{entry['recordId']}: no event_id in {line[:200]}"
            assert log_event["event_id"], f"{entry['recordId']}: empty event_id"
            event_ids.append(log_event["event_id"])
    assert len(event_ids) == len(set(event_ids)), "an event_id appears twice"


# Function-specific checks, run after the event source's contract.
FUNCTION_CHECKS: dict[str, Checker] = {
    "LogTransformerFunction": check_log_events,
    "LogIndexerFunction": check_log_indexer,
}


def check_response(function: str, event: Event, response: Any, raw: bytes) -> str:
    source = event_source(event)
    EVENT_SOURCES[source][1](event, response, raw)
    extra = FUNCTION_CHECKS.get(function)
    if extra is not None:
        extra(event, response, raw)
    return source


def load_event(path: Path) -> Event:
    event = json.loads(path.read_text())
    assert isinstance(event, dict), f"{path}: an event is a JSON object"
    return event


# --- discovery (no container needed) ----------------------------------------------------------------------------


def test_template_has_functions() -> None:
    assert FUNCTIONS, "no AWS::Serverless::Function with a local CodeUri in template.yaml"


@pytest.mark.parametrize("spec", FUNCTIONS, ids=[spec.logical_id for spec in FUNCTIONS])
def test_function_has_sample_events(spec: FunctionSpec) -> None:
    assert spec.events, f"{spec.logical_id}: add a sample event as events/{spec.code_dir}/<name>.json"


@pytest.mark.parametrize(("spec", "event_path"), CASES)
def test_sample_event_has_a_known_source(spec: FunctionSpec, event_path: Path) -> None:
    event_source(load_event(event_path))


# --- sam local invoke -----------------------------------------------------------------------------------------


def _invoke(sam: Sam, timings: Timings, request: pytest.FixtureRequest, spec: FunctionSpec, event_path: Path) -> None:
    event = load_event(event_path)
    overrides: dict[str, dict[str, str]] = {}
    extra_args: list[str] = []
    if spec.needs_opensearch:
        opensearch: ContainerOpenSearch = request.getfixturevalue("container_opensearch")
        overrides = {s.logical_id: {"OPENSEARCH_URL": opensearch.url} for s in FUNCTIONS if s.needs_opensearch}
        extra_args = opensearch.sam_args
    invocation = sam.invoke(
        spec.logical_id,
        event_path,
        env_file=sam.env_file(request.node.name, overrides),
        extra_args=extra_args,
    )
    phase = timings.add_invoke(spec.logical_id, event_path.name, invocation.seconds, invocation.handler_ms)
    handler = f", handler {invocation.handler_ms:.0f} ms" if invocation.handler_ms is not None else ""
    print(f"\nsam local invoke {spec.logical_id} {event_path.name}: {invocation.seconds:.2f} s ({phase}{handler})")
    check_response(spec.logical_id, event, invocation.response, invocation.raw)


@pytest.mark.parametrize(("spec", "event_path"), CASES)
def test_sam_local_invoke(
    sam: Sam, timings: Timings, request: pytest.FixtureRequest, spec: FunctionSpec, event_path: Path
) -> None:
    _invoke(sam, timings, request, spec, event_path)


def test_sam_local_invoke_again(sam: Sam, timings: Timings, request: pytest.FixtureRequest) -> None:
    """The first pair once more: a later `sam local invoke` reuses the image SAM built for the layer."""
    cases = [(spec, event) for spec in FUNCTIONS if not spec.needs_opensearch for event in spec.events]
    if not cases:
        pytest.skip("no function with a sample event")
    _invoke(sam, timings, request, *cases[0])


# --- sam local start-lambda -----------------------------------------------------------------------------------

START_LAMBDA_FUNCTION = "LogTransformerFunction"
START_LAMBDA_EVENT = EVENTS_DIR / "log_transformer" / "firehose-logs.json"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            pytest.fail(f"sam local start-lambda exited ({proc.returncode}):\n{_log_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"sam local start-lambda not listening after {timeout:.0f} s:\n{_log_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """TERM to the group leader first, then to whatever is left in the group.

    The leader is scripts/with-container-engine.sh: it passes TERM on to SAM, which removes its containers,
    and stops its Podman API service only after SAM has exited. A TERM to the whole group at once would
    reach that service at the same moment, and SAM, no longer able to reach the engine, would leave its
    containers running.
    """
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        time.sleep(2 if sig == signal.SIGTERM else 0)
    if proc.poll() is None:
        proc.wait(timeout=10)


@pytest.mark.skipif(
    not any(spec.logical_id == START_LAMBDA_FUNCTION for spec in FUNCTIONS), reason=f"no {START_LAMBDA_FUNCTION}"
)
def test_sam_local_start_lambda(sam: Sam, timings: Timings, tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config

    port = _free_port()
    log = tmp_path / "start-lambda.log"
    args = [
        "local",
        "start-lambda",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--warm-containers",
        "EAGER",
        "--template",
        str(sam.template),
        *sam.config_args,
        "--env-vars",
        str(sam.env_file("start-lambda")),
    ]
    event = load_event(START_LAMBDA_EVENT)
    payload = START_LAMBDA_EVENT.read_bytes()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            sam.command(*args),
            cwd=ROOT,
            env=command_env(sam.function_env_names),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    measured: dict[str, float] = {}
    try:
        measured["startup"] = _wait_for_port(port, proc, log, START_TIMEOUT)
        client = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 0}, read_timeout=120),
        )
        for phase in ("cold_invoke", "warm_invoke"):
            started = time.monotonic()
            answer = client.invoke(FunctionName=START_LAMBDA_FUNCTION, Payload=payload)
            raw = answer["Payload"].read()
            measured[phase] = time.monotonic() - started
            assert answer["StatusCode"] == 200
            assert "FunctionError" not in answer, f"{answer.get('FunctionError')}: {raw[:2000]!r}"
            check_response(START_LAMBDA_FUNCTION, event, json.loads(raw), raw)
    finally:
        _stop(proc)
        timings.start_lambda = {k: round(v, 2) for k, v in measured.items()}
        print("\nsam local start-lambda: " + ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in measured.items()))
    assert proc.returncode is not None
    # SAM removes its warm containers as it shuts down, but not always all of them (seen with three warm
    # containers under load): that is SAM's housekeeping, not the functions' contract, so remove what is
    # left and say so rather than fail.
    deadline = time.monotonic() + 30
    leftovers = sam.session_containers()
    while leftovers and time.monotonic() < deadline:
        time.sleep(1)
        leftovers = sam.session_containers()
    if leftovers:
        sam.engine_cli("rm", "--force", *leftovers)
        warnings.warn(f"sam local start-lambda left {len(leftovers)} container(s) running; removed", stacklevel=1)
    assert not sam.session_containers()
