"""Where the batch job's documents go: the core BulkWriter (locally and in Glue) or the OpenSearch Spark connector.

The job's OpenSearch outputs are small aggregates (one document per service, log group and hour or day;
the top signatures; one SLO and Lambda report per service and day), so the job builds them once on the
driver as `BulkOperation`s with deterministic ids, and a `DocumentSink` sends them:

- `BulkSink` (local, and Glue without a connector jar): the operations through
  `opsanalytics.opensearch.BulkWriter` from the driver, SigV4-signed against an AWS domain. No jar to
  upload: the Glue job installs opensearch-py with ``--additional-python-modules``.
- `ConnectorSink` (Glue with ``--extra-jars``): ``df.write.format("org.opensearch.spark.sql")`` per index,
  with ``opensearch.mapping.id`` set to the deterministic id and SigV4 signing. The connector jar
  (``org.opensearch.client:opensearch-spark-35_2.12``) is not available from the package registry this
  project builds with, so the connector path is checked here only for the options it is given.
- `NoSink`: Parquet only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from opsanalytics.opensearch.bulk import BulkOperation, BulkWriter
from opsanalytics.opensearch.client import OpenSearchSettings
from opsanalytics.ports import SinkResult

CONNECTOR_FORMAT: Final = "org.opensearch.spark.sql"
CONNECTOR_SOURCE_CLASS: Final = f"{CONNECTOR_FORMAT}.DefaultSource"
ID_FIELD: Final = "doc_id"


def _by_index(operations: Sequence[BulkOperation]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for operation in operations:
        counts[operation.index] += 1
    return dict(sorted(counts.items()))


class BulkSink:
    """Sends the documents from the driver with the core bulk writer (retries, per-item failures)."""

    name = "bulk"

    def __init__(self, writer: BulkWriter) -> None:
        self.writer = writer

    def write(self, operations: Sequence[BulkOperation]) -> SinkResult:
        result = self.writer.write(operations)
        return SinkResult(written=result.indexed, failed=result.failed, by_index=_by_index(operations))


class NoSink:
    name = "none"

    def write(self, operations: Sequence[BulkOperation]) -> SinkResult:
        return SinkResult()


def connector_options(settings: OpenSearchSettings) -> dict[str, str]:
    """Options of the opensearch-hadoop Spark connector for an endpoint (SigV4 on AWS)."""
    options = {
        "opensearch.nodes": f"{'https' if settings.use_ssl else 'http'}://{settings.host}{settings.url_prefix}",
        "opensearch.port": str(settings.port),
        "opensearch.nodes.wan.only": "true",
        "opensearch.net.ssl": str(settings.use_ssl).lower(),
        "opensearch.mapping.id": ID_FIELD,
        "opensearch.mapping.exclude": ID_FIELD,
        "opensearch.write.operation": "index",
        # small requests: domains answer 413 over 10 MiB and 429 when their write queue is full
        "opensearch.batch.size.entries": "1000",
        "opensearch.batch.size.bytes": "5mb",
        "opensearch.batch.write.retry.count": "5",
        "opensearch.batch.write.retry.wait": "2s",
        # the connector refreshes the index after each bulk by default (indices:admin/refresh, which the batch
        # job's OpenSearch role does not hold); the indices' own refresh makes the documents searchable
        "opensearch.batch.write.refresh": "false",
    }
    if settings.auth == "sigv4":
        options["opensearch.aws.sigv4.enabled"] = "true"
        options["opensearch.aws.sigv4.region"] = settings.region or ""
    return options


def connector_available(spark: Any) -> bool:
    """Whether the connector's data source class loads in the Spark driver (the jar is on its classpath)."""
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]

    loader = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        loader.loadClass(CONNECTOR_SOURCE_CLASS)
    except Py4JError:  # Py4JJavaError wrapping ClassNotFoundException
        return False
    return True


class ConnectorSink:
    """Writes through the OpenSearch Spark connector (needs its jar on the classpath: Glue ``--extra-jars``)."""

    name = "connector"

    def __init__(self, spark: Any, settings: OpenSearchSettings) -> None:
        self.spark = spark
        self.options = connector_options(settings)

    def write(self, operations: Sequence[BulkOperation]) -> SinkResult:
        grouped: dict[str, list[bytes]] = defaultdict(list)
        for operation in operations:
            document: Mapping[str, Any] = {**operation.document, ID_FIELD: operation.doc_id}
            grouped[operation.index].append(orjson.dumps(document))
        for index, lines in sorted(grouped.items()):
            rdd = self.spark.sparkContext.parallelize([line.decode("utf-8") for line in lines], 1)
            frame = self.spark.read.json(rdd)
            frame.write.format(CONNECTOR_FORMAT).options(**self.options).mode("append").save(index)
        return SinkResult(written=len(operations), by_index=_by_index(operations))
