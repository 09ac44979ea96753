"""An OpenSearch client built from typed settings: plain HTTP locally, SigV4-signed HTTPS on AWS.

boto3 is imported only when SigV4 is used, so local runs and tests need no AWS libraries or credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth, Urllib3HttpConnection

from opsanalytics.settings import SettingsError

AuthMode = Literal["none", "sigv4"]
AUTH_MODES: Final[tuple[AuthMode, ...]] = get_args(AuthMode)

DEFAULT_TIMEOUT_SECONDS: Final = 30.0
_AWS_HOST_SUFFIX: Final = ".amazonaws.com"
# search-<domain>-<id>.<region>.es.amazonaws.com, <id>.<region>.aoss.amazonaws.com
_AWS_HOST_REGION = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(es|aoss)\.amazonaws\.com$")


@dataclass(frozen=True, slots=True)
class OpenSearchSettings:
    """Where OpenSearch is and how to authenticate; validated on construction."""

    url: str
    auth: AuthMode = "none"
    region: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    """Per-request read timeout; bulk requests of several MB need more than the client's default 10 s."""
    max_retries: int = 0
    """Immediate transport-level retries. 0 by default: callers that retry (BulkWriter) back off themselves,
    and stacking both multiplies the attempts."""

    def __post_init__(self) -> None:
        _split_url(self.url)  # raises SettingsError
        if self.auth not in AUTH_MODES:
            raise SettingsError(f"OPENSEARCH_AUTH must be one of {', '.join(AUTH_MODES)}, got {self.auth!r}")
        if self.auth == "sigv4":
            if not self.use_ssl:
                raise SettingsError(f"OPENSEARCH_AUTH=sigv4 needs an https:// OPENSEARCH_URL, got {self.url!r}")
            if not self.region:
                raise SettingsError("OPENSEARCH_AUTH=sigv4 needs AWS_REGION (or a *.<region>.es.amazonaws.com URL)")
        if not self.timeout_seconds > 0:
            raise SettingsError(f"OpenSearch timeout must be > 0 seconds, got {self.timeout_seconds!r}")
        if self.max_retries < 0:
            raise SettingsError(f"OpenSearch max_retries must be >= 0, got {self.max_retries!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpenSearchSettings:
        """``OPENSEARCH_URL`` (required), ``OPENSEARCH_AUTH`` (none|sigv4; default sigv4 for an
        ``*.amazonaws.com`` host, else none), ``AWS_REGION``, ``OPENSEARCH_TIMEOUT_SECONDS``."""
        env = os.environ if env is None else env
        url = env.get("OPENSEARCH_URL", "").strip()
        if not url:
            raise SettingsError(
                "OPENSEARCH_URL is not set: give the endpoint, e.g. http://127.0.0.1:9200 locally or "
                "https://search-<domain>.<region>.es.amazonaws.com"
            )
        host, _, _, _ = _split_url(url)
        default_auth: AuthMode = "sigv4" if host.endswith(_AWS_HOST_SUFFIX) else "none"
        auth = _auth_mode(env.get("OPENSEARCH_AUTH", "").strip().lower() or default_auth)
        region = env.get("AWS_REGION", "").strip() or _region_from_host(host)
        raw_timeout = env.get("OPENSEARCH_TIMEOUT_SECONDS", "").strip()
        try:
            timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT_SECONDS
        except ValueError:
            raise SettingsError(
                f"OPENSEARCH_TIMEOUT_SECONDS must be a number of seconds, got {raw_timeout!r}"
            ) from None
        return cls(url=url, auth=auth, region=region, timeout_seconds=timeout)

    @classmethod
    def for_url(cls, url: str, env: Mapping[str, str] | None = None) -> OpenSearchSettings:
        """The settings for `url`, the other variables as `from_env` reads them."""
        return cls.from_env({**(os.environ if env is None else env), "OPENSEARCH_URL": url})

    @property
    def host(self) -> str:
        return _split_url(self.url)[0]

    @property
    def port(self) -> int:
        return _split_url(self.url)[1]

    @property
    def use_ssl(self) -> bool:
        return _split_url(self.url)[2]

    @property
    def url_prefix(self) -> str:
        return _split_url(self.url)[3]

    @property
    def service(self) -> str:
        """The SigV4 service name: ``aoss`` for OpenSearch Serverless, ``es`` for a managed domain."""
        return "aoss" if self.host.endswith(".aoss.amazonaws.com") else "es"


def _split_url(url: str) -> tuple[str, int, bool, str]:
    """(host, port, use_ssl, path prefix) of an OpenSearch endpoint URL, or SettingsError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SettingsError(f"OPENSEARCH_URL is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https"):
        raise SettingsError(f"OPENSEARCH_URL must start with http:// or https://, got {url!r}")
    if not parts.hostname:
        raise SettingsError(f"OPENSEARCH_URL has no host: {url!r}")
    if parts.username or parts.password:
        raise SettingsError("OPENSEARCH_URL must not carry credentials; use OPENSEARCH_AUTH=sigv4 on AWS")
    if parts.query or parts.fragment:
        raise SettingsError(f"OPENSEARCH_URL must not have a query or fragment: {url!r}")
    use_ssl = parts.scheme == "https"
    return parts.hostname, port or (443 if use_ssl else 80), use_ssl, parts.path.rstrip("/")


def _auth_mode(value: str) -> AuthMode:
    for mode in AUTH_MODES:
        if value == mode:
            return mode
    raise SettingsError(f"OPENSEARCH_AUTH must be one of {', '.join(AUTH_MODES)}, got {value!r}")


def _region_from_host(host: str) -> str | None:
    match = _AWS_HOST_REGION.search(host)
    return match.group(1) if match else None


def create_client(settings: OpenSearchSettings, **client_options: Any) -> OpenSearch:
    """An ``opensearchpy.OpenSearch`` for ``settings``; ``client_options`` pass through to it."""
    options: dict[str, Any] = {
        "hosts": [
            {
                "host": settings.host,
                "port": settings.port,
                "use_ssl": settings.use_ssl,
                "url_prefix": settings.url_prefix,
            }
        ],
        "use_ssl": settings.use_ssl,
        "verify_certs": settings.use_ssl,
        "connection_class": Urllib3HttpConnection,
        "timeout": settings.timeout_seconds,
        "max_retries": settings.max_retries,
        "retry_on_timeout": False,
        "http_compress": settings.auth == "sigv4",  # pays off over the network, not on loopback
    }
    if settings.auth == "sigv4":
        options["http_auth"] = _sigv4_auth(settings)
    options.update(client_options)
    return OpenSearch(**options)


def _sigv4_auth(settings: OpenSearchSettings) -> Any:
    import boto3

    # refreshable credentials: the signer freezes them per request, so role sessions renew on their own
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise SettingsError("OPENSEARCH_AUTH=sigv4 but no AWS credentials were found")
    return Urllib3AWSV4SignerAuth(credentials, settings.region, settings.service)
