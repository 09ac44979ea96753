"""Fixtures for running the template's functions in Lambda containers through SAM CLI.

The session

1. makes sure a container engine SAM CLI can drive exists (``scripts/container-engine.sh``: a running Docker
   engine, or rootful Podman plus the locally built Lambda Python image). When neither can run, the container
   tests are skipped, or fail when ``CI=true`` or ``OPSANALYTICS_REQUIRE_CONTAINERS=1`` is set;
2. runs ``sam build --no-cached`` once into a temporary build directory (the checkout's ``.aws-sam/``, which
   a cached build would use for its dependencies, is left alone);
3. runs every SAM command through ``scripts/with-container-engine.sh`` (which starts a private Podman API
   socket for the command when there is no Docker), adding ``--config-env offline`` under Podman, and always
   ``--config-file <checkout>/samconfig.toml``: SAM looks for samconfig.toml next to ``--template``, which is
   the temporary build directory here;
4. at the end removes what it added to the engine: containers SAM left running on the build (none, normally),
   and the ``samcli/lambda-*`` images SAM built (see `Sam.images_to_remove`).

Functions and their sample events are discovered from template.yaml: every ``AWS::Serverless::Function``
with a ``CodeUri`` under functions/ is invoked with each ``events/<CodeUri folder>/*.json``.

Functions that declare ``OPENSEARCH_URL`` in their environment get a cluster the container can reach: the
``OPENSEARCH_URL`` of the test environment, through a TCP forwarder bound to 0.0.0.0 when that URL points at
the loopback interface (a container reaches the host only on its external interfaces, by the name
``host.containers.internal`` under Podman, ``host.docker.internal`` under Docker). Without ``OPENSEARCH_URL``
their cases are skipped.

Invocations are timed; the times are printed at the end of the run and written to
``.local/container-timings.json``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
from scripts import cloudformation_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
EVENTS_DIR = ROOT / "events"
ENV_FILE = EVENTS_DIR / "env.json"
ENGINE_SETUP = ROOT / "scripts" / "container-engine.sh"
WITH_ENGINE = ROOT / "scripts" / "with-container-engine.sh"
LOCAL_DIR = ROOT / ".local"
TIMINGS_FILE = LOCAL_DIR / "container-timings.json"

ENGINE_SETUP_TIMEOUT = 1200  # a first run installs podman and builds the Lambda image
BUILD_TIMEOUT = 600
INVOKE_TIMEOUT = 300  # the longest function timeout in the template is 180 s
# SAM CLI and the functions it runs never see the caller's AWS account: every AWS_* variable of the host is
# dropped and the shared config files are hidden. SAM then gives the functions placeholder credentials, and
# skips the STS GetCallerIdentity call it makes with real ones (seconds when the network is unreachable).
AWS_ENV = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata credential probe either
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
HOST_NAMES = {"podman": "host.containers.internal", "docker": "host.docker.internal"}
# Docker Engine on Linux only knows host.docker.internal when told (Docker Desktop always does).
HOST_ARGS = {"podman": [], "docker": ["--add-host", "host.docker.internal:host-gateway"]}
_REPORT_DURATION = re.compile(r"REPORT RequestId:.*?(?<!Init )Duration: ([\d.]+) ms", re.DOTALL)


# --- template discovery ---------------------------------------------------------------------------------------


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return cloudformation_yaml.load_template(path.read_text())


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: str  # the CodeUri folder name under functions/, which names the events/ folder
    environment: frozenset[str]  # variable names declared in the template (Globals included)
    events: tuple[Path, ...]

    @property
    def needs_opensearch(self) -> bool:
        return "OPENSEARCH_URL" in self.environment


def discover_functions(template: dict[str, Any] | None = None) -> list[FunctionSpec]:
    """The template's zip functions with a local CodeUri, with the sample events found for each."""
    template = load_template() if template is None else template
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    global_env = ((globals_function.get("Environment") or {}).get("Variables") or {}).keys()
    specs = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        code_uri = properties.get("CodeUri", globals_function.get("CodeUri"))
        if properties.get("PackageType") == "Image" or not isinstance(code_uri, str):
            continue  # an image function or code in S3: nothing to find events for
        code_dir = Path(code_uri.rstrip("/")).name
        env = ((properties.get("Environment") or {}).get("Variables") or {}).keys()
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_dir=code_dir,
                environment=frozenset([*global_env, *env]),
                events=tuple(sorted((EVENTS_DIR / code_dir).glob("*.json"))),
            )
        )
    return specs


# --- engine availability -------------------------------------------------------------------------------------


def containers_required() -> bool:
    """On CI (or when asked), a missing container engine is an error, not a reason to skip."""
    return (
        os.environ.get("CI", "").strip().lower() in ("true", "1")
        or os.environ.get("OPSANALYTICS_REQUIRE_CONTAINERS", "").strip() == "1"
    )


def unavailable(reason: str) -> NoReturn:
    if containers_required():
        pytest.fail(f"{reason} (containers are required: CI=true or OPSANALYTICS_REQUIRE_CONTAINERS=1)")
    pytest.skip(reason)


def find_sam() -> str | None:
    given = os.environ.get("SAM_CLI", "").strip()
    if given:
        return given
    bundled = ROOT / ".venv-sam" / "bin" / "sam"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("sam")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def command_env(function_env_names: Sequence[str] = ()) -> dict[str, str]:
    """The environment SAM commands run with.

    SAM passes a function the host's value of every variable the template declares for it (unless the
    --env-vars file sets it), and the host's AWS credentials: both are taken out so that a developer's shell
    cannot change what the tests see or let a function reach a real account.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in function_env_names}
    env.update(AWS_ENV)
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


# --- timings ---------------------------------------------------------------------------------------------------


@dataclass
class Timings:
    engine: str = ""
    build_seconds: float | None = None
    invokes: list[dict[str, Any]] = field(default_factory=list)
    start_lambda: dict[str, Any] = field(default_factory=dict)

    def add_invoke(self, function: str, event: str, seconds: float, handler_ms: float | None) -> str:
        phase = "cold" if not self.invokes else "warm"
        entry = {"function": function, "event": event, "phase": phase, "seconds": round(seconds, 2)}
        self.invokes.append({**entry, "handler_ms": handler_ms})
        return phase

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "sam_build_seconds": self.build_seconds,
            "sam_local_invoke": self.invokes,
            "sam_local_start_lambda": self.start_lambda,
        }

    def summary(self) -> list[str]:
        lines = [f"engine: {self.engine or 'none'}"]
        if self.build_seconds is not None:
            lines.append(f"sam build: {self.build_seconds:.1f} s")
        lines.extend(
            f"sam local invoke {i['function']} {i['event']}: {i['seconds']:.1f} s ({i['phase']}"
            + (f", handler {i['handler_ms']:.0f} ms)" if i["handler_ms"] is not None else ")")
            for i in self.invokes
        )
        if self.start_lambda:
            lines.append(
                "sam local start-lambda: "
                + ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in self.start_lambda.items())
            )
        return lines


_TIMINGS_KEY = pytest.StashKey[Timings]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMINGS_KEY] = Timings()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    timings = config.stash.get(_TIMINGS_KEY, None)
    if timings is None or not (timings.invokes or timings.start_lambda):
        return
    terminalreporter.section("sam local timings")
    for line in timings.summary():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(written to {TIMINGS_FILE.relative_to(ROOT)})")


@pytest.fixture(scope="session")
def timings(pytestconfig: pytest.Config) -> Timings:
    return pytestconfig.stash[_TIMINGS_KEY]


# --- SAM through the container engine -------------------------------------------------------------------------


@dataclass
class Invocation:
    response: Any
    raw: bytes  # the response as the runtime serialised it (what Firehose, Kinesis, ... would measure)
    stderr: str
    seconds: float
    handler_ms: float | None


@dataclass
class Sam:
    """Runs SAM CLI commands against the session's build, through scripts/with-container-engine.sh."""

    executable: str
    engine: str  # "docker" | "podman"
    build_dir: Path
    work_dir: Path
    function_env_names: tuple[str, ...]
    preexisting_images: dict[str, set[str]] = field(default_factory=dict)

    @property
    def template(self) -> Path:
        return self.build_dir / "template.yaml"

    @property
    def host_name(self) -> str:
        """How a function's container addresses the machine the tests run on."""
        return HOST_NAMES[self.engine]

    @property
    def config_args(self) -> list[str]:
        args = ["--config-file", str(SAMCONFIG)]
        if self.engine == "podman":
            args += ["--config-env", "offline"]  # the local image; public.ecr.aws may be out of reach
        return args

    def command(self, *args: str) -> list[str]:
        return [str(WITH_ENGINE), self.executable, *args]

    def env_file(self, name: str, overrides: dict[str, dict[str, str]] | None = None) -> Path:
        """events/env.json with per-function `overrides`, written to the session's work directory."""
        merged: dict[str, dict[str, str]] = json.loads(ENV_FILE.read_text()) if ENV_FILE.is_file() else {}
        for function, variables in (overrides or {}).items():
            merged.setdefault(function, {}).update(variables)
        path = self.work_dir / f"env-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.json"
        path.write_text(json.dumps(merged, indent=2))
        return path

    def invoke(
        self,
        function: str,
        event: Path,
        *,
        env_file: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> Invocation:
        args = [
            "local",
            "invoke",
            function,
            "--event",
            str(event),
            "--template",
            str(self.template),
            *self.config_args,
            "--env-vars",
            str(env_file or self.env_file("default")),
            *extra_args,
        ]
        started = time.monotonic()
        proc = subprocess.run(
            self.command(*args),
            cwd=ROOT,
            env=command_env(self.function_env_names),
            capture_output=True,
            timeout=INVOKE_TIMEOUT,
            check=False,
        )
        seconds = time.monotonic() - started
        stderr = proc.stderr.decode(errors="replace")
        assert proc.returncode == 0, f"sam local invoke {function} failed ({proc.returncode}):\n{_tail(stderr, 40)}"
        raw = proc.stdout.strip()
        try:
            response = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            pytest.fail(f"sam local invoke {function}: the response is not JSON: {raw[:500]!r}\n{_tail(stderr)}")
        if isinstance(response, dict) and {"errorType", "errorMessage"} <= response.keys():
            pytest.fail(f"{function} raised {response['errorType']}: {response['errorMessage']}\n{_tail(stderr, 40)}")
        match = _REPORT_DURATION.search(stderr)
        return Invocation(response, raw, stderr, seconds, float(match.group(1)) if match else None)

    def engine_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`docker ARGS` or `podman ARGS` against the engine SAM uses."""
        return subprocess.run(
            [str(WITH_ENGINE), self.engine, *args],
            cwd=ROOT,
            env=command_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def images(self) -> dict[str, set[str]]:
        """Image id → its references (`repository:tag`, `<none>:<none>` when dangling)."""
        listing = self.engine_cli("images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
        found: dict[str, set[str]] = {}
        for line in listing.stdout.splitlines():
            image_id, _, ref = line.strip().partition(" ")
            if image_id:
                found.setdefault(image_id, set()).add(ref)
        return found

    def images_to_remove(self) -> list[str]:
        """What this session added to the engine's images.

        For a function with a layer of the template, SAM builds samcli/lambda-<runtime>:<tag> on every invoke
        (the tag depends on the layer's logical id only). A new build directory gives new file times, hence a
        new image, and the previous one is left dangling: those dangling images and a tag that did not exist
        before the session are removed.
        """
        before = self.preexisting_images
        sam_ids = {image_id for image_id, refs in before.items() if any(_is_sam_image(r) for r in refs)}
        before_refs = {ref for refs in before.values() for ref in refs}
        now = self.images()
        tags = sorted({r for refs in now.values() for r in refs if _is_sam_image(r) and r not in before_refs})
        dangling = sorted(
            image_id
            for image_id, refs in now.items()
            if refs == {"<none>:<none>"} and (image_id not in before or image_id in sam_ids)
        )
        return tags + dangling

    def session_containers(self) -> list[str]:
        """Containers SAM started for this session's build (any left over once SAM has exited is a leak)."""
        listing = self.engine_cli("ps", "-a", "-q", "--filter", "label=sam.cli.container.type=lambda")
        ids = listing.stdout.split()
        if not ids:
            return []
        mounts = self.engine_cli("inspect", "--format", "{{.Id}} {{range .Mounts}}{{.Source}} {{end}}", *ids)
        build_dir = str(self.build_dir)
        return [
            line.split()[0][:12]
            for line in mounts.stdout.splitlines()
            if any(source.startswith(build_dir) for source in line.split()[1:])
        ]


def _is_sam_image(ref: str) -> bool:
    return "samcli/lambda" in ref.rsplit(":", 1)[0]


def _run_engine_setup() -> None:
    try:
        proc = subprocess.run(
            [str(ENGINE_SETUP)],
            cwd=ROOT,
            env=command_env(),
            capture_output=True,
            text=True,
            timeout=ENGINE_SETUP_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"scripts/container-engine.sh could not run: {exc}")
    if proc.returncode != 0:
        unavailable(f"neither Docker nor Podman can run containers here:\n{_tail(proc.stderr)}")


def _detect_engine() -> str:
    try:
        proc = subprocess.run(
            [str(WITH_ENGINE), "sh", "-c", 'printf %s "$CONTAINER_ENGINE"'],
            cwd=ROOT,
            env=command_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"scripts/with-container-engine.sh could not run: {exc}")
    engine = proc.stdout.strip()
    if proc.returncode != 0 or engine not in HOST_NAMES:
        unavailable(f"no container engine answers through scripts/with-container-engine.sh:\n{_tail(proc.stderr)}")
    return engine


def _sam_build(executable: str, build_dir: Path, function_env_names: Sequence[str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [
            executable,
            "build",
            "--template",
            str(TEMPLATE),
            "--build-dir",
            str(build_dir),
            # samconfig's `cached = true` would keep dependencies in the checkout's .aws-sam/deps and prune the
            # ones other builds keep there; an uncached build touches nothing outside build_dir.
            "--no-cached",
        ],
        cwd=ROOT,
        env=command_env(function_env_names),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"sam build failed ({proc.returncode}):\n{_tail(proc.stdout + proc.stderr, 40)}")
    return time.monotonic() - started


@pytest.fixture(scope="session")
def sam(timings: Timings) -> Iterator[Sam]:
    executable = find_sam()
    if executable is None:
        unavailable("SAM CLI not found (.venv-sam/bin/sam, SAM_CLI or sam on PATH)")
    _run_engine_setup()
    engine = _detect_engine()
    timings.engine = engine
    env_names = tuple(sorted({name for spec in discover_functions() for name in spec.environment}))
    work_dir = Path(tempfile.mkdtemp(prefix="opsanalytics-sam-"))
    runner = Sam(executable, engine, work_dir / "build", work_dir, env_names)
    runner.preexisting_images = runner.images()
    try:
        timings.build_seconds = round(_sam_build(executable, runner.build_dir, env_names), 2)
        print(f"\nsam build ({engine}): {timings.build_seconds:.1f} s")
        yield runner
    finally:
        leftovers = runner.session_containers()
        if leftovers:
            runner.engine_cli("rm", "--force", *leftovers)
            print(f"\nremoved containers SAM left behind: {' '.join(leftovers)}")
        # one at a time: an image still in use elsewhere stays, and does not keep the others
        for image in runner.images_to_remove():
            runner.engine_cli("rmi", image)
        shutil.rmtree(work_dir, ignore_errors=True)
        LOCAL_DIR.mkdir(exist_ok=True)
        TIMINGS_FILE.write_text(json.dumps(timings.as_dict(), indent=2) + "\n")


# --- OpenSearch for functions that need it --------------------------------------------------------------------


class TcpForwarder:
    """Accepts connections on 0.0.0.0:<free port> and pipes each one to `upstream` (host, port).

    Lambda containers cannot reach a server that listens on the host's loopback interface only, as the local
    OpenSearch node does; they reach this forwarder on the host's external interfaces instead.
    """

    def __init__(self, upstream: tuple[str, int], bind_host: str = "0.0.0.0") -> None:
        self.upstream = upstream
        self._listener = socket.create_server((bind_host, 0))
        self._listener.settimeout(0.5)
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-forwarder", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        pump = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        pump.start()
        self._pipe(client, upstream)
        pump.join()
        client.close()
        upstream.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._thread.join(timeout=5)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ContainerOpenSearch:
    url: str  # OPENSEARCH_URL as the function inside the container must see it
    sam_args: list[str]  # extra `sam local` arguments (host name mapping) the url needs


@pytest.fixture(scope="session")
def container_opensearch(sam: Sam, opensearch_url: str) -> Iterator[ContainerOpenSearch]:
    """The test session's OpenSearch (OPENSEARCH_URL or the local node), made reachable from Lambda containers."""
    given = opensearch_url
    parts = urlsplit(given)
    host = parts.hostname or ""
    if not _is_loopback(host):
        yield ContainerOpenSearch(given, [])
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    forwarder = TcpForwarder((host, port))
    try:
        netloc = f"{sam.host_name}:{forwarder.port}"
        yield ContainerOpenSearch(urlunsplit(parts._replace(netloc=netloc)), HOST_ARGS[sam.engine])
    finally:
        forwarder.close()
