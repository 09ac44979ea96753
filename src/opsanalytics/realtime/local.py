"""``opsanalytics realtime``: the realtime metrics job (PyFlink, local mini-cluster) over a local logs stream.

Output: ``<output>/windows/`` (every emission of every `MetricWindow`: in streaming mode a window corrected by
later events appears once per revision, and the highest revision is the window) and ``<output>/rejected/`` (one
line per control message or malformed record), JSON lines.

In streaming mode the stream is read as the AWS job reads a Kinesis stream: all shards at once, each in its own
order, interleaved by arrival (a record's arrival stamp, or else its newest event's time). The files are merged
into that order before the job starts, as Flink's file source would otherwise read a subtask's files one after
another and make every file after the first late.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import heapq
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from opsanalytics.paths import default_metrics, default_parser_rules, load_script, project_root
from opsanalytics.realtime.declared import DeclaredMetric
from opsanalytics.realtime.windows import MetricWindow
from opsanalytics.streams import read_arrivals, split_line, stream_files
from opsanalytics.timestamps import parse_iso_ms

OUTPUT_KINDS = ("windows", "declared", "first-emissions", "late", "rejected")
"""``late/`` is written by jobs of window contract version 1 only; it is removed with the rest."""
# JVM options of the local Flink gateway (read when PyFlink starts it; JVM_ARGS in the environment wins):
# a bounded local run is short, and the C1 compiler only with the serial collector spend about a fifth
# less CPU on it than the JVM defaults, which matters on a 2-core laptop.
LOCAL_JVM_ARGS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
PROGRESS_INTERVAL_SECONDS = 5.0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_json_lines(directory: Path) -> Iterator[dict[str, Any]]:
    """Every JSON line of the committed files in `directory` (Flink keeps in-progress files hidden)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.name.startswith((".", "_")):
            with path.open("rb") as handle:
                for line in handle:
                    if line.strip():
                        yield json.loads(line)


@dataclass(slots=True)
class RealtimeReport:
    output: Path
    runtime_mode: str
    records_in: int
    seconds: float
    windows: list[MetricWindow] = field(default_factory=list)
    """The highest revision of every window."""
    emissions: int = 0
    """Window documents written, every revision counted."""
    rejected: Counter[str] = field(default_factory=Counter)
    first_emission_delays_ms: list[int] = field(default_factory=list)
    """Streaming mode: per window, how long after its end it was first emitted, in the stream's arrival time."""
    watermark_delays_ms: list[int] = field(default_factory=list)
    """Streaming mode: per window, how long after its end the stream had delivered an event the watermark bound
    newer than it (what lets the watermark pass the end), in arrival time: the part of the first emission's
    delay that is the data's; the rest is the job's processing, magnified by the replay speed."""
    processing_ms: list[int] = field(default_factory=list)
    """Streaming mode: per window, the wall time from the watermark's passing to the first emission."""
    declared: list[DeclaredMetric] = field(default_factory=list)
    """The highest revision of every declared metric's document (`opsanalytics.realtime.declared`)."""

    @property
    def events_in_windows(self) -> int:
        return sum(w["events"] for w in self.windows)

    @property
    def late_events(self) -> int:
        return sum(w["late_events"] for w in self.windows)

    @property
    def corrected(self) -> int:
        return sum(1 for w in self.windows if w["revision"] > 1)

    @property
    def events_read(self) -> int:
        return self.events_in_windows + self.late_events

    def summary(self) -> str:
        rejected = ", ".join(f"{reason} {count}" for reason, count in sorted(self.rejected.items())) or "none"
        lines = [
            f"realtime metrics ({self.runtime_mode} mode) in {self.seconds:.1f} s → {self.output}",
            f"  records read     {self.records_in}",
            f"  log events read  {self.events_read} ({self.events_read / max(self.seconds, 1e-9):,.0f}/s)",
            f"  windows          {len(self.windows)} ({self.emissions} emissions; {self.corrected} corrected by "
            "later events)",
            f"  late events      {self.late_events} (after the allowed lateness: in late_events only)",
            f"  rejected records {sum(self.rejected.values())} ({rejected})",
        ]
        if self.declared:
            metrics = Counter(doc["metric"] for doc in self.declared)
            listed = ", ".join(f"{metric} {count}" for metric, count in sorted(metrics.items()))
            lines.append(f"  declared metrics {len(self.declared)} documents ({listed})")
        for label, values in (
            ("watermark passed", self.watermark_delays_ms),
            ("first emission", self.first_emission_delays_ms),
        ):
            if values:
                median, p95, most = delay_figures(values)
                lines.append(
                    f"  {label:<16} {median:.1f} s after the window's end (median), {p95:.1f} s (p95), "
                    f"{most:.1f} s (max), in arrival time"
                )
        if self.processing_ms:
            median, p95, most = delay_figures(self.processing_ms)
            lines.append(
                f"  then emitted     {median:.2f} s later (median), {p95:.2f} s (p95), {most:.2f} s (max), in wall time"
            )
        return "\n".join(lines)


def delay_figures(delays_ms: list[int]) -> tuple[float, float, float]:
    """The median, p95 and max of `delays_ms`, in seconds."""
    ordered = sorted(delays_ms)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000

    return at(0.5), at(0.95), ordered[-1] / 1000


def watermark_arrivals(merged: Path, window_ms: int, bound_ms: int) -> dict[int, int]:
    """For each window start of the arrival-ordered stream `merged`, the arrival at which the stream had
    delivered an event at least `bound_ms` newer than the window's end: when a watermark of that bound passes
    the end. Windows that no later event closes (the stream's last) are left out."""
    passed: dict[int, int] = {}
    newest = -1
    pending: list[int] = []  # window starts seen, not yet passed (a heap)
    seen: set[int] = set()
    with merged.open(encoding="ascii") as handle:
        for line in handle:
            stamp, data = split_line(line.strip())
            times = _event_times(data)
            if stamp is None or not times:  # what the job rejects opens no window and moves no watermark
                continue
            for start in {ts - ts % window_ms for ts in times} - seen:
                seen.add(start)
                heapq.heappush(pending, start)
            newest = max(newest, *times)
            while pending and newest >= pending[0] + window_ms + bound_ms:
                passed[heapq.heappop(pending)] = stamp
    return passed


def latest_revisions(documents: Iterator[dict[str, Any]]) -> tuple[list[MetricWindow], int]:
    """The highest revision of each window among `documents`, sorted by (window_start, owner, service, log_group),
    and how many documents there were."""
    latest: dict[tuple[str, str, str, str], MetricWindow] = {}
    count = 0
    for doc in documents:
        count += 1
        window: MetricWindow = doc  # type: ignore[assignment]
        key = (window["window_start"], window.get("owner", ""), window["service"], window["log_group"])
        previous = latest.get(key)
        if previous is None or window["revision"] > previous["revision"]:
            latest[key] = window
    return [latest[key] for key in sorted(latest)], count


def latest_declared(documents: Iterator[dict[str, Any]]) -> list[DeclaredMetric]:
    """The highest revision of each declared metric's document, sorted as `compute_declared` sorts them."""
    latest: dict[tuple[str, str, str, str], DeclaredMetric] = {}
    for doc in documents:
        key = (doc["window_start"], doc["metric"], doc["owner"], doc["group"])
        previous = latest.get(key)
        if previous is None or doc["revision"] > previous["revision"]:
            latest[key] = doc  # type: ignore[assignment]
    return [latest[key] for key in sorted(latest)]


def collect_outputs(output: Path) -> tuple[list[MetricWindow], int, Counter[str]]:
    """The job's outputs: the latest revision of each window, the number of emissions, rejected records by
    reason."""
    windows, emissions = latest_revisions(read_json_lines(output / "windows"))
    rejected: Counter[str] = Counter(doc["reason"] for doc in read_json_lines(output / "rejected"))
    return windows, emissions, rejected


def _event_times(data: str) -> list[int] | None:
    """The event times of a stream record, or None for a control message or a malformed record."""
    try:
        return [int(event["timestamp"]) for event in json.loads(gzip.decompress(base64.b64decode(data)))["logEvents"]]
    except Exception:
        return None


def _newest_event_ms(data: str) -> int | None:
    times = _event_times(data)
    return max(times) if times else None  # None: the record keeps its place in its shard


def _shard_in_arrival_order(records: list[tuple[int | None, str]]) -> Iterator[tuple[int, str]]:
    last = 0
    for stamp, data in records:
        arrival = _newest_event_ms(data) if stamp is None else stamp
        last = arrival if arrival is not None and arrival > last else last
        yield last, data


def arrival_ordered(input_dir: Path, target: Path) -> Path:
    """The records of every shard file of `input_dir`, interleaved by arrival, as one file in `target`."""
    shards: dict[str, list[tuple[int | None, str]]] = {}
    for name, arrival, data in read_arrivals(input_dir):
        shards.setdefault(name, []).append((arrival, data))
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    merged = heapq.merge(*(_shard_in_arrival_order(records) for records in shards.values()), key=lambda r: r[0])
    with (target / "arrivals.b64").open("w", encoding="ascii") as handle:
        for arrival, data in merged:
            handle.write(f"{arrival} {data}\n")
    return target


def _count_records(directory: Path) -> int:
    count = 0
    for path in stream_files(directory):
        with path.open("rb") as handle:
            count += sum(1 for line in handle if line.strip())
    return count


def flink_entry_point() -> ModuleType:
    """``flink/main.py`` of the checkout, the module Managed Flink runs (PyFlink is imported with it)."""
    return load_script(project_root() / "flink" / "main.py", "opsanalytics_flink_main")


def write_local_properties(
    path: Path,
    *,
    source: Path,
    sink: Path,
    window_seconds: int = 60,
    out_of_orderness_seconds: int = 5,
    allowed_lateness_seconds: int = 300,
    replay_speed: float = 0.0,
    parallelism: int = 0,
    runtime_mode: str = "batch",
    parser_rules: Path | None = None,
    metrics: Path | None = None,
) -> Path:
    """The application's own ``flink/application_properties.json`` with the local paths and the run's window
    and job settings filled in: what Managed Flink would hand the job, for a local source and sink. The rules
    are ``parser_rules`` or the checkout's ``config/parsers.yaml``, the declared metrics ``metrics`` or its
    ``config/metrics.yaml``."""
    parser_rules = parser_rules or default_parser_rules()
    metrics = metrics or default_metrics()
    groups = json.loads((project_root() / "flink" / "application_properties.json").read_text())
    values = {
        "source": {"local.path": str(source.resolve()), "stream.arn": "", "local.replay.speed": str(replay_speed)},
        "sink": {"local.path": str(sink.resolve()), "stream.arn": ""},
        "windows": {
            "size.seconds": str(window_seconds),
            "out.of.orderness.seconds": str(out_of_orderness_seconds),
            "allowed.lateness.seconds": str(allowed_lateness_seconds),
        },
        "job": {
            "runtime.mode": runtime_mode,
            "parallelism": str(parallelism),
            "parser.rules": str(parser_rules.resolve()) if parser_rules else "",
            "metrics": str(metrics.resolve()) if metrics else "",
        },
    }
    for group in groups:
        group["PropertyMap"].update(values.get(group["PropertyGroupId"], {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(groups, indent=2) + "\n")
    return path


def run_realtime(
    input_dir: Path,
    output: Path,
    *,
    window_seconds: int = 60,
    out_of_orderness_seconds: int = 5,
    allowed_lateness_seconds: int = 300,
    replay_speed: float = 0.0,
    parallelism: int = 0,
    runtime_mode: str = "batch",
    progress: bool = True,
    metrics: Path | None = None,
) -> RealtimeReport:
    """Run the realtime job on the local mini-cluster over `input_dir`, replacing `output`'s results, through
    the entry point Managed Flink runs (``flink/main.py``) with a properties file written for the run. The
    declared metrics are ``metrics`` or the checkout's ``config/metrics.yaml``."""
    os.environ.setdefault("JVM_ARGS", LOCAL_JVM_ARGS)
    records_in = _count_records(input_dir)
    for kind in OUTPUT_KINDS:
        shutil.rmtree(output / kind, ignore_errors=True)
    mode = "streaming" if runtime_mode == "streaming" else "batch"
    source = input_dir
    merged: Path | None = None
    if mode == "streaming":
        # not under a hidden directory: Flink's file source skips paths that start with "." or "_"
        merged = source = arrival_ordered(input_dir, Path(tempfile.mkdtemp(prefix="opsanalytics-arrivals-")))
    # beside the output, not in it: whatever reads the output directory reads only what the job wrote
    properties = write_local_properties(
        output.parent / f".{output.name}.application_properties.json",
        source=source,
        sink=output,
        window_seconds=window_seconds,
        out_of_orderness_seconds=out_of_orderness_seconds,
        allowed_lateness_seconds=allowed_lateness_seconds,
        replay_speed=replay_speed if mode == "streaming" else 0.0,
        parallelism=parallelism,
        runtime_mode=mode,
        metrics=metrics,
    )
    say = _progress if progress else (lambda _message: None)
    started = time.perf_counter()
    say(f"realtime: {records_in} records in {input_dir}, {mode} mode; starting Flink")
    result = flink_entry_point().submit(properties)
    say(f"realtime: job submitted after {time.perf_counter() - started:.1f} s")
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(PROGRESS_INTERVAL_SECONDS):
            say(f"realtime: running, {time.perf_counter() - started:.0f} s")

    ticker = threading.Thread(target=heartbeat, daemon=True)
    ticker.start()
    try:
        result.wait()
    finally:
        done.set()
        ticker.join()
    try:
        seconds = time.perf_counter() - started
        windows, emissions, rejected = collect_outputs(output)
        report = RealtimeReport(output, mode, records_in, seconds, windows, emissions, rejected)
        report.declared = latest_declared(read_json_lines(output / "declared"))
        if merged is not None:
            window_ms = window_seconds * 1000
            passed = watermark_arrivals(merged / "arrivals.b64", window_ms, out_of_orderness_seconds * 1000)
            for doc in read_json_lines(output / "first-emissions"):
                emitted = int(doc["delay_ms"])
                report.first_emission_delays_ms.append(emitted)
                start = parse_iso_ms(doc["window_start"])
                if start in passed:
                    watermark = passed[start] - start - window_ms
                    report.watermark_delays_ms.append(watermark)
                    report.processing_ms.append(int((emitted - watermark) / replay_speed))
    finally:
        if merged is not None:
            shutil.rmtree(merged, ignore_errors=True)
    return report


def cmd_realtime(args: argparse.Namespace) -> int:
    report = run_realtime(
        args.input,
        args.output,
        window_seconds=args.window_seconds,
        out_of_orderness_seconds=args.out_of_orderness_seconds,
        allowed_lateness_seconds=args.allowed_lateness_seconds,
        replay_speed=args.replay_speed,
        parallelism=args.parallelism,
        runtime_mode=args.mode,
    )
    print(report.summary())
    return 0 if report.windows else 1


def add_realtime_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``realtime`` to the ``opsanalytics`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "realtime",
        help="run the realtime metrics job (PyFlink) over a local logs stream",
        description="Run the PyFlink realtime metrics job on Flink's local mini-cluster: 60 s tumbling "
        "event-time windows per service and log group (events, errors, latency percentiles, top error "
        "signatures), written as JSON lines under OUTPUT/windows. Batch mode (default) emits each window once, "
        "exact for a bounded input; streaming mode behaves as in AWS: it reads the shards interleaved by "
        "arrival, emits each window when the watermark passes its end and again, with the next revision, when "
        "late events correct it.",
    )
    parser.add_argument("--input", type=Path, required=True, help="local logs stream directory")
    parser.add_argument("--output", type=Path, required=True, help="metrics output directory")
    parser.add_argument("--window-seconds", type=int, default=60, help="tumbling window size (default 60)")
    parser.add_argument(
        "--out-of-orderness-seconds",
        type=int,
        default=5,
        help="watermark delay in streaming mode (default 5): a window's first emission waits this long",
    )
    parser.add_argument(
        "--allowed-lateness-seconds",
        type=int,
        default=300,
        help="streaming mode: how long after its first emission a window is still corrected by late events "
        "(default 300); later events count in its late_events",
    )
    parser.add_argument(
        "--replay-speed",
        type=float,
        default=0.0,
        help="streaming mode: replay the stream at this many times real time by its arrival times (e.g. 60), so "
        "that watermarks advance as the records come, as from Kinesis (default 0: as fast as it can be read, "
        "when nearly every window is first emitted at the end)",
    )
    parser.add_argument("--parallelism", type=int, default=0, help="Flink parallelism (default: one per core)")
    parser.add_argument(
        "--mode",
        choices=("batch", "streaming"),
        default="batch",
        help="batch: exact for bounded input (default); streaming: as in AWS, with corrected windows",
    )
    parser.set_defaults(func=cmd_realtime)
    return parser
