"""Simulated CloudWatch Logs delivery: subscription records reach the logs stream late and out of order.

CloudWatch Logs sends each log stream's events in batches, seconds to a minute after they were written, and one
Kinesis shard carries many log streams. `deliver` gives every record an arrival time (its newest event plus a
delay drawn from `DelayDistribution`) and a shard (by log stream, as a subscription filter with the
``ByLogStream`` distribution does), and sorts each shard by arrival. ``opsanalytics samples --shards N
--delay-seconds MIN-MAX`` writes such a stream; the realtime job's local run then reads the shards interleaved by
arrival (`opsanalytics.realtime.local`).
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

_RANGE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")


class DeliveredRecord(Protocol):
    log_stream: str

    def payload(self) -> bytes: ...

    @property
    def newest_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DelayDistribution:
    """Delays between ``minimum`` and ``maximum`` seconds, most of them short, with a tail: ``minimum +
    (maximum - minimum) * u**3`` for ``u`` uniform in [0, 1) (median an eighth of the range, one in ten above
    73 % of it)."""

    minimum: float = 1.0
    maximum: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError(f"delays need 0 <= minimum <= maximum, got {self.minimum}-{self.maximum}")

    @classmethod
    def parse(cls, text: str) -> DelayDistribution:
        """``"1-60"``: seconds."""
        match = _RANGE.match(text)
        if match is None:
            raise ValueError(f"a delay range is MIN-MAX in seconds (e.g. 1-60), got {text!r}")
        return cls(float(match.group(1)), float(match.group(2)))

    def draw_ms(self, rng: random.Random) -> int:
        return int((self.minimum + (self.maximum - self.minimum) * rng.random() ** 3) * 1000)


def shard_of(log_stream: str, shards: int) -> int:
    return zlib.crc32(log_stream.encode("utf-8")) % shards


def deliver(
    records: Iterable[DeliveredRecord], shards: int, delays: DelayDistribution, *, seed: int = 7
) -> list[list[tuple[int, bytes]]]:
    """Each shard's (arrival ms, payload) in arrival order."""
    if shards < 1:
        raise ValueError(f"at least one shard, got {shards}")
    rng = random.Random(seed)
    out: list[list[tuple[int, bytes]]] = [[] for _ in range(shards)]
    for record in records:
        out[shard_of(record.log_stream, shards)].append((record.newest_ms + delays.draw_ms(rng), record.payload()))
    for shard in out:
        shard.sort(key=lambda item: item[0])
    return out
