"""Object storage port: the S3 bucket in AWS, a directory with the same key layout locally."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


class DirectoryObjectSink:
    """Writes objects under a local directory laid out like the bucket (``<root>/<key>``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def put_object(self, key: str, body: bytes) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # write-then-rename so a reader never sees half an object, as with S3
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        Path(tmp).replace(path)
        return path.resolve().as_uri()


class S3ObjectSink:
    """Writes objects to an S3 bucket (boto3 is imported here only, so the core stays boto3-free)."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket = bucket
        self._client = client

    def put_object(self, key: str, body: bytes) -> str:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"


def object_sink_for(location: str | None) -> DirectoryObjectSink | S3ObjectSink | None:
    """``s3://bucket`` or ``bucket`` → S3, ``file:///dir`` or a path → directory, empty → None."""
    if not location:
        return None
    if location.startswith("s3://"):
        return S3ObjectSink(location[5:].split("/", 1)[0])
    if location.startswith("file://"):
        return DirectoryObjectSink(location[7:])
    if "/" in location or location.startswith("."):
        return DirectoryObjectSink(location)
    return S3ObjectSink(location)
