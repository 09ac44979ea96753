"""The Lambda layer's size and the functions' cold start under `sam local invoke`.

    make build && python bench/bench_cold_start.py [--invokes 5] [--function LogTransformerFunction ...]

Size: the built layer (.aws-sam/build/SharedLayer) unpacked and zipped, against Lambda's limits (250 MB
unpacked for a function and its layers, 50 MB zipped for a direct upload). Cold start: each `sam local invoke`
starts a new container, so every invocation is a cold one: its REPORT line's duration covers loading the
handler module with the layer on the path and handling the event. Needs a container engine
(`scripts/container-engine.sh`); the figures are the median and the best of the invocations.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer"
# Events that need no network (the metrics function's has only a record it cannot decode, so nothing is
# written to OpenSearch): the duration is the function's own work, not a connection attempt.
EVENTS = {
    "LogTransformerFunction": "events/log_transformer/firehose-logs.json",
    "MetricsProcessorFunction": "events/metrics_processor/kinesis-undecodable.json",
}
REPORT_DURATION = re.compile(r"REPORT RequestId: \S+.*?\tDuration: ([\d.]+) ms")
UNPACKED_LIMIT_MB = 250
ZIPPED_LIMIT_MB = 50


def layer_size() -> tuple[float, float]:
    files = [path for path in LAYER.rglob("*") if path.is_file()]
    unpacked = sum(path.stat().st_size for path in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(LAYER))
    return unpacked / 1e6, len(buffer.getvalue()) / 1e6


def cold_invoke(function: str) -> tuple[float, float]:
    """(REPORT duration in ms, wall seconds) of one `sam local invoke` in a new container."""
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    command = [str(ROOT / "scripts" / "with-container-engine.sh"), str(sam), "local", "invoke", function]
    command += ["-e", EVENTS[function], "--config-env", "offline"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    match = REPORT_DURATION.search(result.stdout + result.stderr)
    if match is None:
        raise RuntimeError(f"no REPORT line from {function}:\n{(result.stdout + result.stderr)[-2000:]}")
    return float(match.group(1)), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invokes", type=int, default=5, help="cold invocations per function (default 5)")
    parser.add_argument("--function", action="append", choices=sorted(EVENTS), help="default: all of them")
    args = parser.parse_args()
    if not LAYER.is_dir():
        print(f"no built layer at {LAYER}: run `make build` first", file=sys.stderr)
        return 2
    unpacked, zipped = layer_size()
    print(f"layer: {unpacked:.1f} MB unpacked (limit {UNPACKED_LIMIT_MB}), ", end="")
    print(f"{zipped:.1f} MB zipped (limit {ZIPPED_LIMIT_MB})")
    for function in args.function or sorted(EVENTS):
        runs = [cold_invoke(function) for _ in range(args.invokes)]
        durations = [duration for duration, _ in runs]
        walls = [wall for _, wall in runs]
        print(
            f"{function}: cold invoke {statistics.median(durations):.0f} ms median, {min(durations):.0f} ms best "
            f"(REPORT duration, {args.invokes} new containers); sam local invoke {statistics.median(walls):.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
