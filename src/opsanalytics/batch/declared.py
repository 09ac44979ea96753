"""The declared metrics in batch: the same definitions (``config/metrics.yaml``) and the same core code as the
realtime job (`opsanalytics.realtime.declared`), over the archive's ``events/`` of the hours a run recomputes.

The objects read are read again as text (the aggregations' scan keeps only the columns they need, and a declared
metric may read any attribute); each Spark task parses its lines, adds them up per (owner, metric, window) as the
realtime decoder does, Spark merges the partial figures, and the driver turns each window into its documents as
the realtime job does at its first emission. A metric's window lies inside one hour (its size divides 3600 s), so
the hours recomputed hold whole windows. Documents go to ``metrics-declared-batch-YYYY.MM`` under the realtime
documents' ids: a rerun overwrites them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import orjson
from pyspark.sql import SparkSession

from opsanalytics.batch.inputs import HOUR_MS
from opsanalytics.logevents.model import READABLE_LOG_EVENT_SCHEMA_VERSIONS
from opsanalytics.realtime.declared import (
    DeclaredMetric,
    DeclaredWindowState,
    Figures,
    MetricsConfig,
    WindowKey,
    merge_figures,
    new_figures,
    parse_metrics_file,
)

INDEX_FAMILY: Final = "metrics-declared-batch"
_CHUNK: Final = 2000
Groups = dict[tuple[str, ...], Figures]


def _usable(doc: Any) -> bool:
    """What the aggregations' scan counts as an event (`transforms.valid_events`): a readable schema version and
    every key field."""
    return (
        isinstance(doc, dict)
        and doc.get("schema_version") in READABLE_LOG_EVENT_SCHEMA_VERSIONS
        and isinstance(doc.get("event_id"), str)
        and isinstance(doc.get("timestamp"), int)
        and isinstance(doc.get("service"), str)
        and isinstance(doc.get("log_group"), str)
        and isinstance(doc.get("error"), bool)
    )


def partition_figures(lines: Iterable[str], text: str, source: str) -> Iterator[tuple[WindowKey, Groups]]:
    """One Spark task: its lines' figures by (owner, metric, window start). Lines that are not usable events are
    skipped here (the run's scan counts and reports them)."""
    config = parse_metrics_file(text, source)
    pending: dict[tuple[str, str], list[Any]] = {}

    def flush(owner: str, log_group: str) -> Iterator[tuple[WindowKey, Groups]]:
        events = pending.pop((owner, log_group), [])
        for (metric_id, start), (_, groups) in config.contributions(events, log_group).items():
            yield WindowKey(owner, metric_id, start), groups

    for line in lines:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not _usable(doc):
            continue
        source_key = (doc.get("owner") or "", doc["log_group"])
        batch = pending.setdefault(source_key, [])
        batch.append(doc)
        if len(batch) >= _CHUNK:
            yield from flush(*source_key)
    for source_key in list(pending):
        yield from flush(*source_key)


def merge_groups(into: Groups, other: Groups) -> Groups:
    for group, figures in other.items():
        target = into.get(group)
        if target is None:
            into[group] = target = new_figures()
        merge_figures(target, figures)
    return into


def window_documents(config: MetricsConfig, windows: Iterable[tuple[WindowKey, Groups]]) -> list[DeclaredMetric]:
    """Each window's documents, as the realtime job emits them the first time (sorted like `compute_declared`)."""
    docs: list[DeclaredMetric] = []
    for key, groups in windows:
        metric = config.by_id(key.metric)
        if metric is None:
            continue
        state = DeclaredWindowState(revision=1)
        state.add(groups.items(), late=False)
        docs.extend(state.documents(metric, key))
    return sorted(docs, key=lambda d: (d["window_start"], d["metric"], d["owner"], d["group"]))


def declared_metrics(
    spark: SparkSession, uris: Sequence[str], config: MetricsConfig, text: str, hours: Iterable[int]
) -> list[DeclaredMetric]:
    """The documents of the windows in ``hours`` from the objects at ``uris``."""
    if config.empty or not uris:
        return []
    wanted = set(hours)
    source = config.source
    figures = (
        spark.sparkContext.textFile(",".join(uris))
        .mapPartitions(lambda lines: partition_figures(lines, text, source))
        .filter(lambda item: item[0].start_ms - item[0].start_ms % HOUR_MS in wanted)
        .reduceByKey(merge_groups)
        .collect()
    )
    return window_documents(config, ((WindowKey(*key), groups) for key, groups in figures))
