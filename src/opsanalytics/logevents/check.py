"""``opsanalytics check-config``: the rule files validated, and what each sample line becomes under them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import orjson

from opsanalytics.logevents.parsing import LogEventParser
from opsanalytics.logevents.rules import ParserConfig, RuleFileError, describe_rules, load_rule_file
from opsanalytics.timestamps import iso_utc

SAMPLE_TIMESTAMP_MS: Final = 1_767_261_600_000
"""CloudWatch's time of a sample line (2026-01-01T10:00:00Z): a line's own time, when it has one, wins."""
_SHOWN_FIELDS: Final = ("parser", "format", "level", "error", "timestamp", "message")


def explain_lines(config: ParserConfig, log_group: str, lines: Iterable[str]) -> Iterator[str]:
    """For each line: the rule that parsed it (or that it missed, and the format auto-detection found), and the
    event's fields after masking."""
    rule = config.rule_for(log_group)
    parser = LogEventParser(log_group, "check-config", "000000000000", config)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        (event,) = parser.parse_events([{"id": str(number), "timestamp": SAMPLE_TIMESTAMP_MS, "message": line}])
        document: dict[str, Any] = dict(event)
        if rule is None:
            how = f"no rule for {log_group}: auto-detected as {event['format']}"
        elif event.get("parser") == rule.name:
            how = f"parsed by {rule.name!r} ({rule.format})"
        else:
            how = f"MISSED by {rule.name!r}: auto-detected as {event['format']} (counted as the rule's miss)"
        yield f"line {number}: {how}"
        shown = {name: document.pop(name) for name in _SHOWN_FIELDS if name in document}
        shown["timestamp"] = iso_utc(event["timestamp"])
        for name in ("schema_version", "event_id", "log_group", "log_stream", "owner"):
            document.pop(name, None)
        yield "  " + orjson.dumps({**shown, **document}).decode()


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_rule_file(str(args.rules))
    except RuleFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.rules}: valid, {len(config.rules)} parser rules")
    for line in describe_rules(config):
        print(f"  {line}")
    if args.alert_rules is not None:
        from opsanalytics.alerting.rules import AlertRuleError, load_rules

        try:
            alert_rules = load_rules(str(args.alert_rules))
        except AlertRuleError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{args.alert_rules}: valid, {len(alert_rules.rules)} alert rules")
    if args.sample is None:
        return 0
    if args.log_group is None:
        print("--sample needs --log-group: the rules are chosen by log group", file=sys.stderr)
        return 2
    text = sys.stdin.read() if str(args.sample) == "-" else Path(args.sample).read_text(encoding="utf-8")
    for line in explain_lines(config, args.log_group, text.splitlines()):
        print(line)
    stats = config.stats
    print(
        f"{sum(stats.parsed.values())} lines parsed by a rule, {sum(stats.missed.values())} missed, "
        f"{stats.masked} values masked"
    )
    return 0


def add_check_config_command(subparsers: Any, default_rules: Path, default_alert_rules: Path | None) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate the parser, masking and alert rules; show what sample lines become",
        description="Validate the declared parser and masking rules (and the alert rules), naming every mistake "
        "with its rule and field. With --sample, parse each line of FILE (one log line per line; - for stdin) as "
        "a line of --log-group and print the rule that parsed it, or that it missed, and its fields after "
        "masking.",
    )
    parser.add_argument("--rules", type=Path, default=default_rules, help=f"parser rules (default {default_rules})")
    parser.add_argument(
        "--alert-rules",
        type=Path,
        default=default_alert_rules,
        help=f"alert rules to validate too (default {default_alert_rules})",
    )
    parser.add_argument("--sample", metavar="FILE", help="log lines to parse, one per line (- for stdin)")
    parser.add_argument("--log-group", help="the log group the sample lines come from")
    parser.set_defaults(func=cmd_check_config)
