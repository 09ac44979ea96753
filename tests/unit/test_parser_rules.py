"""Declared parser and masking rules (`opsanalytics.logevents.rules`): precedence, every rule kind on lines in the
formats real services write, the fallback and its count, masking in every output, and validation."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import orjson
import pytest

from opsanalytics.logevents.parsing import LogEventParser
from opsanalytics.logevents.rules import RuleFileError, load_rule_file, parse_rule_file
from opsanalytics.paths import project_root
from opsanalytics.realtime.job import EVENT, RecordDecoder, WindowDetail
from opsanalytics.transform.firehose import transform_batch, transform_record

T0 = 1_767_261_600_000  # 2026-01-01T10:00:00Z

RULES = """
version: 1
patterns:
  SKU: "[A-Z]\\\\d{2,5}"
parsers:
  - name: inventory-text
    prefixes: /ecs/inventory-
    format: regex
    regex: '%{TIMESTAMP_ISO8601:time} \\| %{LEVEL:level} \\| sku=%{SKU:sku} %{GREEDYDATA:message} took %{DURATION:took}'
    fields: {timestamp: time, latency: took}
    latency_unit: auto
  - name: inventory-api
    prefixes: /ecs/inventory-api
    format: logfmt
    fields: {level: lvl, message: msg, latency: dur, status: code}
  - name: payments-json
    log_groups: /aws/lambda/payments
    format: json
    fields: {level: severity, message: msg, latency: elapsed_s, status: code, timestamp: at}
    timestamp_format: epoch_s
    latency_unit: s
  - name: any-batch
    patterns: "/batch/*"
    format: delimited
    delimiter: "|"
    columns: [timestamp, level, job, duration_ms, message]
    fields: {latency: duration_ms}
  - name: nightly
    patterns: "/batch/nightly-*"
    format: delimited
    delimiter: ","
    columns: [job, message]
  - name: apache-custom
    log_groups: /web/legacy
    format: regex
    regex: 'APACHE_REGEX'
    fields: {timestamp: time}
    timestamp_format: "%d/%b/%Y:%H:%M:%S %z"
masking:
  attributes: [password, authorization]
  patterns: [email, card_number, bearer_token, aws_access_key, jwt, {name: order_secret, regex: "osk_[a-z0-9]{8}"}]
""".replace(
    "APACHE_REGEX",
    "\\[%{HTTPDATE:time}\\] %{IP:client_ip} %{HTTPMETHOD:method} %{URIPATH:path} %{STATUS:status} "
    "%{GREEDYDATA:message}",
)


@pytest.fixture
def rules():  # type: ignore[no-untyped-def]
    return parse_rule_file(RULES, "parsers.yaml")


def parse(rules, log_group: str, *lines: str):  # type: ignore[no-untyped-def]
    parser = LogEventParser(log_group, "stream-1", "123456789012", rules)
    entries = [{"id": f"e{i}", "timestamp": T0, "message": line} for i, line in enumerate(lines)]
    return parser.parse_events(entries)


def test_the_most_specific_rule_wins(rules) -> None:  # type: ignore[no-untyped-def]
    assert rules.rule_for("/aws/lambda/payments").name == "payments-json"  # exact name
    assert rules.rule_for("/ecs/inventory-api-v2").name == "inventory-api"  # the longest prefix
    assert rules.rule_for("/ecs/inventory-worker").name == "inventory-text"
    assert rules.rule_for("/batch/nightly-export").name == "any-batch"  # the first pattern in file order
    assert rules.rule_for("/aws/lambda/orders") is None


def test_a_regex_rule_with_named_patterns_on_a_custom_text_format(rules) -> None:  # type: ignore[no-untyped-def]
    (event,) = parse(rules, "/ecs/inventory-worker", "2026-01-01 10:00:05.250 | WARN | sku=A123 restock late took 1.5s")
    assert event["format"] == "regex" and event["parser"] == "inventory-text"
    assert event["level"] == "WARN" and not event["error"]
    assert event["message"] == "restock late"
    assert event["timestamp"] == T0 + 5_250
    assert event["latency_ms"] == 1500.0
    assert event["attributes"] == {"sku": "A123"}
    assert rules.stats.parsed["inventory-text"] == 1 and not rules.stats.missed


def test_auto_latency_reads_a_duration_as_auto_detection_does() -> None:
    config = parse_rule_file(
        "version: 1\nparsers:\n  - {name: jobs, log_groups: /jobs, format: logfmt, latency_unit: auto,"
        " fields: {latency: took}}\n",
        "f",
    )
    lines = ('level=info msg=a took="2 m"', "level=info msg=b took=35", "level=info msg=c took=1.5s")
    assert [event["latency_ms"] for event in parse(config, "/jobs", *lines)] == [120_000.0, 35.0, 1500.0]


def test_a_json_rule_maps_its_keys_units_and_epoch_seconds(rules) -> None:  # type: ignore[no-untyped-def]
    line = json.dumps({"severity": "E", "msg": "card declined", "elapsed_s": 0.35, "code": 502, "at": 1767261601.5})
    (event,) = parse(rules, "/aws/lambda/payments", line)
    assert event["parser"] == "payments-json" and event["format"] == "json"
    # "E" is no level spelling: the status says error
    assert (event["level"], event["error"], event["status"]) == ("ERROR", True, 502)
    assert event["latency_ms"] == pytest.approx(350.0)
    assert event["timestamp"] == T0 + 1_500
    assert event["message"] == "card declined"
    assert "attributes" not in event


def test_a_logfmt_rule_with_a_key_map(rules) -> None:  # type: ignore[no-untyped-def]
    (event,) = parse(rules, "/ecs/inventory-api", 'lvl=error msg="stock read failed" dur=42 code=500 shard=7')
    assert (event["format"], event["parser"], event["level"], event["status"]) == (
        "logfmt",
        "inventory-api",
        "ERROR",
        500,
    )
    assert event["latency_ms"] == 42.0 and event["message"] == "stock read failed"
    assert event["attributes"] == {"shard": "7"}


def test_a_delimited_rule_gives_the_last_column_the_rest_of_the_line(rules) -> None:  # type: ignore[no-untyped-def]
    (event,) = parse(rules, "/batch/export", "2026-01-01T10:00:30Z|ERROR|export|1200|disk full | retrying")
    assert event["format"] == "delimited" and event["level"] == "ERROR"
    assert event["message"] == "disk full | retrying"
    assert event["timestamp"] == T0 + 30_000 and event["latency_ms"] == 1200.0
    assert event["attributes"] == {"job": "export"}


def test_an_apache_format_with_its_own_time_format(rules) -> None:  # type: ignore[no-untyped-def]
    (event,) = parse(rules, "/web/legacy", "[01/Jan/2026:11:00:02 +0100] 10.0.0.7 GET /cart/add 503 upstream timeout")
    assert (event["method"], event["path"], event["status"], event["client_ip"]) == (
        "GET",
        "/cart/add",
        503,
        "10.0.0.7",
    )
    assert event["timestamp"] == T0 + 2_000 and event["error"]


def test_a_line_the_rule_does_not_parse_is_auto_detected_and_counted(rules) -> None:  # type: ignore[no-untyped-def]
    events = parse(
        rules,
        "/ecs/inventory-worker",
        "2026-01-01 10:00:05 | INFO | sku=A12 ok took 3ms",
        '{"level": "error", "message": "not the declared format"}',
        'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom',
    )
    assert [e.get("parser") for e in events] == ["inventory-text", None, None]
    assert [e["format"] for e in events] == ["regex", "json", "text"]
    assert events[1]["level"] == "ERROR" and events[2]["error"]
    assert rules.stats.missed == {"inventory-text": 2} and rules.stats.parsed == {"inventory-text": 1}


def test_masking_redacts_secrets_and_personal_data_but_not_what_only_looks_alike(rules) -> None:  # type: ignore[no-untyped-def]
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123"
    line = json.dumps(
        {
            "level": "info",
            "message": f"paid by jane.doe@example.com with 4111 1111 1111 1111 (order 1234567890123), jwt {token}",
            "password": "hunter2",
            "headers": {"authorization": "Bearer abc.def", "x-trace": "Bearer xyz123"},
            "key": "AKIAABCDEFGHIJKLMNOP",
            "note": "osk_ab12cd34 issued",
            "count": 3,
        }
    )
    (event,) = parse(rules, "/aws/lambda/orders", line)
    assert event["message"] == (
        "paid by [REDACTED:email] with [REDACTED:card_number] (order 1234567890123), jwt [REDACTED:jwt]"
    )
    attributes = event["attributes"]
    assert attributes["password"] == "[REDACTED]"
    assert attributes["headers.authorization"] == "[REDACTED]"  # by name, nested
    assert attributes["headers.x-trace"] == "[REDACTED:bearer_token]"  # by pattern
    assert attributes["key"] == "[REDACTED:aws_access_key]"
    assert attributes["note"] == "[REDACTED:order_secret] issued"
    assert attributes["count"] == 3
    assert rules.stats.masked == 6


def test_masking_reaches_the_archive_and_the_realtime_windows(rules) -> None:  # type: ignore[no-untyped-def]
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/orders",
        "logStream": "s1",
        "subscriptionFilters": ["f"],
        "logEvents": [
            {"id": "1", "timestamp": T0, "message": "ERROR login failed for jane@example.com token Bearer s3cr3t"},
        ],
    }
    data = base64.b64encode(gzip.compress(orjson.dumps(payload)))
    archived = transform_record("r1", data, rules)
    assert archived.result == "Ok" and archived.data is not None
    (line,) = archived.data.splitlines()
    assert "jane@example.com" not in line.decode() and "s3cr3t" not in line.decode()
    (row,) = RecordDecoder(rules=rules).decode(data.decode())
    assert row[0] == EVENT and row[7] == 1  # one error
    detail = WindowDetail.decode(row[8])
    # the window's sample line and error signature, which alerts quote, are the redacted line
    assert [text for _, text in detail.samples] == [
        "ERROR login failed for [REDACTED:email] token [REDACTED:bearer_token]"
    ]
    assert all("jane@" not in signature and "s3cr3t" not in signature for signature in detail.signatures)
    batch = transform_batch([("r1", data)], rules=rules)
    assert batch.rules.masked == 1  # one value changed: the message


def test_a_catastrophic_pattern_runs_in_linear_time(rules) -> None:  # type: ignore[no-untyped-def]
    """``(a+)+$`` backtracks exponentially in Python's engine; RE2 answers at once. This test would not end on a
    backtracking engine."""
    config = parse_rule_file(
        "version: 1\nparsers:\n  - {name: evil, log_groups: /x, format: regex, regex: '(?P<a>(a+)+)$'}\n", "f"
    )
    (event,) = parse(config, "/x", "a" * 50_000 + "!")
    assert event.get("parser") is None and config.stats.missed == {"evil": 1}


def test_every_mistake_is_named_with_its_rule_and_field() -> None:
    text = """
version: 1
parsers:
  - name: a
    format: grok
    prefixes: /a
  - name: b
    format: regex
    log_groups: /b
    regex: '(?P<x>\\w+) \\1'
  - name: c
    format: regex
    regex: '%{NOPE:x}'
    patterns: /c*
    fields: {levle: x}
  - name: d
    format: delimited
    log_groups: /d
    columns: [one]
  - name: e
    format: logfmt
  - name: a
    format: logfmt
    prefixes: /z
    colour: red
masking:
  patterns: [emails]
"""
    with pytest.raises(RuleFileError) as error:
        parse_rule_file(text, "config/parsers.yaml")
    message = str(error.value)
    assert message.startswith("invalid parser rules in config/parsers.yaml:")
    for expected in (
        "parser 'a': field 'format': must be one of json, regex, logfmt, delimited, got 'grok'",
        "parser 'b': field 'regex': not an RE2 expression (invalid escape sequence: \\1)",
        "parser 'c': field 'regex': unknown named pattern %{NOPE}",
        "parser 'c': field 'fields.levle': unknown",
        "parser 'd': field 'delimiter': a non-empty string is required for format delimited",
        "parser 'd': field 'columns': at least two distinct column names",
        "parser 'e': no log group to match",
        "parser 'a': field 'colour': unknown",
        "masking: pattern 1: unknown name 'emails'",
    ):
        assert expected in message, expected


def test_a_missing_file_and_bad_yaml_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="cannot read the rule file"):
        load_rule_file(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nparsers: [\n")
    with pytest.raises(RuleFileError, match="not valid YAML"):
        load_rule_file(str(bad))


def test_the_shipped_rule_file_loads_and_masks_secrets() -> None:
    config = load_rule_file(str(project_root() / "config" / "parsers.yaml"))
    assert config.masking.active and not config.empty
    (event,) = parse(config, "/aws/lambda/orders", '{"message": "call with Bearer abc", "password": "x"}')
    assert event["message"] == "call with [REDACTED:bearer_token]"
    assert event["attributes"]["password"] == "[REDACTED]"
