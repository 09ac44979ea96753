"""Typed settings of the Firehose log transformer, parsed once from the environment at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from opsanalytics.settings import SettingsError
from opsanalytics.storage import ObjectLocation


def _prefix(value: str, name: str) -> str:
    if value.startswith("/"):
        raise SettingsError(f"{name} must be a key prefix without a leading '/', got {value!r}")
    return value if not value or value.endswith("/") else value + "/"


@dataclass(frozen=True, slots=True)
class TransformerSettings:
    """Settings of the Firehose log transformer."""

    overflow_location: ObjectLocation | None
    """Where records that do not fit in the Firehose response go (``OVERFLOW_LOCATION``): the archive bucket,
    ``s3://<bucket>``, or locally a directory. Unset: such records are answered ProcessingFailed (error prefix)."""
    events_prefix: str = "events/"
    parser_rules: str = ""
    """The declared parser and masking rules (``PARSER_RULES``: a path or ``s3://bucket/key``; empty: none)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TransformerSettings:
        env = os.environ if env is None else env
        overflow = env.get("OVERFLOW_LOCATION", "").strip()
        return cls(
            overflow_location=ObjectLocation.parse(overflow, "OVERFLOW_LOCATION") if overflow else None,
            events_prefix=_prefix(env.get("EVENTS_PREFIX", "events/"), "EVENTS_PREFIX"),
            parser_rules=env.get("PARSER_RULES", "").strip(),
        )
