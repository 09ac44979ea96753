"""The log transformer's settings: where overflow goes, typed once at cold start."""

from __future__ import annotations

import pytest

from opsanalytics.settings import SettingsError
from opsanalytics.storage import ObjectLocation
from opsanalytics.transform.settings import TransformerSettings


def test_the_template_gives_the_archive_bucket_as_s3() -> None:
    settings = TransformerSettings.from_env({"OVERFLOW_LOCATION": "s3://opsanalytics-archivebucket-1a2b3c"})
    assert settings.overflow_location == ObjectLocation("s3", "opsanalytics-archivebucket-1a2b3c")
    assert settings.events_prefix == "events/"


def test_locally_a_directory_and_without_one_nothing() -> None:
    assert TransformerSettings.from_env({"OVERFLOW_LOCATION": "/tmp/bucket"}).overflow_location == (
        ObjectLocation("file", "/tmp/bucket")
    )
    assert TransformerSettings.from_env({}).overflow_location is None
    assert TransformerSettings.from_env({"EVENTS_PREFIX": "parsed"}).events_prefix == "parsed/"


@pytest.mark.parametrize("env", [{"OVERFLOW_LOCATION": "my-bucket"}, {"EVENTS_PREFIX": "/events/"}])
def test_a_bad_value_fails_at_cold_start_with_what_to_write(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=r"OVERFLOW_LOCATION|EVENTS_PREFIX"):
        TransformerSettings.from_env(env)
