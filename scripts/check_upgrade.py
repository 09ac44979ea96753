"""Would deploying template.yaml over the last released stack destroy data? Compared with the newest v* tag.

    python -m scripts.check_upgrade [--release TAG]

A release is a git tag v<major>.<minor>.<patch>; its template.yaml is what users' stacks run. For each resource of
that template the check fails when the new one
- is gone and holds data (buckets, the key, streams, queues, the domain, the Glue database and tables, the Flink
  application and its state): CloudFormation would delete it;
- changes its type under the same logical id: CloudFormation refuses the update;
- changes a property whose CloudFormation reference says "Update requires: Replacement" on a resource that
  holds data: CloudFormation would create a new one and delete the old, data included.
Exit status 1 with one line per problem; 0 (and what was compared) otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

from scripts.cloudformation_yaml import load_template

ROOT = Path(__file__).resolve().parents[1]

# Resources that hold data, and their properties whose change replaces them (CloudFormation resource reference,
# "Update requires: Replacement"), as paths into Properties.
STATEFUL: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "AWS::S3::Bucket": (("BucketName",), ("ObjectLockEnabled",)),
    "AWS::KMS::Key": (("KeySpec",), ("KeyUsage",), ("MultiRegion",)),
    "AWS::Kinesis::Stream": (("Name",),),
    "AWS::SQS::Queue": (("QueueName",), ("FifoQueue",)),
    "AWS::OpenSearchService::Domain": (("DomainName",),),
    "AWS::Glue::Database": (("CatalogId",), ("DatabaseInput", "Name")),
    "AWS::Glue::Table": (("CatalogId",), ("DatabaseName",), ("TableInput", "Name")),
    "AWS::KinesisAnalyticsV2::Application": (("ApplicationName",), ("ApplicationMode",)),
}


def _at(properties: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = properties
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def upgrade_problems(released: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What deploying `current` over a stack of `released` would break, one line each."""
    problems = []
    new_resources = current.get("Resources", {})
    for name, old in released.get("Resources", {}).items():
        kind = old["Type"]
        new = new_resources.get(name)
        if new is None:
            if kind in STATEFUL:
                problems.append(f"{name} ({kind}) is gone: the update would delete it and its data")
            continue
        if new["Type"] != kind:
            problems.append(f"{name} changes type from {kind} to {new['Type']}: CloudFormation refuses that")
            continue
        for path in STATEFUL.get(kind, ()):
            before, after = _at(old.get("Properties", {}), path), _at(new.get("Properties", {}), path)
            if before != after:
                problems.append(
                    f"{name}.{'.'.join(path)} changes ({before!r} -> {after!r}): CloudFormation replaces the {kind}"
                )
    return problems


def release_tags() -> list[str]:
    """The v* tags of the checkout, newest version first."""
    listed = subprocess.run(
        ["git", "tag", "--list", "v*", "--sort=-v:refname"],  # noqa: S607 - git of the checkout
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return [tag for tag in listed.stdout.split() if tag]


def released_template(tag: str) -> str:
    shown = subprocess.run(  # noqa: S603 - a tag of this checkout
        ["git", "show", f"{tag}:template.yaml"],  # noqa: S607 - git of the checkout
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", help="the tag to compare with (default: the newest v* tag)")
    args = parser.parse_args()
    tags = [args.release] if args.release else release_tags()
    if not tags:
        print("check_upgrade: WARNING: no v* release tag in this checkout (git fetch --tags): nothing compared")
        return 0
    problems = upgrade_problems(
        load_template(released_template(tags[0])), load_template((ROOT / "template.yaml").read_text())
    )
    for problem in problems:
        print(f"check_upgrade: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_upgrade: template.yaml keeps the data of a stack of {tags[0]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
