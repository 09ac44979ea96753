"""Declared parser and masking rules: the user's own line formats, and what never leaves the parser unredacted.

The file (``config/parsers.yaml``, schema ``version: 1``) has three optional sections:

``parsers``
    rules matched by log group: ``log_groups`` (exact names), ``prefixes`` or ``patterns`` (shell-style globs,
    ``*`` and ``?``). The most specific match wins: an exact name, else the longest prefix, else the first
    pattern in file order. A rule parses the line with its ``format``:

    - ``json``: a JSON object (nested keys flattened to dotted names);
    - ``regex``: ``regex`` must match the whole line (the message is usually the last group); named groups are
      the fields, and ``%{NAME}`` / ``%{NAME:field}`` insert a named pattern (`NAMED_PATTERNS`, or the file's
      own ``patterns``);
    - ``logfmt``: ``key=value`` pairs;
    - ``delimited``: ``delimiter`` and ``columns``; the last column takes the rest of the line.

    ``fields`` maps the event's fields to the line's: ``level``, ``message``, ``timestamp``, ``latency``,
    ``status``, ``service``, ``request_id``, ``trace_id``, ``method``, ``path``, ``client_ip``,
    ``user_agent``, ``bytes``; a field not mapped is taken from a line field of its own name when there is one.
    ``timestamp_format`` is ``auto`` (ISO-8601 or epoch seconds to nanoseconds), ``epoch_s``, ``epoch_ms`` or a
    ``strptime`` format; ``latency_unit`` is ``ms``, ``s``, ``us`` or ``ns``, or ``auto`` for values that carry
    their unit (``35ms``, ``1.2s``). Every other field of the line is kept in the event's attributes. A line
    the rule does not parse is auto-detected as if there were no rule, and counted as the rule's miss.

``masking``
    ``attributes``: names (case-insensitive; a dotted attribute matches by its full name or its last part)
    whose values are replaced by ``[REDACTED]``; ``patterns``: names from `MASK_PATTERNS` or
    ``{name, regex}`` of your own, whose matches in the message, the path, the user agent and every string
    attribute are replaced by ``[REDACTED:<name>]``. Card numbers are masked only when they pass the Luhn
    check, so order numbers stay.

``patterns``
    named patterns of your own for the ``regex`` rules, beside the library.

Regular expressions run on RE2 (``google-re2``): matching is linear in the line's length, whatever the pattern,
so no pattern can backtrack catastrophically; what RE2 cannot do in linear time (back-references, look-around)
is refused at load, naming the rule. Every mistake in the file is reported at once, each naming the file, the
rule and the field (`RuleFileError`).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from opsanalytics.settings import ConfigFileError, versioned_yaml
from opsanalytics.storage import read_config_text

RULES_FILE_VERSION: Final = 1
ParserFormat = Literal["json", "regex", "logfmt", "delimited"]
PARSER_FORMATS: Final[tuple[ParserFormat, ...]] = get_args(ParserFormat)
TARGET_FIELDS: Final = (
    "level",
    "message",
    "timestamp",
    "latency",
    "status",
    "service",
    "request_id",
    "trace_id",
    "method",
    "path",
    "client_ip",
    "user_agent",
    "bytes",
)
"""The event fields a rule maps; ``latency`` becomes ``latency_ms`` in its unit."""
LATENCY_UNITS: Final = {"ms": 1.0, "s": 1000.0, "us": 0.001, "ns": 0.000001}
REDACTED: Final = "[REDACTED]"
MASKED_FIELDS: Final = ("message", "path", "user_agent")
"""The event's own text fields that masking patterns apply to (beside every string attribute)."""

NAMED_PATTERNS: Final[dict[str, str]] = {
    "INT": r"[+-]?\d+",
    "NUMBER": r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?",
    "WORD": r"\w+",
    "NOTSPACE": r"\S+",
    "DATA": r".*?",
    "GREEDYDATA": r"(?s:.*)",
    "QUOTEDSTRING": r'"(?:[^"\\]|\\.)*"',
    "UUID": r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
    "IPV4": r"(?:\d{1,3}\.){3}\d{1,3}",
    "IPV6": r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}",
    "IP": r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})",
    "TIMESTAMP_ISO8601": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",
    "HTTPDATE": r"\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
    "EPOCH": r"\d{10}(?:\d{3})?(?:\.\d+)?",
    "LEVEL": r"(?i:trace|debug|info|notice|warn|warning|error|err|severe|fatal|critical|crit|panic)",
    "DURATION": r"\d+(?:\.\d+)?(?:ns|us|µs|ms|s)",
    "HTTPMETHOD": r"(?:GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|CONNECT|TRACE)",
    "URIPATH": r"/[^\s?#]*",
    "STATUS": r"[1-5]\d{2}",
}
"""The library of ``%{NAME}`` patterns for ``regex`` rules."""

MASK_PATTERNS: Final[dict[str, str]] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "card_number": r"\b\d(?:[ -]?\d){12,18}\b",
    "bearer_token": r"(?i:bearer)\s+[A-Za-z0-9._~+/-]+=*",
    "aws_access_key": r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    "jwt": r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
}
"""Masking patterns by name: the ``patterns`` of the ``masking`` section may name these."""


class RuleFileError(ConfigFileError):
    """The rule file is invalid. ``problems`` lists every mistake, each naming the rule and the field."""

    what = "parser rules"


def _re2() -> Any:
    """The RE2 module, imported when a file has expressions (the batch job never needs it)."""
    import re2  # type: ignore[import-untyped]

    return re2


def compile_re2(pattern: str) -> Any:
    """An RE2 expression; `ValueError` with RE2's reason when it cannot run in linear time or does not parse."""
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(reason) from None


def expand_patterns(expression: str, named: Mapping[str, str]) -> str:
    """``%{NAME}`` → ``(?:pattern)``, ``%{NAME:field}`` → ``(?P<field>pattern)``; `KeyError` naming an unknown NAME."""
    out: list[str] = []
    position = 0
    while (start := expression.find("%{", position)) != -1:
        end = expression.find("}", start)
        if end == -1:
            break
        name, _, group = expression[start + 2 : end].partition(":")
        if name not in named:
            raise KeyError(name)
        out.append(expression[position:start])
        out.append(f"(?P<{group}>{named[name]})" if group else f"(?:{named[name]})")
        position = end + 1
    out.append(expression[position:])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class ParserRule:
    name: str
    format: ParserFormat
    log_groups: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    """event field → the line's field (defaults filled in: each target from a field of its own name)"""
    timestamp_format: str = "auto"
    latency_unit: str = "ms"
    regex: Any = None
    delimiter: str = ""
    columns: tuple[str, ...] = ()


_NO_SPAN: Final = (-1, -1)


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class Masking:
    attribute_names: frozenset[str] = frozenset()
    """lower-case names whose values are redacted whole"""
    pattern_names: tuple[str, ...] = ()
    expression: Any = None
    """one RE2 alternation of the patterns, a named group per pattern"""
    _names: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    _unanchored: Any = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.expression is not None:
            object.__setattr__(self, "_unanchored", _re2()._Anchor.UNANCHORED)  # frozen

    @property
    def active(self) -> bool:
        return bool(self.attribute_names) or self.expression is not None

    def _replacement(self, match: Any) -> str:
        name = match.lastgroup
        if name == "card_number":
            digits = "".join(char for char in match.group(0) if char.isdigit())
            if not _luhn(digits):
                return str(match.group(0))
        return f"[REDACTED:{name}]"

    def found_in(self, text: str) -> bool:
        """Whether a pattern matches somewhere in ``text``: the compiled RE2 object's own ``Match`` (google-re2
        1.1's ``_regexp``), which costs half of ``search``, as it builds no match object."""
        encoded = text.encode("utf-8")
        return bool(self.expression._regexp.Match(self._unanchored, encoded, 0, len(encoded))[0] != _NO_SPAN)

    def text(self, value: str) -> str:
        if self.expression is None or not value or not self.found_in(value):
            return value
        return str(self.expression.sub(self._replacement, value))

    def redacts(self, name: str) -> bool:
        """Whether an attribute of this name is redacted whole (its full name or last dotted part is listed)."""
        known = self._names.get(name)
        if known is None:
            lowered = name.lower()
            known = lowered in self.attribute_names or lowered.rpartition(".")[2] in self.attribute_names
            if len(self._names) < 100_000:  # attribute names repeat; a flood of unique ones is not kept
                self._names[name] = known
        return known

    def _attribute(self, name: str, value: Any) -> Any:
        if self.attribute_names and self.redacts(name):
            return REDACTED
        if type(value) is str:
            return self.text(value)
        if type(value) is list:
            return [self.text(item) if type(item) is str else item for item in value]
        return value

    def apply(self, event: dict[str, Any]) -> int:
        """Redacts ``event`` in place; the number of values changed.

        Most events hold nothing to mask, and one RE2 scan costs about as much as the next, whatever the length:
        the event's text values are scanned joined by newlines, once, and one by one only when that scan finds
        something. (A joined match that spans two values is a false alarm the one-by-one pass clears; a match in
        a value is a match in the joined text, so nothing is missed.)"""
        changed = 0
        attributes = event.get("attributes")
        if attributes and self.attribute_names:
            for name, value in attributes.items():
                if value != REDACTED and self.redacts(name):
                    attributes[name] = REDACTED
                    changed += 1
        if self.expression is None:
            return changed
        texts = [value for name in MASKED_FIELDS if type(value := event.get(name)) is str]
        if attributes:
            for value in attributes.values():
                if type(value) is str:
                    texts.append(value)
                elif type(value) is list:
                    texts.extend(item for item in value if type(item) is str)
        if not self.found_in("\n".join(texts)):
            return changed
        for name in MASKED_FIELDS:
            value = event.get(name)
            if type(value) is str:
                masked = self.text(value)
                if masked != value:
                    event[name] = masked
                    changed += 1
        if attributes:
            for name, value in attributes.items():
                masked = self._attribute(name, value)
                if masked is not value and masked != value:
                    attributes[name] = masked
                    changed += 1
        return changed


@dataclass(slots=True)
class RuleStats:
    """What the rules did, per rule name: lines parsed, lines missed (auto-detected instead); values masked."""

    parsed: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    masked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"parsed": dict(self.parsed), "missed": dict(self.missed), "masked": self.masked}


@dataclass(slots=True)
class ParserConfig:
    """A loaded rule file: the parser rules, the masking, and the per-log-group choice (cached)."""

    rules: tuple[ParserRule, ...] = ()
    masking: Masking = field(default_factory=Masking)
    source: str = ""
    stats: RuleStats = field(default_factory=RuleStats)
    _chosen: dict[str, ParserRule | None] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.rules and not self.masking.active

    def rule_for(self, log_group: str) -> ParserRule | None:
        """The most specific rule for ``log_group``: exact name, else the longest prefix, else the first pattern."""
        try:
            return self._chosen[log_group]
        except KeyError:
            pass
        chosen = next((rule for rule in self.rules if log_group in rule.log_groups), None)
        if chosen is None:
            prefixed = [
                (len(prefix), -index, rule)
                for index, rule in enumerate(self.rules)
                for prefix in rule.prefixes
                if log_group.startswith(prefix)
            ]
            if prefixed:
                chosen = max(prefixed, key=lambda item: (item[0], item[1]))[2]
        if chosen is None:
            chosen = next(
                (rule for rule in self.rules if any(fnmatch.fnmatchcase(log_group, p) for p in rule.patterns)), None
            )
        if len(self._chosen) > 10_000:  # many log groups in a long-lived process: forget, do not grow
            self._chosen.clear()
        self._chosen[log_group] = chosen
        return chosen


NO_RULES: Final = ParserConfig()


# ---- loading and validation ------------------------------------------------------------------------------


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return tuple(value)
    return None


_RULE_KEYS: Final = frozenset(
    {
        "name",
        "format",
        "log_groups",
        "prefixes",
        "patterns",
        "fields",
        "timestamp_format",
        "latency_unit",
        "regex",
        "delimiter",
        "columns",
    }
)


def _rule_from(raw: Any, index: int, named: Mapping[str, str], problems: list[str]) -> ParserRule | None:
    label = f"parser {index + 1}"
    if not isinstance(raw, dict):
        problems.append(f"{label}: must be a mapping with name, format and log_groups, prefixes or patterns")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{label}: field 'name': a non-empty string is required")
        name = f"#{index + 1}"
    label = f"parser {name!r}"
    before = len(problems)
    for key in sorted(set(raw) - _RULE_KEYS):
        problems.append(f"{label}: field {key!r}: unknown (expected one of {', '.join(sorted(_RULE_KEYS))})")
    fmt = raw.get("format")
    if fmt not in PARSER_FORMATS:
        problems.append(f"{label}: field 'format': must be one of {', '.join(PARSER_FORMATS)}, got {fmt!r}")
    matchers: dict[str, tuple[str, ...]] = {}
    for key in ("log_groups", "prefixes", "patterns"):
        if key in raw:
            values = _strings(raw[key])
            if values is None:
                problems.append(f"{label}: field {key!r}: a log group name or a list of them")
            else:
                matchers[key] = values
    if not any(matchers.values()):
        problems.append(f"{label}: no log group to match: give log_groups, prefixes or patterns")
    fields: dict[str, str] = {}
    raw_fields = raw.get("fields", {})
    if not isinstance(raw_fields, dict):
        problems.append(f"{label}: field 'fields': a mapping of event field to the line's field")
        raw_fields = {}
    for target, source in raw_fields.items():
        if target not in TARGET_FIELDS:
            problems.append(f"{label}: field 'fields.{target}': unknown (expected one of {', '.join(TARGET_FIELDS)})")
        elif not isinstance(source, str) or not source:
            problems.append(f"{label}: field 'fields.{target}': the name of a field of the line")
        else:
            fields[target] = source
    timestamp_format = raw.get("timestamp_format", "auto")
    if not isinstance(timestamp_format, str) or not timestamp_format:
        problems.append(f"{label}: field 'timestamp_format': auto, epoch_s, epoch_ms or a strptime format")
    elif timestamp_format not in ("auto", "epoch_s", "epoch_ms") and "%" not in timestamp_format:
        problems.append(
            f"{label}: field 'timestamp_format': auto, epoch_s, epoch_ms or a strptime format "
            f"(with % directives), got {timestamp_format!r}"
        )
    latency_unit = raw.get("latency_unit", "ms")
    if latency_unit not in (*LATENCY_UNITS, "auto"):
        problems.append(f"{label}: field 'latency_unit': one of ms, s, us, ns, auto, got {latency_unit!r}")
    regex = None
    columns: tuple[str, ...] = ()
    delimiter = ""
    group_names: tuple[str, ...] = ()
    if fmt == "regex":
        expression = raw.get("regex")
        if not isinstance(expression, str) or not expression:
            problems.append(f"{label}: field 'regex': a regular expression is required for format regex")
        else:
            try:
                regex = compile_re2(expand_patterns(expression, named))
            except KeyError as exc:
                problems.append(f"{label}: field 'regex': unknown named pattern %{{{exc.args[0]}}}")
            except ValueError as exc:
                problems.append(f"{label}: field 'regex': not an RE2 expression ({exc})")
            else:
                group_names = tuple(regex.groupindex)
                if not group_names:
                    problems.append(f"{label}: field 'regex': has no named group ((?P<name>...) or %{{NAME:name}})")
    elif "regex" in raw:
        problems.append(f"{label}: field 'regex': only for format regex")
    if fmt == "delimited":
        delimiter = raw.get("delimiter", "")
        if not isinstance(delimiter, str) or not delimiter:
            problems.append(f"{label}: field 'delimiter': a non-empty string is required for format delimited")
        names = _strings(raw.get("columns"))
        if names is None or len(names) < 2 or len(set(names)) != len(names):
            problems.append(f"{label}: field 'columns': at least two distinct column names")
        else:
            columns = group_names = names
    for target, source in fields.items():
        if group_names and source not in group_names:
            kind = "group of the regex" if fmt == "regex" else "column"
            problems.append(f"{label}: field 'fields.{target}': {source!r} is not a {kind}")
    if len(problems) > before or fmt not in PARSER_FORMATS:
        return None
    return ParserRule(
        name=name,
        format=fmt,
        log_groups=matchers.get("log_groups", ()),
        prefixes=matchers.get("prefixes", ()),
        patterns=matchers.get("patterns", ()),
        fields={target: fields.get(target, target) for target in TARGET_FIELDS},
        timestamp_format=timestamp_format,
        latency_unit=latency_unit,
        regex=regex,
        delimiter=delimiter,
        columns=columns,
    )


def _masking_from(raw: Any, problems: list[str]) -> Masking:
    if raw is None:
        return Masking()
    if not isinstance(raw, dict):
        problems.append("masking: must be a mapping with attributes and/or patterns")
        return Masking()
    for key in sorted(set(raw) - {"attributes", "patterns"}):
        problems.append(f"masking: field {key!r}: unknown (expected attributes, patterns)")
    names: frozenset[str] = frozenset()
    if "attributes" in raw:
        values = _strings(raw["attributes"])
        if values is None:
            problems.append("masking: field 'attributes': a list of attribute names")
        else:
            names = frozenset(value.lower() for value in values)
    alternatives: list[tuple[str, str]] = []
    for index, item in enumerate(raw.get("patterns") or []):
        if isinstance(item, str):
            if item not in MASK_PATTERNS:
                problems.append(
                    f"masking: pattern {index + 1}: unknown name {item!r} (expected one of "
                    f"{', '.join(MASK_PATTERNS)}, or {{name, regex}})"
                )
                continue
            alternatives.append((item, MASK_PATTERNS[item]))
        elif isinstance(item, dict) and set(item) == {"name", "regex"}:
            name, expression = item["name"], item["regex"]
            if not isinstance(name, str) or not name.isidentifier():
                problems.append(f"masking: pattern {index + 1}: field 'name': letters, digits and _, got {name!r}")
                continue
            try:
                compile_re2(str(expression))
            except ValueError as exc:
                problems.append(f"masking: pattern {name!r}: field 'regex': not an RE2 expression ({exc})")
                continue
            alternatives.append((name, str(expression)))
        else:
            problems.append(f"masking: pattern {index + 1}: a name or {{name, regex}}")
    if len({name for name, _ in alternatives}) != len(alternatives):
        problems.append("masking: a pattern name is used more than once")
    if not alternatives:
        return Masking(attribute_names=names)
    joined = "|".join(f"(?P<{name}>{expression})" for name, expression in alternatives)
    try:
        expression = compile_re2(joined)
    except ValueError as exc:  # a group name inside a user's pattern clashing with another
        problems.append(f"masking: the patterns together are not an RE2 expression ({exc})")
        return Masking(attribute_names=names)
    return Masking(names, tuple(name for name, _ in alternatives), expression)


def parse_rule_file(text: str, source: str) -> ParserConfig:
    doc, problems = versioned_yaml(text, source, RuleFileError, RULES_FILE_VERSION, ("parsers", "masking", "patterns"))
    if doc is None:
        return ParserConfig(source=source)
    named = dict(NAMED_PATTERNS)
    own = doc.get("patterns") or {}
    if not isinstance(own, dict):
        problems.append("field 'patterns': a mapping of NAME to a regular expression")
        own = {}
    for name, expression in own.items():
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            problems.append(f"pattern {name!r}: the name must be letters, digits and _")
            continue
        try:
            compile_re2(str(expression))
        except ValueError as exc:
            problems.append(f"pattern {name!r}: not an RE2 expression ({exc})")
            continue
        named[name] = str(expression)
    raw_rules = doc.get("parsers") or []
    if not isinstance(raw_rules, list):
        problems.append("field 'parsers': a list of parser rules")
        raw_rules = []
    rules: list[ParserRule] = []
    for index, raw in enumerate(raw_rules):
        rule = _rule_from(raw, index, named, problems)
        if rule is None:
            continue
        if any(other.name == rule.name for other in rules):
            problems.append(f"parser {rule.name!r}: field 'name': is used by more than one rule")
        rules.append(rule)
    masking = _masking_from(doc.get("masking"), problems)
    if problems:
        raise RuleFileError(source, problems)
    return ParserConfig(rules=tuple(rules), masking=masking, source=source)


def load_rule_file(location: str, s3_client: Any = None) -> ParserConfig:
    """Rules from a file path or an ``s3://bucket/key`` (boto3 is imported only for S3)."""
    try:
        text = read_config_text(location, "rule file", "PARSER_RULES", s3_client)
    except ValueError as exc:
        raise RuleFileError(location, [str(exc)]) from None
    return parse_rule_file(text, location)


def describe_rules(config: ParserConfig) -> Sequence[str]:
    """One line per rule and for the masking, for ``check-config``."""
    lines = [
        f"parser {rule.name!r} ({rule.format}): "
        + ", ".join(
            part
            for part in (
                f"log groups {', '.join(rule.log_groups)}" if rule.log_groups else "",
                f"prefixes {', '.join(rule.prefixes)}" if rule.prefixes else "",
                f"patterns {', '.join(rule.patterns)}" if rule.patterns else "",
            )
            if part
        )
        for rule in config.rules
    ]
    masking = config.masking
    if masking.active:
        lines.append(
            f"masking: attributes {', '.join(sorted(masking.attribute_names)) or '-'}; "
            f"patterns {', '.join(masking.pattern_names) or '-'}"
        )
    return lines
