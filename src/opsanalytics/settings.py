"""Settings errors: a configuration value is missing or invalid, found once at cold start.

Each stage parses its own typed settings (`opsanalytics.transform.settings`, `opsanalytics.alerting.processor`,
`opsanalytics.batch.settings`, `opsanalytics.opensearch.client`) and raises `SettingsError` saying what is wrong
and what is expected.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message says which and what is expected."""


class ConfigFileError(ValueError):
    """A configuration file (rules, metrics) is invalid; ``problems`` lists every mistake, each naming its entry
    and field, so that one run of ``check-config`` shows them all."""

    what: ClassVar[str] = "configuration"

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid {self.what} in {source}:\n{listed}")


def versioned_yaml(
    text: str, source: str, error: type[ConfigFileError], version: int, sections: tuple[str, ...]
) -> tuple[dict[str, Any] | None, list[str]]:
    """A versioned configuration file's document (None when the file is empty) and the mistakes of its top level:
    a version other than ``version``, keys other than ``version`` and ``sections``. Raises ``error`` when the text
    is not a YAML mapping at all."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(source, [f"not valid YAML: {exc}"]) from None
    if doc is None:
        return None, []
    expected = ", ".join(("version", *sections))
    if not isinstance(doc, dict):
        raise error(source, [f"the file must be a mapping with {expected}"])
    problems = []
    if doc.get("version") != version:
        problems.append(f"field 'version': must be {version}, got {doc.get('version')!r}")
    problems.extend(
        f"field {key!r}: unknown (expected {expected})" for key in sorted(set(doc) - {"version", *sections})
    )
    return doc, problems
