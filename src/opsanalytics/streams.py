"""A Kinesis stream stand-in: a directory of newline-delimited files, one base64 record per line.

For the logs stream each record's data is the gzip CloudWatch Logs subscription payload, exactly as a
subscription filter writes it.
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


def read_stream(directory: Path) -> Iterator[tuple[str, str]]:
    """Yield (sequence id, base64 data) for every record, file by file, in order."""
    for file_index, path in enumerate(stream_files(directory)):
        with path.open("r", encoding="ascii", errors="replace") as handle:
            for line_number, line in enumerate(handle):
                data = line.strip()
                if data:
                    yield f"{file_index:05d}{line_number:012d}", data
