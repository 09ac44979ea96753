"""Entry point of the batch analytics job: AWS Glue 5.0 (PySpark 3.5), or Spark local mode.

In Glue the job arguments come from ``getResolvedOptions`` (``--JOB_NAME`` is present); locally the same
names are parsed with argparse, e.g.::

    python glue/batch_job.py --bucket .local/demo/bucket --sink none
    python glue/batch_job.py --bucket .local/demo/bucket --sink bulk --opensearch_url http://127.0.0.1:9200

Both build `BatchSettings` from the same strings and call `opsanalytics.batch.job.run`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Final

from opsanalytics.batch.job import BatchReport, run
from opsanalytics.batch.settings import BatchSettings
from opsanalytics.batch.sinks import ConnectorSink, DocumentSink, NoSink
from opsanalytics.opensearch import OpenSearchSettings

REQUIRED: Final = ("bucket",)
OPTIONAL: Final = (
    "events_prefix",
    "curated_prefix",
    "bookmark",
    "from",
    "to",
    "full",
    "sink",
    "opensearch_url",
    "index_suffix",
    "slo_config",
    "top_signatures",
    "write_parquet",
)


def parse_local_arguments(argv: Sequence[str]) -> dict[str, str]:
    """The Glue job arguments, parsed locally: ``--name value`` pairs, names as in Glue."""
    parser = argparse.ArgumentParser(prog="batch_job.py", description=__doc__.split("\n\n")[0])
    for name in REQUIRED:
        parser.add_argument(f"--{name}", required=True)
    for name in OPTIONAL:
        parser.add_argument(f"--{name}", default="")
    return {key: value for key, value in vars(parser.parse_args(list(argv))).items() if value}


def glue_arguments(argv: Sequence[str]) -> dict[str, str] | None:
    """The resolved Glue job arguments, or None when not running in Glue."""
    if "--JOB_NAME" not in argv:
        return None
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return None
    # getResolvedOptions fails on a missing name: ask only for the optional ones that were given
    names = ["JOB_NAME", *REQUIRED, *(name for name in OPTIONAL if f"--{name}" in argv)]
    # like sys.argv: getResolvedOptions skips the first element
    resolved: dict[str, str] = getResolvedOptions([sys.argv[0], *argv], names)
    return resolved


def _connector_sink(spark: object, settings: BatchSettings) -> DocumentSink:
    if settings.sink != "connector" or not settings.opensearch_url:
        return NoSink()
    os_settings = OpenSearchSettings.from_env({**os.environ, "OPENSEARCH_URL": settings.opensearch_url})
    return ConnectorSink(spark, os_settings)


def main_glue(args: dict[str, str]) -> BatchReport:
    from glue_runtime import GlueRuntime

    settings = BatchSettings.from_job_arguments({"bookmark": "glue", "sink": "connector", **args})
    runtime = GlueRuntime(args)
    bookmark = runtime.bookmark(settings) if settings.bookmark == "glue" else None
    report = run(
        runtime.spark, settings, bookmark=bookmark, sink=_connector_sink(runtime.spark, settings), progress=print
    )
    print(report.summary())
    if not report.ok:
        raise SystemExit(f"{len(report.documents.failed)} documents were not written; the bookmark was not advanced")
    if settings.bookmark != "glue":
        runtime.commit()
    return report


def main_local(args: dict[str, str]) -> BatchReport:
    from opsanalytics.local.batch import run_local_batch

    settings = BatchSettings.from_job_arguments(args)
    report = run_local_batch(settings)
    print(report.summary())
    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = glue_arguments(argv)
    report = main_glue(args) if args is not None else main_local(parse_local_arguments(argv))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
