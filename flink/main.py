"""Managed Service for Apache Flink entry point of the realtime metrics job (``python`` run option).

In AWS the property groups come from ``/etc/flink/application_properties.json``; anywhere else from the file a
local run names (``opsanalytics realtime`` writes one for its input and output), by default the
``application_properties.json`` next to this file. Relative local paths resolve against the file's directory.
The application zip holds this file at its root, ``lib/pyflink-dependencies.jar`` (``jarfile``),
``python-deps/`` (``pyFiles``: the ``opsanalytics`` package and compiled dependencies such as orjson, on the
PYTHONPATH of the client and of the Python workers) and ``connector.json`` (which Kinesis connector build
the jar holds). The job itself is `opsanalytics.realtime.flink`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

APP_DIR = Path(__file__).resolve().parent
if (APP_DIR / "python-deps").is_dir():
    # Managed Flink puts pyFiles on the PYTHONPATH; this covers running main.py from an unpacked zip.
    sys.path.insert(0, str(APP_DIR / "python-deps"))

from opsanalytics.realtime.flink import build_statements, create_environment  # noqa: E402
from opsanalytics.realtime.job import (  # noqa: E402
    MANAGED_FLINK_PROPERTIES,
    load_property_groups,
    settings_from_properties,
)


def submit(properties: Path | None = None, configuration: dict[str, str] | None = None) -> Any:
    """Read the property groups (Managed Flink's file in AWS; else `properties`, by default the
    ``application_properties.json`` beside this file), build the job and submit it; its ``TableResult``.
    A local run may add Flink `configuration` (``execution.savepoint.path`` to restore a snapshot, as Managed
    Flink does on an update)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    in_aws = MANAGED_FLINK_PROPERTIES.is_file()
    if in_aws:
        properties = MANAGED_FLINK_PROPERTIES
    elif properties is None:
        properties = APP_DIR / "application_properties.json"
    connector_file = APP_DIR / "connector.json"
    hint = json.loads(connector_file.read_text())["generation"] if connector_file.is_file() else None
    base = APP_DIR if in_aws else properties.parent
    settings = settings_from_properties(load_property_groups(properties), base=base, connector_hint=hint)
    jar = APP_DIR / "lib" / "pyflink-dependencies.jar"
    configuration = dict(configuration or {})
    if not in_aws:
        configuration["python.executable"] = sys.executable
        if jar.is_file():
            configuration["pipeline.jars"] = jar.as_uri()
    _env, t_env = create_environment(settings, configuration=configuration)
    return build_statements(t_env, settings).execute()


def main(properties: Path | None = None) -> None:
    result = submit(properties)
    if not MANAGED_FLINK_PROPERTIES.is_file():
        # Managed Flink watches the submitted job itself; a local run waits for the bounded input to end.
        result.wait()


if __name__ == "__main__":
    # a local run may name its properties file: python main.py [application_properties.json]
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None)
