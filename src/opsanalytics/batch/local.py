"""``opsanalytics batch``: the Glue batch job on Spark local mode over a bucket directory."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from opsanalytics.batch.settings import DEFAULT_REALTIME_INDEX_PREFIX
from opsanalytics.paths import default_metrics, load_script, project_root
from opsanalytics.settings import SettingsError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from opsanalytics.batch.job import BatchReport
    from opsanalytics.batch.settings import BatchSettings

NODE_HINT: Final = (
    "OPENSEARCH_URL is not set. Start the local OpenSearch node and export the URL it prints:\n"
    "    opsanalytics opensearch start\n"
    "    export OPENSEARCH_URL=http://127.0.0.1:9200\n"
    "or run with --no-opensearch to write Parquet only."
)
DEFAULT_SLO_CONFIG: Final = Path("config/slo.yaml")
_T = TypeVar("_T")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# For a short-lived JVM on few cores: C2 compiles only methods that stay hot (tier-4 thresholds 2 to 10 times
# HotSpot's defaults; the rest runs as C1 code), and ParallelGC, whose collections pause instead of marking
# beside the job. Measured on 2 cores, 1M events: 17-25 s for a run with HotSpot's defaults, most of it a cold
# JVM compiling (-XX:+CITime counted 18 of 34 CPU-s in JIT compilation).
SPARK_JAVA_OPTIONS: Final = (
    "-XX:+UseParallelGC",
    "-XX:Tier4InvocationThreshold=20000",
    "-XX:Tier4MinInvocationThreshold=6000",
    "-XX:Tier4CompileThreshold=30000",
    "-XX:Tier4BackEdgeThreshold=200000",
)


def local_spark_session(
    app_name: str = "opsanalytics-batch", cores: int = 2, shuffle_partitions: int = 4
) -> SparkSession:
    """Spark in local mode, sized for a laptop: few shuffle partitions (the aggregates are small), no UI, and
    `SPARK_JAVA_OPTIONS` for its JVM."""
    from pyspark.sql import SparkSession

    # the Python workers must run the interpreter that has opsanalytics installed
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(cores))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("OPSANALYTICS_SPARK_MEMORY", "2g"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.driver.extraJavaOptions", " ".join(["-Duser.timezone=UTC", *SPARK_JAVA_OPTIONS]))
        .getOrCreate()
    )


def _in_background(task: Callable[[], _T]) -> Future[_T]:
    """``task`` on a daemon thread: a Spark start that fails (or Ctrl-C) does not wait for it."""
    future: Future[_T] = Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(task())
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=target, name="batch-prepare", daemon=True).start()
    return future


class LocalRuntime:
    """The `JobRuntime` of ``glue/batch_job.py`` on Spark local mode: no Glue bookmark (the state file is the
    local one), nothing to commit."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def bookmark(self, settings: BatchSettings) -> Any:
        raise SettingsError("the Glue job bookmark exists only in Glue; locally use --bookmark state-file or none")

    def commit(self) -> None:
        pass


def glue_entry_point() -> ModuleType:
    """``glue/batch_job.py`` of the checkout, the script Glue runs."""
    return load_script(project_root() / "glue" / "batch_job.py", "opsanalytics_glue_batch_job")


def run_local_batch(settings: BatchSettings, *, spark: SparkSession | None = None) -> BatchReport:
    """Run the batch job through the Glue entry point (`execute`) on Spark local mode: the state-file bookmark,
    the bulk writer (or no sink). The input is listed and its gzip objects checked (`prepare`) while the Spark
    session starts."""
    from opsanalytics.batch.job import prepare

    if settings.sink == "connector":
        raise SettingsError(
            "sink 'connector' needs the opensearch-spark connector jar, which only the Glue job is given; "
            "locally the documents go through the bulk writer (sink 'bulk')"
        )
    entry_point = glue_entry_point()
    own_session = spark is None
    started = time.perf_counter()
    preparing = _in_background(lambda: prepare(settings, progress=_progress))
    session = spark or local_spark_session()
    startup = time.perf_counter() - started
    report: BatchReport | None = None
    try:
        report = entry_point.execute(
            settings,
            LocalRuntime(session),
            args={},
            env=os.environ,
            prepared=preparing.result(),
            progress=_progress,
        )
        # start-up ran beside plan and pre-scan: the stages overlap
        report.seconds = {"spark start-up": startup, **report.seconds}
        return report
    finally:
        if own_session:
            stopping = time.perf_counter()
            session.stop()
            if report is not None:
                report.seconds["spark stop"] = time.perf_counter() - stopping


def settings_from_args(args: argparse.Namespace, env: dict[str, str] | None = None) -> BatchSettings:
    from opsanalytics.batch.settings import BatchSettings, parse_time

    env = dict(os.environ) if env is None else env
    url = None if args.no_opensearch else (env.get("OPENSEARCH_URL", "").strip() or None)
    if not args.no_opensearch and url is None:
        raise SettingsError(NODE_HINT)
    slo_config = args.slo_config
    if slo_config is None and DEFAULT_SLO_CONFIG.is_file():
        slo_config = DEFAULT_SLO_CONFIG
    metrics_config = args.metrics_config or default_metrics()
    return BatchSettings(
        bucket=str(args.bucket.resolve()),
        from_time=parse_time(args.from_time) if args.from_time else None,
        to_time=parse_time(args.to_time) if args.to_time else None,
        full=args.full,
        sink="none" if url is None else "bulk",
        opensearch_url=url,
        slo_config=slo_config,
        metrics_config=metrics_config,
        top_signatures=args.top_signatures,
        close_delay_minutes=args.close_delay_minutes,
        realtime_index_prefix=args.realtime_index_prefix,
    )


def cmd_batch(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not (args.bucket / "events").is_dir():
        print(f"no events/ under {args.bucket}: run `opsanalytics demo` first or give --bucket", file=sys.stderr)
        return 2
    started = time.perf_counter()
    _progress(f"batch job on Spark local mode over {args.bucket}")
    report = run_local_batch(settings)
    print(report.summary())
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0 if report.ok else 1


def add_batch_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``batch`` to the ``opsanalytics`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "batch",
        help="run the batch analytics job (PySpark) over a bucket directory",
        description="Run the Glue batch job on Spark local mode: hourly and daily roll-ups, top error "
        "signatures, SLO and Lambda efficiency reports and the declared metrics from BUCKET/events/, written to "
        "OpenSearch (OPENSEARCH_URL) and as Parquet under BUCKET/curated/rollups/. Without --from/--to or --full only "
        "the hours the events of new files fall in are recomputed, and a day's reports once the day has closed "
        "(state in BUCKET/_state/).",
    )
    parser.add_argument("--bucket", type=Path, default=Path(".local/demo/bucket"), help="bucket directory")
    parser.add_argument(
        "--from", dest="from_time", metavar="ISO", help="start of the time range (UTC unless an offset is given)"
    )
    parser.add_argument("--to", dest="to_time", metavar="ISO", help="end of the time range (exclusive)")
    parser.add_argument(
        "--full", action="store_true", help="recompute every hour and day, closed or not, ignoring the bookmark"
    )
    parser.add_argument(
        "--close-delay-minutes",
        type=int,
        default=60,
        help="a day's reports are computed this long after the day ends (default 60)",
    )
    parser.add_argument("--no-opensearch", action="store_true", help="write Parquet only")
    parser.add_argument("--slo-config", type=Path, default=None, help="SLO objectives (default config/slo.yaml)")
    parser.add_argument(
        "--metrics-config", type=Path, default=None, help="declared metrics (default config/metrics.yaml)"
    )
    parser.add_argument("--top-signatures", type=int, default=50, help="error signatures kept per day (default 50)")
    parser.add_argument(
        "--realtime-index-prefix",
        default=DEFAULT_REALTIME_INDEX_PREFIX,
        help="indices of the realtime windows whose counts the run checks against its own "
        f"(default {DEFAULT_REALTIME_INDEX_PREFIX}, the realtime job's)",
    )
    parser.set_defaults(func=cmd_batch)
    return parser
