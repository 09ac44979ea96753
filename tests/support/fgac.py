"""A local OpenSearch 2.19 node with the security plugin (fine-grained access control), as the tests need it.

TLS between nodes uses a CA and a node certificate made for the run (``cryptography``); HTTP is plain, with basic
authentication against the internal user database. Each user stands for an IAM principal: its backend roles are
the principal's role ARN, which is what OpenSearch Service hands the security plugin for a SigV4-signed request.
So the roles and mappings the bootstrap writes act on these users as on the principals in AWS; what differs is
only how the identity is proven (a password here, a signature there). The setup role is mapped to all_access and
security_manager in the initial configuration, as OpenSearch Service maps a domain's master user.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.client
import http.server
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from opsanalytics.local import opensearch_node
from opsanalytics.paths import project_root

PASSWORD = "opsanalytics-Test-1"
ORGANIZATION = "opsanalytics-test"


@dataclass(frozen=True, slots=True)
class SecuredCluster:
    url: str
    password: str

    def credentials(self, user: str) -> tuple[str, str]:
        return user, self.password

    @contextlib.contextmanager
    def signed_in_as(self, user: str) -> Iterator[str]:
        """A local URL that forwards every request to the node as `user`: what OpenSearch Service does with a
        SigV4-signed request of that principal. Code under test points OPENSEARCH_URL at it, unchanged."""
        token = base64.b64encode(f"{user}:{self.password}".encode()).decode()
        target = urllib.parse.urlsplit(self.url)

        class Forward(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    connection.request(
                        self.command, self.path, body=body, headers={**headers, "Authorization": f"Basic {token}"}
                    )
                    response = connection.getresponse()
                    data = response.read()
                finally:
                    connection.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        thread = threading.Thread(target=server.serve_forever, name=f"fgac-forward-{user}", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def _certificates(directory: Path) -> None:
    """root-ca.pem, node.pem and node-key.pem (PKCS#8), valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        organization = x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)
        return x509.Name([organization, x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("root-ca"))
        .issuer_name(name("root-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    node_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    node = (
        x509.CertificateBuilder()
        .subject_name(name("node"))
        .issuer_name(ca.subject)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "root-ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "node.pem").write_bytes(node.public_bytes(serialization.Encoding.PEM))
    (directory / "node-key.pem").write_bytes(
        node_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _password_hash(password: str) -> str:
    """The security plugin's own BCrypt hash of `password` (its Hasher tool)."""
    target = opensearch_node.node_project() / "target"
    classpath = f"{target / 'lib' / '*'}:{opensearch_node.security_plugin_dir() / '*'}"
    hashed = subprocess.run(
        ["java", "-cp", classpath, "org.opensearch.security.tools.Hasher", "-p", password],
        capture_output=True,
        text=True,
        check=True,
    )
    return hashed.stdout.strip().splitlines()[-1]


def write_security(home: Path, users: Mapping[str, Sequence[str]], admin_backend_roles: Sequence[str]) -> Path:
    """The node's TLS material, security configuration and settings under ``home/config``; the settings file."""
    config = home / "config"
    security = config / "opensearch-security"
    security.mkdir(parents=True, exist_ok=True)
    for default in (opensearch_node.security_plugin_dir() / "config").glob("*.yml"):
        shutil.copy(default, security / default.name)
    _certificates(config)
    # OpenSearch Service defines security_manager beside the plugin's own roles; the bootstrap maps admins to it
    roles = yaml.safe_load((security / "roles.yml").read_text())
    roles["security_manager"] = {"description": "as on OpenSearch Service", "cluster_permissions": ["cluster_monitor"]}
    (security / "roles.yml").write_text(yaml.safe_dump(roles))
    hashed = _password_hash(PASSWORD)
    internal = {"_meta": {"type": "internalusers", "config_version": 2}}
    internal |= {user: {"hash": hashed, "backend_roles": list(roles)} for user, roles in users.items()}
    (security / "internal_users.yml").write_text(yaml.safe_dump(internal))
    mapping = {"_meta": {"type": "rolesmapping", "config_version": 2}}
    mapping |= {role: {"backend_roles": list(admin_backend_roles)} for role in ("all_access", "security_manager")}
    (security / "roles_mapping.yml").write_text(yaml.safe_dump(mapping))
    authc = {
        "basic_internal_auth_domain": {
            "http_enabled": True,
            "transport_enabled": True,
            "order": 0,
            "http_authenticator": {"type": "basic", "challenge": True},
            "authentication_backend": {"type": "intern"},
        }
    }
    (security / "config.yml").write_text(
        yaml.safe_dump(
            {
                "_meta": {"type": "config", "config_version": 2},
                "config": {"dynamic": {"http": {"anonymous_auth_enabled": False}, "authc": authc}},
            }
        )
    )
    dn = f"CN=node,O={ORGANIZATION}"
    settings = {
        "plugins.security.ssl.transport.pemcert_filepath": "node.pem",
        "plugins.security.ssl.transport.pemkey_filepath": "node-key.pem",
        "plugins.security.ssl.transport.pemtrustedcas_filepath": "root-ca.pem",
        "plugins.security.ssl.transport.enforce_hostname_verification": "false",
        "plugins.security.ssl.http.enabled": "false",
        "plugins.security.allow_default_init_securityindex": "true",
        "plugins.security.allow_unsafe_democertificates": "true",
        "plugins.security.nodes_dn": dn,
        "plugins.security.authcz.admin_dn": f"CN=admin,O={ORGANIZATION}",
        "plugins.security.restapi.roles_enabled": "all_access,security_manager",
        "plugins.security.audit.type": "noop",
        "plugins.security.system_indices.enabled": "true",
    }
    settings_file = home / "security.properties"
    settings_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    return settings_file


@contextlib.contextmanager
def secured_cluster(
    users: Mapping[str, Sequence[str]], admin_user: str, *, wait_seconds: float = 240
) -> Iterator[SecuredCluster]:
    """A fresh node with fine-grained access control on free ports; `admin_user`'s backend roles are mapped to
    all_access and security_manager. Stopped and removed on exit."""
    opensearch_node.build(security=True)
    base = project_root() / ".local" / "test-opensearch-fgac"
    base.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="node-", dir=base))
    http_port, transport_port = opensearch_node.free_ports(2)
    settings_file = write_security(home, users, users[admin_user])
    security = opensearch_node.NodeSecurity(settings_file, admin_user, PASSWORD)
    try:
        started = time.monotonic()
        url = opensearch_node.start(
            port=http_port, home=home, wait_seconds=wait_seconds, transport_port=transport_port, security=security
        )
        print(f"opensearch-node (security plugin): healthy {time.monotonic() - started:.1f} s after start")
        yield SecuredCluster(url, PASSWORD)
    finally:
        opensearch_node.stop(home)
        shutil.rmtree(home, ignore_errors=True)
