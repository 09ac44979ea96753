"""The metrics function's record validation (`decode_metric_record`): window bounds are checked alike for metric
windows and declared metrics, with the message that says which mistake it is."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from opsanalytics.alerting.processor import MetricRecordError, decode_metric_record
from opsanalytics.realtime.windows import metric_window


def declared(**changes: Any) -> dict[str, Any]:
    doc = {
        "schema_version": 1,
        "record_type": "declared_metric",
        "metric": "orders",
        "kind": "count",
        "owner": "123456789012",
        "service": "shop",
        "group": "shop",
        "dimensions": {},
        "window_start": "2026-01-01T10:00:00Z",
        "window_end": "2026-01-01T10:01:00Z",
        "revision": 1,
        "value": 3.0,
        "count": 3,
        "late_events": 0,
        "groups_folded": 0,
    }
    return {**doc, **changes}


def window(**changes: Any) -> dict[str, Any]:
    doc = dict(metric_window("shop", "/ecs/shop", 1_767_261_600_000, events=3, errors=0, latency_count=0, latency=None))
    return {**doc, **changes}


@pytest.mark.parametrize("make", [declared, window])
def test_bounds_out_of_order_and_not_iso_are_told_apart(make: Any) -> None:
    assert decode_metric_record(orjson.dumps(make()))["service"] == "shop"
    with pytest.raises(MetricRecordError, match=r"^window_end is not after window_start$"):
        decode_metric_record(orjson.dumps(make(window_end="2026-01-01T09:59:00Z")))
    with pytest.raises(MetricRecordError, match=r"^window bounds are not ISO-8601"):
        decode_metric_record(orjson.dumps(make(window_start="yesterday")))
