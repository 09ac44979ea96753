"""Managed Service for Apache Flink entry point of the realtime metrics job (``python`` run option).

In AWS the property groups come from ``/etc/flink/application_properties.json``; anywhere else from the
``application_properties.json`` next to this file (relative local paths resolve against this directory).
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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    in_aws = MANAGED_FLINK_PROPERTIES.is_file()
    properties = MANAGED_FLINK_PROPERTIES if in_aws else APP_DIR / "application_properties.json"
    connector_file = APP_DIR / "connector.json"
    hint = json.loads(connector_file.read_text())["generation"] if connector_file.is_file() else None
    settings = settings_from_properties(load_property_groups(properties), base=APP_DIR, connector_hint=hint)
    jar = APP_DIR / "lib" / "pyflink-dependencies.jar"
    configuration = {}
    if not in_aws:
        configuration["python.executable"] = sys.executable
        if jar.is_file():
            configuration["pipeline.jars"] = jar.as_uri()
    _env, t_env = create_environment(settings, configuration=configuration)
    result = build_statements(t_env, settings).execute()
    if not in_aws:
        # Managed Flink watches the submitted job itself; a local run waits for the bounded input to end.
        result.wait()


if __name__ == "__main__":
    main()
