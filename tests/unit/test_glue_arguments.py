"""The Glue entry point's argument handling: which sink a run uses and how it reaches OpenSearch.

No AWS calls: the SigV4 signer is built from credentials in the environment and never sends a request.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from opsanalytics.batch.settings import BatchSettings
from opsanalytics.batch.sinks import BulkSink, ConnectorSink, NoSink
from opsanalytics.paths import project_root
from opsanalytics.settings import SettingsError

DOMAIN = "https://search-ops-abc123.eu-west-1.es.amazonaws.com"
JAR = "s3://artifacts/jars/opensearch-spark-35_2.12-1.3.0.jar"


@pytest.fixture(scope="module")
def batch_job() -> ModuleType:
    """glue/batch_job.py, loaded the way Glue runs it: as a script, not from a package."""
    spec = importlib.util.spec_from_file_location("glue_batch_job", project_root() / "glue" / "batch_job.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def glue_argv(*extra: str) -> list[str]:
    return ["--JOB_NAME", "batch", "--bucket", "s3://archive", "--opensearch_url", DOMAIN, *extra]


def resolved(argv: list[str]) -> dict[str, str]:
    """What getResolvedOptions returns for the job's own names (Glue's ``--extra-jars`` is not one of them)."""
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    return {name[2:]: value for name, value in pairs.items() if name != "--extra-jars"}


@pytest.mark.parametrize(
    ("extra", "sink"),
    [
        ((), "bulk"),
        (("--extra-jars", JAR), "connector"),
        (("--extra-jars", f"s3://artifacts/jars/other.jar,{JAR}"), "connector"),
        (("--extra-jars", "s3://artifacts/jars/other.jar"), "bulk"),
        (("--sink", "bulk", "--extra-jars", JAR), "bulk"),
        (("--sink", "connector"), "connector"),
        (("--sink", "none", "--extra-jars", JAR), "none"),
        (("--sink", ""), "bulk"),
    ],
)
def test_the_sink_given_wins_else_the_jar_decides(batch_job: ModuleType, extra: tuple[str, ...], sink: str) -> None:
    argv = glue_argv(*extra)
    settings = batch_job.glue_settings(resolved(argv), argv)
    assert settings.sink == sink
    assert settings.bookmark == "glue"
    assert settings.opensearch_url == DOMAIN


def test_extra_jars_in_equals_form(batch_job: ModuleType) -> None:
    assert batch_job.default_glue_sink([f"--extra-jars={JAR}"]) == "connector"


def test_bookmark_given_wins(batch_job: ModuleType) -> None:
    argv = glue_argv("--bookmark", "none")
    assert batch_job.glue_settings(resolved(argv), argv).bookmark == "none"


def test_glue_keeps_the_input_in_the_columnar_cache_unless_told(batch_job: ModuleType) -> None:
    """An executor lost in Glue recomputes cached partitions; kept rows would fail the run (see `keep`)."""
    argv = glue_argv()
    assert batch_job.glue_settings(resolved(argv), argv).keep == "cache"
    argv = glue_argv("--keep", "rows")
    assert batch_job.glue_settings(resolved(argv), argv).keep == "rows"
    assert BatchSettings.from_job_arguments({"bucket": "/tmp/bucket", "sink": "none"}).keep == "rows"  # local


def test_outside_glue_the_script_points_at_the_local_command(
    batch_job: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch_job.main(["--bucket", "/tmp/bucket", "--sink", "none"]) == 2
    assert "opsanalytics batch" in capsys.readouterr().err


def test_writing_to_opensearch_needs_an_endpoint(batch_job: ModuleType) -> None:
    argv = ["--JOB_NAME", "batch", "--bucket", "s3://archive"]
    with pytest.raises(SettingsError, match="OpenSearch URL"):
        batch_job.glue_settings(resolved(argv), argv)
    argv.extend(["--sink", "none"])
    assert batch_job.glue_settings(resolved(argv), argv).sink == "none"


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "ap-south-1"}, "us-east-2"),
        ({"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        ({}, "eu-west-1"),
    ],
)
def test_region_from_the_environment_or_the_endpoint(batch_job: ModuleType, env: dict[str, str], region: str) -> None:
    settings = batch_job.glue_opensearch_settings(DOMAIN, {}, env)
    assert (settings.auth, settings.region, settings.service) == ("sigv4", region, "es")


def test_auth_argument(batch_job: ModuleType) -> None:
    custom = "https://search.example.com"
    assert batch_job.glue_opensearch_settings(custom, {}, {"AWS_REGION": "eu-west-1"}).auth == "none"
    signed = batch_job.glue_opensearch_settings(custom, {"opensearch_auth": "sigv4"}, {"AWS_REGION": "eu-west-1"})
    assert (signed.auth, signed.region) == ("sigv4", "eu-west-1")
    with pytest.raises(SettingsError, match="OPENSEARCH_AUTH"):
        batch_job.glue_opensearch_settings(DOMAIN, {"opensearch_auth": "basic"}, {})
    with pytest.raises(SettingsError, match="https"):
        batch_job.glue_opensearch_settings("http://10.0.0.5:9200", {"opensearch_auth": "sigv4"}, {"AWS_REGION": "x"})


def fake_spark(*, connector_jar: bool) -> Any:
    from py4j.protocol import Py4JError

    def load_class(name: str) -> str:
        if not connector_jar:
            raise Py4JError(f"java.lang.ClassNotFoundException: {name}")
        return name

    loader = SimpleNamespace(loadClass=load_class)
    thread = SimpleNamespace(currentThread=lambda: SimpleNamespace(getContextClassLoader=lambda: loader))
    return SimpleNamespace(
        sparkContext=SimpleNamespace(_jvm=SimpleNamespace(java=SimpleNamespace(lang=SimpleNamespace(Thread=thread))))
    )


def test_bulk_sink_signs_for_the_domain(batch_job: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)
    argv = glue_argv()
    settings = batch_job.glue_settings(resolved(argv), argv)
    with batch_job.glue_sink(fake_spark(connector_jar=False), settings, resolved(argv), {}) as sink:
        assert isinstance(sink, BulkSink)
        connection = sink.writer._transport.connection_pool.connections[0]
        assert (connection.host, connection.use_ssl) == (f"{DOMAIN}:443", True)
        assert connection.http_auth.service == "es"
        assert connection.http_auth.signer.region == "eu-west-1"


def test_connector_sink_needs_its_jar(batch_job: ModuleType) -> None:
    argv = glue_argv("--sink", "connector")
    settings = batch_job.glue_settings(resolved(argv), argv)
    missing = batch_job.glue_sink(fake_spark(connector_jar=False), settings, resolved(argv), {})
    with pytest.raises(SettingsError, match="--sink bulk"), missing:
        pass
    with batch_job.glue_sink(fake_spark(connector_jar=True), settings, resolved(argv), {}) as sink:
        assert isinstance(sink, ConnectorSink)
        assert sink.options["opensearch.aws.sigv4.region"] == "eu-west-1"


def test_sink_none_writes_nothing(batch_job: ModuleType) -> None:
    argv = glue_argv("--sink", "none")
    settings = batch_job.glue_settings(resolved(argv), argv)
    with batch_job.glue_sink(fake_spark(connector_jar=False), settings, resolved(argv), {}) as sink:
        assert isinstance(sink, NoSink)
