"""The ``opsanalytics`` command: run the pipeline, or one stage of it, locally."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsanalytics import __version__
from opsanalytics.batch.local import add_batch_command
from opsanalytics.check import add_check_config_command
from opsanalytics.local import opensearch_node
from opsanalytics.logindex.settings import DEFAULT_NUMERIC_ATTRIBUTES, INDEX_LEVELS
from opsanalytics.paths import project_root
from opsanalytics.realtime.local import add_realtime_command


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _add_samples_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=int, default=45, help="minutes of traffic to generate (default 45)")
    parser.add_argument("--scale", type=float, default=1.0, help="traffic multiplier (default 1.0)")
    parser.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same logs")


def cmd_samples(args: argparse.Namespace) -> int:
    from opsanalytics.local.delivery import DelayDistribution, deliver
    from opsanalytics.local.samples import generate_sample_batches
    from opsanalytics.streams import write_shards, write_stream

    batches = generate_sample_batches(minutes=args.minutes, scale=args.scale, seed=args.seed)
    if args.shards or args.delay_seconds:
        try:
            delays = DelayDistribution.parse(args.delay_seconds or "0-0")
        except ValueError as exc:
            raise SystemExit(f"--delay-seconds: {exc}") from None
        shards = deliver(batches, args.shards or 1, delays, seed=args.seed)
        count = write_shards(args.out, shards)
        _progress(
            f"wrote {count} subscription records to {args.out}: {len(shards)} shards, delivered "
            f"{delays.minimum:g}-{delays.maximum:g} s late, each shard in arrival order"
        )
        return 0
    count = write_stream(args.out, (batch.payload() for batch in batches))
    _progress(f"wrote {count} subscription records to {args.out}")
    return 0


def cmd_transform(args: argparse.Namespace) -> int:
    from opsanalytics.local.pipeline import run_transform_stage

    report = run_transform_stage(args.input, args.bucket, buffer_bytes=int(args.buffer_mb * 1_000_000))
    print(report.summary())
    return 0 if report.firehose.records_in else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from opsanalytics.local.pipeline import run_demo

    started = time.perf_counter()
    report = run_demo(
        args.workdir,
        minutes=args.minutes,
        scale=args.scale,
        seed=args.seed,
        log_index_level=args.log_index_level,
        **_opensearch_options(args),
    )
    return _finish(report.summary(), started, args.workdir)


def cmd_replay(args: argparse.Namespace) -> int:
    from opsanalytics.local.pipeline import run_replay
    from opsanalytics.logindex.settings import numeric_attributes

    start_ms = None
    if args.start:
        from opsanalytics.logevents.parsing import parse_timestamp

        start_ms = parse_timestamp(args.start)
        if start_ms is None:
            raise ValueError(f"--start {args.start!r} is not an ISO-8601 time")
    started = time.perf_counter()
    report = run_replay(
        args.paths,
        args.workdir,
        log_group=args.log_group,
        start_ms=start_ms,
        interval_ms=args.interval_ms,
        log_index_level=args.log_index_level,
        numeric_attributes=numeric_attributes(tuple(args.numeric_attributes.split(",")), "--numeric-attributes"),
        **_opensearch_options(args),
    )
    return _finish(report.summary(), started, args.workdir)


def _finish(summary: str, started: float, workdir: Path) -> int:
    print(summary)
    print(f"\ndone in {time.perf_counter() - started:.1f} s; outputs under {workdir}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import boto3

    from opsanalytics.deploy.verify import Clients, Timeouts, verify

    session = boto3.Session(region_name=args.region)
    clients = Clients(*(session.client(name) for name in ("cloudformation", "logs", "s3", "sns", "sqs")))
    seconds = args.timeout_minutes * 60
    report = verify(args.stack, clients, timeouts=Timeouts(seconds, seconds, seconds), keep=args.keep)
    print(report.summary())
    return 0 if report.ok else 1


def _opensearch_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "opensearch_url": args.opensearch_url,
        "opensearch_port": args.opensearch_port,
        "keep_opensearch": args.keep_opensearch,
    }


def _add_opensearch_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--opensearch-url",
        help="use this cluster (default: $OPENSEARCH_URL, else a local node started for the run)",
    )
    parser.add_argument("--opensearch-port", type=int, default=9200, help="port of the local node (default 9200)")
    parser.add_argument(
        "--keep-opensearch",
        action="store_true",
        help="leave the local node running afterwards (stop it with `opsanalytics opensearch stop`)",
    )
    parser.add_argument(
        "--log-index-level",
        choices=INDEX_LEVELS,
        default="all",
        help="which lines the log indexer indexes: all (default here; a deploy defaults to warn), warn "
        "(warnings and errors), error, or none",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsanalytics",
        description="CloudWatch Logs → operational analytics. Runs the pipeline locally on real engines.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="sample logs through the local pipeline, with a summary",
        description="Generate sample CloudWatch Logs traffic (with an incident on checkout) and run it through "
        "the local pipeline on real engines: logs stream → Firehose transformer → bucket directory, and logs "
        "stream → Flink → metrics stream → metrics Lambda → OpenSearch and alert notifications (outbox).",
    )
    _add_opensearch_args(demo)
    demo.add_argument(
        "--workdir", type=Path, default=Path(".local/demo"), help="where outputs go (default .local/demo)"
    )
    _add_samples_args(demo)
    demo.set_defaults(func=cmd_demo)

    replay = sub.add_parser(
        "replay",
        help="your own log files through the local pipeline",
        description="Pack your log files into CloudWatch Logs subscription payloads, as a subscription filter "
        "would, and run them through the same stages as demo. Accepts plain text or JSON lines (one event per "
        "line; lines starting with whitespace continue the previous event), CloudWatch Logs exports, and the "
        "JSON of `aws logs filter-log-events`.",
    )
    replay.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="log files")
    replay.add_argument("--log-group", help="log group to file them under (default /replay/<file name>)")
    replay.add_argument("--start", help="time of the first line without a timestamp of its own (ISO-8601; default now)")
    replay.add_argument(
        "--interval-ms", type=int, default=100, help="spacing of lines without timestamps (default 100)"
    )
    replay.add_argument(
        "--workdir", type=Path, default=Path(".local/replay"), help="where outputs go (default .local/replay)"
    )
    replay.add_argument(
        "--numeric-attributes",
        default=",".join(DEFAULT_NUMERIC_ATTRIBUTES),
        help="attribute keys whose numbers the log indices aggregate (comma-separated; default "
        f"{','.join(DEFAULT_NUMERIC_ATTRIBUTES)})",
    )
    _add_opensearch_args(replay)
    replay.set_defaults(func=cmd_replay)

    samples = sub.add_parser(
        "samples",
        help="write sample traffic as a local logs stream",
        description="Write deterministic sample traffic as a local logs stream: a directory of files with one "
        "base64 CloudWatch Logs subscription payload per line. With --shards or --delay-seconds, as CloudWatch "
        "delivers it: each record arrives late by a random delay, on the shard of its log stream, each shard "
        "in arrival order (lines stamped with their arrival time).",
    )
    samples.add_argument("--out", type=Path, required=True, help="stream directory to write")
    _add_samples_args(samples)
    samples.add_argument("--shards", type=int, default=0, help="shards to spread the log streams over (default 1)")
    samples.add_argument(
        "--delay-seconds",
        default="",
        metavar="MIN-MAX",
        help="delivery delays, e.g. 1-60: most short, with a tail to MAX (default: no delay)",
    )
    samples.set_defaults(func=cmd_samples)

    transform = sub.add_parser(
        "transform",
        help="run the Firehose transformer over a local logs stream",
        description="Drive the log transformer Lambda the way Firehose does and deliver to a bucket directory "
        "(events/, raw/, errors/).",
    )
    transform.add_argument("--input", type=Path, required=True, help="local logs stream directory")
    transform.add_argument("--bucket", type=Path, required=True, help="bucket directory to deliver to")
    transform.add_argument(
        "--buffer-mb", type=float, default=0.25, help="Firehose processor buffer size in MB (default 0.25)"
    )
    transform.set_defaults(func=cmd_transform)

    add_realtime_command(sub)
    add_batch_command(sub)
    config_dir = project_root() / "config"
    alert_rules = config_dir / "alert-rules.yaml"
    metrics = config_dir / "metrics.yaml"
    add_check_config_command(
        sub,
        config_dir / "parsers.yaml",
        alert_rules if alert_rules.is_file() else None,
        metrics if metrics.is_file() else None,
    )

    check = sub.add_parser(
        "verify",
        help="smoke-test a deployed stack end to end",
        description="Against a deployed stack (your AWS credentials and region): write test lines from a "
        "self-test service to a log group of its own, subscribed to the logs stream, and report each hop with its "
        "time: archived in S3, metric windows in OpenSearch, the self-test alert fired and resolved on the "
        "operations topic (never the alert topics), Dashboards reachable. What it made is removed afterwards. "
        "About ten minutes: Firehose buffers up to five.",
    )
    check.add_argument("--stack", required=True, help="the stack's name")
    check.add_argument("--region", help="its region (default: your AWS configuration's)")
    check.add_argument("--keep", action="store_true", help="leave the test log group and queue for a look")
    check.add_argument(
        "--timeout-minutes", type=float, default=10, help="how long each waiting hop may take (default 10)"
    )
    check.set_defaults(func=cmd_verify)

    node = sub.add_parser(
        "opensearch",
        help="start, stop or check the local OpenSearch node",
        description="A real single-node OpenSearch 2.19 on 127.0.0.1 for local runs (assembled from Maven Central "
        "by java/opensearch-node on first start; needs Java 17 and Maven). `start` prints the URL to export as "
        "OPENSEARCH_URL; the node keeps running until `stop`.",
    )
    opensearch_node.add_arguments(node)
    node.set_defaults(func=opensearch_node.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError) as exc:
        print(f"opsanalytics: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
