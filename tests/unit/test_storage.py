"""The object storage port: one contract, held by both adapters (a directory, and S3 through moto), and the
typed locations that choose between them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opsanalytics.ports import ObjectStore
from opsanalytics.settings import SettingsError
from opsanalytics.storage import DirectoryStore, ObjectLocation, S3Store, object_store


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "directory":
        yield DirectoryStore(tmp_path / "bucket")
        return
    request.getfixturevalue("mocked_aws")
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="archive")
    yield S3Store("archive", client)


def test_put_get_list_and_open(store: ObjectStore) -> None:
    first = store.put_object("events/dt=2026-01-01/hour=10/a.gz", b"gzip bytes")
    store.put_object("events/dt=2026-01-01/hour=10/b.ndjson", b"{}\n")
    store.put_object("events/dt=2026-01-01/hour=10/notes.txt", b"x")
    store.put_object("raw/c.gz", b"raw")
    assert first.endswith("events/dt=2026-01-01/hour=10/a.gz")
    assert store.get_object("raw/c.gz") == b"raw"
    assert store.get_object("raw/missing.gz") is None
    listed = store.list_files("events/", (".gz", ".ndjson"))
    assert [item.key for item in listed] == [
        "events/dt=2026-01-01/hour=10/a.gz",
        "events/dt=2026-01-01/hour=10/b.ndjson",
    ]
    assert [item.size for item in listed] == [10, 3]
    assert listed[0].compressed and not listed[1].compressed
    assert listed[0].partition is not None and listed[0].partition[1] == 10
    assert len(store.list_files("events/")) == 3  # no suffixes: everything
    assert store.list_files("nothing/") == []
    with store.open(listed[0]) as stream:
        assert stream.read() == b"gzip bytes"


def test_a_second_put_replaces_the_object(store: ObjectStore) -> None:
    store.put_object("_state/bookmark.json", b"1")
    store.put_object("_state/bookmark.json", b"2")
    assert store.get_object("_state/bookmark.json") == b"2"


@pytest.mark.parametrize(
    ("text", "scheme", "root"),
    [
        ("s3://archive", "s3", "archive"),
        ("s3://archive/events/", "s3", "archive"),
        ("file:///var/tmp/bucket", "file", "/var/tmp/bucket"),
        ("/var/tmp/bucket", "file", "/var/tmp/bucket"),
        ("./bucket", "file", "./bucket"),
    ],
)
def test_locations(text: str, scheme: str, root: str) -> None:
    location = ObjectLocation.parse(text)
    assert (location.scheme, location.root) == (scheme, root)


@pytest.mark.parametrize("text", ["archive", "s3://", ""])
def test_a_location_that_names_no_adapter_is_refused_with_what_to_write(text: str) -> None:
    with pytest.raises(SettingsError, match=r"s3://<bucket>|no bucket name"):
        ObjectLocation.parse(text, "OVERFLOW_LOCATION")


def test_the_table_chooses_the_adapter(tmp_path: Path) -> None:
    assert isinstance(object_store(ObjectLocation.directory(tmp_path)), DirectoryStore)
    assert isinstance(object_store(ObjectLocation("s3", "archive")), S3Store)
    assert ObjectLocation("s3", "archive").uri("a/b") == "s3://archive/a/b"
    assert ObjectLocation.directory(tmp_path).uri("a") == f"file://{tmp_path.resolve()}/a"
