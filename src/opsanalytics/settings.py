"""Typed settings, parsed once from the environment at cold start and failing fast on bad values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message says which and what is expected."""


def _prefix(value: str, name: str) -> str:
    if value.startswith("/"):
        raise SettingsError(f"{name} must be a key prefix without a leading '/', got {value!r}")
    return value if not value or value.endswith("/") else value + "/"


@dataclass(frozen=True, slots=True)
class TransformerSettings:
    """Settings of the Firehose log transformer."""

    overflow_location: str | None
    """Where records that do not fit in the Firehose response go: the archive bucket (name or s3://)
    or, locally, a directory. Empty: such records are answered ProcessingFailed (error prefix)."""
    events_prefix: str = "events/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TransformerSettings:
        env = os.environ if env is None else env
        return cls(
            overflow_location=env.get("OVERFLOW_BUCKET") or None,
            events_prefix=_prefix(env.get("EVENTS_PREFIX", "events/"), "EVENTS_PREFIX"),
        )
