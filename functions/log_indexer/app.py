"""Log indexer Lambda: new ``events/`` objects (S3 → EventBridge → SQS) → daily log indices in OpenSearch.

A thin shell: the selection, documents and quarantine live in `opsanalytics.logindex`. A message fails (SQS
delivers it again, then to the dead-letter queue) when it names no archive object or when OpenSearch failed
transiently; lines OpenSearch rejects are written to the error prefix with the reason, and counted.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.logindex.indexer import LogIndexer
from opsanalytics.logindex.messages import object_created
from opsanalytics.logindex.settings import LogIndexSettings
from opsanalytics.opensearch import BulkWriter, create_client
from opsanalytics.storage import object_store

logger = Logger()
metrics = Metrics(namespace="OpsAnalytics")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
settings = LogIndexSettings.from_env()
writer = BulkWriter.for_client(
    create_client(settings.opensearch),
    max_attempts=settings.bulk_max_attempts,
    max_retry_seconds=settings.bulk_max_retry_seconds,
)
indexer = LogIndexer(writer, object_store(settings.archive), settings)


class RetryLaterError(RuntimeError):
    """OpenSearch failed transiently for some of the object's lines: the message is delivered again."""


def record_handler(record: SQSRecord) -> None:
    item = object_created(record.body, settings.archive, settings.events_prefix)
    if item is None:
        logger.info("not under the events prefix; nothing to index", extra={"message_id": record.message_id})
        return
    outcome = indexer.index_object(item)
    metrics.add_metric(name="LogLinesIndexed", unit=MetricUnit.Count, value=outcome.indexed)
    metrics.add_metric(name="LogLinesSkipped", unit=MetricUnit.Count, value=outcome.skipped)
    metrics.add_metric(name="LogLinesQuarantined", unit=MetricUnit.Count, value=outcome.quarantined)
    if outcome.quarantined:
        logger.warning("lines quarantined", extra=outcome.summary())
    if outcome.retry:
        metrics.add_metric(name="LogObjectsRetried", unit=MetricUnit.Count, value=1)
        logger.warning("object to be indexed again", extra=outcome.summary())
        raise RetryLaterError(f"{outcome.retry} line(s) of {item.key} failed transiently: {dict(outcome.reasons)}")
    logger.info("object indexed", extra=outcome.summary())


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if settings.level == "none":
        logger.info("LOG_INDEX_LEVEL is none: nothing is indexed", extra={"messages": len(event["Records"])})
        metrics.add_metric(name="LogObjectsNotIndexed", unit=MetricUnit.Count, value=len(event["Records"]))
        return {"batchItemFailures": []}
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
