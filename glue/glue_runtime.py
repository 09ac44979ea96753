"""The AWS Glue-only parts of the batch job: GlueContext, Job.init/commit and the job bookmark.

Imported only when the job runs in Glue (``awsglue`` exists there, not in a plain Spark install). Glue
downloads the job script alone: this module goes with it through ``--extra-py-files``.

Bookmarks: Glue's S3 job bookmark remembers which objects a ``transformation_ctx`` has read. The job uses
it only to learn which objects are new (`GlueJobBookmark.new_files`); it then recomputes the UTC days those
objects touch from every object of those days, like the local state-file bookmark. ``job.commit()``
advances the bookmark after every output is written; a run that fails before that reads the same objects
again next time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from opsanalytics.batch.settings import BatchSettings
from opsanalytics.ports import StoredObject

EVENTS_SOURCE_CTX: Final = "events_source"
FILE_COLUMN: Final = "source_object"


class GlueRuntime:
    """GlueContext, its SparkSession and the Job, initialised with the resolved job arguments."""

    def __init__(self, args: Mapping[str, str]) -> None:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        self.glue_context: Any = GlueContext(SparkContext.getOrCreate())
        self.spark: Any = self.glue_context.spark_session
        self.job: Any = Job(self.glue_context)
        self.job.init(args["JOB_NAME"], dict(args))

    def bookmark(self, settings: BatchSettings) -> GlueJobBookmark:
        return GlueJobBookmark(self, settings)

    def commit(self) -> None:
        self.job.commit()


class GlueJobBookmark:
    """The `opsanalytics.batch.inputs.Bookmark` port on Glue job bookmarks."""

    def __init__(self, runtime: GlueRuntime, settings: BatchSettings) -> None:
        self.runtime = runtime
        self.settings = settings

    def new_files(self, files: Sequence[StoredObject]) -> list[StoredObject]:
        frame = self.runtime.glue_context.create_dynamic_frame.from_options(
            connection_type="s3",
            connection_options={
                "paths": [self.settings.uri(self.settings.events_prefix)],
                "recurse": True,
                "groupFiles": "none",
            },
            format="json",
            format_options={"attachFilename": FILE_COLUMN},
            transformation_ctx=EVENTS_SOURCE_CTX,
        )
        frame_df = frame.toDF()
        if FILE_COLUMN not in frame_df.columns:  # no new object: an empty frame without columns
            return []
        seen = {row[FILE_COLUMN] for row in frame_df.select(FILE_COLUMN).distinct().collect()}
        return [item for item in files if item.uri in seen]

    def commit(self, files: Sequence[StoredObject], corrupt: Iterable[str]) -> None:
        self.runtime.commit()
