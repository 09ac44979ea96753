"""The fields of a structured line that are not `LogEvent` fields of their own: kept as ``attributes``.

Nested objects are flattened to dotted keys (``{"http": {"status": 200}}`` → ``http.status``) down to
`MAX_ATTRIBUTE_DEPTH` levels; what lies deeper, and any list that holds objects or lists, is kept as its compact
JSON text. Values otherwise keep their JSON types: strings, numbers, booleans, null, lists of those.

Bounds per event, so one verbose line cannot bloat the archive or the indices:
- at most `MAX_ATTRIBUTES` keys,
- strings (and list items) cut at `MAX_ATTRIBUTE_CHARS` characters,
- at most `MAX_ATTRIBUTES_CHARS` characters of keys and string values in all.
When anything is cut or left out, the event carries ``attributes_truncated: true``.

Trace context is read from the spellings tracers and loggers write: X-Ray (``1-5f84c7a9-...`` and the
``Root=...;Parent=...`` header), W3C ``traceparent`` (``00-<trace>-<span>-<flags>``), OpenTelemetry and ECS ids.
"""

from __future__ import annotations

import json
from itertools import compress
from typing import Any, Final

import orjson

MAX_ATTRIBUTE_DEPTH: Final = 4
MAX_ATTRIBUTES: Final = 64
MAX_ATTRIBUTE_CHARS: Final = 1024
MAX_ATTRIBUTES_CHARS: Final = 8192


def may_nest(text: str) -> bool:
    """Whether a JSON object's text may hold an object or list value: a C-speed scan that lets flat lines
    (most application lines) skip `flatten`. Braces inside strings only cost the slower path."""
    return text.find("{", 1) >= 0 or text.find("[") >= 0


# Which values of a line are containers, by the types of its values: one service writes the same shapes.
_CONTAINER_MASKS: dict[tuple[type, ...], tuple[bool, ...] | None] = {}
_CONTAINER_MASKS_SIZE: Final = 512


def flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with nested objects as dotted keys, deeper ones and lists of objects as JSON text (``doc`` itself
    when no value is an object or a list). Flattened keys follow the plain ones. The containers are found by
    C-level calls (the value types, a cached mask over them) and only they are walked in Python: a Python loop
    over every key of a wide line costs more than the rest of its parsing."""
    kinds = tuple(map(type, doc.values()))
    try:
        mask = _CONTAINER_MASKS[kinds]
    except KeyError:
        mask = _container_mask(kinds)
    if mask is None:
        return doc
    flat = doc.copy()
    for key in compress(doc, mask):
        _flatten_value(flat, key, flat.pop(key), 1)
    return flat


def _container_mask(kinds: tuple[type, ...]) -> tuple[bool, ...] | None:
    mask = tuple(kind is dict or kind is list for kind in kinds)
    if len(_CONTAINER_MASKS) >= _CONTAINER_MASKS_SIZE:
        _CONTAINER_MASKS.clear()
    _CONTAINER_MASKS[kinds] = found = mask if any(mask) else None
    return found


def _flatten_into(flat: dict[str, Any], prefix: str, doc: dict[str, Any], depth: int) -> None:
    for key, value in doc.items():
        if type(value) is dict or type(value) is list:
            _flatten_value(flat, prefix + key, value, depth)
        else:
            flat[prefix + key] = value


def _flatten_value(flat: dict[str, Any], name: str, value: dict[str, Any] | list[Any], depth: int) -> None:
    """A container at ``depth`` (1: a top-level value) under ``name``."""
    if type(value) is dict:
        if value and depth < MAX_ATTRIBUTE_DEPTH:
            _flatten_into(flat, name + ".", value, depth + 1)
        else:
            flat[name] = _json_text(value) if value else value
    elif all(type(item) is not dict and type(item) is not list for item in value):
        flat[name] = value
    else:
        flat[name] = _json_text(value)


# What stands for a value nested deeper than any encoder here writes (the untouched line stays in ``raw/``).
TOO_DEEP: Final = "[nested too deep]"


def _json_text(value: object) -> str:
    """Compact JSON text of a parsed value. orjson parses up to 1,024 levels of nesting but writes at most 254;
    the standard library's encoder takes most of the rest."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:
            return TOO_DEEP


def bounded_attributes(names: tuple[str, ...], values: tuple[Any, ...]) -> tuple[dict[str, Any], bool]:
    """The attributes named ``names`` with ``values``, within the bounds; and whether anything was cut."""
    attributes: dict[str, Any] = {}
    budget = MAX_ATTRIBUTES_CHARS
    truncated = len(names) > MAX_ATTRIBUTES
    for name, written in zip(names[:MAX_ATTRIBUTES], values, strict=False):
        value = written
        kind = type(value)
        size = len(name)
        if kind is str:
            if value is TOO_DEEP:  # a line of 255+ levels is longer than the fast path takes: it ends here
                truncated = True
            elif len(value) > MAX_ATTRIBUTE_CHARS:
                value = value[:MAX_ATTRIBUTE_CHARS]
                truncated = True
            size += len(value)
        elif kind is list:
            value = [item[:MAX_ATTRIBUTE_CHARS] if type(item) is str else item for item in value]
            if value != written:
                truncated = True
            size += sum(len(item) if type(item) is str else 8 for item in value)
        if size > budget:
            truncated = True
            continue
        budget -= size
        attributes[name] = value
    return attributes, truncated


# Tracers' spellings of a trace id and a span id, best first (a layout takes the first present).
TRACE_KEYS: Final = (
    "trace_id",
    "traceId",
    "trace.id",
    "traceparent",
    "xray_trace_id",
    "x_amzn_trace_id",
    "X-Amzn-Trace-Id",
    "_X_AMZN_TRACE_ID",
    "otelTraceID",
    "dd.trace_id",
)
SPAN_KEYS: Final = ("span_id", "spanId", "span.id", "otelSpanID", "dd.span_id")


def trace_context(value: object) -> tuple[str | None, str | None]:
    """(trace id, span id) from a trace value in any of the spellings above; ids are kept as written."""
    if type(value) is not str:
        return (str(value), None) if type(value) is int else (None, None)
    text = value.strip()
    if text.startswith("Root="):  # the X-Ray header: Root=1-...;Parent=...;Sampled=1
        parts = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
        return parts.get("Root") or None, parts.get("Parent") or None
    if len(text) == 55 and text[2] == "-" and text[35] == "-" and text[52] == "-":  # W3C traceparent
        return text[3:35], text[36:52]
    return (text or None), None
