"""The local Spark JVM's options: the tuning, the class-data-sharing archive when built, the override."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsanalytics.engines import spark_jvm


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(spark_jvm.OPTIONS_VARIABLE, raising=False)


@pytest.mark.usefixtures("no_override")
def test_the_archive_is_used_once_it_exists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    archive = tmp_path / "spark-0123456789abcdef.jsa"
    monkeypatch.setattr(spark_jvm, "archive_path", lambda: archive)

    assert spark_jvm.java_options() == list(spark_jvm.TUNING)
    archive.write_bytes(b"archive")
    assert spark_jvm.java_options() == [*spark_jvm.TUNING, f"-XX:SharedArchiveFile={archive}"]


@pytest.mark.usefixtures("no_override")
def test_no_java_means_no_archive(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(spark_jvm, "java_binary", lambda: None)

    assert spark_jvm.archive_path() is None
    assert spark_jvm.java_options() == list(spark_jvm.TUNING)
    assert spark_jvm.build_archive() is None
    assert "no java found" in capsys.readouterr().err


def test_the_variable_replaces_every_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(spark_jvm.OPTIONS_VARIABLE, "-Xmx3g  -XX:+UseSerialGC")
    assert spark_jvm.java_options() == ["-Xmx3g", "-XX:+UseSerialGC"]
    monkeypatch.setenv(spark_jvm.OPTIONS_VARIABLE, "")
    assert spark_jvm.java_options() == []


def test_the_archive_key_follows_the_jdk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Another JDK (or the same path after an upgrade) gets another archive file."""
    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    (jdk / "release").write_text('JAVA_VERSION="17.0.16"\n')
    monkeypatch.setenv("JAVA_HOME", str(jdk))

    first = spark_jvm.archive_key()
    assert first is not None and first == spark_jvm.archive_key()
    (jdk / "release").write_text('JAVA_VERSION="17.0.17"\n')
    assert spark_jvm.archive_key() not in (None, first)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "missing"))
    assert spark_jvm.archive_key() is None
