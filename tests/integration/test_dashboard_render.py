"""The local dashboard page against a real OpenSearch node, checked in a headless Chromium screenshot.

Realistic documents for two services over 30 minutes (an error and latency spike on checkout), two alert
documents, hourly roll-ups and the daily insights go into indices of this test only; the page rendered from
them is opened in headless Chromium and the screenshot must show every chart's series in their colours.
Without Chromium the screenshot test is skipped, unless ``OPSANALYTICS_REQUIRE_CHROMIUM=1`` or ``CI=true``:
then it fails (``scripts/install-chromium.sh`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers

from opsanalytics.dashboards import RenderReport, render_dashboard
from opsanalytics.realtime.declared import document as declared_document
from opsanalytics.realtime.declared import new_figures, parse_metrics_file
from opsanalytics.realtime.windows import window_document_id
from tests.conftest import archived_event

from .conftest import IndexNames

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("index_templates")]

START = datetime(2026, 1, 1, 10, 45, tzinfo=UTC)  # 30 minutes across an hour boundary
MINUTES = 30
SPIKE = range(12, 19)  # checkout's incident
SERVICES = {"checkout": "/ecs/checkout", "payments": "/aws/lambda/payments"}
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def window(service: str, minute: int) -> dict[str, Any]:
    start = START + timedelta(minutes=minute)
    spike = service == "checkout" and minute in SPIKE
    events = 120 + (minute * 7) % 30
    errors = int(events * 0.3) if spike else minute % 3 if service == "checkout" else minute % 2
    p95 = (
        (1650.0 + 40 * (minute % 4) if spike else 230.0 + 9 * (minute % 5))
        if service == "checkout"
        else 140.0 + 6 * (minute % 7)
    )
    return {
        "schema_version": 1,
        "record_type": "metric_window",
        "service": service,
        "log_group": SERVICES[service],
        "window_start": iso(start),
        "window_end": iso(start + timedelta(minutes=1)),
        "events": events,
        "errors": errors,
        "error_rate": errors / events,
        "latency_count": events,
        "latency_p50_ms": p95 / 3,
        "latency_p95_ms": p95,
        "latency_p99_ms": p95 * 1.4,
        "latency_max_ms": p95 * 2,
        "late_events": 0,
    }


def alert(record_type: str, *, state: str, resolved: bool) -> dict[str, Any]:
    first, last = START + timedelta(minutes=14), START + timedelta(minutes=18)
    return {
        "schema_version": 1,
        "record_type": record_type,
        "alert_id": "3f9c0e6d7a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "episode_id": "3f9c0e6d7a1b2c3d4e5f60718293a4b5c6d7e8f9-1767264840000",
        "rule_id": "checkout-error-rate",
        "rule_type": "threshold",
        "severity": "critical",
        "state": state,
        "dimensions": {"service": "checkout", "log_group": "/ecs/checkout"},
        "metric": "error_rate",
        "value": 0.3,
        "threshold": 0.05,
        "message": "error_rate 0.3 > 0.05 for 3 consecutive windows",
        "description": "Checkout error rate above 5 %",
        "snapshot": {"events": 130, "errors": 39},
        "first_seen": iso(first),
        "last_seen": iso(last),
        "evaluated_until": iso(START + timedelta(minutes=19)),
        "notified_for": iso(first),
        "notified_at": iso(first),
        "resolved_at": iso(START + timedelta(minutes=19)) if resolved else None,
        "reminder_count": 0,
    }


def rollup(service: str, granularity: str, start: datetime) -> dict[str, Any]:
    span = timedelta(hours=1) if granularity == "hour" else timedelta(days=1)
    incident = service == "checkout" and start.hour == 10
    return {
        "schema_version": 1,
        "service": service,
        "log_group": SERVICES[service],
        "granularity": granularity,
        "period_start": iso(start),
        "period_end": iso(start + span),
        "events": 2000,
        "errors": 190 if incident else 20,
        "error_rate": 0.095 if incident else 0.01,
        "latency_p50_ms": 120.0,
        "latency_p95_ms": 1500.0 if incident else 260.0 if service == "checkout" else 150.0,
        "latency_p99_ms": 2100.0,
        "latency_max_ms": 3000.0,
        "latency_count": 2000,
        "bytes": 123456,
    }


def signature(rank: int, text: str, count: int, services: list[str]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "error_signature",
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-01-02T00:00:00Z",
        "signature": text,
        "signature_id": f"sig{rank}",
        "rank": rank,
        "count": count,
        "first_seen": iso(START + timedelta(minutes=rank)),
        "last_seen": iso(START + timedelta(minutes=20 + rank)),
        "example": text.replace("<n>", "42"),
        "services": services,
        "log_groups": [SERVICES[s] for s in services],
    }


def slo(service: str, availability: float, attainment: float) -> dict[str, Any]:
    target = 0.999 if service == "checkout" else 0.995
    return {
        "schema_version": 1,
        "kind": "slo",
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-01-02T00:00:00Z",
        "service": service,
        "requests": 3600,
        "failed_requests": round(3600 * (1 - availability)),
        "availability": availability,
        "availability_target": target,
        "availability_met": availability >= target,
        "error_budget_remaining": 1 - (1 - availability) / (1 - target),
        "latency_requests": 3600,
        "latency_fast_requests": round(3600 * attainment),
        "latency_threshold_ms": 800.0 if service == "checkout" else 1000.0,
        "latency_target": 0.95,
        "latency_attainment": attainment,
        "latency_met": attainment >= 0.95,
        "latency_budget_remaining": 1 - (1 - attainment) / 0.05,
    }


ORDERS = parse_metrics_file("version: 1\nmetrics:\n  - {id: orders_placed, kind: count}\n", "test").metrics[0]


def declared(service: str, minute: int) -> dict[str, Any]:
    """A declared metric's document: ``minute % 3`` orders in that minute."""
    figures = new_figures()
    figures[0] = minute % 3
    start_ms = int((START + timedelta(minutes=minute)).timestamp() * 1000)
    return dict(declared_document(ORDERS, "123456789012", start_ms, (service,), figures))


def log_line(service: str, minute: int, level: str) -> dict[str, Any]:
    moment = START + timedelta(minutes=minute, seconds=7)
    error = level == "ERROR"
    return archived_event(
        f"{service}-{minute}-{level}",
        timestamp=int(moment.timestamp() * 1000),
        service=service,
        level=level,
        error=error,
        message=f"{level} {'PaymentDeclined order 7 gateway timeout' if error else 'GET /api/cart completed'}",
        status=502 if error else 200,
    )


@pytest.fixture(scope="module")
def dashboard_data(opensearch_client: OpenSearch, index_templates: None) -> Iterator[dict[str, str]]:
    """The test's documents, in indices of this module only (deleted afterwards); yields the index patterns
    that select them and nothing else."""
    index_name = IndexNames()
    try:
        yield _index_documents(opensearch_client, index_name)
    finally:
        existing = opensearch_client.indices.get(index=index_name.pattern, expand_wildcards="all")
        if existing:
            opensearch_client.indices.delete(index=",".join(sorted(existing)))


def _index_documents(opensearch_client: OpenSearch, index_name: IndexNames) -> dict[str, str]:
    token = index_name.token
    actions: list[dict[str, Any]] = []
    for service in SERVICES:
        for minute in range(MINUTES):
            doc = window(service, minute)
            actions.append(
                {
                    "_index": index_name("metrics-realtime"),
                    "_id": window_document_id(service, doc["log_group"], doc["window_start"]),
                    "_source": doc,
                }
            )
        for hour in (10, 11):
            actions.append(
                {
                    "_index": index_name("metrics-batch-2026.01"),
                    "_source": rollup(service, "hour", START.replace(hour=hour, minute=0)),
                }
            )
        actions.append(
            {
                "_index": index_name("metrics-batch-2026.01"),
                "_source": rollup(service, "day", START.replace(hour=0, minute=0)),
            }
        )
        for minute in range(MINUTES):
            doc = declared(service, minute)
            actions.append({"_index": index_name("metrics-declared-realtime"), "_source": doc})
    actions.append({"_index": index_name("alerts-state"), "_source": alert("alert", state="resolved", resolved=True)})
    actions.append(
        {
            "_index": index_name("alerts-history-2026.01"),
            "_source": alert("alert_episode", state="resolved", resolved=True),
        }
    )
    insights = index_name("log-insights-2026.01")
    for rank, (text, count, services) in enumerate(
        [
            ("ERROR PaymentDeclined order <n> gateway timeout after <n> ms", 412, ["checkout"]),
            ("ConnectionResetError: [Errno <n>] Connection reset by peer", 97, ["checkout", "payments"]),
            ("Task timed out after <n> seconds", 12, ["payments"]),
        ],
        start=1,
    ):
        actions.append({"_index": insights, "_source": signature(rank, text, count, services)})
    lines = index_name("events-2026.01.01")
    for minute, service, level in [
        *((14 + i, "checkout", "ERROR") for i in range(4)),
        *((15 + i, "checkout", "INFO") for i in range(3)),
        (15, "payments", "ERROR"),  # another service's line in the episode
        (30, "checkout", "INFO"),  # after the episode
    ]:
        actions.append({"_index": lines, "_source": log_line(service, minute, level)})
    actions.append({"_index": insights, "_source": slo("checkout", 0.9861, 0.912)})
    actions.append({"_index": insights, "_source": slo("payments", 0.9987, 0.991)})
    helpers.bulk(opensearch_client, actions, refresh=True)  # the log indices refresh every 30 s, too late to wait for
    return {
        "realtime": f"metrics-realtime-{token}",
        "declared": f"metrics-declared-realtime-{token}",
        "batch": f"metrics-batch-*-{token}",
        "insights": f"log-insights-*-{token}",
        "alerts": f"alerts-*-{token}",
        "logs": f"events-*-{token}",
    }


@pytest.fixture(scope="module")
def rendered(
    opensearch_client: OpenSearch, dashboard_data: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> RenderReport:
    out = tmp_path_factory.mktemp("dashboard") / "dashboard.html"
    return render_dashboard(opensearch_client, out, index_patterns=dashboard_data, title="opsanalytics test")


def test_render_draws_every_panel_from_opensearch(rendered: RenderReport) -> None:
    charts = rendered.charts
    assert set(charts) == {"realtime_error_rate", "realtime_latency_p95", "batch_error_rate", "batch_latency_p95"}
    for key in ("realtime_error_rate", "realtime_latency_p95"):
        assert charts[key].series == 2
        assert charts[key].points == 2 * MINUTES  # one 1-minute bucket per window
    for key in ("batch_error_rate", "batch_latency_p95"):
        assert charts[key].series == 2
        assert charts[key].points == 4  # the hourly roll-ups only (granularity:hour), two hours per service
    assert set(charts["realtime_error_rate"].colours) == set(SERVICES)
    assert rendered.tables == {
        "alert_episodes": 1,
        "alert_states": 1,
        "top_error_signatures": 3,
        "slo": 2,
        "declared_metrics": 2,  # one metric, two services
        "episode_lines": 5,  # the first five of checkout's seven lines in the episode, errors first
        "error_lines": 5,
    }
    assert rendered.timeline_bars == 1
    assert rendered.series == 8 and rendered.points == 2 * 2 * MINUTES + 8 and rendered.rows == 19

    page = rendered.path.read_text(encoding="utf-8")
    for text in (
        "opsanalytics test",
        "Error rate per service (realtime, 60 s windows)",
        "Latency p95 per service (realtime, 60 s windows)",
        "Alert timeline",
        "checkout-error-rate on checkout",
        "ERROR PaymentDeclined order &lt;n&gt; gateway timeout",  # escaped
        "Service level objectives per day",
        "10:50",  # a time axis tick
        "98.61 %",  # checkout's availability, below its target
        "Lines behind checkout-error-rate on checkout, 10:59-11:05 UTC: 7 lines, 4 errors",
        "PaymentDeclined order 7 gateway timeout",
        "Error lines",
    ):
        assert text in page, text


def test_the_page_is_self_contained(rendered: RenderReport) -> None:
    page = rendered.path.read_text(encoding="utf-8")
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    for loader in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src=", " href="):
        assert loader not in lowered, loader


def test_render_with_no_data_shows_empty_panels(opensearch_client: OpenSearch, tmp_path: Path) -> None:
    patterns = {key: f"{key}-nothing-here-*" for key in ("realtime", "declared", "batch", "insights", "alerts", "logs")}
    report = render_dashboard(opensearch_client, tmp_path / "empty.html", index_patterns=patterns)
    assert report.series == 0 and report.rows == 0 and report.timeline_bars == 0
    page = report.path.read_text(encoding="utf-8")
    assert page.count("No data") == 4 and "No alert episodes" in page


def test_unknown_index_pattern_keys_are_refused(opensearch_client: OpenSearch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown index pattern keys"):
        render_dashboard(opensearch_client, tmp_path / "x.html", index_patterns={"metrics": "metrics-*"})


# -- the screenshot -----------------------------------------------------------------------------------------


def _chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium_required() -> bool:
    return os.environ.get("OPSANALYTICS_REQUIRE_CHROMIUM") == "1" or os.environ.get("CI", "").lower() == "true"


def screenshot(page: Path, png: Path, *, width: int = 1400, height: int = 2400) -> float:
    """Open ``page`` in headless Chromium and save a ``width`` x ``height`` screenshot; returns the seconds."""
    chromium = _chromium()
    if chromium is None:
        message = "chromium is not installed (scripts/install-chromium.sh installs it)"
        if _chromium_required():
            pytest.fail(message + "; required by OPSANALYTICS_REQUIRE_CHROMIUM=1 or CI=true")
        pytest.skip(message)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",  # tests run as root in CI containers
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0 and png.is_file(), f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    return time.perf_counter() - started


def test_the_screenshot_shows_every_chart(rendered: RenderReport, tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "dashboard.png"
    screenshot(rendered.path, png)
    with Image.open(png) as image:
        assert image.size == (1400, 2400)
        rgb = image.convert("RGB")
        pixels = Counter({f"#{r:02x}{g:02x}{b:02x}": count for count, (r, g, b) in rgb.getcolors(1 << 24) or []})
        # not blank: many colours, and plenty of the page is not the background or white
        assert len(pixels) > 200
        background = pixels.most_common(1)[0][1]
        assert background < 0.8 * 1400 * 2400
        # the header bar
        assert pixels["#1f2a3c"] > 1400 * 40

    # Each series of each chart has a colour no other element uses: its line and markers must be drawn. The
    # legend swatch of a series is 16 x 4 = 64 pixels, so a count above 250 means the line is there.
    for key, chart in rendered.charts.items():
        for service, colour in chart.colours.items():
            assert pixels[colour] >= 250, f"{key}: {service} ({colour}) has {pixels[colour]} pixels"
    # the critical alert episode's bar on the timeline (its severity badges are small)
    assert pixels["#b3261e"] >= 600
