"""``opsanalytics realtime``: the realtime metrics job (PyFlink, local mini-cluster) over a local logs stream.

Output: ``<output>/windows/`` (one `MetricWindow` per line), ``<output>/late/`` (`LateEvents`, streaming
mode only) and ``<output>/rejected/`` (one line per control message or malformed record), JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from opsanalytics.paths import load_script, project_root
from opsanalytics.realtime.windows import LateEvents, MetricWindow
from opsanalytics.streams import stream_files

OUTPUT_KINDS = ("windows", "late", "rejected")
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
    late: dict[tuple[str, str, str], int] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def events_in_windows(self) -> int:
        return sum(w["events"] for w in self.windows)

    @property
    def late_events(self) -> int:
        return sum(self.late.values())

    @property
    def events_read(self) -> int:
        return self.events_in_windows + self.late_events

    def summary(self) -> str:
        rejected = ", ".join(f"{reason} {count}" for reason, count in sorted(self.rejected.items())) or "none"
        lines = [
            f"realtime metrics ({self.runtime_mode} mode) in {self.seconds:.1f} s → {self.output}",
            f"  records read     {self.records_in}",
            f"  log events read  {self.events_read} ({self.events_read / max(self.seconds, 1e-9):,.0f}/s)",
            f"  windows written  {len(self.windows)}",
            f"  late events      {self.late_events} in {len(self.late)} windows",
            f"  rejected records {sum(self.rejected.values())} ({rejected})",
        ]
        return "\n".join(lines)


def collect_outputs(output: Path) -> tuple[list[MetricWindow], dict[tuple[str, str, str], int], Counter[str]]:
    """The job's outputs: windows, the final late count per window, rejected records by reason."""
    windows: list[MetricWindow] = [doc for doc in read_json_lines(output / "windows")]  # type: ignore[misc]
    windows.sort(key=lambda w: (w["window_start"], w["service"], w["log_group"]))
    late: dict[tuple[str, str, str], int] = {}
    for doc in read_json_lines(output / "late"):
        report: LateEvents = doc  # type: ignore[assignment]
        key = (report["service"], report["log_group"], report["window_start"])
        late[key] = max(late.get(key, 0), report["late_events"])  # running totals: the largest is the total
    rejected: Counter[str] = Counter(doc["reason"] for doc in read_json_lines(output / "rejected"))
    return windows, late, rejected


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
    parallelism: int = 0,
    runtime_mode: str = "batch",
) -> Path:
    """The application's own ``flink/application_properties.json`` with the local paths and the run's window
    and job settings filled in: what Managed Flink would hand the job, for a local source and sink."""
    groups = json.loads((project_root() / "flink" / "application_properties.json").read_text())
    values = {
        "source": {"local.path": str(source.resolve()), "stream.arn": ""},
        "sink": {"local.path": str(sink.resolve()), "stream.arn": ""},
        "windows": {"size.seconds": str(window_seconds), "out.of.orderness.seconds": str(out_of_orderness_seconds)},
        "job": {"runtime.mode": runtime_mode, "parallelism": str(parallelism)},
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
    parallelism: int = 0,
    runtime_mode: str = "batch",
    progress: bool = True,
) -> RealtimeReport:
    """Run the realtime job on the local mini-cluster over `input_dir`, replacing `output`'s results, through
    the entry point Managed Flink runs (``flink/main.py``) with a properties file written for the run."""
    os.environ.setdefault("JVM_ARGS", LOCAL_JVM_ARGS)
    records_in = _count_records(input_dir)
    for kind in OUTPUT_KINDS:
        shutil.rmtree(output / kind, ignore_errors=True)
    mode = "streaming" if runtime_mode == "streaming" else "batch"
    # beside the output, not in it: whatever reads the output directory reads only what the job wrote
    properties = write_local_properties(
        output.parent / f".{output.name}.application_properties.json",
        source=input_dir,
        sink=output,
        window_seconds=window_seconds,
        out_of_orderness_seconds=out_of_orderness_seconds,
        parallelism=parallelism,
        runtime_mode=mode,
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
    seconds = time.perf_counter() - started
    windows, late, rejected = collect_outputs(output)
    return RealtimeReport(output, mode, records_in, seconds, windows, late, rejected)


def cmd_realtime(args: argparse.Namespace) -> int:
    report = run_realtime(
        args.input,
        args.output,
        window_seconds=args.window_seconds,
        out_of_orderness_seconds=args.out_of_orderness_seconds,
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
        "event-time windows per service and log group (events, errors, latency percentiles), written as "
        "JSON lines under OUTPUT/windows. Batch mode (default) is exact for a bounded input; streaming "
        "mode behaves as in AWS and writes events that arrive after their window closed to OUTPUT/late.",
    )
    parser.add_argument("--input", type=Path, required=True, help="local logs stream directory")
    parser.add_argument("--output", type=Path, required=True, help="metrics output directory")
    parser.add_argument("--window-seconds", type=int, default=60, help="tumbling window size (default 60)")
    parser.add_argument(
        "--out-of-orderness-seconds",
        type=int,
        default=5,
        help="watermark delay in streaming mode (default 5)",
    )
    parser.add_argument("--parallelism", type=int, default=0, help="Flink parallelism (default: one per core)")
    parser.add_argument(
        "--mode",
        choices=("batch", "streaming"),
        default="batch",
        help="batch: exact for bounded input (default); streaming: as in AWS, with late-event reports",
    )
    parser.set_defaults(func=cmd_realtime)
    return parser
