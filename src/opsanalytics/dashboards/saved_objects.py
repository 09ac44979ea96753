"""The Dashboards saved objects (``assets/saved-objects/``): load them, check them against the index templates.

The deploy imports every ``assets/saved-objects/*.ndjson`` file, in name order, with
``POST _dashboards/api/saved_objects/_import?overwrite=true`` (index patterns first, then visualisations and
saved searches, then the dashboards that reference them). `validate` is what the unit tests run; it reports:

- objects that are not in the OpenSearch Dashboards 2.x format (the Kibana 7.10 one it forked from): a type,
  an id, the attributes of the type, JSON strings (``visState``, ``uiStateJSON``, ``searchSourceJSON``,
  ``panelsJSON``) that parse, ids that are unique;
- references that do not resolve: every ``indexRefName`` and ``panelRefName`` names a reference of its
  object, every reference names an object of the right type in the files, and no reference is left unused;
- fields that the index templates (``assets/index-templates``) do not map, or map with a type the use does
  not fit: the aggregations' fields (dates for date histograms, numbers for averages, aggregatable fields for
  terms), the fields of the KQL queries, the saved searches' columns and sort fields and the index patterns'
  time fields.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from opsanalytics.assets import Assets
from opsanalytics.opensearch.bootstrap import load_index_templates

SEARCH_SOURCE_INDEX_REF: Final = "kibanaSavedObjectMeta.searchSourceJSON.index"
NUMERIC_TYPES: Final = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
)
DATE_TYPES: Final = frozenset({"date", "date_nanos"})
AGGREGATABLE_TYPES: Final = NUMERIC_TYPES | DATE_TYPES | {"keyword", "boolean", "ip"}
# aggregation type → the field types it accepts
AGGREGATION_FIELD_TYPES: Final[Mapping[str, frozenset[str]]] = {
    "avg": NUMERIC_TYPES,
    "sum": NUMERIC_TYPES,
    "median": NUMERIC_TYPES,
    "percentiles": NUMERIC_TYPES,
    "min": NUMERIC_TYPES | DATE_TYPES,
    "max": NUMERIC_TYPES | DATE_TYPES,
    "cardinality": AGGREGATABLE_TYPES,
    "top_hits": AGGREGATABLE_TYPES,
    "terms": AGGREGATABLE_TYPES,
    "date_histogram": DATE_TYPES,
    "histogram": NUMERIC_TYPES,
}
REQUIRED_ATTRIBUTES: Final[Mapping[str, tuple[str, ...]]] = {
    "index-pattern": ("title",),
    "visualization": ("title", "visState", "uiStateJSON", "kibanaSavedObjectMeta"),
    "search": ("title", "columns", "sort", "kibanaSavedObjectMeta"),
    "dashboard": ("title", "panelsJSON", "optionsJSON", "kibanaSavedObjectMeta"),
}
# `field:value` terms of a KQL query (the only KQL the saved objects use besides boolean operators)
_KQL_FIELD: Final = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\s*:")


class SavedObjectsError(ValueError):
    """The saved objects are not valid; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class SavedObject:
    """One line of an NDJSON export."""

    type: str
    id: str
    attributes: dict[str, Any]
    references: tuple[dict[str, str], ...]
    source: str
    """``<file>:<line>``, for messages"""

    @property
    def title(self) -> str:
        return str(self.attributes.get("title", ""))

    def json_attribute(self, name: str) -> Any:
        """An attribute stored as a JSON string (``visState``, ``panelsJSON`` ...), parsed."""
        return json.loads(self.attributes[name])

    def search_source(self) -> dict[str, Any]:
        meta = self.attributes.get("kibanaSavedObjectMeta") or {}
        raw = meta.get("searchSourceJSON", "{}")
        parsed = json.loads(raw)
        if not isinstance(parsed, dict):
            raise ValueError("searchSourceJSON is not a JSON object")
        return parsed

    def query(self) -> str:
        """The KQL query of the object's search source ('' when none)."""
        query = self.search_source().get("query") or {}
        return str(query.get("query", "")) if isinstance(query, dict) else str(query)

    def reference(self, name: str) -> dict[str, str] | None:
        return next((ref for ref in self.references if ref.get("name") == name), None)

    def index_pattern_id(self) -> str | None:
        """The id of the index pattern the object's search source points at."""
        name = self.search_source().get("indexRefName")
        ref = self.reference(name) if isinstance(name, str) else None
        return ref["id"] if ref else None


def load_saved_objects(directory: Path | None = None) -> list[SavedObject]:
    """Every object of ``directory``'s ``*.ndjson`` files (default ``assets/saved-objects/``), files in name order."""
    directory = directory or Assets.checkout().saved_objects
    objects: list[SavedObject] = []
    files = sorted(directory.glob("*.ndjson"))
    if not files:
        raise SavedObjectsError(f"no *.ndjson saved objects in {directory}")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SavedObjectsError(f"{where}: not JSON: {exc}") from None
            if not isinstance(raw, dict) or "exportedCount" in raw:  # an export's trailing summary line
                continue
            objects.append(
                SavedObject(
                    type=str(raw.get("type", "")),
                    id=str(raw.get("id", "")),
                    attributes=dict(raw.get("attributes") or {}),
                    references=tuple(dict(ref) for ref in raw.get("references") or ()),
                    source=where,
                )
            )
    return objects


def _flatten(properties: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            if spec.get("enabled", True):
                fields.update(_flatten(spec["properties"], f"{path}."))
            continue
        kind = spec.get("type", "object")
        if kind == "object" and not spec.get("enabled", True):
            continue  # stored, not indexed: no field to search or aggregate
        fields[path] = kind
        for sub, sub_spec in (spec.get("fields") or {}).items():
            fields[f"{path}.{sub}"] = sub_spec.get("type", "object")
    return fields


@dataclass(frozen=True, slots=True)
class IndexTemplate:
    name: str
    index_patterns: tuple[str, ...]
    fields: dict[str, str]
    """field path → mapping type (objects flattened: ``dimensions.service``)"""


def mapped_templates(directory: Path | None = None) -> list[IndexTemplate]:
    """The index templates the deploy applies (`opsanalytics.opensearch.bootstrap.load_index_templates`), each
    with its mapped fields."""
    return [
        IndexTemplate(
            name=name,
            index_patterns=tuple(body.get("index_patterns", ())),
            fields=_flatten(body.get("template", {}).get("mappings", {}).get("properties", {})),
        )
        for name, body in sorted(load_index_templates(directory).items())
    ]


def templates_for(title: str, templates: Iterable[IndexTemplate]) -> list[IndexTemplate]:
    """The templates that apply to the indices an index pattern title (``metrics-batch-*``) matches."""
    patterns = [part.strip() for part in title.split(",") if part.strip()]
    found = []
    for template in templates:
        for pattern in patterns:
            # an index the pattern matches, with every wildcard standing for some text
            example = pattern.replace("*", "x")
            if any(fnmatch.fnmatchcase(example, tp) for tp in template.index_patterns):
                found.append(template)
                break
    return found


def index_pattern_fields(title: str, templates: Iterable[IndexTemplate]) -> dict[str, str]:
    """Every field of the indices behind an index pattern (the union over its templates)."""
    fields: dict[str, str] = {}
    for template in templates_for(title, templates):
        fields.update(template.fields)
    return fields


def query_fields(query: str) -> set[str]:
    """The fields a KQL query names (``record_type:alert and severity:critical`` → both)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    return set(_KQL_FIELD.findall(without_strings))


@dataclass(frozen=True, slots=True)
class FieldUse:
    field: str
    accepted: frozenset[str] | None
    """the mapping types that fit the use; None: any mapped field"""
    what: str


def field_uses(obj: SavedObject) -> list[FieldUse]:
    """The fields an object uses, with what each use requires of the field's type."""
    uses = [FieldUse(field, None, "query") for field in sorted(query_fields(obj.query()))]
    if obj.type == "visualization":
        state = obj.json_attribute("visState")
        for agg in state.get("aggs", []):
            field = (agg.get("params") or {}).get("field")
            if field:
                uses.append(FieldUse(field, AGGREGATION_FIELD_TYPES.get(agg["type"]), f"{agg['type']} aggregation"))
            sort_field = (agg.get("params") or {}).get("sortField")
            if sort_field:
                uses.append(FieldUse(sort_field, AGGREGATABLE_TYPES, f"{agg['type']} sort"))
    elif obj.type == "search":
        uses.extend(FieldUse(column, None, "column") for column in obj.attributes.get("columns", []))
        uses.extend(FieldUse(field, AGGREGATABLE_TYPES, "sort") for field, _order in obj.attributes.get("sort", []))
    elif obj.type == "index-pattern" and obj.attributes.get("timeFieldName"):
        uses.append(FieldUse(obj.attributes["timeFieldName"], DATE_TYPES, "time field"))
    return uses


def _check_format(obj: SavedObject) -> list[str]:
    problems = []
    required = REQUIRED_ATTRIBUTES.get(obj.type)
    if required is None:
        return [f"{obj.source}: unsupported type {obj.type!r}"]
    if not obj.id:
        problems.append(f"{obj.source}: no id")
    problems.extend(
        f"{obj.source}: {obj.type} {obj.id} lacks attribute {name}" for name in required if name not in obj.attributes
    )
    for ref in obj.references:
        if not {"name", "type", "id"} <= set(ref):
            problems.append(f"{obj.source}: reference {ref} needs name, type and id")
    names = [ref.get("name") for ref in obj.references]
    if len(names) != len(set(names)):
        problems.append(f"{obj.source}: duplicate reference names {names}")
    json_attributes = {
        "visualization": ("visState", "uiStateJSON"),
        "dashboard": ("panelsJSON", "optionsJSON"),
    }.get(obj.type, ())
    for name in json_attributes:
        try:
            obj.json_attribute(name)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            problems.append(f"{obj.source}: {name} is not a JSON string: {exc}")
    if obj.type in ("visualization", "search", "dashboard"):
        try:
            obj.search_source()
        except (TypeError, ValueError) as exc:
            problems.append(f"{obj.source}: searchSourceJSON is not a JSON object: {exc}")
    if obj.type == "visualization" and not problems:
        state = obj.json_attribute("visState")
        if state.get("title") != obj.title:
            problems.append(f"{obj.source}: visState title {state.get('title')!r} differs from {obj.title!r}")
        if not state.get("type") or not isinstance(state.get("aggs"), list):
            problems.append(f"{obj.source}: visState needs a type and a list of aggs")
    return problems


def _used_reference_names(obj: SavedObject) -> list[tuple[str, str]]:
    """(reference name, expected type or '') the object's attributes point through."""
    used: list[tuple[str, str]] = []
    try:
        index_ref = obj.search_source().get("indexRefName")
    except (TypeError, ValueError):
        index_ref = None
    if isinstance(index_ref, str):
        used.append((index_ref, "index-pattern"))
    if obj.type == "dashboard":
        try:
            panels = obj.json_attribute("panelsJSON")
        except (KeyError, TypeError, json.JSONDecodeError):
            panels = []
        for panel in panels:
            used.append((str(panel.get("panelRefName", "")), ""))
    return used


def validate(objects: list[SavedObject], templates: list[IndexTemplate]) -> list[str]:
    """Every problem of the saved objects (empty when they are fine)."""
    problems: list[str] = []
    by_key: dict[tuple[str, str], SavedObject] = {}
    for obj in objects:
        problems.extend(_check_format(obj))
        key = (obj.type, obj.id)
        if key in by_key:
            problems.append(f"{obj.source}: {obj.type} {obj.id} is also defined at {by_key[key].source}")
        by_key[key] = obj
    if problems:
        return problems

    for obj in objects:
        used = _used_reference_names(obj)
        for name, expected_type in used:
            ref = obj.reference(name)
            if ref is None:
                problems.append(f"{obj.source}: {obj.type} {obj.id} uses reference {name!r} it does not declare")
            elif expected_type and ref["type"] != expected_type:
                problems.append(f"{obj.source}: reference {name!r} is a {ref['type']}, expected {expected_type}")
        used_names = {name for name, _ in used}
        for ref in obj.references:
            if (ref["type"], ref["id"]) not in by_key:
                problems.append(
                    f"{obj.source}: {obj.type} {obj.id}: reference {ref['name']} → {ref['type']} {ref['id']} "
                    "is in no file"
                )
            if ref["name"] not in used_names:
                problems.append(f"{obj.source}: {obj.type} {obj.id}: reference {ref['name']} is never used")
        if obj.type in ("visualization", "search") and obj.index_pattern_id() is None:
            problems.append(f"{obj.source}: {obj.type} {obj.id} has no index pattern")

    for obj in objects:
        if obj.type == "index-pattern":
            title = obj.title
        else:
            pattern_id = obj.index_pattern_id()
            pattern = by_key.get(("index-pattern", pattern_id or ""))
            if pattern is None:
                continue  # only dashboards; a missing pattern is reported above
            title = pattern.title
        if not templates_for(title, templates):
            problems.append(f"{obj.source}: no index template applies to the index pattern {title!r}")
            continue
        fields = index_pattern_fields(title, templates)
        for use in field_uses(obj):
            kind = fields.get(use.field)
            if kind is None:
                problems.append(
                    f"{obj.source}: {obj.type} {obj.id}: {use.what} field {use.field!r} is not mapped for {title}"
                )
            elif use.accepted is not None and kind not in use.accepted:
                problems.append(
                    f"{obj.source}: {obj.type} {obj.id}: {use.what} field {use.field!r} is a {kind} in {title}"
                )
    return problems


def check_saved_objects(directory: Path | None = None, templates: Path | None = None) -> list[SavedObject]:
    """The saved objects, validated; `SavedObjectsError` lists every problem."""
    objects = load_saved_objects(directory)
    problems = validate(objects, mapped_templates(templates))
    if problems:
        raise SavedObjectsError("invalid saved objects:\n  " + "\n  ".join(problems))
    return objects
