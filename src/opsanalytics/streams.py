"""A Kinesis stream stand-in: a directory of newline-delimited files, one base64 record per line.

For the logs stream each record's data is the gzip CloudWatch Logs subscription payload, exactly as a
subscription filter writes it. A file is a shard, its lines in the order they arrived. A line may start with the
record's arrival time, as Kinesis stamps each record (``ApproximateArrivalTimestamp``): ``<epoch ms> <base64>``;
the simulated CloudWatch delivery writes them (`opsanalytics.local.delivery`), and readers that interleave shards
by arrival use them (`read_arrivals`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

SHARD_FILE_PATTERN: Final = "shard-{index:05d}.b64"


def write_stream(directory: Path, records: Iterable[bytes], *, records_per_file: int = 5000) -> int:
    """Write records (raw bytes) into `directory`; returns how many were written. Replaces old files."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("shard-*.b64"):
        old.unlink()
    count = 0
    handle = None
    try:
        for record in records:
            if count % records_per_file == 0:
                if handle is not None:
                    handle.close()
                path = directory / SHARD_FILE_PATTERN.format(index=count // records_per_file)
                handle = path.open("wb")
            handle.write(base64.b64encode(record) + b"\n")  # type: ignore[union-attr]
            count += 1
    finally:
        if handle is not None:
            handle.close()
    return count


def stream_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise FileNotFoundError(f"stream directory {directory} does not exist")
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def split_line(line: str) -> tuple[int | None, str]:
    """(arrival ms or None, base64 data) of one stream line."""
    data = line.strip()
    arrival, space, rest = data.partition(" ")
    if space and arrival.isdigit():
        return int(arrival), rest.strip()
    return None, data


def read_stream(directory: Path) -> Iterator[tuple[str, str]]:
    """Yield (sequence id, base64 data) for every record, file by file, in order."""
    for file_index, path in enumerate(stream_files(directory)):
        with path.open("r", encoding="ascii", errors="replace") as handle:
            for line_number, line in enumerate(handle):
                _, data = split_line(line)
                if data:
                    yield f"{file_index:05d}{line_number:012d}", data


def read_arrivals(directory: Path) -> Iterator[tuple[str, int | None, str]]:
    """(file name, arrival ms or None, base64 data) of every record, file by file, in order."""
    for path in stream_files(directory):
        with path.open("r", encoding="ascii", errors="replace") as handle:
            for line in handle:
                arrival, data = split_line(line)
                if data:
                    yield path.name, arrival, data


def write_shards(directory: Path, shards: Iterable[Iterable[tuple[int, bytes]]]) -> int:
    """Write each shard's (arrival ms, record) in order as ``shard-NNNNN.b64`` with arrival stamps; replaces old
    files; returns how many records were written."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("shard-*.b64"):
        old.unlink()
    count = 0
    for index, records in enumerate(shards):
        with (directory / SHARD_FILE_PATTERN.format(index=index)).open("wb") as handle:
            for arrival, record in records:
                handle.write(str(arrival).encode() + b" " + base64.b64encode(record) + b"\n")
                count += 1
    return count
