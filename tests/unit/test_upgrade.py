"""The upgrade check (scripts/check_upgrade.py): a change that would destroy a released stack's data fails."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from scripts.check_upgrade import ROOT, load_template, release_tags, released_template, upgrade_problems

CURRENT = load_template((ROOT / "template.yaml").read_text())


def test_the_template_keeps_the_data_of_the_last_release() -> None:
    tags = release_tags()
    if not tags:
        pytest.skip("no v* release tag in this checkout (git fetch --tags): the comparison cannot run")
    assert upgrade_problems(load_template(released_template(tags[0])), CURRENT) == []


def changed(edit: Any) -> list[str]:
    current = copy.deepcopy(CURRENT)
    edit(current["Resources"])
    return upgrade_problems(CURRENT, current)


def test_an_unchanged_template_passes() -> None:
    assert upgrade_problems(CURRENT, CURRENT) == []


def test_removing_the_archive_fails() -> None:
    (problem,) = changed(lambda r: r.pop("ArchiveBucket"))
    assert problem.startswith("ArchiveBucket (AWS::S3::Bucket) is gone")


def test_renaming_a_stream_fails() -> None:
    def rename(resources: dict[str, Any]) -> None:
        resources["LogsStream"]["Properties"]["Name"] = "logs"

    (problem,) = changed(rename)
    assert "LogsStream.Name changes" in problem and "replaces" in problem


def test_a_new_type_under_an_old_logical_id_fails() -> None:
    def retype(resources: dict[str, Any]) -> None:
        resources["OpenSearchLogPublishingPolicy"]["Type"] = "AWS::Logs::ResourcePolicy"

    (problem,) = changed(retype)
    assert "changes type" in problem


def test_naming_the_glue_table_anew_fails() -> None:
    def rename(resources: dict[str, Any]) -> None:
        resources["RollupsTable"]["Properties"]["TableInput"]["Name"] = "rollups_v2"

    (problem,) = changed(rename)
    assert problem.startswith("RollupsTable.TableInput.Name changes")


def test_stateless_resources_may_go_and_change() -> None:
    def rework(resources: dict[str, Any]) -> None:
        resources.pop("LogTransformerErrorsAlarm")
        resources["LogsStream"]["Properties"]["RetentionPeriodHours"] = 24

    assert changed(rework) == []
