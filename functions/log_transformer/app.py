"""Firehose data-transformation Lambda: CloudWatch Logs payloads from the logs stream → LogEvent NDJSON.

A thin shell: the record contract lives in `opsanalytics.transform.firehose`, the parsing in
`opsanalytics.logevents.parsing`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.logevents.rules import NO_RULES, load_rule_file
from opsanalytics.storage import object_store
from opsanalytics.transform.firehose import transform_batch
from opsanalytics.transform.settings import TransformerSettings

logger = Logger()
metrics = Metrics(namespace="OpsAnalytics")
settings = TransformerSettings.from_env()
overflow_sink = object_store(settings.overflow_location) if settings.overflow_location else None
# a bad rule file fails the cold start with every mistake named: Firehose retries, then the error prefix keeps
# the records, and the function's log says what to fix
rules = load_rule_file(settings.parser_rules) if settings.parser_rules else NO_RULES


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=KinesisFirehoseEvent)
def lambda_handler(event: KinesisFirehoseEvent, context: LambdaContext) -> dict[str, Any]:
    batch = transform_batch(
        ((record.record_id, record.data) for record in event.records),
        sink=overflow_sink,
        events_prefix=settings.events_prefix,
        rules=rules,
    )
    for outcome in batch.records:
        if outcome.result == "ProcessingFailed":
            logger.warning(
                "record failed; Firehose writes it to the error prefix",
                extra={"record_id": outcome.record_id, "reason": outcome.reason, "detail": outcome.detail},
            )
        elif outcome.overflow_uri:
            logger.info(
                "record did not fit in the response; written to the events prefix directly",
                extra={"record_id": outcome.record_id, "object": outcome.overflow_uri},
            )
    counts = batch.counts
    metrics.add_metric(name="RecordsOk", unit=MetricUnit.Count, value=counts["Ok"])
    metrics.add_metric(name="RecordsDropped", unit=MetricUnit.Count, value=counts["Dropped"])
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=counts["ProcessingFailed"])
    metrics.add_metric(name="RecordsOverflowed", unit=MetricUnit.Count, value=counts["overflow"])
    metrics.add_metric(name="LogEventsParsed", unit=MetricUnit.Count, value=counts["log_events"])
    if rules.rules:
        misses = sum(batch.rules.missed.values())
        metrics.add_metric(name="ParserRuleMisses", unit=MetricUnit.Count, value=misses)
        if misses:
            logger.warning("lines a parser rule did not parse (auto-detected instead)", extra=batch.rules.as_dict())
    if rules.masking.active:
        metrics.add_metric(name="ValuesMasked", unit=MetricUnit.Count, value=batch.rules.masked)
    logger.info(
        "batch transformed",
        extra={"counts": counts, "response_bytes": batch.response_bytes, "rules": batch.rules.as_dict()},
    )
    return batch.response
