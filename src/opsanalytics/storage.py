"""The object storage port's adapters: an S3 bucket in AWS, a directory with the same key layout locally.

A location is typed once (`ObjectLocation.parse`): ``s3://bucket`` is S3, ``file:///dir`` or a path is a
directory; a bare name is refused, so a bucket name is never taken for a directory or the other way round.
`object_store` is the one table from a location to its adapter.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

from opsanalytics.ports import ObjectStore, StoredObject
from opsanalytics.settings import SettingsError

Scheme = Literal["s3", "file"]


@dataclass(frozen=True, slots=True)
class ObjectLocation:
    """A bucket: ``scheme`` s3 with the bucket name as ``root``, or file with the directory as ``root``."""

    scheme: Scheme
    root: str

    @classmethod
    def parse(cls, text: str, name: str = "location") -> ObjectLocation:
        """``s3://bucket`` (a key prefix after it is not part of the bucket), ``file:///dir``, or a path with a
        ``/`` in it (``./bucket`` for one in the working directory)."""
        value = text.strip()
        if value.startswith("s3://"):
            bucket = value[5:].split("/", 1)[0]
            if not bucket:
                raise SettingsError(f"{name}: no bucket name in {text!r}")
            return cls("s3", bucket)
        if value.startswith("file://"):
            return cls("file", value[7:])
        if "/" in value:
            return cls("file", value)
        raise SettingsError(
            f"{name} must be s3://<bucket> or a directory (file:///path, /path or ./path), got {text!r}"
        )

    @classmethod
    def directory(cls, path: str | os.PathLike[str]) -> ObjectLocation:
        return cls("file", os.fspath(path))

    def uri(self, key: str = "") -> str:
        """``s3://bucket/key``, or ``file:///abs/dir/key`` (not percent-encoded: Hadoop paths take ``=``
        literally, and encoding it would name another file)."""
        if self.scheme == "s3":
            return f"s3://{self.root}/{key}"
        return f"file://{Path(self.root).resolve() / key}" if key else f"file://{Path(self.root).resolve()}"


class DirectoryStore:
    """A local directory laid out like the bucket (``<root>/<key>``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def put_object(self, key: str, body: bytes) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # write-then-rename so a reader never sees half an object, as with S3
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        Path(tmp).replace(path)
        return f"file://{path}"  # as listed (see `ObjectLocation.uri`)

    def get_object(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def list_files(self, prefix: str, suffixes: tuple[str, ...] = ()) -> list[StoredObject]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        files = []
        for path in base.rglob("*"):
            if path.name.startswith(".") or not path.name.endswith(suffixes or ("",)) or not path.is_file():
                continue
            stat = path.stat()
            key = path.relative_to(self.root).as_posix()
            files.append(StoredObject(key, f"file://{path}", stat.st_size, stat.st_mtime_ns))
        return sorted(files, key=lambda f: f.key)

    def open(self, item: StoredObject) -> BinaryIO:
        return (self.root / item.key).open("rb")


class S3Store:
    """An S3 bucket (boto3 is imported here only, so the core stays boto3-free)."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket = bucket
        self._client = client

    def put_object(self, key: str, body: bytes) -> str:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def get_object(self, key: str) -> bytes | None:
        try:
            return bytes(self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except self._client.exceptions.NoSuchKey:
            return None

    def list_files(self, prefix: str, suffixes: tuple[str, ...] = ()) -> list[StoredObject]:
        files = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                if key.endswith(suffixes or ("",)):
                    mtime = int(obj["LastModified"].timestamp() * 1000)
                    files.append(StoredObject(key, f"s3://{self.bucket}/{key}", int(obj["Size"]), mtime))
        return sorted(files, key=lambda f: f.key)

    def open(self, item: StoredObject) -> BinaryIO:
        body: BinaryIO = self._client.get_object(Bucket=self.bucket, Key=item.key)["Body"]
        return body


OBJECT_STORES: Final[dict[Scheme, Callable[[ObjectLocation], ObjectStore]]] = {
    "s3": lambda location: S3Store(location.root),
    "file": lambda location: DirectoryStore(location.root),
}


def object_store(location: ObjectLocation) -> ObjectStore:
    """The adapter for `location`."""
    return OBJECT_STORES[location.scheme](location)


def read_config_text(location: str, what: str, setting: str, s3_client: Any = None) -> str:
    """The text of a configuration file at a path or an ``s3://bucket/key`` (boto3 is imported only for S3);
    `ValueError` saying what to do when there is none. ``what`` names the file ("rule file"), ``setting`` where its
    location is set ("PARSER_RULES")."""
    if location.startswith("s3://"):
        bucket, _, key = location[5:].partition("/")
        if not bucket or not key:
            raise ValueError(f"{setting} must be s3://bucket/key or a file path")
        body = S3Store(bucket, s3_client).get_object(key)
        if body is None:
            raise ValueError(f"no such object: upload the {what}, or point {setting} at it")
        return body.decode("utf-8")
    try:
        return Path(location).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the {what}: {exc.strerror or exc}") from None
