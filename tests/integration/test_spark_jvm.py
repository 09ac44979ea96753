"""The class-data-sharing archive of the local Spark JVM builds, and a local session maps it: Spark's own
classes come from the archive, not from their jars."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opsanalytics.engines import spark_jvm

pytestmark = pytest.mark.integration

SESSION = """
import sys
from opsanalytics.engines import spark_jvm
from opsanalytics.local.batch import local_spark_session

options = [*spark_jvm.java_options(), f"-Xlog:class+load=info:file={sys.argv[1]}"]
spark = local_spark_session(app_name="opsanalytics-cds-check", java_options=options)
print(spark.range(1000).count())
spark.stop()
"""


def test_a_local_session_maps_the_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(spark_jvm.OPTIONS_VARIABLE, raising=False)
    archive = spark_jvm.build_archive()  # `make test` built it already; otherwise this builds it (~30 s)
    assert archive is not None and archive.stat().st_size > 0
    assert f"-XX:SharedArchiveFile={archive}" in spark_jvm.java_options()

    log = tmp_path / "class-load.log"
    # a process of its own: PySpark keeps one JVM per process, with the options of the first session
    result = subprocess.run(
        [sys.executable, "-c", SESSION, str(log)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "1000"
    loaded = log.read_text()
    assert "org.apache.spark.SparkContext source: shared objects file (top)" in loaded
    assert "Unable to use shared archive" not in result.stdout + result.stderr
