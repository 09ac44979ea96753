"""Layout of the Managed Flink application zip (`flink/build_zip.py`)."""

from __future__ import annotations

import importlib.util
import json
import os
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT_ZIP = ROOT / "build" / "flink" / "opsanalytics-realtime.zip"


def _build_zip_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_zip", ROOT / "flink" / "build_zip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_layout(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {
            "main.py",
            "lib/pyflink-dependencies.jar",
            "application_properties.json",
            "connector.json",
            "config/parsers.yaml",
            "config/metrics.yaml",
        } <= names
        for module in (
            "__init__",
            "logevents/cloudwatch",
            "logevents/parsing",
            "logevents/rules",
            "logevents/model",
            "realtime/windows",
            "realtime/job",
            "realtime/declared",
            "realtime/flink",
        ):
            assert f"python-deps/opsanalytics/{module}.py" in names
        assert "python-deps/orjson/__init__.py" in names or any(n.startswith("python-deps/orjson/") for n in names)
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert not any(n.startswith(("src/", "flink/")) for n in names), "main.py sits at the root"
        groups = {
            g["PropertyGroupId"]: g["PropertyMap"] for g in json.loads(archive.read("application_properties.json"))
        }
        run_options = groups["kinesis.analytics.flink.run.options"]
        assert run_options["python"] in names and run_options["jarfile"] in names
        assert any(n.startswith(run_options["pyFiles"]) for n in names)
        assert groups["job"]["parser.rules"] in names  # the rule file, where the zip has it
        assert json.loads(archive.read("connector.json"))["generation"] in (4, 5)


def _jar_and_wheels(build_zip: ModuleType, directory: Path) -> tuple[Path, Path]:
    """A connector jar with the legacy (4.x) connector class, and a wheel directory holding an orjson wheel."""
    jar = directory / "pyflink-dependencies.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr(build_zip.LEGACY_CONNECTOR_CLASS, b"")
    wheels = directory / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "orjson-3.13.0-cp311-cp311-manylinux_2_17_x86_64.whl", "w") as wheel:
        wheel.writestr("orjson/__init__.py", "")
        wheel.writestr("orjson-3.13.0.dist-info/METADATA", "Name: orjson\n")
    with zipfile.ZipFile(wheels / "google_re2-1.1-3-cp311-cp311-manylinux2014_x86_64.whl", "w") as wheel:
        wheel.writestr("re2.py", "")
        wheel.writestr("google_re2-1.1.dist-info/METADATA", "Name: google-re2\n")
    return jar, wheels


def test_zip_layout_from_a_jar_and_a_wheel(tmp_path: Path) -> None:
    build_zip = _build_zip_module()
    jar, wheels = _jar_and_wheels(build_zip, tmp_path)
    output = build_zip.build_zip(tmp_path / "app.zip", jar=jar, wheel_dir=wheels)
    assert_layout(output)
    with zipfile.ZipFile(output) as archive:
        assert json.loads(archive.read("connector.json"))["generation"] == 4


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    """The deploy uploads the zip under its content hash: a rebuild of unchanged inputs is the same object."""
    build_zip = _build_zip_module()
    jar, wheels = _jar_and_wheels(build_zip, tmp_path)
    first = build_zip.build_zip(tmp_path / "first.zip", jar=jar, wheel_dir=wheels).read_bytes()
    os.utime(jar, (1_600_000_000, 1_600_000_000))  # another time, the same content
    second = build_zip.build_zip(tmp_path / "second.zip", jar=jar, wheel_dir=wheels).read_bytes()
    assert first == second


@pytest.mark.skipif(not BUILT_ZIP.is_file(), reason="build it with `python flink/build_zip.py`")
def test_built_zip_layout() -> None:
    assert_layout(BUILT_ZIP)
    with zipfile.ZipFile(BUILT_ZIP) as archive:
        assert any(n.startswith("python-deps/orjson/") and n.endswith(".so") for n in archive.namelist())
        assert {"python-deps/re2.py"} <= set(archive.namelist())
        assert any(n.startswith("python-deps/_re2.") and n.endswith(".so") for n in archive.namelist())


def test_the_legacy_connector_is_refused_unless_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """4.3.0-1.19 is built for Flink 1.19 and its state does not restore into 5.x: never used silently."""
    build_zip = _build_zip_module()
    jar, wheels = _jar_and_wheels(build_zip, tmp_path)
    monkeypatch.setattr(build_zip, "JAR", jar)
    monkeypatch.setattr(build_zip, "download_wheels", lambda directory: None)
    output = tmp_path / "app.zip"
    arguments = ["--skip-maven", "--output", str(output), "--wheel-dir", str(wheels)]
    monkeypatch.delenv(build_zip.LEGACY_OPT_IN_VARIABLE, raising=False)
    with pytest.raises(SystemExit, match=f"set {build_zip.LEGACY_OPT_IN_VARIABLE}=flink-connector-kinesis:4.3.0-1.19"):
        build_zip.main(arguments)
    assert not output.exists(), "no zip is left to deploy"
    monkeypatch.setenv(build_zip.LEGACY_OPT_IN_VARIABLE, build_zip.LEGACY_OPT_IN_VALUE)
    assert build_zip.main(arguments) == 0
    with zipfile.ZipFile(output) as archive:
        assert json.loads(archive.read("connector.json"))["artifact"].endswith(":4.3.0-1.19")


def test_the_intended_connector_is_the_flink_1_20_build_with_the_shard_split_fix() -> None:
    build_zip = _build_zip_module()
    assert build_zip.CONNECTORS[5] == "org.apache.flink:flink-connector-aws-kinesis-streams:5.1.0-1.20"
    assert (
        "<kinesis.connector.version>5.1.0-1.20</kinesis.connector.version>"
        in (ROOT / "java" / "connectors" / "pom.xml").read_text()
    )


def test_ci_opts_in_to_the_legacy_connector_its_registry_needs() -> None:
    build_zip = _build_zip_module()
    assert (
        f"export {build_zip.LEGACY_OPT_IN_VARIABLE}={build_zip.LEGACY_OPT_IN_VALUE}"
        in (ROOT / ".ci" / "run").read_text()
    )
