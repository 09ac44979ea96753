"""Settings errors: a configuration value is missing or invalid, found once at cold start.

Each stage parses its own typed settings (`opsanalytics.transform.settings`, `opsanalytics.alerting.processor`,
`opsanalytics.batch.settings`, `opsanalytics.opensearch.client`) and raises `SettingsError` saying what is wrong
and what is expected.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message says which and what is expected."""
