"""Build the Managed Service for Apache Flink application zip of the realtime metrics job.

    python flink/build_zip.py [--output ZIP] [--skip-maven] [--wheel-dir DIR]

(default output: build/flink/opsanalytics-realtime.zip)

Layout (what Managed Flink's Python runtime expects, plus what the job needs at run time):

    main.py                          the ``python`` run option
    lib/pyflink-dependencies.jar     the ``jarfile`` run option: the shaded Kinesis table connector
    connector.json                   the Kinesis connector build in the jar (the job picks its table options)
    application_properties.json      the local copy of the property groups, for reference
    config/parsers.yaml              the declared parser and masking rules (``job.parser.rules``)
    config/metrics.yaml              the declared metrics (``job.metrics``)
    python-deps/                     the ``pyFiles`` run option: on the PYTHONPATH of the client and the workers
      opsanalytics/                  the shared core (decoder, parser, metric definitions, job wiring)
      orjson/, re2.py ...            runtime dependencies the core imports that the Flink runtime lacks

The core imports orjson and, for declared parser and masking rules, google-re2 beyond the standard library on the
job's path (cloudwatch, parsing, rules). Both are compiled, so ``python-deps`` holds their manylinux x86_64
CPython 3.11 wheels unpacked: Managed Flink 1.20 runs Python 3.11 on x86_64 Amazon Linux. PyFlink itself is
provided by the runtime and is not bundled.

The jar: ``mvn -Pkinesis-5`` builds flink-connector-aws-kinesis-streams 5.1.0-1.20, the build for Flink 1.20 (5.1.0
fixes a data-loss bug at shard splits, FLINK-37627). flink-connector-kinesis 4.3.0-1.19 (``mvn`` without the
profile) is built for Flink 1.19 and its state does not restore into 5.x: the build uses it only when
``OPSANALYTICS_FLINK_CONNECTOR=flink-connector-kinesis:4.3.0-1.19`` says so (a registry that serves no 5.x build,
as the one this repository's CI runs against), and refuses a zip that holds it otherwise. ``--skip-maven``
packages the jar already built under java/connectors/target, under the same rule. The zip records the connector
in connector.json, and the build prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POM = ROOT / "java" / "connectors" / "pom.xml"
JAR = ROOT / "java" / "connectors" / "target" / "pyflink-dependencies.jar"
DEFAULT_OUTPUT = ROOT / "build" / "flink" / "opsanalytics-realtime.zip"
PACKAGE = ROOT / "src" / "opsanalytics"
# Runtime dependencies the job's Python code imports, with the requirement pin they come from.
VENDORED = ("orjson", "google-re2")
# Present only in flink-connector-kinesis 4.x (the legacy consumer was removed in 5.0).
LEGACY_CONNECTOR_CLASS = "org/apache/flink/streaming/connectors/kinesis/FlinkKinesisConsumer.class"
CONNECTORS = {
    5: "org.apache.flink:flink-connector-aws-kinesis-streams:5.1.0-1.20",
    4: "org.apache.flink:flink-connector-kinesis:4.3.0-1.19",
}
ZIP_PARSER_RULES = "config/parsers.yaml"
"""Where the zip carries config/parsers.yaml, relative to main.py: the template's ``job.parser.rules``."""
ZIP_METRICS = "config/metrics.yaml"
"""And config/metrics.yaml: the template's ``job.metrics``."""
LEGACY_OPT_IN_VARIABLE = "OPSANALYTICS_FLINK_CONNECTOR"
LEGACY_OPT_IN_VALUE = "flink-connector-kinesis:4.3.0-1.19"


def legacy_connector_allowed() -> bool:
    return os.environ.get(LEGACY_OPT_IN_VARIABLE, "").strip() == LEGACY_OPT_IN_VALUE


class ConnectorRefused(SystemExit):
    """The 4.x connector without the opt-in: a zip the running application's state might not restore from."""


def refuse_legacy(reason: str) -> ConnectorRefused:
    return ConnectorRefused(
        f"build_zip: {reason}. The zip would hold {CONNECTORS[4]}, built for Flink 1.19, whose state does not "
        f"restore into the 5.x connector: use a Maven registry that serves {CONNECTORS[5]} (Maven Central does), "
        f"or set {LEGACY_OPT_IN_VARIABLE}={LEGACY_OPT_IN_VALUE} to build with it knowingly."
    )


def _warn(message: str) -> None:
    print(f"build_zip: WARNING: {message}", file=sys.stderr, flush=True)


def build_connector_jar() -> Path:
    """Build the shaded connector jar: the 5.x profile; the 4.x default only when opted in."""
    base = ["mvn", "-q", "-B", "-f", str(POM), "package"]
    first = subprocess.run([*base, "-Pkinesis-5"], check=False, capture_output=True, text=True)  # noqa: S603
    if first.returncode != 0:
        reason = next((line for line in first.stdout.splitlines() if "[ERROR]" in line), "mvn failed")
        reason = f"{CONNECTORS[5]} could not be built ({reason.strip()[:300]})"
        if not legacy_connector_allowed():
            raise refuse_legacy(reason)
        _warn(f"{reason}; {LEGACY_OPT_IN_VARIABLE} chooses {CONNECTORS[4]}")
        subprocess.run(base, check=True)  # noqa: S603
    return JAR


def connector_generation(jar: Path) -> int:
    with zipfile.ZipFile(jar) as archive:
        return 4 if LEGACY_CONNECTOR_CLASS in archive.namelist() else 5


def pinned_version(name: str, requirements: Path = ROOT / "requirements.txt") -> str:
    """The ``==`` pin of `name` in the runtime requirements (following ``-r`` includes)."""
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            try:
                return pinned_version(name, requirements.parent / line[3:].strip())
            except LookupError:
                continue
        if "==" in line and line.split("==")[0].strip().lower() == name:
            return line.split("==", 1)[1].split(";")[0].strip()
    raise LookupError(f"{name} is not pinned in {requirements}")


def _wheel_name(name: str) -> str:
    """A distribution's name as wheel file names spell it (``google-re2`` → ``google_re2``)."""
    return name.replace("-", "_")


def download_wheels(directory: Path) -> None:
    """manylinux x86_64 cp311 wheels of the vendored dependencies (pip, from the package index)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in VENDORED:
        if any(directory.glob(f"{_wheel_name(name)}-{pinned_version(name)}-*.whl")):
            continue
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "manylinux2014_x86_64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "-d",
                str(directory),
                f"{name}=={pinned_version(name)}",
            ],
            check=True,
        )


# Entries carry a fixed time and mode, so the same inputs give the same bytes: the deploy uploads the zip under
# its content hash, and an unchanged build must not look like a new application version.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    entry = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
    entry.external_attr = 0o644 << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(entry, data)


def _add_file(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    _write(archive, name, path.read_bytes())


def _add_tree(archive: zipfile.ZipFile, source: Path, prefix: str) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            _add_file(archive, path, f"{prefix}/{path.relative_to(source).as_posix()}")


def zip_properties() -> bytes:
    """flink/application_properties.json as the zip carries it: the rule and metrics files where the zip has them
    (the local copy names the checkout's ``config/``, one directory up)."""
    groups = json.loads((ROOT / "flink" / "application_properties.json").read_text())
    for group in groups:
        if group["PropertyGroupId"] == "job":
            group["PropertyMap"]["parser.rules"] = ZIP_PARSER_RULES
            group["PropertyMap"]["metrics"] = ZIP_METRICS
    return (json.dumps(groups, indent=2) + "\n").encode()


def build_zip(output: Path, *, jar: Path, wheel_dir: Path) -> Path:
    """Assemble the application zip from a built jar and a directory of the vendored wheels."""
    output.parent.mkdir(parents=True, exist_ok=True)
    generation = connector_generation(jar)
    with (
        tempfile.TemporaryDirectory() as scratch,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        _add_file(archive, ROOT / "flink" / "main.py", "main.py")
        _write(archive, "application_properties.json", zip_properties())
        _add_file(archive, ROOT / "config" / "parsers.yaml", ZIP_PARSER_RULES)
        _add_file(archive, ROOT / "config" / "metrics.yaml", ZIP_METRICS)
        _add_file(archive, jar, "lib/pyflink-dependencies.jar")
        connector = {"generation": generation, "artifact": CONNECTORS[generation]}
        _write(archive, "connector.json", json.dumps(connector).encode())
        _add_tree(archive, PACKAGE, "python-deps/opsanalytics")
        for name in VENDORED:
            wheels = sorted(wheel_dir.glob(f"{_wheel_name(name)}-{pinned_version(name)}-*.whl"))
            if not wheels:
                raise SystemExit(f"build_zip: no {name} wheel in {wheel_dir}")
            unpacked = Path(scratch) / name
            with zipfile.ZipFile(wheels[-1]) as wheel:
                wheel.extractall(unpacked)
            _add_tree(archive, unpacked, "python-deps")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Managed Flink application zip of the realtime job.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--skip-maven", action="store_true", help="package the jar already built")
    parser.add_argument("--wheel-dir", type=Path, default=ROOT / "build" / "flink" / "wheels")
    args = parser.parse_args(argv)
    jar = JAR if args.skip_maven else build_connector_jar()
    if not jar.is_file():
        raise SystemExit(f"build_zip: {jar} is missing: run `mvn -q -B -f {POM} package`")
    download_wheels(args.wheel_dir)
    output = build_zip(args.output, jar=jar, wheel_dir=args.wheel_dir)
    generation = connector_generation(jar)
    if generation != 5:
        if not legacy_connector_allowed():
            output.unlink()
            raise refuse_legacy(f"{jar} holds {CONNECTORS[generation]}")
        _warn(f"the zip holds {CONNECTORS[generation]}, not {CONNECTORS[5]} ({LEGACY_OPT_IN_VARIABLE})")
    size = output.stat().st_size / 1e6
    print(f"built {output} ({size:.1f} MB, Kinesis connector {CONNECTORS[generation]})")
    return 0


if __name__ == "__main__":
    shutil.which("mvn") or print("build_zip: mvn is not on PATH", file=sys.stderr)
    raise SystemExit(main())
