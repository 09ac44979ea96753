"""Metrics Lambda: realtime metric windows from the metrics stream → OpenSearch, alert rules, SNS.

A thin shell: decoding, indexing and alerting live in `opsanalytics.alerting.processor` and
`opsanalytics.alerting`. The whole batch is written and evaluated first; the batch processor then reports
the records that failed as ``batchItemFailures`` (the event source mapping retries, bisects, and finally
sends them to the on-failure destination).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.alerting.processor import MetricsProcessorSettings, build_metrics_processor

logger = Logger()
metrics = Metrics(namespace="OpsAnalytics")
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
settings = MetricsProcessorSettings.from_env()
metrics_processor = build_metrics_processor(settings)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    outcome = metrics_processor.process(
        [(record["kinesis"]["sequenceNumber"], record["kinesis"]["data"]) for record in event["Records"]]
    )
    for sequence_number, reason in outcome.failures.items():
        logger.warning("record failed", extra={"sequence_number": sequence_number, "reason": reason})
    alerts = outcome.alerts
    if alerts is not None:
        for error in alerts.errors:
            logger.error("alert evaluation problem", extra={"error": error})
        if alerts.transitions or alerts.messages:
            logger.info("alerts changed", extra={"transitions": dict(alerts.transitions), "messages": alerts.messages})
        metrics.add_metric(name="AlertNotifications", unit=MetricUnit.Count, value=alerts.messages)
    metrics.add_metric(name="MetricWindowsIndexed", unit=MetricUnit.Count, value=outcome.bulk.indexed)
    metrics.add_metric(name="MetricRecordsFailed", unit=MetricUnit.Count, value=len(outcome.failures))
    logger.info(
        "batch processed",
        extra={
            "records": outcome.records,
            "windows": outcome.windows,
            "late_reports": outcome.late_reports,
            "indexed": outcome.bulk.indexed,
            "bulk_requests": outcome.bulk.requests,
            "failed": len(outcome.failures),
        },
    )

    def record_handler(record: KinesisStreamRecord) -> None:
        outcome.raise_if_failed(record.kinesis.sequence_number)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
