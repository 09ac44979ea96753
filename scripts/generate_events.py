"""Regenerate every sample event in events/ for `sam local invoke -e` and the tests.

    python -m scripts.generate_events            # rewrite events/
    python -m scripts.generate_events --check    # exit 1 if events/ differs from what this would write

Deterministic: the same code always writes the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from opsanalytics.local.samples import SERVICES, generate_sample_batches
from opsanalytics.logevents.cloudwatch import control_message_payload
from opsanalytics.logindex.local import sqs_event
from opsanalytics.logindex.messages import object_created_event
from opsanalytics.transform.local import firehose_event
from scripts import generate_metrics_events

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
ARRIVAL_MS = 1_767_261_900_000


def log_transformer_event() -> dict[str, object]:
    """A Firehose transformation event: one record per sample service, a control message, two bad records."""
    batches = {}
    for batch in generate_sample_batches(minutes=3, events_per_batch=6, seed=3):
        batches.setdefault(batch.log_group, batch)
        if len(batches) == len(SERVICES):
            break
    payloads = [control_message_payload(), *(batch.payload() for batch in batches.values())]
    payloads.append(b"not a CloudWatch Logs payload")  # not gzip
    payloads.append(payloads[1][: len(payloads[1]) // 2])  # truncated gzip
    records = [
        (f"4962713795687214567825139467803121904567321098765432{index:04d}", base64.b64encode(p).decode(), ARRIVAL_MS)
        for index, p in enumerate(payloads)
    ]
    return firehose_event(records, "opsanalytics-logs")


ARCHIVE_BUCKET = "opsanalytics-archive-example"


def log_indexer_event() -> dict[str, object]:
    """What the log index queue delivers: a new Firehose object under events/, and one outside it (ignored)."""
    messages = [
        (
            "0f1e2d3c-4b5a-4968-8776-655443322110",
            "events/dt=2026-01-01/hour=10/opsanalytics-logs-1-2026-01-01-10-05-00-example.gz",
        ),
        ("1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9", "curated/granularity=hour/part-00000.parquet"),
    ]
    bodies = [(i, json.dumps(object_created_event(ARCHIVE_BUCKET, key, 1048576))) for i, key in messages]
    return sqs_event(bodies)


def render() -> dict[str, str]:
    """Every sample event, by path under events/."""
    events = {"log_transformer/firehose-logs.json": json.dumps(log_transformer_event(), indent=2) + "\n"}
    events["log_indexer/sqs-object-created.json"] = json.dumps(log_indexer_event(), indent=2) + "\n"
    events.update({f"metrics_processor/{name}": text for name, text in generate_metrics_events.render().items()})
    return events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that events/ is up to date")
    args = parser.parse_args()
    stale = []
    for name, content in render().items():
        path = EVENTS_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != content:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(f"wrote {path}")
    if stale:
        print(f"events/ is out of date ({', '.join(stale)}): run make events", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
