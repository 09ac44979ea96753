"""Declared metrics: the KPIs a team keeps in its own log lines, defined once in ``config/metrics.yaml`` and
computed by the realtime job and the batch job through this module.

A metric is one of:

- ``count``: events that match its ``where`` conditions (a group whose events match none counts 0, so that a
  count that stops is seen to stop);
- ``sum``, ``avg``, ``min``, ``max`` or ``percentile`` (with ``percentile: 95``) of a numeric ``field`` of the
  events that match (exact percentiles, type 7 as the metric windows' latencies: `windows.percentile`);
- ``ratio``: events that match ``numerator`` among those that match ``where`` (the denominator).

Each is grouped by service and up to `MAX_DIMENSIONS` declared ``dimensions`` (fields of the events), over
tumbling windows of its own ``window_seconds`` (a divisor of an hour, so that the batch job's hour-by-hour
recomputation holds whole windows). A window keeps at most ``max_groups`` groups: the ones with the most events
when it is emitted; the rest are folded into one `OTHER` group, whose document counts them in
``groups_folded``. A group that got a document of its own keeps it in later revisions (so that no document goes
stale), and a group first seen in a correction gets one while there is room.

Conditions read a `LogEvent` field (``level``, ``message``, ``status``, ``latency_ms``, ...) or, for any other
name, the line's attribute of that name (``attributes.NAME`` also works). Each condition is one of ``equals``,
``not_equals``, ``in`` (a list), ``contains``, ``regex`` (RE2: linear time), ``min`` / ``max`` (inclusive, on
numbers) and ``exists``; a metric's conditions must all hold.

The realtime job keeps its plan whatever the file declares: the decoder turns each record into rows of
(metric, window, groups with their partial figures), `DeclaredWindowState` keeps one metric window per key, and
both are data, not operators. `compute_declared` is the reference both engines are tested against.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, TypedDict, cast, get_args

from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.rules import compile_re2
from opsanalytics.realtime.revisions import RowUpdate, WindowTiming, fire, place
from opsanalytics.realtime.windows import percentile
from opsanalytics.settings import ConfigFileError, versioned_yaml
from opsanalytics.storage import read_config_text
from opsanalytics.timestamps import iso_utc

METRICS_FILE_VERSION: Final = 1
DECLARED_SCHEMA_VERSION: Final = 1
MetricKind = Literal["count", "sum", "avg", "min", "max", "percentile", "ratio"]
METRIC_KINDS: Final[tuple[MetricKind, ...]] = get_args(MetricKind)
NUMERIC_KINDS: Final = frozenset({"sum", "avg", "min", "max", "percentile"})
MAX_DIMENSIONS: Final = 3
DEFAULT_MAX_GROUPS: Final = 20
MAX_GROUPS_LIMIT: Final = 200
MAX_TRACKED_GROUPS: Final = 1000
"""Groups a metric window tracks one by one; events of further groups go straight to `OTHER`."""
DEFAULT_METRIC_WINDOW_SECONDS: Final = 60
OTHER: Final = "<other>"
MISSING: Final = "-"
"""A dimension's value in a group whose events lack the field."""
OPERATORS: Final = ("equals", "not_equals", "in", "contains", "regex", "min", "max", "exists")
_EVENT_FIELDS: Final = frozenset(LogEvent.__annotations__)


class MetricsFileError(ConfigFileError):
    """The metrics file is invalid; ``problems`` names the metric and the field of each mistake."""

    what = "metric definitions"


def field_value(event: Mapping[str, Any], name: str) -> Any:
    """A `LogEvent` field, else the attribute of that name (``attributes.`` may prefix it)."""
    if name in _EVENT_FIELDS:
        return event.get(name)
    attributes = event.get("attributes")
    if not attributes:
        return None
    return attributes.get(name[11:] if name.startswith("attributes.") else name)


def number(value: Any) -> float | None:
    """A finite number from a field's value (numbers and numeric text; not booleans)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    operator: str
    value: Any = None
    expression: Any = None  # the compiled RE2 expression of ``regex``

    def holds(self, event: Mapping[str, Any]) -> bool:
        value = field_value(event, self.field)
        operator = self.operator
        if operator == "exists":
            return (value is not None) is bool(self.value)
        if value is None:
            return operator == "not_equals"
        if operator in ("min", "max"):
            amount = number(value)
            if amount is None:
                return False
            return bool(amount >= self.value if operator == "min" else amount <= self.value)
        text = _text(value)
        if operator == "equals":
            return bool(text == self.value)
        if operator == "not_equals":
            return bool(text != self.value)
        if operator == "in":
            return text in self.value
        if operator == "contains":
            return self.value in text
        return self.expression.search(text) is not None  # regex


def conditions_hold(conditions: Sequence[Condition], event: Mapping[str, Any]) -> bool:
    return all(condition.holds(event) for condition in conditions)


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    id: str
    kind: MetricKind
    where: tuple[Condition, ...] = ()
    numerator: tuple[Condition, ...] = ()
    field: str = ""
    percentile: float = 0.0
    """The fraction (0.95) of a ``percentile`` metric."""
    dimensions: tuple[str, ...] = ()
    max_groups: int = DEFAULT_MAX_GROUPS
    window_seconds: int = DEFAULT_METRIC_WINDOW_SECONDS
    unit: str = ""
    description: str = ""
    log_groups: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    @property
    def keeps_values(self) -> bool:
        return self.kind == "percentile"

    def applies_to(self, log_group: str) -> bool:
        if not (self.log_groups or self.prefixes or self.patterns):
            return True
        return (
            log_group in self.log_groups
            or any(log_group.startswith(prefix) for prefix in self.prefixes)
            or any(fnmatch.fnmatchcase(log_group, pattern) for pattern in self.patterns)
        )

    def group_of(self, event: Mapping[str, Any]) -> tuple[str, ...]:
        values = [event["service"]]
        for name in self.dimensions:
            value = field_value(event, name)
            values.append(MISSING if value is None else _text(value)[:200])
        return tuple(values)


@dataclass(slots=True)
class MetricStats:
    """Per metric: events counted, and events its conditions matched whose field had no number."""

    counted: Counter[str] = field(default_factory=Counter)
    not_numeric: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"counted": dict(self.counted), "not_numeric": dict(self.not_numeric)}


# A group's figures, as lists so that they cross from the decoder to the keyed state as JSON and stay cheap to
# keep: [count, numerator, sum, min, max, values, late_events]. ``values`` only for percentiles.
Figures = list[Any]
COUNT, NUMERATOR, SUM, MIN, MAX, VALUES, LATE = range(7)


def new_figures() -> Figures:
    return [0, 0, 0.0, None, None, [], 0]


def add_value(figures: Figures, amount: float | None, numerator: bool, keep_values: bool) -> None:
    figures[COUNT] += 1
    if numerator:
        figures[NUMERATOR] += 1
    if amount is not None:
        figures[SUM] += amount
        figures[MIN] = amount if figures[MIN] is None else min(figures[MIN], amount)
        figures[MAX] = amount if figures[MAX] is None else max(figures[MAX], amount)
        if keep_values:
            figures[VALUES].append(amount)


def merge_figures(into: Figures, other: Sequence[Any]) -> None:
    into[COUNT] += other[COUNT]
    into[NUMERATOR] += other[NUMERATOR]
    into[SUM] += other[SUM]
    for index, pick in ((MIN, min), (MAX, max)):
        if other[index] is not None:
            into[index] = other[index] if into[index] is None else pick(into[index], other[index])
    into[VALUES].extend(other[VALUES])
    into[LATE] += other[LATE]


@dataclass(slots=True)
class MetricsConfig:
    """A loaded metrics file, with the metrics that apply to each log group (cached)."""

    metrics: tuple[MetricDefinition, ...] = ()
    source: str = ""
    stats: MetricStats = field(default_factory=MetricStats)
    _applicable: dict[str, tuple[MetricDefinition, ...]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.metrics

    def by_id(self, metric_id: str) -> MetricDefinition | None:
        return next((metric for metric in self.metrics if metric.id == metric_id), None)

    def for_log_group(self, log_group: str) -> tuple[MetricDefinition, ...]:
        found = self._applicable.get(log_group)
        if found is None:
            if len(self._applicable) > 10_000:
                self._applicable.clear()
            found = self._applicable[log_group] = tuple(m for m in self.metrics if m.applies_to(log_group))
        return found

    def contributions(
        self, events: Iterable[LogEvent], log_group: str
    ) -> dict[tuple[str, int], tuple[int, dict[tuple[str, ...], Figures]]]:
        """The events' figures by (metric id, window start): (newest event time, figures by group). The decoder
        sends one row per entry; the batch job and the reference add them up the same way."""
        metrics = self.for_log_group(log_group)
        out: dict[tuple[str, int], tuple[int, dict[tuple[str, ...], Figures]]] = {}
        if not metrics:
            return out
        stats = self.stats
        for event in events:
            ts = event["timestamp"]
            for metric in metrics:
                if metric.where and not conditions_hold(metric.where, event):
                    if metric.kind == "count":  # its group counts 0: a count that stops is seen to stop
                        self._group_figures(out, metric, event, ts)
                    continue
                amount = None
                if metric.kind in NUMERIC_KINDS:
                    amount = number(field_value(event, metric.field))
                    if amount is None:
                        stats.not_numeric[metric.id] += 1
                        continue
                numerator = metric.kind == "ratio" and conditions_hold(metric.numerator, event)
                add_value(self._group_figures(out, metric, event, ts), amount, numerator, metric.keeps_values)
                stats.counted[metric.id] += 1
        return out

    @staticmethod
    def _group_figures(
        out: dict[tuple[str, int], tuple[int, dict[tuple[str, ...], Figures]]],
        metric: MetricDefinition,
        event: LogEvent,
        ts: int,
    ) -> Figures:
        key = (metric.id, ts - ts % metric.window_ms)
        entry = out.get(key)
        if entry is None:
            entry = out[key] = (ts, {})
        elif ts > entry[0]:
            out[key] = entry = (ts, entry[1])
        group = metric.group_of(event)
        figures = entry[1].get(group)
        if figures is None:
            figures = entry[1][group] = new_figures()
        return figures


NO_METRICS: Final = MetricsConfig()


# ---- documents ---------------------------------------------------------------------------------------------


class DeclaredMetric(TypedDict):
    """One declared metric of one group and window (schema version 1). ``value`` is the metric's figure (None when
    no event of the window gave one); ``count`` the events counted (a ratio's denominator)."""

    schema_version: int
    record_type: Literal["declared_metric"]
    metric: str
    kind: str
    unit: str
    owner: str
    service: str
    group: str
    """The group as one keyword: ``service`` then ``name=value`` per dimension, joined by ``|``."""
    dimensions: dict[str, str]
    window_start: str
    window_end: str
    window_seconds: int
    revision: int
    value: float | None
    count: int
    numerator: int | None
    sum: float | None
    min: float | None
    max: float | None
    late_events: int
    groups_folded: int
    """In the `OTHER` document: how many groups were folded into it."""


# The document's fields in order with their Flink SQL types: the realtime job's sink columns; a test holds them
# against the TypedDict and the index template.
DECLARED_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("schema_version", "INT"),
    ("record_type", "STRING"),
    ("metric", "STRING"),
    ("kind", "STRING"),
    ("unit", "STRING"),
    ("owner", "STRING"),
    ("service", "STRING"),
    ("group", "STRING"),
    ("dimensions", "MAP<STRING, STRING>"),
    ("window_start", "STRING"),
    ("window_end", "STRING"),
    ("window_seconds", "INT"),
    ("revision", "INT"),
    ("value", "DOUBLE"),
    ("count", "BIGINT"),
    ("numerator", "BIGINT"),
    ("sum", "DOUBLE"),
    ("min", "DOUBLE"),
    ("max", "DOUBLE"),
    ("late_events", "BIGINT"),
    ("groups_folded", "BIGINT"),
)


def fitted(metric: MetricDefinition, group: Sequence[str]) -> tuple[str, ...]:
    """A group's values for the metric's current dimensions: a window kept across an edit of the file that changed
    them has groups of the old shape (missing values read as `MISSING`)."""
    size = 1 + len(metric.dimensions)
    return (*group[:size], *(MISSING,) * (size - len(group)))


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("=", "\\=")


def group_label(metric: MetricDefinition, group: Sequence[str]) -> str:
    """``service|name=value|...`` with a ``\\`` before each ``\\``, ``|`` and ``=`` of the values, so that two
    groups never share a label (and a document id)."""
    values = fitted(metric, group)
    pairs = (f"{name}={_escaped(value)}" for name, value in zip(metric.dimensions, values[1:], strict=True))
    return "|".join([_escaped(values[0]), *pairs])


def declared_document_id(owner: str, metric_id: str, window_start: str, group: str) -> str:
    """Deterministic: a replay or a later revision overwrites the document."""
    parts = ("declared_metric", owner, metric_id, window_start, group)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]


def metric_value(metric: MetricDefinition, figures: Sequence[Any]) -> float | None:
    count = figures[COUNT]
    if metric.kind == "count":
        return float(count)
    if metric.kind == "ratio":
        return float(figures[NUMERATOR]) / count if count else None
    if not count:
        return None
    if metric.kind == "sum":
        return float(figures[SUM])
    if metric.kind == "avg":
        return float(figures[SUM]) / int(count)
    if metric.kind in ("min", "max"):
        return float(figures[MIN if metric.kind == "min" else MAX])
    values = sorted(figures[VALUES])
    return percentile(values, metric.percentile) if values else None


def document(
    metric: MetricDefinition,
    owner: str,
    start_ms: int,
    group: Sequence[str],
    figures: Sequence[Any],
    *,
    revision: int = 1,
    value: float | None = None,
    frozen: bool = False,
    groups_folded: int = 0,
) -> DeclaredMetric:
    """The document of one group; ``frozen`` takes ``value`` as given (a finalized percentile)."""
    numeric = metric.kind in NUMERIC_KINDS
    other = group[0] == OTHER
    return DeclaredMetric(
        schema_version=DECLARED_SCHEMA_VERSION,
        record_type="declared_metric",
        metric=metric.id,
        kind=metric.kind,
        unit=metric.unit,
        owner=owner,
        service=group[0],
        group=OTHER if other else group_label(metric, group),
        dimensions={
            name: OTHER if other else value
            for name, value in zip(metric.dimensions, fitted(metric, group)[1:], strict=True)
        },
        window_start=iso_utc(start_ms),
        window_end=iso_utc(start_ms + metric.window_ms),
        window_seconds=metric.window_seconds,
        revision=revision,
        value=value if frozen else metric_value(metric, figures),
        count=figures[COUNT],
        numerator=figures[NUMERATOR] if metric.kind == "ratio" else None,
        sum=float(figures[SUM]) if numeric and figures[COUNT] else None,
        min=figures[MIN] if numeric else None,
        max=figures[MAX] if numeric else None,
        late_events=figures[LATE],
        groups_folded=groups_folded,
    )


def pick_groups(groups: Mapping[tuple[str, ...], Sequence[Any]], max_groups: int) -> list[tuple[str, ...]]:
    """The groups that get documents of their own: the most events, ties by the group's values."""
    ranked = sorted(groups.items(), key=lambda item: (-item[1][COUNT], item[0]))
    return [group for group, _ in ranked[:max_groups]]


class WindowKey(NamedTuple):
    owner: str
    metric: str
    start_ms: int


@dataclass(slots=True)
class DeclaredWindowState:
    """One metric window between emissions: its groups' figures (their values in the order of ``dimensions``), the
    groups chosen to have documents of their own, and once finalized (`opsanalytics.realtime.revisions`) the values
    frozen with the percentiles' values dropped. Has the revision fields `revisions.place` and `revisions.fire`
    read."""

    groups: dict[tuple[str, ...], Figures] = field(default_factory=dict)
    overflow: Figures = field(default_factory=new_figures)
    """Events of groups beyond `MAX_TRACKED_GROUPS`."""
    chosen: list[tuple[str, ...]] | None = None
    frozen: dict[tuple[str, ...], float | None] | None = None
    """By group (``(OTHER,)`` for the folded one): the values at finalization."""
    dimensions: tuple[str, ...] | None = None
    """The dimensions the groups' values stand for: the metric's when its rows were added."""
    counted_groups: int = 0
    """Tracked groups with events counted: a count's groups that saw none take no slot of `MAX_TRACKED_GROUPS`."""
    revision: int = 0
    dirty: bool = False
    finalized: bool = False

    def add(self, groups: Iterable[tuple[Sequence[str], Sequence[Any]]], *, late: bool) -> None:
        for raw_group, figures in groups:
            group = tuple(raw_group)
            target = self.groups.get(group)
            counts = figures[COUNT] > 0
            if target is None:
                if not counts:  # a count's group without events: kept while there is room, dropped after
                    if len(self.groups) >= 2 * MAX_TRACKED_GROUPS:
                        continue
                    target = self.groups[group] = new_figures()
                elif self.counted_groups >= MAX_TRACKED_GROUPS:
                    target = self.overflow
                else:
                    target = self.groups[group] = new_figures()
            if counts and target is not self.overflow and not target[COUNT] and not target[LATE]:
                self.counted_groups += 1
            if late or self.finalized:
                target[LATE] += figures[COUNT]
            else:
                merge_figures(target, figures)

    def refit(self, dimensions: tuple[str, ...]) -> None:
        """Remap the groups kept for other dimensions (an edit of the metric while its window was open) to
        ``dimensions``, by name: a dimension the old groups lack reads `MISSING`; groups that become one merge (and
        lose a frozen value)."""
        old = self.dimensions
        self.dimensions = dimensions
        if old is None or old == dimensions:
            return

        def remap(group: tuple[str, ...]) -> tuple[str, ...]:
            if group[0] == OTHER:
                return group
            values = dict(zip(old, group[1:], strict=False))
            return (group[0], *(values.get(name, MISSING) for name in dimensions))

        groups: dict[tuple[str, ...], Figures] = {}
        for group, figures in self.groups.items():
            merge_figures(groups.setdefault(remap(group), new_figures()), figures)
        self.groups = groups
        self.counted_groups = sum(1 for figures in groups.values() if figures[COUNT] or figures[LATE])
        if self.chosen is not None:
            self.chosen = list(dict.fromkeys(remap(group) for group in self.chosen))
        if self.frozen is not None:
            frozen: dict[tuple[str, ...], float | None] = {}
            for group, value in self.frozen.items():
                target = remap(group)
                frozen[target] = None if target in frozen else value
            self.frozen = frozen

    def choose(self, metric: MetricDefinition) -> None:
        """The groups with documents of their own: those chosen before, then the largest others while there is
        room."""
        chosen = self.chosen or []
        room = metric.max_groups - len(chosen)
        if room > 0 and len(self.groups) > len(chosen):
            taken = set(chosen)
            chosen += pick_groups({g: f for g, f in self.groups.items() if g not in taken}, room)
        self.chosen = chosen

    def _entries(self, metric: MetricDefinition) -> list[tuple[tuple[str, ...], Sequence[Any], int]]:
        """(group, figures, groups folded) of every document: the chosen groups, then `OTHER` when it has any."""
        self.refit(metric.dimensions)
        self.choose(metric)
        own = set(self.chosen or ())
        other = list(self.overflow)
        other[VALUES] = list(other[VALUES])
        folded = 0
        for group, figures in self.groups.items():
            if group not in own:
                merge_figures(other, figures)
                folded += 1
        entries: list[tuple[tuple[str, ...], Sequence[Any], int]] = [
            (group, self.groups[group], 0) for group in self.chosen or ()
        ]
        if folded or other[COUNT] or other[LATE]:
            entries.append(((OTHER,), other, folded))
        return entries

    def documents(self, metric: MetricDefinition, key: WindowKey) -> list[DeclaredMetric]:
        frozen = self.frozen or {}
        return [
            document(
                metric,
                key.owner,
                key.start_ms,
                group,
                figures,
                revision=self.revision,
                value=frozen.get(group),
                frozen=group in frozen,
                groups_folded=folded,
            )
            for group, figures, folded in self._entries(metric)
        ]

    def finalize(self, metric: MetricDefinition, key: WindowKey) -> None:
        """Freeze the values and drop the kept values (percentiles): what later events can still change is their
        ``late_events`` (a group first seen after it has no frozen value and shows what it counted: nothing)."""
        self.frozen = {group: metric_value(metric, figures) for group, figures, _ in self._entries(metric)}
        for figures in (*self.groups.values(), self.overflow):
            figures[VALUES] = []
        self.finalized = True


def add_metric_row(
    state: DeclaredWindowState | None,
    timing: WindowTiming,
    start_ms: int,
    watermark: int,
    groups: Iterable[tuple[Sequence[str], Sequence[Any]]],
    *,
    dimensions: tuple[str, ...] = (),
) -> tuple[DeclaredWindowState | None, RowUpdate]:
    """A decoded row's groups (a record's figures of one metric window, for the metric's ``dimensions``) added to
    the window's state, with the timing rules of the metric windows (`opsanalytics.realtime.revisions`)."""
    placement = timing.placement(start_ms, watermark)
    if placement == "too-late":
        return state, RowUpdate("too-late")
    new = state is None
    if state is None:
        state = DeclaredWindowState()
    state.refit(dimensions)
    state.add(groups, late=placement == "late")
    return state, RowUpdate(placement, place(state, timing, start_ms, watermark, new=new))


def metric_on_timer(
    state: DeclaredWindowState | None,
    metric: MetricDefinition,
    timing: WindowTiming,
    key: WindowKey,
    timestamp: int,
) -> tuple[DeclaredWindowState | None, list[DeclaredMetric]]:
    """A timer of the metric window ``key``: the state to keep (None: clear it) and the documents to emit."""
    if state is None:
        return None, []
    emit, finalize, clear = fire(state, timing, key.start_ms, timestamp)
    docs = state.documents(metric, key) if emit else []
    if finalize:
        state.finalize(metric, key)
    return (None if clear else state), docs


def compute_declared(config: MetricsConfig, events: Iterable[LogEvent]) -> list[DeclaredMetric]:
    """The exact documents of ``events`` (first revisions), sorted by window start, metric, owner and group: what
    both engines produce from the same events."""
    windows: dict[WindowKey, DeclaredWindowState] = {}
    by_source: dict[tuple[str, str], list[LogEvent]] = {}
    for event in events:
        by_source.setdefault((event.get("owner") or "", event["log_group"]), []).append(event)
    for (owner, log_group), grouped in by_source.items():
        for (metric_id, start), (_, groups) in config.contributions(grouped, log_group).items():
            key = WindowKey(owner, metric_id, start)
            state = windows.get(key)
            if state is None:
                metric = config.by_id(metric_id)
                assert metric is not None
                state = windows[key] = DeclaredWindowState(dimensions=metric.dimensions)
            state.add(groups.items(), late=False)
    docs: list[DeclaredMetric] = []
    for key, state in windows.items():
        metric = config.by_id(key.metric)
        assert metric is not None
        state.revision = 1
        docs.extend(state.documents(metric, key))
    return sorted(docs, key=lambda d: (d["window_start"], d["metric"], d["owner"], d["group"]))


# ---- loading and validation ----------------------------------------------------------------------------------

_METRIC_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_METRIC_KEYS: Final = frozenset(
    {
        "id",
        "kind",
        "where",
        "numerator",
        "field",
        "percentile",
        "dimensions",
        "max_groups",
        "window_seconds",
        "unit",
        "description",
        "log_groups",
        "prefixes",
        "patterns",
    }
)


def _condition(raw: Any, label: str, problems: list[str]) -> Condition | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("field"), str) or not raw["field"]:
        problems.append(f"{label}: a condition is a mapping with 'field' and one of {', '.join(OPERATORS)}")
        return None
    name = raw["field"]
    operators = [key for key in raw if key != "field"]
    if len(operators) != 1 or operators[0] not in OPERATORS:
        problems.append(f"{label}: condition on {name!r}: exactly one of {', '.join(OPERATORS)}, got {operators}")
        return None
    operator = operators[0]
    value = raw[operator]
    if operator in ("min", "max"):
        if number(value) is None or isinstance(value, str):
            problems.append(f"{label}: condition on {name!r}: {operator} must be a number, got {value!r}")
            return None
        return Condition(name, operator, float(value))
    if operator == "exists":
        if not isinstance(value, bool):
            problems.append(f"{label}: condition on {name!r}: exists must be true or false")
            return None
        return Condition(name, operator, value)
    if operator == "in":
        if not isinstance(value, list) or not value:
            problems.append(f"{label}: condition on {name!r}: in must be a non-empty list")
            return None
        return Condition(name, operator, frozenset(_text(item) for item in value))
    if isinstance(value, list | dict) or value is None:
        problems.append(f"{label}: condition on {name!r}: {operator} must be a single value")
        return None
    if operator == "regex":
        try:
            return Condition(name, operator, str(value), compile_re2(str(value)))
        except ValueError as exc:
            problems.append(f"{label}: condition on {name!r}: not an RE2 expression ({exc})")
            return None
    return Condition(name, operator, _text(value))


def _conditions(raw: Any, label: str, problems: list[str]) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    found = (_condition(item, label, problems) for item in items)
    return tuple(condition for condition in found if condition is not None)


def _names(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return ()
    if isinstance(raw, str) and raw:
        return (raw,)
    if isinstance(raw, list) and all(isinstance(item, str) and item for item in raw):
        return tuple(raw)
    return None


def _whole(raw: Any, default: int) -> int | None:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None
    return raw


def _metric_from(raw: Any, index: int, problems: list[str]) -> MetricDefinition | None:
    label = f"metric {index + 1}"
    if not isinstance(raw, dict):
        problems.append(f"{label}: must be a mapping with id and kind")
        return None
    metric_id = raw.get("id")
    if not isinstance(metric_id, str) or not _METRIC_ID.match(metric_id):
        problems.append(f"{label}: field 'id': letters, digits, _ and - are required")
        metric_id = f"#{index + 1}"
    label = f"metric {metric_id!r}"
    before = len(problems)
    for key in sorted(set(raw) - _METRIC_KEYS):
        problems.append(f"{label}: field {key!r}: unknown (expected one of {', '.join(sorted(_METRIC_KEYS))})")
    kind = raw.get("kind")
    if kind not in METRIC_KINDS:
        problems.append(f"{label}: field 'kind': one of {', '.join(METRIC_KINDS)}, got {kind!r}")
        kind = "count"
    where = _conditions(raw.get("where"), f"{label}: field 'where'", problems)
    numerator = _conditions(raw.get("numerator"), f"{label}: field 'numerator'", problems)
    if kind == "ratio" and not numerator:
        problems.append(f"{label}: field 'numerator': a ratio needs the conditions of its numerator")
    if kind != "ratio" and raw.get("numerator") is not None:
        problems.append(f"{label}: field 'numerator': only a ratio has one")
    metric_field = raw.get("field")
    if kind in NUMERIC_KINDS:
        if not isinstance(metric_field, str) or not metric_field:
            problems.append(f"{label}: field 'field': a {kind} needs the numeric field it reads")
            metric_field = ""
    elif metric_field is not None:
        problems.append(f"{label}: field 'field': a {kind} reads no field (use 'where' to select events)")
        metric_field = ""
    fraction = 0.0
    if kind == "percentile":
        raw_percentile = raw.get("percentile")
        if (
            isinstance(raw_percentile, bool)
            or not isinstance(raw_percentile, int | float)
            or not (0 < raw_percentile <= 100)
        ):
            problems.append(f"{label}: field 'percentile': a number in (0, 100], e.g. 95, got {raw_percentile!r}")
        else:
            fraction = float(raw_percentile) / 100
    elif raw.get("percentile") is not None:
        problems.append(f"{label}: field 'percentile': only a percentile has one")
    dimensions = _names(raw.get("dimensions"))
    if dimensions is None or len(dimensions) > MAX_DIMENSIONS or "service" in (dimensions or ()):
        problems.append(
            f"{label}: field 'dimensions': up to {MAX_DIMENSIONS} field names besides service (always a dimension)"
        )
        dimensions = ()
    max_groups = _whole(raw.get("max_groups"), DEFAULT_MAX_GROUPS)
    if max_groups is None or not 1 <= max_groups <= MAX_GROUPS_LIMIT:
        problems.append(f"{label}: field 'max_groups': a whole number from 1 to {MAX_GROUPS_LIMIT}")
        max_groups = DEFAULT_MAX_GROUPS
    window = _whole(raw.get("window_seconds"), DEFAULT_METRIC_WINDOW_SECONDS)
    if window is None or window < 1 or 3600 % window:
        problems.append(f"{label}: field 'window_seconds': a divisor of 3600 (60, 300, 900, 3600, ...)")
        window = DEFAULT_METRIC_WINDOW_SECONDS
    selectors = {}
    for key in ("log_groups", "prefixes", "patterns"):
        names = _names(raw.get(key))
        if names is None:
            problems.append(f"{label}: field {key!r}: a name or a list of names")
            names = ()
        selectors[key] = names
    texts = {}
    for key in ("unit", "description"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            problems.append(f"{label}: field {key!r}: text")
            value = ""
        texts[key] = value
    if len(problems) > before:
        return None
    return MetricDefinition(
        id=metric_id,
        kind=cast(MetricKind, kind),
        where=where,
        numerator=numerator,
        field=metric_field or "",
        percentile=fraction,
        dimensions=dimensions,
        max_groups=max_groups,
        window_seconds=window,
        unit=texts["unit"],
        description=texts["description"],
        **selectors,
    )


def parse_metrics_file(text: str, source: str) -> MetricsConfig:
    doc, problems = versioned_yaml(text, source, MetricsFileError, METRICS_FILE_VERSION, ("metrics",))
    if doc is None:
        return MetricsConfig(source=source)
    raw_metrics = doc.get("metrics") or []
    if not isinstance(raw_metrics, list):
        problems.append("field 'metrics': a list of metric definitions")
        raw_metrics = []
    metrics: list[MetricDefinition] = []
    for index, raw in enumerate(raw_metrics):
        metric = _metric_from(raw, index, problems)
        if metric is None:
            continue
        if any(other.id == metric.id for other in metrics):
            problems.append(f"metric {metric.id!r}: field 'id': is used by more than one metric")
        metrics.append(metric)
    if problems:
        raise MetricsFileError(source, problems)
    return MetricsConfig(metrics=tuple(metrics), source=source)


def load_metrics_file(location: str, s3_client: Any = None) -> MetricsConfig:
    """Definitions from a file path or an ``s3://bucket/key``."""
    return read_metrics(location, s3_client)[1]


def read_metrics(location: str, s3_client: Any = None) -> tuple[str, MetricsConfig]:
    """The metrics file's text (what the engines hand their workers, which parse it again) and its definitions;
    `MetricsFileError` when it cannot be read or names a mistake."""
    try:
        text = read_config_text(location, "metrics file", "the metrics file's location", s3_client)
    except ValueError as exc:
        raise MetricsFileError(location, [str(exc)]) from None
    return text, parse_metrics_file(text, location)


def describe_metrics(config: MetricsConfig) -> list[str]:
    """One line per metric, for ``check-config``."""
    lines = []
    for metric in config.metrics:
        what = metric.kind if metric.kind not in NUMERIC_KINDS else f"{metric.kind} of {metric.field}"
        if metric.kind == "percentile":
            what = f"p{metric.percentile * 100:g} of {metric.field}"
        by = ", ".join(("service", *metric.dimensions))
        unit = f" ({metric.unit})" if metric.unit else ""
        lines.append(f"metric {metric.id!r}: {what}{unit} by {by}, {metric.window_seconds} s windows")
    return lines
