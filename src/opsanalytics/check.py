"""``opsanalytics check-config``: the rule files validated, and what each sample line becomes under them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import orjson

from opsanalytics.alerting.evaluate import format_value
from opsanalytics.logevents.model import LogEvent
from opsanalytics.logevents.parsing import LogEventParser
from opsanalytics.logevents.rules import ParserConfig, RuleFileError, describe_rules, load_rule_file
from opsanalytics.realtime.declared import (
    MetricsConfig,
    MetricsFileError,
    describe_metrics,
    group_label,
    load_metrics_file,
)
from opsanalytics.timestamps import iso_utc

SAMPLE_TIMESTAMP_MS: Final = 1_767_261_600_000
"""CloudWatch's time of a sample line (2026-01-01T10:00:00Z): a line's own time, when it has one, wins."""
_SHOWN_FIELDS: Final = ("parser", "format", "level", "error", "timestamp", "message")


def metrics_fed(metrics: MetricsConfig, event: LogEvent, log_group: str) -> list[str]:
    """The declared metrics ``event`` feeds, each with its group and what the event adds."""
    fed = []
    for (metric_id, _), (_, groups) in metrics.contributions([event], log_group).items():
        metric = metrics.by_id(metric_id)
        assert metric is not None
        for group, figures in groups.items():
            if not figures[0]:  # a count's event that matched none of its conditions
                continue
            if metric.kind == "ratio":
                part = "numerator and denominator" if figures[1] else "denominator"
            elif metric.kind == "count":
                part = "1"
            else:
                part = f"{metric.field}={format_value(figures[2])}{' ' + metric.unit if metric.unit else ''}"
            fed.append(f"{metric_id} [{group_label(metric, group)}] += {part}")
    return fed


def explain_lines(
    config: ParserConfig, log_group: str, lines: Iterable[str], metrics: MetricsConfig | None = None
) -> Iterator[str]:
    """For each line: the rule that parsed it (or that it missed, and the format auto-detection found), the
    event's fields after masking, and the declared metrics it feeds."""
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
        if metrics is not None and not metrics.empty:
            fed = metrics_fed(metrics, event, log_group)
            yield "  metrics: " + ("; ".join(fed) if fed else "none")


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_rule_file(str(args.rules))
    except RuleFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.rules}: valid, {len(config.rules)} parser rules")
    for line in describe_rules(config):
        print(f"  {line}")
    metrics = None
    if args.metrics is not None:
        try:
            metrics = load_metrics_file(str(args.metrics))
        except MetricsFileError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{args.metrics}: valid, {len(metrics.metrics)} declared metrics")
        for line in describe_metrics(metrics):
            print(f"  {line}")
    if args.alert_rules is not None:
        from opsanalytics.alerting.rules import DECLARED_METRIC_PREFIX, AlertRuleError, load_rules

        try:
            alert_rules = load_rules(str(args.alert_rules))
        except AlertRuleError as exc:
            print(exc, file=sys.stderr)
            return 2
        declared = {metric.id for metric in metrics.metrics} if metrics is not None else set()
        watched = [(rule.id, str(getattr(rule, "metric", ""))) for rule in alert_rules.rules]
        unknown = [
            f"rule {rule_id!r} watches {metric}, which {args.metrics or 'no metrics file'} does not declare"
            for rule_id, metric in watched
            if metric.startswith(DECLARED_METRIC_PREFIX) and metric[len(DECLARED_METRIC_PREFIX) :] not in declared
        ]
        if unknown:
            print(f"{args.alert_rules}:\n" + "\n".join(f"  - {line}" for line in unknown), file=sys.stderr)
            return 2
        print(f"{args.alert_rules}: valid, {len(alert_rules.rules)} alert rules")
    if args.sample is None:
        return 0
    if args.log_group is None:
        print("--sample needs --log-group: the rules are chosen by log group", file=sys.stderr)
        return 2
    text = sys.stdin.read() if str(args.sample) == "-" else Path(args.sample).read_text(encoding="utf-8")
    for line in explain_lines(config, args.log_group, text.splitlines(), metrics):
        print(line)
    stats = config.stats
    print(
        f"{sum(stats.parsed.values())} lines parsed by a rule, {sum(stats.missed.values())} missed, "
        f"{stats.masked} values masked"
    )
    return 0


def add_check_config_command(
    subparsers: Any, default_rules: Path, default_alert_rules: Path | None, default_metrics: Path | None = None
) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate the parser, masking, metric and alert rules; show what sample lines become",
        description="Validate the declared parser and masking rules, the declared metrics and the alert rules, "
        "naming every mistake with its rule and field (and alert rules that watch a metric nobody declares). With "
        "--sample, parse each line of FILE (one log line per line; - for stdin) as a line of --log-group and print "
        "the rule that parsed it, or that it missed, its fields after masking and the declared metrics it feeds.",
    )
    parser.add_argument("--rules", type=Path, default=default_rules, help=f"parser rules (default {default_rules})")
    parser.add_argument(
        "--metrics", type=Path, default=default_metrics, help=f"declared metrics (default {default_metrics})"
    )
    parser.add_argument(
        "--alert-rules",
        type=Path,
        default=default_alert_rules,
        help=f"alert rules to validate too (default {default_alert_rules})",
    )
    parser.add_argument("--sample", metavar="FILE", help="log lines to parse, one per line (- for stdin)")
    parser.add_argument("--log-group", help="the log group the sample lines come from")
    parser.set_defaults(func=cmd_check_config)
