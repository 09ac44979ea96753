"""Entry point of the batch analytics job, AWS Glue 5.0 (PySpark 3.5), and of its local runs.

In Glue, `main` reads the job arguments with ``getResolvedOptions`` and runs `execute` on a `GlueRuntime`
(GlueContext, Job, the Glue job bookmark). ``opsanalytics batch`` (`opsanalytics.batch.local`) runs the same
`execute` on Spark local mode, with the local state-file bookmark: the sinks, the run and its commit are this
file's in both.

Where the documents go in Glue (``--sink``; given, it wins):

- ``bulk`` (the default without a connector jar): the core's `BulkWriter` from the driver, SigV4-signed
  (service ``es``) for an ``*.amazonaws.com`` endpoint or with ``--opensearch_auth sigv4``; the region from
  ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the endpoint. Needs opensearch-py
  (``--additional-python-modules``), no jar.
- ``connector`` (the default when ``--extra-jars`` names an ``opensearch-spark`` jar): the OpenSearch Spark
  connector; the job stops before reading anything if its classes are not on the classpath.
- ``none``: Parquet only.

With an OpenSearch sink the run also reads the realtime windows of the hours it recomputes
(``--realtime_index_prefix``, default ``metrics-realtime-``) and writes how many of their events they counted
(`opsanalytics.batch.accuracy`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, Protocol

from opsanalytics.batch.accuracy import OpenSearchWindowCounts, RealtimeWindowCounts
from opsanalytics.batch.job import BatchReport, PreparedRun, run
from opsanalytics.batch.settings import BatchSettings, Sink
from opsanalytics.batch.sinks import BulkSink, ConnectorSink, NoSink, connector_available
from opsanalytics.opensearch import BulkWriter, OpenSearchSettings, create_client
from opsanalytics.ports import Bookmark, DocumentSink
from opsanalytics.settings import SettingsError

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
    "realtime_index_prefix",
    "slo_config",
    "metrics_config",
    "top_signatures",
    "write_parquet",
    "keep",
    "close_delay_minutes",
)
GLUE_OPTIONAL: Final = ("opensearch_auth",)
"""Glue-only: ``none`` or ``sigv4`` (default: sigv4 for an ``*.amazonaws.com`` endpoint, else none)."""
CONNECTOR_JAR_NAME: Final = "opensearch-spark"


def glue_arguments(argv: Sequence[str]) -> dict[str, str] | None:
    """The resolved Glue job arguments, or None when not running in Glue."""
    if "--JOB_NAME" not in argv:
        return None
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return None
    # getResolvedOptions fails on a missing name: ask only for the optional ones that were given
    names = ["JOB_NAME", *REQUIRED, *(name for name in (*OPTIONAL, *GLUE_OPTIONAL) if f"--{name}" in argv)]
    # like sys.argv: getResolvedOptions skips the first element
    resolved: dict[str, str] = getResolvedOptions([sys.argv[0], *argv], names)
    return resolved


def _argument(argv: Sequence[str], name: str) -> str | None:
    """The value after ``--name`` in ``argv`` (Glue's own parameters such as ``--extra-jars`` included)."""
    flag = f"--{name}"
    for index, item in enumerate(argv):
        if item == flag and index + 1 < len(argv):
            return argv[index + 1]
        if item.startswith(f"{flag}="):
            return item[len(flag) + 1 :]
    return None


def default_glue_sink(argv: Sequence[str]) -> Sink:
    """The sink when ``--sink`` is not given: the connector when ``--extra-jars`` names its jar, else bulk."""
    jars = (_argument(argv, "extra-jars") or "").split(",")
    return "connector" if any(CONNECTOR_JAR_NAME in jar.rsplit("/", 1)[-1] for jar in jars) else "bulk"


def glue_settings(args: Mapping[str, str], argv: Sequence[str]) -> BatchSettings:
    """`BatchSettings` of a Glue run: the Glue bookmark, `default_glue_sink` and the columnar cache (``keep``:
    recomputed from S3 when an executor is lost) unless the arguments say otherwise."""
    given = {name: value for name, value in args.items() if value.strip()}
    defaults = {"bookmark": "glue", "sink": default_glue_sink(argv), "keep": "cache"}
    return BatchSettings.from_job_arguments({**defaults, **given})


def glue_opensearch_settings(url: str, args: Mapping[str, str], env: Mapping[str, str]) -> OpenSearchSettings:
    """The endpoint of a Glue run; Glue sets AWS_REGION or AWS_DEFAULT_REGION, the endpoint names one too."""
    region = env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "").strip()
    values = {"OPENSEARCH_URL": url, "AWS_REGION": region, "OPENSEARCH_AUTH": args.get("opensearch_auth", "")}
    if env.get("OPENSEARCH_TIMEOUT_SECONDS"):
        values["OPENSEARCH_TIMEOUT_SECONDS"] = env["OPENSEARCH_TIMEOUT_SECONDS"]
    return OpenSearchSettings.from_env(values)


@contextmanager
def glue_sink(
    spark: Any, settings: BatchSettings, args: Mapping[str, str], env: Mapping[str, str]
) -> Iterator[DocumentSink]:
    """The `DocumentSink` for ``settings.sink``; checks the connector's classes before the job reads anything."""
    if settings.sink == "none" or not settings.opensearch_url:
        yield NoSink()
        return
    os_settings = glue_opensearch_settings(settings.opensearch_url, args, env)
    if settings.sink == "connector":
        if not connector_available(spark):
            raise SettingsError(
                "--sink connector needs the opensearch-spark jar on the classpath (--extra-jars s3://.../"
                "opensearch-spark-35_2.12-<version>.jar); without one, use --sink bulk"
            )
        yield ConnectorSink(spark, os_settings)
        return
    client = create_client(os_settings)
    try:
        yield BulkSink(BulkWriter.for_client(client))
    finally:
        client.close()


@contextmanager
def glue_realtime_windows(
    settings: BatchSettings, args: Mapping[str, str], env: Mapping[str, str]
) -> Iterator[RealtimeWindowCounts | None]:
    """Where the run reads the realtime windows for its accuracy figures: the same OpenSearch it writes to
    (None with sink ``none``)."""
    if settings.sink == "none" or not settings.opensearch_url:
        yield None
        return
    client = create_client(glue_opensearch_settings(settings.opensearch_url, args, env))
    try:
        yield OpenSearchWindowCounts(client, settings.realtime_index_prefix)
    finally:
        client.close()


class JobRuntime(Protocol):
    """Where the job runs: its Spark session, the Glue bookmark when there is one, and the end of the job."""

    spark: Any

    def bookmark(self, settings: BatchSettings) -> Bookmark: ...

    def commit(self) -> None: ...


def execute(
    settings: BatchSettings,
    runtime: JobRuntime,
    *,
    args: Mapping[str, str],
    env: Mapping[str, str],
    prepared: PreparedRun | None = None,
    progress: Callable[[str], None] = print,
) -> BatchReport:
    """One run: the sink `settings` name, `opsanalytics.batch.job.run`, and the job's commit when every document
    was written (a Glue bookmark commits itself inside the run, after every output)."""
    bookmark = runtime.bookmark(settings) if settings.bookmark == "glue" else None
    with glue_sink(runtime.spark, settings, args, env) as sink, glue_realtime_windows(settings, args, env) as realtime:
        report = run(
            runtime.spark,
            settings,
            bookmark=bookmark,
            sink=sink,
            realtime=realtime,
            progress=progress,
            prepared=prepared,
        )
    if report.ok and settings.bookmark != "glue":
        runtime.commit()
    return report


def main_glue(args: dict[str, str], argv: Sequence[str]) -> BatchReport:
    from glue_runtime import GlueRuntime

    settings = glue_settings(args, argv)
    report = execute(settings, GlueRuntime(args), args=args, env=os.environ)
    print(report.summary())
    if not report.ok:
        raise SystemExit(f"{len(report.documents.failed)} documents were not written; the bookmark was not advanced")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = glue_arguments(argv)
    if args is None:
        print(
            "batch_job.py runs in AWS Glue (--JOB_NAME and the awsglue library); "
            "locally run the same job with `opsanalytics batch --help`",
            file=sys.stderr,
        )
        return 2
    return 0 if main_glue(args, argv).ok else 1


if __name__ == "__main__":
    sys.exit(main())
