"""``GlueContext``: the Spark session of the job's SparkContext."""

from __future__ import annotations

from typing import Any


class GlueContext:
    def __init__(self, spark_context: Any) -> None:
        from pyspark.sql import SparkSession

        self.spark_context = spark_context
        self.spark_session = SparkSession.builder.getOrCreate()

    @property
    def create_dynamic_frame(self) -> Any:
        raise NotImplementedError("no Glue job bookmark here: run with --bookmark state-file or none")
