"""An SQS event source mapping, locally: the bucket directory's ``events/`` objects → the log indexer handler.

For each object the message EventBridge would put on the indexer's queue (`messages.object_created_event`),
in batches of ``batch_size`` in the event shape Lambda sends (``eventSource: aws:sqs``). A message the handler
reports in ``batchItemFailures`` (or every message of an invocation that raises) is received again, up to
``max_receives`` times as the queue's redrive policy allows, then goes to the dead-letter queue, here
``<workdir>/dlq/log-index.jsonl``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from opsanalytics.logindex.messages import object_created_event
from opsanalytics.storage import DirectoryStore

ACCOUNT: Final = "123456789012"
REGION: Final = "us-east-1"
QUEUE: Final = "opsanalytics-log-index"


@dataclass
class LogIndexDriveReport:
    objects: int = 0
    invocations: int = 0
    redelivered: int = 0
    dead_lettered: list[dict[str, Any]] = field(default_factory=list)
    quarantined: int = 0
    """Lines in the quarantine files under the errors prefix."""
    quarantine_dir: Path | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"objects {self.objects}, invocations {self.invocations}, redelivered {self.redelivered}, "
            f"dead-lettered {len(self.dead_lettered)}, quarantined lines {self.quarantined}"
            + (f" → {self.quarantine_dir}" if self.quarantined else "")
            + f", {self.seconds:.2f} s"
        ]
        lines.extend(f"  dead-lettered {entry['key']}: {entry['reason']}" for entry in self.dead_lettered[:5])
        return "\n".join(lines)


def sqs_event(messages: Sequence[tuple[str, str]], receive_count: int = 1) -> dict[str, Any]:
    """The event Lambda sends for (message id, body) pairs of the indexer's queue."""
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"{message_id}-{receive_count}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1767261900000",
                    "SenderId": "AIDAEVENTBRIDGE",
                    "ApproximateFirstReceiveTimestamp": "1767261900000",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
                "awsRegion": REGION,
            }
            for message_id, body in messages
        ]
    }


def count_quarantined(bucket: Path, errors_prefix: str = "errors/log-index/") -> int:
    total = 0
    for path in (bucket / errors_prefix).rglob("*.ndjson"):
        with path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def drive_log_indexer(
    handler: Callable[[dict[str, Any]], Any],
    bucket: Path,
    workdir: Path,
    *,
    events_prefix: str = "events/",
    batch_size: int = 10,
    max_receives: int = 3,
) -> LogIndexDriveReport:
    """Send every object under `events_prefix` of the bucket directory through `handler` (e.g.
    ``LocalFunction("log_indexer").invoke``), as the queue and its event source mapping would."""
    started = time.perf_counter()
    report = LogIndexDriveReport()
    store = DirectoryStore(bucket)
    pending: dict[str, tuple[str, str]] = {}
    for item in store.list_files(events_prefix, (".gz", ".ndjson")):
        message_id = hashlib.sha256(item.key.encode()).hexdigest()[:32]
        body = orjson.dumps(object_created_event(bucket.name, item.key, item.size)).decode()
        pending[message_id] = (item.key, body)
    report.objects = len(pending)
    reasons: dict[str, str] = {}
    for receive in range(1, max_receives + 1):
        failed: dict[str, tuple[str, str]] = {}
        ids = list(pending)
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            report.invocations += 1
            try:
                response = handler(sqs_event([(i, pending[i][1]) for i in batch], receive))
                failures = {entry["itemIdentifier"] for entry in (response or {}).get("batchItemFailures", [])}
            except Exception as exc:  # the whole batch is received again, as from the queue
                failures = set(batch)
                reasons.update(dict.fromkeys(batch, f"invocation failed: {exc}"))
            for message_id in batch:
                if message_id in failures:
                    failed[message_id] = pending[message_id]
                    reasons.setdefault(message_id, "reported in batchItemFailures (see the function's log)")
        if not failed:
            break
        pending = failed
        if receive < max_receives:
            report.redelivered += len(failed)
    else:
        dlq = workdir / "dlq" / "log-index.jsonl"
        dlq.parent.mkdir(parents=True, exist_ok=True)
        with dlq.open("ab") as handle:
            for message_id, (key, body) in pending.items():
                entry = {"message_id": message_id, "key": key, "reason": reasons.get(message_id, ""), "body": body}
                report.dead_lettered.append(entry)
                handle.write(orjson.dumps(entry) + b"\n")
    report.quarantined = count_quarantined(bucket)
    report.quarantine_dir = bucket / "errors" / "log-index"
    report.seconds = time.perf_counter() - started
    return report
