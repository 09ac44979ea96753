"""The ``opsanalytics`` command line: verbs a user looks for, and what they answer without a running node."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsanalytics.cli import build_parser, main


def test_every_verb_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for verb in ("demo", "replay", "samples", "transform", "realtime", "batch", "verify", "opensearch"):
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
