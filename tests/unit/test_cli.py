"""The ``opsanalytics`` command line: verbs a user looks for, and what they answer without a running node."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsanalytics.cli import build_parser, main


def test_every_verb_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for verb in ("demo", "replay", "samples", "transform", "realtime", "batch", "verify", "opensearch", "check-config"):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([verb, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: opsanalytics {verb}")


def test_opensearch_status_without_a_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["opensearch", "status", "--home", str(tmp_path)]) == 3
    assert capsys.readouterr().out.strip() == "opensearch-node: not running"


def test_opensearch_stop_without_a_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["opensearch", "stop", "--home", str(tmp_path)]) == 0
    assert "not running" in capsys.readouterr().out


def test_opensearch_rejects_an_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["opensearch", "restart"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'restart'" in capsys.readouterr().err


CHECK_RULES = """
version: 1
parsers:
  - name: inventory-text
    prefixes: /ecs/inventory-
    format: regex
    regex: '%{TIMESTAMP_ISO8601:time} \\| %{LEVEL:level} \\| %{GREEDYDATA:message}'
    fields: {timestamp: time}
masking:
  patterns: [email]
"""


def test_check_config_shows_the_rule_of_each_sample_line_and_its_masked_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "parsers.yaml"
    rules.write_text(CHECK_RULES)
    sample = tmp_path / "lines.txt"
    sample.write_text("2026-01-01 10:00:05 | ERROR | no stock for bob@example.com\nsomething else\n")
    argv = ["check-config", "--rules", str(rules), "--sample", str(sample), "--log-group", "/ecs/inventory-a"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "parsers.yaml: valid, 1 parser rules" in out
    assert "line 1: parsed by 'inventory-text' (regex)" in out
    assert '"level":"ERROR"' in out and '"timestamp":"2026-01-01T10:00:05Z"' in out
    assert "[REDACTED:email]" in out and "bob@example.com" not in out
    assert "line 2: MISSED by 'inventory-text': auto-detected as text" in out
    assert out.rstrip().endswith("1 lines parsed by a rule, 1 missed, 1 values masked")


def test_check_config_names_every_mistake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "parsers.yaml"
    rules.write_text("version: 1\nparsers:\n  - {name: x, format: regex, regex: '(a', prefixes: /x}\n")
    assert main(["check-config", "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert f"invalid parser rules in {rules}" in err and "parser 'x': field 'regex': not an RE2 expression" in err


def test_the_shipped_configuration_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "parsers.yaml: valid" in out and "alert-rules.yaml: valid" in out
    assert "metrics.yaml: valid" in out


def test_check_config_shows_the_metrics_each_sample_line_feeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = tmp_path / "metrics.yaml"
    metrics.write_text(
        "version: 1\nmetrics:\n"
        "  - {id: orders_value, kind: sum, field: amount, unit: EUR, where: {field: message, contains: order}}\n"
        "  - {id: failures, kind: ratio, where: {field: status, exists: true}, numerator: {field: status, min: 500},"
        " dimensions: [method]}\n"
        # config/alert-rules.yaml (checked too) watches it
        "  - {id: payment_gateway_timeouts, kind: count, where: {field: message, contains: Timeout}}\n"
    )
    sample = tmp_path / "lines.txt"
    sample.write_text(
        '{"message": "order placed", "amount": 12.5, "status": 201, "method": "POST"}\n'
        '{"message": "health", "status": 503, "method": "GET"}\n'
        "plain text\n"
    )
    argv = ["check-config", "--metrics", str(metrics), "--sample", str(sample), "--log-group", "/ecs/shop"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    fed = [line.strip() for line in lines if line.strip().startswith("metrics:")]
    assert fed == [
        "metrics: orders_value [shop] += amount=12.50 EUR; failures [shop|method=POST] += denominator",
        "metrics: failures [shop|method=GET] += numerator and denominator",
        "metrics: none",
    ]


def test_check_config_refuses_alert_rules_on_undeclared_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = tmp_path / "metrics.yaml"
    metrics.write_text("version: 1\nmetrics:\n  - {id: orders, kind: count}\n")
    alert_rules = tmp_path / "alert-rules.yaml"
    alert_rules.write_text(
        "version: 1\nrules:\n  - {id: r, type: threshold, severity: warning, services: all,"
        " metric: declared.orderz, operator: '>', threshold: 1}\n"
    )
    assert main(["check-config", "--metrics", str(metrics), "--alert-rules", str(alert_rules)]) == 2
    assert "rule 'r' watches declared.orderz, which" in capsys.readouterr().err
    metrics.write_text("version: 1\nmetrics:\n  - {id: orders, kind: histogram}\n")
    assert main(["check-config", "--metrics", str(metrics)]) == 2
    assert "metric 'orders': field 'kind'" in capsys.readouterr().err
